"""Posting JSON to incoming webhooks (Slack, Mattermost, Teams workflows...).

Used for the production prep's maintenance notice (:func:`post_notice`) and the release
announcement (:func:`post_json`, with the payloads of
:mod:`~iact_tui.services.announce_send`).

The webhook URL is a secret (it lets anyone post): it is read from an environment
variable at the point of use, sent only to the webhook's own host, and never written to
a message, a log line or the journal; errors name only the URL's scheme and host
(:func:`webhook_origin`), records the host with the path masked (:func:`redacted_url`),
and the server's answer is shown with every part of the URL masked. Requests ignore proxy
settings from the environment (``trust_env=False``): the URL goes to the webhook's host
and nowhere else.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from iact_tui.errors import NotifyError
from iact_tui.services.secrets import REDACTED, Secret
from iact_tui.services.tls import ssl_context

#: Characters of a server's answer kept for messages and the journal.
ANSWER_CHARS = 300


def webhook_origin(url: str) -> str:
    """The part of a webhook URL that is safe to show: ``https://hooks.slack.com``.

    Args:
        url: The whole URL (its path and query carry the secret token).

    Returns:
        ``scheme://host[:port]``; ``"(not a URL)"`` when it has no scheme or host.
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "(not a URL)"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def redacted_url(url: str) -> str:
    """The webhook URL with its path and query masked: ``https://hooks.slack.com/••••••``."""
    origin = webhook_origin(url)
    parts = urllib.parse.urlsplit(url)
    if origin == "(not a URL)" or not (parts.path.strip("/") or parts.query):
        return origin
    return f"{origin}/{REDACTED}"


def _scrub(text: str, url: Secret) -> str:
    """``text`` without the URL, its path and query, or any path segment of 6+ characters (tokens)."""
    parts = urllib.parse.urlsplit(url.reveal())
    pieces = [url.reveal(), parts.path, parts.query, *(s for s in parts.path.split("/") if len(s) >= 6)]
    for piece in sorted({p for p in pieces if p}, key=len, reverse=True):
        text = text.replace(piece, REDACTED)
    return text


@dataclass(frozen=True)
class WebhookAnswer:
    """A webhook's 2xx answer.

    Attributes:
        status: The HTTP status (``200``; Teams workflows answer ``202``).
        answer: The start of the body (at most :data:`ANSWER_CHARS`), the URL masked.
        elapsed_ms: Milliseconds from sending to the whole answer.
    """

    status: int
    answer: str
    elapsed_ms: float


class WebhookError(NotifyError):
    """A webhook post failed.

    Attributes:
        status: The HTTP status when the webhook answered (not 2xx); ``None`` when it did
            not (timeout, refused, not a URL).
        answer: The start of the server's answer, the URL masked; ``""`` when none.
    """

    def __init__(self, what: str, fix: str = "", *, status: int | None = None, answer: str = "") -> None:
        super().__init__(what, fix)
        self.status = status
        self.answer = answer


async def post_json(url: Secret, payload: Mapping[str, Any], *, timeout: float = 10.0) -> WebhookAnswer:
    """POST ``payload`` as JSON to the webhook; no redirects, no proxies from the environment.

    Args:
        url: The webhook URL, a :class:`~iact_tui.services.secrets.Secret`.
        payload: The JSON body.
        timeout: Seconds for the whole request.

    Returns:
        The :class:`WebhookAnswer` (a 2xx status).

    Raises:
        WebhookError: The URL is not http(s), the request fails or times out, or the
            webhook answers with a status that is not 2xx (named, with the start of its
            body, the URL masked).
    """
    raw = url.reveal()
    origin = webhook_origin(raw)
    if urllib.parse.urlsplit(raw).scheme not in {"http", "https"} or origin == "(not a URL)":
        raise WebhookError(
            f"the webhook URL from {url.source} is not an http(s) URL",
            f"set it ({url.source}) to the webhook's full https:// URL",
        )
    started = time.perf_counter()
    try:
        verify = await ssl_context()  # shared: building one loads the certificate bundle on the loop
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False, verify=verify) as client:
            response = await client.post(raw, json=dict(payload))
    except httpx.TimeoutException:
        raise WebhookError(
            f"the webhook at {origin} did not answer within {timeout:g} s", "check the webhook, then retry"
        ) from None
    except httpx.HTTPError as exc:
        reason = _scrub(str(exc), url) or type(exc).__name__
        raise WebhookError(f"cannot reach the webhook at {origin}: {reason}", "check the URL and the network") from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    answer = _scrub(" ".join(response.text.split()), url)[:ANSWER_CHARS]  # one line: it is shown in a sentence
    if not 200 <= response.status_code < 300:
        raise WebhookError(
            f"the webhook at {origin} answered {response.status_code}" + (f": {answer[:200]}" if answer else ""),
            f"check the URL in {url.source} (a revoked webhook answers 403/404), then retry",
            status=response.status_code,
            answer=answer,
        )
    return WebhookAnswer(response.status_code, answer, round(elapsed_ms, 1))


async def post_notice(url: Secret, text: str, *, timeout: float = 10.0) -> int:
    """POST ``{"text": text}`` as JSON to the webhook (see :func:`post_json`).

    Args:
        url: The webhook URL, a :class:`~iact_tui.services.secrets.Secret`.
        text: The notice (plain text; Slack and Mattermost also render their markdown).
        timeout: Seconds for the whole request.

    Returns:
        The HTTP status code (2xx).

    Raises:
        WebhookError: As :func:`post_json`.
    """
    return (await post_json(url, {"text": text}, timeout=timeout)).status
