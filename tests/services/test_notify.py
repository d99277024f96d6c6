"""Stakeholder notices through a real webhook on 127.0.0.1; the URL (a secret) never shows."""

from __future__ import annotations

import pytest
from support.webhook import WebhookReceiver

from iact_tui.errors import NotifyError
from iact_tui.services.notify import post_notice, webhook_origin
from iact_tui.services.secrets import Secret


async def test_notice_is_posted_as_json(webhook: WebhookReceiver) -> None:
    status = await post_notice(Secret(webhook.url, "env IACT_WEBHOOK"), "Maintenance of IACT at 22:00 UTC, 30 min")
    assert status == 200
    assert webhook.received == [
        {"path": "/hooks/T0KEN-s3cret", "json": {"text": "Maintenance of IACT at 22:00 UTC, 30 min"}}
    ]


@pytest.mark.parametrize(
    ("status", "body", "what"),
    [
        (
            403,
            b"invalid_token T0KEN-s3cret",
            "the webhook at http://127.0.0.1:{port} answered 403: invalid_token ••••••",
        ),
        (500, b"", "the webhook at http://127.0.0.1:{port} answered 500"),
    ],
)
async def test_refusals_name_the_status_not_the_url(
    webhook: WebhookReceiver, status: int, body: bytes, what: str
) -> None:
    webhook.status, webhook.body = status, body
    with pytest.raises(NotifyError) as err:
        await post_notice(Secret(webhook.url, "env IACT_WEBHOOK"), "hello")
    port = webhook.url.split(":")[2].split("/")[0]
    assert err.value.what == what.format(port=port)
    assert "T0KEN" not in str(err.value) and "s3cret" not in str(err.value)


async def test_timeout_and_unreachable(webhook: WebhookReceiver) -> None:
    webhook.delay = 2.0
    with pytest.raises(NotifyError) as err:
        await post_notice(Secret(webhook.url, "env IACT_WEBHOOK"), "hello", timeout=0.3)
    assert err.value.what.endswith("did not answer within 0.3 s")
    closed = "http://127.0.0.1:9/hooks/T0KEN-s3cret"  # the discard port: nothing listens here
    with pytest.raises(NotifyError) as err:
        await post_notice(Secret(closed, "env IACT_WEBHOOK"), "hello", timeout=2)
    assert err.value.what.startswith("cannot reach the webhook at http://127.0.0.1:9: ")
    assert "T0KEN" not in str(err.value)


def test_not_a_url_is_refused_without_showing_it() -> None:
    with pytest.raises(NotifyError) as err:
        import asyncio

        asyncio.run(post_notice(Secret("hooks.example/T0KEN", "env IACT_WEBHOOK"), "hello"))
    assert err.value.what == "the webhook URL from env IACT_WEBHOOK is not an http(s) URL"
    assert webhook_origin("https://hooks.slack.com/services/T0KEN") == "https://hooks.slack.com"
