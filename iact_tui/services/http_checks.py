"""The health GET and the login POST of smoke tests and post-deploy verification (httpx, async).

Each check returns a value object with the evidence (status code, elapsed
milliseconds, the reason for a failure) instead of raising, so the engine can show every
result; only a malformed URL raises. Timed requests are :mod:`iact_tui.services.timing`'s,
configured HTTP checks :mod:`iact_tui.services.smoke`'s.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from iact_tui.errors import CheckError
from iact_tui.services.tls import ssl_context


@dataclass(frozen=True)
class HttpResult:
    """One request's outcome.

    Attributes:
        url: The URL requested.
        ok: Whether it met the check's expectation.
        status_code: HTTP status, or ``None`` when no response arrived.
        elapsed_ms: Milliseconds from sending to the whole body received.
        detail: One line: the evidence, or what went wrong.
        body: The JSON body when it was JSON, else ``None``.
    """

    url: str
    ok: bool
    status_code: int | None
    elapsed_ms: float
    detail: str
    body: Any = None


async def _client(timeout: float) -> httpx.AsyncClient:
    # trust_env=False: never route checks through a proxy from the environment. The shared
    # TLS context: building one per client loads the certificate bundle on the event loop.
    return httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False, verify=await ssl_context())


def check_url(url: str) -> None:
    """Refuse anything but an ``http(s)`` URL with a host.

    Raises:
        CheckError: Naming the URL, with the fix.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise CheckError(f"{url!r} is not a valid URL: {exc}", "fix the URL in iact-release.toml") from None
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise CheckError(f"{url!r} is not an http(s) URL", "fix the URL in iact-release.toml")


async def _request(
    client: httpx.AsyncClient, method: str, url: str, timeout: float, **kwargs: Any
) -> tuple[httpx.Response | None, float, str]:
    started = time.perf_counter()

    def ms() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        response = await client.request(method, url, **kwargs)
        return response, ms(), ""
    except httpx.TimeoutException:
        return None, ms(), f"no answer: timed out after {timeout:g} s"
    except httpx.ConnectError:
        return None, ms(), "no response: cannot connect (is the app running?)"
    except httpx.HTTPError as exc:
        return None, ms(), f"no response: {exc.__class__.__name__}: {exc}"


def _excerpt(response: httpx.Response, limit: int = 120) -> str:
    """The body's start on one line, for a failure's detail (``""`` when empty)."""
    text = " ".join(response.text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


async def check_health(url: str, *, expect_version: str | None, timeout: float = 10.0) -> HttpResult:
    """``GET url``: 200 with a JSON body; when ``expect_version`` is given, its ``version``
    must equal it.

    Args:
        url: The health endpoint.
        expect_version: The version the app must report, or ``None`` not to check.
        timeout: Seconds for the request.

    Raises:
        CheckError: Only for a malformed URL; failures are in the result.
    """
    check_url(url)
    async with await _client(timeout) as client:
        response, elapsed, error = await _request(client, "GET", url, timeout)
    if response is None:
        return HttpResult(url, False, None, elapsed, error)
    body = _json(response)
    if response.status_code != 200:
        shown = _excerpt(response)
        detail = f"answered {response.status_code} (expected 200)" + (f": {shown}" if shown else "")
        return HttpResult(url, False, response.status_code, elapsed, detail, body)
    if not isinstance(body, dict):
        shown = _excerpt(response) or "(empty)"
        return HttpResult(url, False, 200, elapsed, f"answered 200 but the body is not a JSON object: {shown}", body)
    version = body.get("version")
    if expect_version is not None and version != expect_version:
        return HttpResult(
            url, False, 200, elapsed, f"health reports version {version!r}, expected {expect_version!r}", body
        )
    return HttpResult(url, True, 200, elapsed, f"200 OK in {elapsed:.0f} ms, version {version}", body)


async def check_login(
    url: str, username: str, password: str, *, expect_status: int = 200, timeout: float = 10.0
) -> HttpResult:
    """``POST url`` with JSON ``{"username", "password"}``; passes on ``expect_status``.

    The password is never part of the returned detail.

    Raises:
        CheckError: Only for a malformed URL.
    """
    check_url(url)
    async with await _client(timeout) as client:
        response, elapsed, error = await _request(
            client, "POST", url, timeout, json={"username": username, "password": password}
        )
    if response is None:
        return HttpResult(url, False, None, elapsed, error)
    body = _json(response)
    if response.status_code != expect_status:
        return HttpResult(
            url,
            False,
            response.status_code,
            elapsed,
            f"login as {username!r} answered {response.status_code} (expected {expect_status})",
            body,
        )
    return HttpResult(
        url,
        True,
        response.status_code,
        elapsed,
        f"login as {username!r}: {response.status_code} in {elapsed:.0f} ms",
        body,
    )
