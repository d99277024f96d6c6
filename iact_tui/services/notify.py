"""Stakeholder notices through an incoming webhook (Slack, Mattermost, Teams workflows...).

The webhook URL is a secret (it lets anyone post): it is read from an environment
variable at the point of use, sent only to the webhook's own host, and never written to
a message, a log line or the journal; errors name only the URL's scheme and host.
"""

from __future__ import annotations

import urllib.parse

import httpx

from iact_tui.errors import NotifyError
from iact_tui.services.secrets import REDACTED, Secret


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


def _scrub(text: str, url: Secret) -> str:
    """``text`` without the URL, its path and query, or any path segment of 6+ characters (tokens)."""
    parts = urllib.parse.urlsplit(url.reveal())
    pieces = [url.reveal(), parts.path, parts.query, *(s for s in parts.path.split("/") if len(s) >= 6)]
    for piece in sorted({p for p in pieces if p}, key=len, reverse=True):
        text = text.replace(piece, REDACTED)
    return text


async def post_notice(url: Secret, text: str, *, timeout: float = 10.0) -> int:
    """POST ``{"text": text}`` as JSON to the webhook.

    Args:
        url: The webhook URL, a :class:`~iact_tui.services.secrets.Secret`.
        text: The notice (plain text; Slack and Mattermost also render their markdown).
        timeout: Seconds for the whole request.

    Returns:
        The HTTP status code (2xx).

    Raises:
        NotifyError: The URL is not http(s), the request fails or times out, or the
            webhook answers with a status that is not 2xx (named, with the start of its
            body, the URL redacted).
    """
    raw = url.reveal()
    origin = webhook_origin(raw)
    if urllib.parse.urlsplit(raw).scheme not in {"http", "https"} or origin == "(not a URL)":
        raise NotifyError(
            f"the webhook URL from {url.source} is not an http(s) URL",
            f"set it ({url.source}) to the webhook's full https:// URL",
        )
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.post(raw, json={"text": text})
    except httpx.TimeoutException:
        raise NotifyError(
            f"the webhook at {origin} did not answer within {timeout:g} s", "check the webhook, then retry"
        ) from None
    except httpx.HTTPError as exc:
        reason = _scrub(str(exc), url) or type(exc).__name__
        raise NotifyError(f"cannot reach the webhook at {origin}: {reason}", "check the URL and the network") from None
    if not 200 <= response.status_code < 300:
        body = _scrub(response.text.strip(), url)[:200]
        raise NotifyError(
            f"the webhook at {origin} answered {response.status_code}" + (f": {body}" if body else ""),
            f"check the URL in {url.source} (a revoked webhook answers 403/404), then retry",
        )
    return response.status_code
