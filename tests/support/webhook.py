"""A real webhook receiver on 127.0.0.1: records each POSTed JSON body, answers a chosen status.

With ``expect`` set to ``"slack"``, ``"mattermost"`` or ``"teams"`` it also checks each
payload's shape as that service would (Slack's blocks and mrkdwn limits, Mattermost's
``text``, a Teams workflows Adaptive Card message) and answers 400 with the problems
when it is wrong, as Slack answers ``invalid_blocks``. ``fail_next`` makes it answer the
next requests with ``fail_status`` (500) before going back to ``status``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

TOKEN_PATH = "/hooks/T0KEN-s3cret"


@dataclass
class WebhookReceiver:
    """The receiver: ``url`` to post to (its path is the secret token), what it got, what it answers.

    Attributes:
        received: Each request that reached the token's path: ``{"path", "json"}``.
        problems: For each of ``received``, the shape problems found (``expect`` set).
        expect: ``"slack"``, ``"mattermost"``, ``"teams"``: check each payload's shape.
        fail_next: Answer this many next requests with ``fail_status``/``fail_body``.
    """

    url: str
    received: list[dict[str, object]] = field(default_factory=list)
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    expect: str | None = None
    fail_next: int = 0
    fail_status: int = 500
    fail_body: bytes = b"internal error: try again later"
    problems: list[list[str]] = field(default_factory=list)


# -- shapes ----------------------------------------------------------------------------

_SLACK_BLOCKS = {"header", "section", "divider", "context"}
_SLACK_TOKEN = re.compile(r"<(?:https?://|mailto:|@|#|!)[^<>]*>")
_SLACK_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def _mrkdwn_problems(text: str, where: str) -> list[str]:
    """Markdown that Slack would show as it is, and unescaped control characters."""
    found: list[str] = []
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    prose = re.sub(r"`[^`]*`", "", prose)
    if "**" in prose:
        found.append(f"{where}: Markdown bold ** (mrkdwn bold is *x*)")
    if re.search(r"\]\(", prose):
        found.append(f"{where}: Markdown link [x](y) (mrkdwn links are <url|text>)")
    if re.search(r"(?m)^#{1,6} ", prose):
        found.append(f"{where}: Markdown heading (mrkdwn has none)")
    if "<" in _SLACK_TOKEN.sub("", text) or ">" in _SLACK_TOKEN.sub("", text):
        found.append(f"{where}: unescaped < or > (write &lt; &gt;)")
    if _SLACK_ENTITY.search(text):
        found.append(f"{where}: unescaped & (write &amp;)")
    return found


def slack_problems(payload: Any) -> list[str]:
    """What Slack's incoming webhooks would refuse, or show wrongly, in ``payload``."""
    if not isinstance(payload, dict):
        return ["not a JSON object"]
    found: list[str] = []
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 40000:
        found.append("text: missing, empty or over 40000 characters")
    else:
        found += _mrkdwn_problems(text, "text")
    blocks = payload.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return [*found, "blocks: not a list of 1 to 50 blocks"]
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _SLACK_BLOCKS:
            found.append(f"blocks[{i}]: unknown type {kind!r}")
            continue
        inner = block.get("text")
        if kind == "header":
            if not (isinstance(inner, dict) and inner.get("type") == "plain_text"):
                found.append(f"blocks[{i}]: a header's text must be plain_text")
            elif not 0 < len(str(inner.get("text", ""))) <= 150:
                found.append(f"blocks[{i}]: a header's text must be 1-150 characters")
        elif kind == "section":
            if not (isinstance(inner, dict) and inner.get("type") == "mrkdwn" and isinstance(inner.get("text"), str)):
                found.append(f"blocks[{i}]: a section's text must be mrkdwn")
            elif not 0 < len(inner["text"]) <= 3000:
                found.append(f"blocks[{i}]: a section's text must be 1-3000 characters")
            else:
                found += _mrkdwn_problems(inner["text"], f"blocks[{i}]")
    return found


_MATTERMOST_KEYS = {"text", "channel", "username", "icon_url", "icon_emoji", "attachments", "props", "type", "priority"}


#: Mattermost's post limit (server default, docs.mattermost.com product limits), characters.
MATTERMOST_MAX_CHARS = 16383
#: Teams incoming webhooks: "The message size limit is 28 KB" (learn.microsoft.com), bytes.
TEAMS_MAX_BYTES = 28 * 1024


def mattermost_problems(payload: Any) -> list[str]:
    """What Mattermost's incoming webhooks would refuse in ``payload``."""
    if not isinstance(payload, dict):
        return ["not a JSON object"]
    found = [f"unknown key {key!r}" for key in payload if key not in _MATTERMOST_KEYS]
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        found.append("text: missing or empty")
    elif len(text) > MATTERMOST_MAX_CHARS:
        found.append(f"text: {len(text)} characters, over Mattermost's {MATTERMOST_MAX_CHARS} per post")
    return found


_CARD = "application/vnd.microsoft.card.adaptive"
_SIZES = {"Small", "Default", "Medium", "Large", "ExtraLarge"}
_WEIGHTS = {"Lighter", "Default", "Bolder"}


def teams_problems(payload: Any) -> list[str]:
    """What a Teams workflows webhook ("post to a channel when a webhook request is
    received") would refuse, or show wrongly, in ``payload``: an Adaptive Card message."""
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return ['not a {"type": "message"} object']
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments: missing or empty"]
    found: list[str] = []
    size = len(json.dumps(payload).encode("utf-8"))
    if size > TEAMS_MAX_BYTES:
        found.append(f"payload: {size} bytes, over Teams' 28 KB message limit")
    for i, attachment in enumerate(attachments):
        if not isinstance(attachment, dict) or attachment.get("contentType") != _CARD:
            found.append(f"attachments[{i}]: contentType must be {_CARD}")
            continue
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            found.append(f"attachments[{i}].content: not an AdaptiveCard")
            continue
        if not re.fullmatch(r"1\.[0-6]", str(card.get("version", ""))):
            found.append(f"attachments[{i}].content.version: {card.get('version')!r} is not 1.0-1.6")
        body = card.get("body")
        if not isinstance(body, list) or not body:
            found.append(f"attachments[{i}].content.body: missing or empty")
            continue
        for j, element in enumerate(body):
            where = f"body[{j}]"
            if not isinstance(element, dict) or element.get("type") != "TextBlock":
                found.append(f"{where}: not a TextBlock")
                continue
            text = element.get("text")
            if not isinstance(text, str) or not text.strip():
                found.append(f"{where}: empty text")
            elif re.search(r"(?m)^#{1,6} ", text):
                found.append(f"{where}: a Markdown heading (Adaptive Cards show it as it is)")
            if element.get("wrap") is not True:
                found.append(f"{where}: wrap is not true (long lines would be cut)")
            if "size" in element and element["size"] not in _SIZES:
                found.append(f"{where}: unknown size {element['size']!r}")
            if "weight" in element and element["weight"] not in _WEIGHTS:
                found.append(f"{where}: unknown weight {element['weight']!r}")
    return found


CHECKS = {"slack": slack_problems, "mattermost": mattermost_problems, "teams": teams_problems}


# -- the server ------------------------------------------------------------------------


def _handler(receiver: WebhookReceiver, stop: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"null")
            if self.path != TOKEN_PATH:
                self.send_response(404)
                self.end_headers()
                return
            receiver.received.append({"path": self.path, "json": payload})
            problems = CHECKS[receiver.expect](payload) if receiver.expect else []
            receiver.problems.append(problems)
            if receiver.delay:
                stop.wait(receiver.delay)
            if receiver.fail_next > 0:
                receiver.fail_next -= 1
                self._answer(receiver.fail_status, receiver.fail_body)
            elif problems:
                self._answer(400, ("invalid_payload: " + "; ".join(problems)).encode())
            else:
                self._answer(receiver.status, receiver.body)

    return Handler


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A webhook on a free loopback port; its URL's path holds a fake secret token."""
    stop = threading.Event()
    receiver = WebhookReceiver(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver, stop))
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}{TOKEN_PATH}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()
