"""The health and login checks against a real HTTP server on 127.0.0.1 (timed requests: test_timing)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from iact_tui.errors import CheckError
from iact_tui.services import http_checks


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"status": "ok", "version": "1.4.0"})
        elif self.path == "/notjson":
            self._send(200, b"<html>")
        elif self.path == "/slow":
            time.sleep(0.6)
            self._send(200, {"version": "1.4.0"})
        elif self.path == "/broken":
            self._send(500, {"error": "database is gone"})
        else:
            self._send(404, {"error": "nope"})

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        if body == {"username": "demo", "password": "s3cret"}:
            self._send(200, {"ok": True})
        else:
            self._send(401, {"ok": False})


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_health_ok_and_version_mismatch(server: str) -> None:
    ok = await http_checks.check_health(f"{server}/health", expect_version="1.4.0")
    assert ok.ok and ok.status_code == 200 and ok.elapsed_ms > 0
    bad = await http_checks.check_health(f"{server}/health", expect_version="1.5.0")
    assert not bad.ok and "'1.4.0'" in bad.detail and "'1.5.0'" in bad.detail


async def test_health_failures_are_results_not_exceptions(server: str) -> None:
    missing = await http_checks.check_health(f"{server}/missing", expect_version=None)
    assert not missing.ok and missing.status_code == 404 and "404" in missing.detail
    html = await http_checks.check_health(f"{server}/notjson", expect_version=None)
    assert not html.ok and "not a JSON object" in html.detail
    refused = await http_checks.check_health("http://127.0.0.1:1/health", expect_version=None, timeout=2)
    assert not refused.ok and refused.status_code is None and "no response" in refused.detail


async def test_login_never_shows_the_password(server: str) -> None:
    good = await http_checks.check_login(f"{server}/login", "demo", "s3cret")
    assert good.ok and good.status_code == 200
    bad = await http_checks.check_login(f"{server}/login", "demo", "wrong-pass")
    assert not bad.ok and bad.status_code == 401
    assert "wrong-pass" not in bad.detail and "s3cret" not in good.detail


async def test_a_slow_answer_times_out_and_a_500_shows_its_body(server: str) -> None:
    slow = await http_checks.check_health(f"{server}/slow", expect_version=None, timeout=0.2)
    assert not slow.ok and slow.status_code is None
    assert slow.detail == "no answer: timed out after 0.2 s" and 200 <= slow.elapsed_ms < 600
    broken = await http_checks.check_health(f"{server}/broken", expect_version=None)
    assert not broken.ok and broken.status_code == 500
    assert broken.detail == 'answered 500 (expected 200): {"error": "database is gone"}'
    html = await http_checks.check_health(f"{server}/notjson", expect_version=None)
    assert html.detail == "answered 200 but the body is not a JSON object: <html>"


async def test_malformed_url_raises() -> None:
    with pytest.raises(CheckError):
        await http_checks.check_health("ftp://127.0.0.1/x", expect_version=None)
