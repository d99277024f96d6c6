"""Secrets read at the point of use, from an environment variable or a secret command.

A :class:`Secret`'s ``repr`` and ``str`` are redacted, so it cannot leak into a log,
journal or screen by accident; :meth:`Secret.reveal` is the one way to the value.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from iact_tui.errors import SecretError
from iact_tui.services.aio import within

REDACTED = "••••••"


class Secret:
    """A secret value whose printed forms are redacted.

    Args:
        value: The secret text.
        source: Where it came from, e.g. ``"env IACT_SMOKE_PASSWORD"`` (safe to show).
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        """The secret itself: pass it straight to the call that needs it."""
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the secret replaced by a mask."""
        return text.replace(self._value, REDACTED) if self._value else text

    def __repr__(self) -> str:
        return f"Secret({REDACTED}, source={self.source!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class SecretCommandRun:
    """How a command that prints a secret ended.

    Attributes:
        returncode: Its exit status; ``None`` when it was killed for its timeout.
        stdout: What it printed (the secret; never show it).
        reason: The last line of its stderr with the secret masked, or ``"no message"``.
    """

    returncode: int | None
    stdout: str
    reason: str

    @property
    def timed_out(self) -> bool:
        """Whether it was killed for passing its timeout."""
        return self.returncode is None


async def run_secret_command(argv: list[str], *, cwd: Path | None = None, timeout: float = 30.0) -> SecretCommandRun:
    """Run a command that prints a secret on stdout; stdin closed, killed after ``timeout`` seconds.

    Args:
        argv: The program and its arguments (``["/bin/sh", "-c", "pass show x"]``).
        cwd: Working directory.
        timeout: Seconds it may take.

    Returns:
        The :class:`SecretCommandRun`; its ``reason`` never contains what stdout held.

    Raises:
        OSError: The program cannot be started.
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await within(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return SecretCommandRun(None, "", "timed out")
    value = out.decode("utf-8", "replace")
    lines = err.decode("utf-8", "replace").strip().splitlines()
    reason = (
        Secret(value.strip(), "stdout").redact(lines[-1]) if lines and value.strip() else (lines or ["no message"])[-1]
    )
    return SecretCommandRun(proc.returncode, value, reason)


async def read_secret(
    *, env: str = "", command: str = "", cwd: Path | None = None, timeout: float = 30.0, what: str = "secret"
) -> Secret:
    """Read a secret from ``env`` (first) or the stdout of ``command`` (trailing newline removed).

    Args:
        env: Environment variable name; skipped when empty or unset.
        command: Shell command printing the secret; run in ``cwd``.
        cwd: Working directory for ``command``.
        timeout: Seconds the command may take.
        what: What the secret is for, for error messages (e.g. ``"smoke-test password"``).

    Returns:
        The :class:`Secret`.

    Raises:
        SecretError: Neither source gave a value; the command failed or timed out (its
            stderr is shown, never its stdout).
    """
    if env and os.environ.get(env):
        return Secret(os.environ[env], f"env {env}")
    if command:
        run = await run_secret_command(["/bin/sh", "-c", command], cwd=cwd, timeout=timeout)
        if run.timed_out:
            raise SecretError(
                f"the {what} command took longer than {timeout:g} s: {command}", "check the secret command"
            )
        if run.returncode != 0:
            raise SecretError(
                f"the {what} command exited {run.returncode}: {run.reason}", f"check the command: {command}"
            )
        out = run.stdout
        value = out.rstrip("\r\n")
        if value:
            return Secret(value, f"command {command}")
        raise SecretError(f"the {what} command printed nothing: {command}", "make it print the secret on stdout")
    where = f"environment variable {env} is unset or empty" if env else "no source is configured"
    raise SecretError(
        f"cannot read the {what}: {where}", "export the variable, or set password_command in iact-release.toml"
    )
