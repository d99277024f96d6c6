"""Post-deploy verification timing: N timed requests, their percentiles, error rate and a sparkline.

This module owns the timed request loop (:func:`time_requests`), the figures drawn from
it (:class:`TimingReport`), the judgement against thresholds (:func:`judge`) and the
text sparkline the UI shows (:func:`sparkline`).

Percentiles are **nearest-rank** (the definition in NIST's and Wikipedia's "percentile"
articles): the p-th percentile of n sorted values is the value at rank
``ceil(p / 100 * n)`` (1-based), and the smallest value for ``p = 0``. It is always one
of the measured values, never an interpolation: of 20 samples, p95 is the 19th
smallest, of 10 samples it is the largest.

Response-time figures are over the **successful** (2xx) responses only; a fast 500 or a
refused connection would otherwise make the service look quicker. Failures (non-2xx
answers, connection errors, timeouts) count in the error rate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from iact_tui.errors import CheckError
from iact_tui.services.http_checks import check_url
from iact_tui.services.tls import ssl_context

SPARK_LEVELS = "▁▂▃▄▅▆▇█"
SPARK_ERROR = "×"  # a request without a 2xx answer


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of ``values`` (see the module docstring).

    Args:
        values: The samples, in any order; not empty.
        p: 0–100.

    Raises:
        ValueError: ``values`` is empty or ``p`` is outside 0–100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0–100")
    ordered = sorted(values)
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def sparkline(samples: Sequence[float | None], *, width: int | None = None) -> str:
    """A one-line chart of response times: ``▁▂▃▅▇`` scaled from the fastest to the
    slowest sample, ``×`` for a failed request (``None``).

    Args:
        samples: Milliseconds per request in request order; ``None`` for a failure.
        width: Most characters; more samples are grouped into that many buckets, each
            shown by its slowest sample (a bucket holding a failure shows ``×``).

    Returns:
        The chart; ``""`` for no samples. All samples equal draw the lowest bar.
    """
    if not samples:
        return ""
    points: list[float | None] = list(samples)
    if width is not None and 0 < width < len(points):
        buckets: list[float | None] = []
        for i in range(width):
            group = points[i * len(points) // width : (i + 1) * len(points) // width]
            buckets.append(None if any(s is None for s in group) else max(s for s in group if s is not None))
        points = buckets
    ok = [s for s in points if s is not None]
    low, high = (min(ok), max(ok)) if ok else (0.0, 0.0)
    top = len(SPARK_LEVELS) - 1
    chars = []
    for s in points:
        if s is None:
            chars.append(SPARK_ERROR)
        elif high == low:
            chars.append(SPARK_LEVELS[0])
        else:
            chars.append(SPARK_LEVELS[round((s - low) / (high - low) * top)])
    return "".join(chars)


@dataclass(frozen=True)
class Sample:
    """One timed request.

    Attributes:
        elapsed_ms: Milliseconds from sending to the whole body received, or to the error.
        status_code: HTTP status; ``None`` when no answer arrived.
        error: The connection error or timeout, else ``""``.
    """

    elapsed_ms: float
    status_code: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class TimingReport:
    """Figures from N timed requests to one URL (milliseconds; rates 0.0–1.0).

    Attributes:
        url: The URL timed.
        samples: Every request, in order.
    """

    url: str
    samples: tuple[Sample, ...] = ()

    @property
    def count(self) -> int:
        """Requests made."""
        return len(self.samples)

    @property
    def ok_ms(self) -> list[float]:
        """Response times of the successful requests, in order."""
        return [s.elapsed_ms for s in self.samples if s.ok]

    @property
    def errors(self) -> int:
        """Requests without a 2xx answer."""
        return sum(1 for s in self.samples if not s.ok)

    @property
    def error_rate(self) -> float:
        """Share of requests without a 2xx answer (0.0 when none were made)."""
        return self.errors / self.count if self.count else 0.0

    @property
    def p50_ms(self) -> float | None:
        """Nearest-rank median of the successful responses; ``None`` when none succeeded."""
        return percentile(self.ok_ms, 50) if self.ok_ms else None

    @property
    def p95_ms(self) -> float | None:
        """Nearest-rank 95th percentile of the successful responses; ``None`` when none."""
        return percentile(self.ok_ms, 95) if self.ok_ms else None

    @property
    def max_ms(self) -> float | None:
        """Slowest successful response; ``None`` when none."""
        return max(self.ok_ms) if self.ok_ms else None

    def sparkline(self, width: int | None = None) -> str:
        """:func:`sparkline` of every request (failures as ``×``)."""
        return sparkline([s.elapsed_ms if s.ok else None for s in self.samples], width=width)

    def error_summary(self) -> str:
        """The failures grouped, e.g. ``3× 503, 1× cannot connect``; ``""`` when none."""
        counts: dict[str, int] = {}
        for s in self.samples:
            if not s.ok:
                key = str(s.status_code) if s.status_code is not None else s.error
                counts[key] = counts.get(key, 0) + 1
        return ", ".join(f"{n}× {key}" for key, n in counts.items())

    def figures(self) -> dict[str, Any]:
        """JSON-ready numbers for a ``CheckUpdate``'s data and the journal."""

        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "url": self.url,
            "requests": self.count,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "p50_ms": r(self.p50_ms),
            "p95_ms": r(self.p95_ms),
            "max_ms": r(self.max_ms),
            "samples_ms": [round(s.elapsed_ms, 1) if s.ok else None for s in self.samples],
            "sparkline": self.sparkline(),
        }


@dataclass(frozen=True)
class Thresholds:
    """What verification accepts.

    Attributes:
        max_p95_ms: Highest acceptable p95 response time, in milliseconds.
        max_error_rate: Highest acceptable share of failed requests (0.0–1.0).
        max_ms: Highest acceptable slowest response, in milliseconds; ``None`` not to check.
    """

    max_p95_ms: float = 1000.0
    max_error_rate: float = 0.0
    max_ms: float | None = None


@dataclass(frozen=True)
class Verdict:
    """A report judged against :class:`Thresholds`.

    Attributes:
        ok: Every threshold met.
        response_time_ok: p95 (and the slowest, when limited) within limits, with at
            least one successful response.
        error_rate_ok: The error rate within its limit.
        response_time_detail: One line, e.g. ``p50 12 ms, p95 30 ms, max 31 ms over 20
            requests (limit p95 500 ms)``.
        error_rate_detail: One line, e.g. ``1 of 20 failed (5%; limit 0%): 1× 503``.
        failures: Each unmet threshold, one line each.
    """

    ok: bool
    response_time_ok: bool
    error_rate_ok: bool
    response_time_detail: str
    error_rate_detail: str
    failures: tuple[str, ...] = field(default_factory=tuple)


def judge(report: TimingReport, thresholds: Thresholds) -> Verdict:
    """Judge ``report`` against ``thresholds``.

    With no successful response the response time fails (there is nothing to measure).
    """
    failures: list[str] = []
    p50, p95, slowest = report.p50_ms, report.p95_ms, report.max_ms
    limit = f"limit p95 {thresholds.max_p95_ms:g} ms" + (
        f", max {thresholds.max_ms:g} ms" if thresholds.max_ms is not None else ""
    )
    if p50 is None or p95 is None or slowest is None:
        rt_ok = False
        rt_detail = f"no successful response in {report.count} request(s)"
        failures.append(rt_detail)
    else:
        rt_detail = (
            f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {slowest:.0f} ms over {len(report.ok_ms)} "
            f"successful request(s) ({limit})"
        )
        rt_ok = p95 <= thresholds.max_p95_ms
        if not rt_ok:
            failures.append(f"p95 {p95:.0f} ms is over {thresholds.max_p95_ms:g} ms")
        if thresholds.max_ms is not None and slowest > thresholds.max_ms:
            rt_ok = False
            failures.append(f"slowest {slowest:.0f} ms is over {thresholds.max_ms:g} ms")
    er_ok = report.error_rate <= thresholds.max_error_rate
    er_detail = (
        f"{report.errors} of {report.count} failed ({report.error_rate:.0%}; limit {thresholds.max_error_rate:.0%})"
    )
    if report.errors:
        er_detail += f": {report.error_summary()}"
    if not er_ok:
        failures.append(er_detail)
    return Verdict(rt_ok and er_ok, rt_ok, er_ok, rt_detail, er_detail, tuple(failures))


async def _one(client: httpx.AsyncClient, method: str, url: str, timeout: float) -> Sample:
    started = time.perf_counter()
    try:
        response = await client.request(method, url)  # reads the whole body
    except httpx.TimeoutException:
        return Sample((time.perf_counter() - started) * 1000, None, f"timed out after {timeout:g} s")
    except httpx.ConnectError:
        return Sample((time.perf_counter() - started) * 1000, None, "cannot connect")
    except httpx.HTTPError as exc:
        return Sample((time.perf_counter() - started) * 1000, None, exc.__class__.__name__)
    return Sample((time.perf_counter() - started) * 1000, response.status_code)


async def time_requests(
    url: str,
    count: int,
    *,
    method: str = "GET",
    timeout: float = 10.0,
    interval: float = 0.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_sample: Callable[[int, Sample], None] | None = None,
) -> TimingReport:
    """Send ``count`` requests to ``url`` one after another over one client (kept-alive
    connections, as a browser would) and time each.

    Args:
        url: The URL (usually the health endpoint).
        count: How many requests (at least 1).
        method: HTTP method.
        timeout: Seconds for one request.
        interval: Seconds to wait between requests (0: back to back).
        sleep: Awaited for each interval (tests pass a fake).
        on_sample: Called with (index from 0, sample) after each request, for progress.

    Returns:
        The :class:`TimingReport`; failures are samples, not exceptions.

    Raises:
        CheckError: A malformed URL, or ``count`` below 1.
    """
    check_url(url)
    if count < 1:
        raise CheckError(f"cannot time {count} requests", "set [verify] requests to 1 or more")
    samples: list[Sample] = []
    # trust_env=False: never through a proxy from the environment.
    # The shared TLS context: building one per client loads the certificate bundle on the loop.
    verify = await ssl_context()
    async with httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False, verify=verify) as client:
        for i in range(count):
            if i and interval > 0:
                await sleep(interval)
            sample = await _one(client, method, url, timeout)
            samples.append(sample)
            if on_sample is not None:
                on_sample(i, sample)
    return TimingReport(url, tuple(samples))
