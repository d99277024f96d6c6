"""Smoke checks against real HTTP servers on 127.0.0.1, with a fake clock for settling."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from iact_tui.errors import ConfigError, SecretError
from iact_tui.services.json_path import PathNotFound, json_equal, lookup, parse_path
from iact_tui.services.secrets import REDACTED
from iact_tui.services.smoke import Attempt, SmokeCheck, run_check, secret_refs, stream_check

PASSWORD = 'pa"ss\\w0rd-secret'  # a quote and a backslash: JSON-escaped in echoed bodies
HEALTH = {"status": "ok", "version": "1.4.0", "data": {"user": {"id": 7, "admin": False}}, "items": [{"name": "a"}]}


class _Handler(BaseHTTPRequestHandler):
    state: dict[str, Any] = {}

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.state["hits"] = self.state.get("hits", 0) + 1
        if self.path == "/health":
            self._send(200, HEALTH)
        elif self.path == "/slow":
            time.sleep(0.5)
            self._send(200, HEALTH)
        elif self.path == "/boom":
            self._send(500, b"<html>Internal Server Error " + b"x" * 500 + b"</html>", "text/html")
        elif self.path == "/notjson":
            self._send(200, b"<html>Welcome to the site</html>", "text/html")
        elif self.path == "/settle":
            n = self.state["settle"] = self.state.get("settle", 0) + 1
            if n <= 3:
                self._send(503, b"starting up", "text/plain")
            else:
                self._send(200, HEALTH)
        elif self.path == "/whoami":
            token = self.headers.get("Authorization", "")
            self._send(200 if token == f"Bearer {PASSWORD}" else 403, {"echo": token})
        else:
            self._send(404, {"error": "nope"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body == {"username": "smoke", "password": PASSWORD}:
            self._send(200, {"ok": True, "user": {"name": "smoke"}})
        else:
            # A careless app echoing the credentials back: they must not reach a result.
            self._send(401, {"ok": False, "got": body})


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (timeout test) breaks the pipe: expected


def _serve(port: int = 0) -> tuple[ThreadingHTTPServer, Callable[[], None]]:
    handler = type("Handler", (_Handler,), {"state": {}})
    httpd = _QuietServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()

    return httpd, stop


@pytest.fixture
def server() -> Iterator[str]:
    httpd, stop = _serve()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


# --------------------------------------------------------------------------- paths


def test_parse_path_forms() -> None:
    assert parse_path("data.user.id") == ("data", "user", "id")
    assert parse_path("items[0].name") == ("items", 0, "name")
    assert parse_path("[1][-1]") == (1, -1)
    assert parse_path('meta["a.b[c]"].x') == ("meta", "a.b[c]", "x")
    for bad in ["", ".a", "a.", "a..b", "a[x]", "a[0", 'a["x]']:
        with pytest.raises(ValueError):
            parse_path(bad)


def test_lookup_and_where_it_stops() -> None:
    assert lookup(HEALTH, "data.user.id") == 7
    assert lookup(HEALTH, "items[0].name") == "a"
    assert lookup(HEALTH, "items[-1].name") == "a"
    with pytest.raises(PathNotFound, match=r"data.user has no key 'email' \(keys: id, admin\)"):
        lookup(HEALTH, "data.user.email")
    with pytest.raises(PathNotFound, match="items has 1 item"):
        lookup(HEALTH, "items[3]")
    with pytest.raises(PathNotFound, match="status is a string, not an object"):
        lookup(HEALTH, "status.code")
    with pytest.raises(PathNotFound, match="the body is an object, not a list"):
        lookup(HEALTH, "[0]")


def test_json_equality_is_strict_about_booleans() -> None:
    assert json_equal(1, 1.0) and json_equal({"a": [1, True]}, {"a": [1.0, True]})
    assert not json_equal(True, 1) and not json_equal(0, False) and not json_equal("1", 1)
    assert not json_equal(None, False)


def test_spec_is_validated_with_the_check_named() -> None:
    with pytest.raises(ConfigError, match=r"'login'.*malformed JSON path"):
        SmokeCheck("login", "http://127.0.0.1/x", expect_json={"a..b": 1})
    with pytest.raises(ConfigError, match="not an http"):
        SmokeCheck("x", "ftp://127.0.0.1/x")
    with pytest.raises(ConfigError, match="method"):
        SmokeCheck("x", "http://127.0.0.1/x", method="get")


# --------------------------------------------------------------------------- the procedure's two checks


def _login(url: str) -> SmokeCheck:
    return SmokeCheck(
        "login",
        f"{url}/api/auth/login",
        method="POST",
        json_body={"username": "smoke", "password": "$env:IACT_SMOKE_PASSWORD"},
        expect_json={"ok": True, "user.name": "smoke"},
    )


async def test_health_and_login_pass(server: str) -> None:
    health = SmokeCheck("health", f"{server}/health", expect_json={"status": "ok", "version": "1.4.0"})
    result = await run_check(health)
    assert result.ok and result.status_code == 200 and result.attempts == 1
    assert result.detail.startswith("200 in ")
    login = await run_check(_login(server), environ={"IACT_SMOKE_PASSWORD": PASSWORD})
    assert login.ok, login.detail
    assert secret_refs(_login(server)) == ["IACT_SMOKE_PASSWORD"]
    assert "$env:IACT_SMOKE_PASSWORD" in repr(_login(server)) and PASSWORD not in repr(login)


async def test_secrets_never_reach_a_result(server: str) -> None:
    wrong = PASSWORD + "-typo"
    result = await run_check(_login(server), environ={"IACT_SMOKE_PASSWORD": wrong})
    assert not result.ok and result.status_code == 401
    # The server echoed the JSON-escaped password back: masked in every form.
    everything = repr(result) + result.detail + result.last.body_excerpt
    escaped = json.dumps(wrong)[1:-1]
    assert wrong not in everything and escaped not in everything and "w0rd-secret" not in everything
    assert REDACTED in result.last.body_excerpt
    assert "answered 401 (expected 200)" in result.detail and "ok is false, expected true" in result.detail


async def test_secret_in_a_header_and_literal_escape(server: str) -> None:
    check = SmokeCheck("whoami", f"{server}/whoami", headers={"Authorization": "Bearer $env:IACT_TOKEN"})
    assert (await run_check(check, environ={"IACT_TOKEN": PASSWORD})).ok
    literal = SmokeCheck("literal", f"{server}/whoami", headers={"Authorization": "Bearer $$env:IACT_TOKEN"})
    assert secret_refs(literal) == []
    result = await run_check(literal, environ={"IACT_TOKEN": PASSWORD})
    assert result.status_code == 403 and "Bearer $env:IACT_TOKEN" in result.last.body_excerpt


async def test_unset_secret_is_an_error_before_any_request(server: str) -> None:
    with pytest.raises(SecretError, match=r"'login'.*IACT_SMOKE_PASSWORD.*unset") as info:
        await run_check(_login(server), environ={"IACT_SMOKE_PASSWORD": ""})
    assert "export IACT_SMOKE_PASSWORD" in info.value.fix


# --------------------------------------------------------------------------- failures are results


async def test_500_shows_status_and_first_200_characters(server: str) -> None:
    result = await run_check(SmokeCheck("boom", f"{server}/boom"))
    assert not result.ok and result.status_code == 500
    assert len(result.last.body_excerpt) == 200 and result.last.body_excerpt.startswith("<html>Internal")
    assert "answered 500 (expected 200); body: <html>Internal Server Error xxx" in result.detail


async def test_invalid_json_and_missing_text(server: str) -> None:
    result = await run_check(SmokeCheck("home", f"{server}/notjson", expect_json={"status": "ok"}))
    assert not result.ok and result.status_code == 200 and "not valid JSON" in result.detail
    text = await run_check(SmokeCheck("home", f"{server}/notjson", expect_text="Goodbye"))
    assert not text.ok and "does not contain 'Goodbye'" in text.detail
    ok = await run_check(SmokeCheck("home", f"{server}/notjson", expect_text="Welcome"))
    assert ok.ok


async def test_wrong_values_and_missing_paths_are_named(server: str) -> None:
    check = SmokeCheck(
        "health", f"{server}/health", expect_json={"version": "1.5.0", "data.user.admin": 0, "data.user.email": "x"}
    )
    result = await run_check(check)
    assert result.last.failures == (
        'version is "1.4.0", expected "1.5.0"',
        "data.user.admin is false, expected 0",
        "data.user.email: data.user has no key 'email' (keys: id, admin)",
    )


async def test_slow_answer_times_out(server: str) -> None:
    result = await run_check(SmokeCheck("slow", f"{server}/slow", timeout=0.2))
    assert not result.ok and result.status_code is None
    assert "no answer within 0.2 s (timed out)" in result.detail
    assert 150 < result.last.elapsed_ms < 450


async def test_not_listening_is_a_connection_error() -> None:
    result = await run_check(SmokeCheck("health", f"http://127.0.0.1:{_closed_port()}/health", timeout=2))
    assert not result.ok and result.status_code is None
    assert "cannot connect" in result.detail and "is the app running?" in result.detail


# --------------------------------------------------------------------------- settling


async def test_settles_after_three_503s(server: str) -> None:
    clock = FakeClock()
    seen: list[Attempt] = []
    result = await run_check(
        SmokeCheck("health", f"{server}/settle"),
        settle_seconds=30,
        sleep=clock.sleep,
        clock=clock,
        on_attempt=seen.append,
    )
    assert result.ok and result.attempts == 4
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8])
    assert [a.status_code for a in seen] == [503, 503, 503, 200]
    assert [a.retry_in for a in seen] == pytest.approx([0.2, 0.4, 0.8, 0.0])
    assert result.waited_s == pytest.approx(1.4)
    assert result.detail.startswith("200 in") and "(after 4 attempts over 1.4 s)" in result.detail


async def test_settles_when_the_app_starts_listening() -> None:
    port = _closed_port()
    clock = FakeClock()
    started: list[Callable[[], None]] = []

    def start_after_three_refusals(sleeps: int) -> None:
        if sleeps == 3:
            started.append(_serve(port)[1])

    clock.on_sleep = start_after_three_refusals
    items = [
        item
        async for item in stream_check(
            SmokeCheck("health", f"http://127.0.0.1:{port}/health", timeout=2),
            settle_seconds=10,
            sleep=clock.sleep,
            clock=clock,
        )
    ]
    try:
        attempts = [i for i in items if isinstance(i, Attempt)]
        assert [a.status_code for a in attempts] == [None, None, None, 200]
        assert all("cannot connect" in a.error for a in attempts[:3])
        assert items[-1].ok  # the SmokeResult comes last
    finally:
        for stop in started:
            stop()


async def test_window_ends_with_the_last_response(server: str) -> None:
    clock = FakeClock()
    result = await run_check(SmokeCheck("boom", f"{server}/boom"), settle_seconds=3, sleep=clock.sleep, clock=clock)
    # 0.2 + 0.4 + 0.8, then the last wait is cut to the window's end (1.6): 5 attempts.
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6])
    assert not result.ok and result.attempts == 5 and result.waited_s == pytest.approx(3.0)
    assert result.detail.startswith("failed after 5 attempts over 3.0 s; last: answered 500 (expected 200)")
    assert result.figures() == {
        "status": 500,
        "elapsed_ms": result.figures()["elapsed_ms"],
        "attempts": 5,
        "waited_s": 3.0,
    }


async def test_backoff_is_capped() -> None:
    clock = FakeClock()
    result = await run_check(
        SmokeCheck("down", f"http://127.0.0.1:{_closed_port()}/", timeout=1),
        settle_seconds=10,
        sleep=clock.sleep,
        clock=clock,
    )
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0, 1.0])
    assert not result.ok and "cannot connect" in result.detail
