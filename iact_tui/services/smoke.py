"""Configurable HTTP smoke checks: a request, what its answer must hold, and a settling window.

This module owns the smoke-check spec (:class:`SmokeCheck`), the JSON path language its
expectations use (:func:`parse_path`, :func:`lookup`), the secret references its
headers and body may hold (:func:`secret_refs`), and running one check with retries
while a freshly restarted service settles (:func:`stream_check`, :func:`run_check`).

Secret references
    A header value, or any string inside the JSON body (at any depth), may contain
    ``$env:NAME``, where ``NAME`` is an environment variable name
    (``[A-Za-z_][A-Za-z0-9_]*``). It is replaced, at the point of use, by that
    variable's value; an unset or empty variable is a :class:`~iact_tui.errors.SecretError`
    raised before any request. ``$$env:NAME`` stands for the literal text ``$env:NAME``.
    The URL, the method and the expectations are never substituted. Every value read
    this way is masked (:data:`~iact_tui.services.secrets.REDACTED`) in every detail,
    body excerpt and error of the results, in its raw and its JSON-escaped form.
    Example: ``json = { username = "smoke", password = "$env:IACT_SMOKE_PASSWORD" }``,
    ``headers = { Authorization = "Bearer $env:IACT_API_TOKEN" }``.

JSON paths
    ``data.user.id``, ``items[0].name``, ``items[-1]`` (from the end), and
    ``meta["key.with.dots"]`` for keys holding ``.``, ``[`` or ``]``. A dotted segment
    is any text without ``.``, ``[``, ``]`` or ``"``. Expected values compare as JSON:
    ``true`` never equals ``1``, ``1`` equals ``1.0``.

Settling
    A failed attempt is retried after 0.2 s, doubling each time, at most 2 s apart
    (:class:`Backoff`), while the settling window (seconds from the first attempt) lasts;
    the last wait is shortened so that one attempt is made at the window's end. Then the
    check fails with the last attempt's evidence: status and the first 200 characters of
    the body, or the connection error. Every failure is retried (a 401 too), since a
    restarting app may answer anything for a moment.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from iact_tui.config import HTTP_METHODS
from iact_tui.errors import ConfigError, SecretError
from iact_tui.services.json_path import PathNotFound, json_equal, lookup, parse_path
from iact_tui.services.secrets import Secret
from iact_tui.services.tls import ssl_context

BODY_EXCERPT_CHARS = 200  # characters of a response body shown in results
MAX_BODY_BYTES = 5 * 1024 * 1024  # a bigger body fails the check instead of filling memory
METHODS = HTTP_METHODS

_REF = re.compile(r"\$(\$?)env:([A-Za-z_][A-Za-z0-9_]*)")


def _show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- secrets


def env_refs(value: Any) -> list[str]:
    """The environment variable names ``$env:NAME`` references in ``value`` (a string, or
    dicts and lists of them, walked deeply) name, in order of first use (``$$env:`` is
    literal text, not a reference)."""
    names: list[str] = []

    def visit(item: Any) -> None:
        if isinstance(item, str):
            for m in _REF.finditer(item):
                if not m.group(1) and m.group(2) not in names:
                    names.append(m.group(2))
        elif isinstance(item, dict):
            for inner in item.values():
                visit(inner)
        elif isinstance(item, list):
            for inner in item:
                visit(inner)

    visit(value)
    return names


def secret_refs(check: SmokeCheck) -> list[str]:
    """The environment variable names ``check``'s headers and body refer to (``$env:NAME``),
    in order of first use; for a plan or an up-front check that they are all set."""
    return env_refs([dict(check.headers), check.json_body])


def _substitute(text: str, environ: Mapping[str, str], used: dict[str, Secret], what: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1):  # $$env:NAME: the literal text
            return m.group(0)[1:]
        name = m.group(2)
        value = environ.get(name, "")
        if not value:
            raise SecretError(
                f"{what} refers to $env:{name}, but the environment variable {name} is unset or empty",
                f"export {name} before the release (the value is never shown or journaled)",
            )
        used.setdefault(name, Secret(value, f"env {name}"))
        return value

    return _REF.sub(one, text)


@dataclass(frozen=True)
class _Resolved:
    headers: dict[str, str]
    json_body: Any
    secrets: tuple[Secret, ...]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = secret.redact(text)
        return text


def _resolve(check: SmokeCheck, environ: Mapping[str, str]) -> _Resolved:
    used: dict[str, Secret] = {}
    what = f"smoke check {check.name!r}"

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _substitute(value, environ, used, f"{what} (body)")
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    headers = {k: _substitute(v, environ, used, f"{what} (header {k})") for k, v in check.headers.items()}
    body = walk(check.json_body)
    # Mask the JSON-escaped form too (a body echoing the value back escapes " and \),
    # longest first so no part of a longer secret survives a shorter one's mask.
    forms: dict[str, Secret] = {}
    for name, secret in used.items():
        raw = secret.reveal()
        forms[raw] = secret
        escaped = json.dumps(raw, ensure_ascii=False)[1:-1]
        forms.setdefault(escaped, Secret(escaped, f"env {name} (JSON-escaped)"))
    ordered = tuple(forms[k] for k in sorted(forms, key=len, reverse=True))
    return _Resolved(headers, body, ordered)


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class SmokeCheck:
    """One HTTP smoke check, as configured.

    Attributes:
        name: Shown in the check list and used in the check's id (``smoke:<name>``).
        url: Full ``http(s)`` URL (never substituted; put no secret in it).
        method: HTTP method, upper case (``GET``, ``POST``...).
        headers: Request headers; values may hold ``$env:NAME`` references.
        json_body: Sent as the JSON body when not ``None``; strings in it (at any depth)
            may hold ``$env:NAME`` references.
        expect_status: The status the answer must have.
        expect_json: JSON path → value the answer's JSON body must hold there (see the
            module docstring for paths and equality). Empty: the body need not be JSON.
        expect_text: Text the body must contain; ``None`` not to check.
        timeout: Seconds for one attempt (connect, send, whole body received).

    Raises:
        ConfigError: A malformed URL, method, JSON path or timeout (names the check).
    """

    name: str
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = None
    expect_status: int = 200
    expect_json: Mapping[str, Any] = field(default_factory=dict)
    expect_text: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        where = f"smoke check {self.name!r}"
        fix = "fix the check in iact-release.toml"
        if self.method not in METHODS:
            raise ConfigError(f"{where}: method {self.method!r} is not one of {', '.join(sorted(METHODS))}", fix)
        try:
            parsed = httpx.URL(self.url)
        except httpx.InvalidURL as exc:
            raise ConfigError(f"{where}: {self.url!r} is not a valid URL: {exc}", fix) from None
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ConfigError(f"{where}: {self.url!r} is not an http(s) URL", fix)
        if not 100 <= self.expect_status <= 599:
            raise ConfigError(f"{where}: expect_status {self.expect_status} is not an HTTP status", fix)
        if not self.timeout > 0:
            raise ConfigError(f"{where}: timeout must be more than 0 seconds, not {self.timeout}", fix)
        for path in self.expect_json:
            try:
                parse_path(path)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}", fix) from None

    @property
    def label(self) -> str:
        """``POST http://…/login → 200``: safe to show (references stay unresolved)."""
        return f"{self.method} {self.url} → {self.expect_status}"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts while a service settles: ``initial`` seconds, times
    ``factor`` after each attempt, never more than ``cap`` seconds."""

    initial: float = 0.2
    factor: float = 2.0
    cap: float = 2.0


@dataclass(frozen=True)
class Attempt:
    """One request of a check (everything in it already redacted).

    Attributes:
        number: 1 for the first attempt.
        ok: Whether the answer met every expectation.
        status_code: HTTP status, or ``None`` when no answer arrived.
        elapsed_ms: Milliseconds from sending to the whole body received (or the error).
        failures: Each unmet expectation, one line each; empty when ``ok``.
        error: The connection error or timeout when no answer arrived, else ``""``.
        body_excerpt: The body's first 200 characters (``""`` without an answer).
        retry_in: Seconds until the next attempt; 0 when there is none.
    """

    number: int
    ok: bool
    status_code: int | None
    elapsed_ms: float
    failures: tuple[str, ...] = ()
    error: str = ""
    body_excerpt: str = ""
    retry_in: float = 0.0

    @property
    def detail(self) -> str:
        """One line: what the answer was, or why it failed."""
        if self.error:
            return self.error
        if self.ok:
            return f"{self.status_code} in {self.elapsed_ms:.0f} ms"
        body = _one_line(self.body_excerpt)
        return "; ".join(self.failures) + (f"; body: {body}" if body else "; empty body")


@dataclass(frozen=True)
class SmokeResult:
    """How a check ended: the last attempt's evidence and how long settling took.

    Attributes:
        check: The spec that ran.
        ok: Whether the last attempt met every expectation.
        last: The last attempt (the passing one, or the last failure).
        attempts: How many requests were made.
        waited_s: Seconds from the first attempt's start to the end (settling included),
            by the clock given to :func:`stream_check`.
    """

    check: SmokeCheck
    ok: bool
    last: Attempt
    attempts: int
    waited_s: float

    @property
    def status_code(self) -> int | None:
        """The last answer's status, ``None`` when none arrived."""
        return self.last.status_code

    @property
    def detail(self) -> str:
        """One line for the check list (redacted)."""
        tries = f"{self.attempts} attempts over {self.waited_s:.1f} s"
        if self.ok:
            return self.last.detail + (f" (after {tries})" if self.attempts > 1 else "")
        if self.attempts > 1:
            return f"failed after {tries}; last: {self.last.detail}"
        return self.last.detail

    def figures(self) -> dict[str, Any]:
        """Numbers for a ``CheckUpdate``'s data (JSON-ready)."""
        return {
            "status": self.last.status_code,
            "elapsed_ms": round(self.last.elapsed_ms, 1),
            "attempts": self.attempts,
            "waited_s": round(self.waited_s, 2),
        }


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- running


async def _client(timeout: float) -> httpx.AsyncClient:
    # trust_env=False: never route checks through a proxy from the environment. The shared
    # TLS context: building one per client loads the certificate bundle on the event loop.
    return httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False, verify=await ssl_context())


async def _attempt(client: httpx.AsyncClient, check: SmokeCheck, req: _Resolved, number: int) -> Attempt:
    started = time.perf_counter()

    def ms() -> float:
        return (time.perf_counter() - started) * 1000

    kwargs: dict[str, Any] = {"headers": req.headers}
    if check.json_body is not None:
        kwargs["json"] = req.json_body
    chunks: list[bytes] = []
    size = 0
    try:
        async with client.stream(check.method, check.url, **kwargs) as response:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return Attempt(
                        number,
                        False,
                        response.status_code,
                        ms(),
                        (f"the body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB",),
                    )
                chunks.append(chunk)
            status = response.status_code
            encoding = response.encoding or "utf-8"
    except httpx.TimeoutException:
        return Attempt(number, False, None, ms(), error=f"no answer within {check.timeout:g} s (timed out)")
    except httpx.ConnectError as exc:
        reason = req.redact(str(exc)) or "connection refused"
        return Attempt(number, False, None, ms(), error=f"no answer: cannot connect ({reason}); is the app running?")
    except httpx.HTTPError as exc:
        return Attempt(number, False, None, ms(), error=req.redact(f"no answer: {exc.__class__.__name__}: {exc}"))
    elapsed = ms()
    raw = b"".join(chunks)
    text = req.redact(raw.decode(encoding, errors="replace"))
    excerpt = text[:BODY_EXCERPT_CHARS]
    failures = _judge(check, status, raw, text, req)
    return Attempt(number, not failures, status, elapsed, tuple(failures), body_excerpt=excerpt)


def _judge(check: SmokeCheck, status: int, raw: bytes, text: str, req: _Resolved) -> list[str]:
    failures: list[str] = []
    if status != check.expect_status:
        failures.append(f"answered {status} (expected {check.expect_status})")
    if check.expect_json:
        try:
            document = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            failures.append("the body is not valid JSON")
            document = None
        else:
            for path, expected in check.expect_json.items():
                try:
                    actual = lookup(document, path)
                except PathNotFound as exc:
                    failures.append(req.redact(f"{path}: {exc}"))
                    continue
                if not json_equal(actual, expected):
                    failures.append(req.redact(f"{path} is {_show(actual)}, expected {_show(expected)}"))
    if check.expect_text is not None and check.expect_text not in text:
        failures.append(f"the body does not contain {check.expect_text!r}")
    return failures


Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


async def stream_check(
    check: SmokeCheck,
    *,
    settle_seconds: float = 0.0,
    environ: Mapping[str, str] | None = None,
    backoff: Backoff = Backoff(),
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
) -> AsyncIterator[Attempt | SmokeResult]:
    """Run ``check``, retrying while the service settles; yields each :class:`Attempt`
    as it ends (so a screen can show "503, retrying in 0.8 s") and, last, the
    :class:`SmokeResult`.

    Args:
        check: The spec.
        settle_seconds: The settling window: seconds after the first attempt's start
            during which failures are retried; 0 for a single attempt.
        environ: Where ``$env:NAME`` references are looked up; ``os.environ`` when
            ``None``. A caller holding a secret from elsewhere (a secret command) can
            pass ``{**os.environ, "NAME": secret.reveal()}``.
        backoff: Waits between attempts.
        sleep: Awaited for each wait (tests pass a fake that advances ``clock``).
        clock: Monotonic seconds, for the window.

    Raises:
        SecretError: A referenced environment variable is unset or empty (before any
            request is made).
    """
    resolved = _resolve(check, os.environ if environ is None else environ)
    started = clock()
    deadline = started + max(settle_seconds, 0.0)
    delay = backoff.initial
    number = 0
    async with await _client(check.timeout) as client:
        while True:
            number += 1
            attempt = await _attempt(client, check, resolved, number)
            remaining = deadline - clock()
            if attempt.ok or remaining <= 0:
                yield attempt
                yield SmokeResult(check, attempt.ok, attempt, number, clock() - started)
                return
            wait = min(delay, remaining)
            yield replace(attempt, retry_in=wait)
            await sleep(wait)
            delay = min(delay * backoff.factor, backoff.cap)


async def run_check(
    check: SmokeCheck,
    *,
    settle_seconds: float = 0.0,
    environ: Mapping[str, str] | None = None,
    backoff: Backoff = Backoff(),
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> SmokeResult:
    """Run ``check`` to its end; see :func:`stream_check` for the arguments.

    Args:
        on_attempt: Called with each attempt as it ends.

    Returns:
        The :class:`SmokeResult`; a failed check is a result, not an exception.

    Raises:
        SecretError: A referenced environment variable is unset or empty.
    """
    result: SmokeResult | None = None
    async for item in stream_check(
        check, settle_seconds=settle_seconds, environ=environ, backoff=backoff, sleep=sleep, clock=clock
    ):
        if isinstance(item, SmokeResult):
            result = item
        elif on_attempt is not None:
            on_attempt(item)
    assert result is not None
    return result
