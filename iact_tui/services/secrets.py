"""Secrets read at the point of use, from an environment variable or a secret command.

A :class:`Secret`'s ``repr`` and ``str`` are redacted, so it cannot leak into a log,
journal or screen by accident; :meth:`Secret.reveal` is the one way to the value.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from iact_tui.errors import SecretError

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
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SecretError(
                f"the {what} command took longer than {timeout:g} s: {command}", "check the secret command"
            ) from None
        if proc.returncode != 0:
            reason = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise SecretError(
                f"the {what} command exited {proc.returncode}: {reason[0]}", f"check the command: {command}"
            )
        value = out.decode("utf-8", "replace").rstrip("\r\n")
        if value:
            return Secret(value, f"command {command}")
        raise SecretError(f"the {what} command printed nothing: {command}", "make it print the secret on stdout")
    where = f"environment variable {env} is unset or empty" if env else "no source is configured"
    raise SecretError(
        f"cannot read the {what}: {where}", "export the variable, or set password_command in iact-release.toml"
    )
