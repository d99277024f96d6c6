"""A real webhook receiver on 127.0.0.1: records each POSTed JSON body, answers a chosen status."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class WebhookReceiver:
    """The receiver: ``url`` to post to (its path is the secret token), what it got, what it answers."""

    url: str
    received: list[dict[str, object]] = field(default_factory=list)
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0


def _handler(receiver: WebhookReceiver, stop: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"null")
            if self.path != "/hooks/T0KEN-s3cret":
                self.send_response(404)
                self.end_headers()
                return
            receiver.received.append({"path": self.path, "json": payload})
            if receiver.delay:
                stop.wait(receiver.delay)
            self.send_response(receiver.status)
            self.send_header("Content-Length", str(len(receiver.body)))
            self.end_headers()
            self.wfile.write(receiver.body)

    return Handler


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A webhook on a free loopback port; its URL's path holds a fake secret token."""
    stop = threading.Event()
    receiver = WebhookReceiver(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver, stop))
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks/T0KEN-s3cret"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()
