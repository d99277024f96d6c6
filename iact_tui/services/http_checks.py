"""HTTP checks for smoke tests and post-deploy verification (httpx, async).

Each check returns a value object with the evidence (status code, elapsed
milliseconds, the reason for a failure) instead of raising, so the engine can show every
result; only a malformed URL raises.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from iact_tui.errors import CheckError


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


@dataclass(frozen=True)
class Timing:
    """Figures from several requests (milliseconds; ``error_rate`` in 0.0–1.0)."""

    samples_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def count(self) -> int:
        """Requests made."""
        return len(self.samples_ms) + self.errors

    @property
    def median_ms(self) -> float:
        """Median response time of the successful requests (0 when none)."""
        return statistics.median(self.samples_ms) if self.samples_ms else 0.0

    @property
    def max_ms(self) -> float:
        """Slowest successful response (0 when none)."""
        return max(self.samples_ms) if self.samples_ms else 0.0

    @property
    def error_rate(self) -> float:
        """Share of requests that failed."""
        return self.errors / self.count if self.count else 0.0


def _client(timeout: float) -> httpx.AsyncClient:
    # trust_env=False: never route checks through a proxy from the environment.
    return httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False)


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise CheckError(f"{url!r} is not a valid URL: {exc}", "fix the URL in iact-release.toml") from None
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise CheckError(f"{url!r} is not an http(s) URL", "fix the URL in iact-release.toml")


async def _request(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> tuple[httpx.Response | None, float, str]:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        return response, elapsed, ""
    except httpx.TimeoutException:
        return None, (time.perf_counter() - started) * 1000, "timed out"
    except httpx.ConnectError:
        return None, (time.perf_counter() - started) * 1000, "no response: cannot connect (is the app running?)"
    except httpx.HTTPError as exc:
        return None, (time.perf_counter() - started) * 1000, f"no response: {exc.__class__.__name__}: {exc}"


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
    _check_url(url)
    async with _client(timeout) as client:
        response, elapsed, error = await _request(client, "GET", url)
    if response is None:
        return HttpResult(url, False, None, elapsed, error)
    body = _json(response)
    if response.status_code != 200:
        return HttpResult(
            url, False, response.status_code, elapsed, f"answered {response.status_code} (expected 200)", body
        )
    if not isinstance(body, dict):
        return HttpResult(url, False, 200, elapsed, "answered 200 but the body is not a JSON object", body)
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
    _check_url(url)
    async with _client(timeout) as client:
        response, elapsed, error = await _request(
            client, "POST", url, json={"username": username, "password": password}
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


async def time_requests(url: str, count: int, *, timeout: float = 10.0) -> Timing:
    """``GET url`` ``count`` times one after another over one connection.

    Returns:
        :class:`Timing` with each successful (2xx) response time in milliseconds and the
        number of failures (no response or a non-2xx status).
    """
    _check_url(url)
    samples: list[float] = []
    errors = 0
    async with _client(timeout) as client:
        for _ in range(count):
            response, elapsed, _error = await _request(client, "GET", url)
            if response is not None and 200 <= response.status_code < 300:
                samples.append(round(elapsed, 2))
            else:
                errors += 1
    return Timing(samples, errors)
