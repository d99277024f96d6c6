"""Verification timing: percentile definition, sparkline, thresholds, and real loopback servers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iact_tui.errors import CheckError
from iact_tui.services.timing import (
    Sample,
    Thresholds,
    TimingReport,
    judge,
    percentile,
    sparkline,
    time_requests,
)


class _Handler(BaseHTTPRequestHandler):
    state: dict[str, Any] = {}
    protocol_version = "HTTP/1.1"  # keep-alive, as the loop expects
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to each kept-alive answer

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int) -> None:
        data = b'{"status": "ok"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        n = self.state["n"] = self.state.get("n", 0) + 1
        if self.path == "/fast":
            self._send(200)
        elif self.path == "/mixed":
            # the 4th and 8th answer 500; the 5th takes 120 ms
            if n == 5:
                time.sleep(0.12)
            self._send(500 if n % 4 == 0 else 200)
        elif self.path == "/slow":
            time.sleep(0.3)
            self._send(200)
        else:
            self._send(404)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"state": {}}))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_nearest_rank_percentiles() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]  # Wikipedia's nearest-rank example
    assert percentile(values, 5) == 15 and percentile(values, 30) == 20
    assert percentile(values, 40) == 20 and percentile(values, 50) == 35 and percentile(values, 100) == 50
    twenty = [float(v) for v in range(1, 21)]
    assert percentile(twenty, 95) == 19 and percentile(twenty, 50) == 10 and percentile(twenty, 0) == 1
    assert percentile([float(v) for v in range(1, 11)], 95) == 10
    assert percentile([7.0], 95) == 7
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=200), st.floats(0, 100))
def test_percentile_is_a_sample_with_enough_below(values: list[float], p: float) -> None:
    result = percentile(values, p)
    assert result in values
    below = sum(1 for v in values if v <= result)
    assert below >= p / 100 * len(values)
    assert sum(1 for v in values if v < result) < max(p / 100 * len(values), 1)


def test_sparkline() -> None:
    assert sparkline([]) == ""
    assert sparkline([10, 10, 10]) == "▁▁▁"
    assert sparkline([0, 70, 10, None, 35]) == "▁█▂×▅"
    # 8 samples in 4 buckets: each bucket its slowest, a failure wins
    assert sparkline([1, 1, 1, 9, None, 1, 2, 1], width=4) == "▁█×▂"
    assert len(sparkline([float(i) for i in range(100)], width=20)) == 20


def test_judge_against_thresholds() -> None:
    report = TimingReport("u", (*(Sample(float(ms), 200) for ms in range(1, 21)), Sample(3.0, None, "cannot connect")))
    assert report.p50_ms == 10 and report.p95_ms == 19 and report.max_ms == 20
    verdict = judge(report, Thresholds(max_p95_ms=19, max_error_rate=0.05))
    assert verdict.response_time_ok and verdict.error_rate_ok and verdict.ok
    assert (
        verdict.response_time_detail
        == "p50 10 ms, p95 19 ms, max 20 ms over 20 successful request(s) (limit p95 19 ms)"
    )
    assert verdict.error_rate_detail == "1 of 21 failed (5%; limit 5%): 1× cannot connect"
    strict = judge(report, Thresholds(max_p95_ms=18, max_error_rate=0.0, max_ms=15))
    assert not strict.ok and not strict.response_time_ok and not strict.error_rate_ok
    assert strict.failures[:2] == ("p95 19 ms is over 18 ms", "slowest 20 ms is over 15 ms")
    nothing = judge(TimingReport("u", (Sample(1.0, 503),)), Thresholds())
    assert not nothing.response_time_ok and nothing.response_time_detail == "no successful response in 1 request(s)"
    assert nothing.error_rate_detail.endswith(": 1× 503")


async def test_timed_loop_on_a_real_server(server: str) -> None:
    seen: list[int] = []
    report = await time_requests(f"{server}/mixed", 10, on_sample=lambda i, s: seen.append(i))
    assert seen == list(range(10)) and report.count == 10
    assert report.errors == 2 and report.error_rate == pytest.approx(0.2)
    assert [s.status_code for s in report.samples] == [200, 200, 200, 500, 200, 200, 200, 500, 200, 200]
    assert report.max_ms is not None and report.max_ms >= 120  # the slow 5th
    assert report.p95_ms == report.max_ms  # 8 successes: rank ceil(7.6) = 8, the slowest
    assert report.p50_ms is not None and report.p50_ms < 100
    spark = report.sparkline()
    assert len(spark) == 10 and spark[3] == spark[7] == "×" and spark[4] == "█"
    figures = report.figures()
    assert figures["samples_ms"][3] is None and figures["sparkline"] == spark and figures["error_rate"] == 0.2
    verdict = judge(report, Thresholds(max_p95_ms=5000, max_error_rate=0.1))
    assert verdict.response_time_ok and not verdict.error_rate_ok and "2× 500" in verdict.error_rate_detail


async def test_slow_answers_time_out(server: str) -> None:
    report = await time_requests(f"{server}/slow", 2, timeout=0.1)
    assert report.errors == 2 and report.p95_ms is None
    assert report.error_summary() == "2× timed out after 0.1 s"
    assert not judge(report, Thresholds()).ok


async def test_not_listening_is_all_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = await time_requests(f"http://127.0.0.1:{port}/", 3, timeout=2)
    assert report.error_rate == 1.0 and report.sparkline() == "×××"
    assert report.error_summary() == "3× cannot connect"


async def test_interval_uses_the_given_sleep(server: str) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    report = await time_requests(f"{server}/fast", 4, interval=0.5, sleep=fake_sleep)
    assert waits == [0.5, 0.5, 0.5] and report.errors == 0


async def test_bad_input_raises() -> None:
    with pytest.raises(CheckError):
        await time_requests("ftp://127.0.0.1/", 3)
    with pytest.raises(CheckError, match="requests"):
        await time_requests("http://127.0.0.1:1/", 0)
