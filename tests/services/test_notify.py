"""Webhook posts through a real receiver on 127.0.0.1 (the URL, a secret, never shows), and\nthe announcement as Slack, Mattermost and Teams take it."""

from __future__ import annotations

import pytest
from support.webhook import WebhookReceiver, slack_problems, teams_problems

from iact_tui.errors import NotifyError
from iact_tui.services.announce_send import payload, slack_mrkdwn, slack_payload
from iact_tui.services.notify import WebhookError, post_json, post_notice, redacted_url, webhook_origin
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


# -- the announcement's payloads -----------------------------------------------------------


def test_redacted_url_keeps_the_host_only() -> None:
    assert redacted_url("https://hooks.slack.com/services/T0/B0/XyZ") == "https://hooks.slack.com/••••••"
    assert redacted_url("https://example.org:8443/?token=abc") == "https://example.org:8443/••••••"
    assert redacted_url("https://example.org") == "https://example.org"
    assert redacted_url("not a url") == "(not a URL)"


async def test_a_refusal_carries_its_status_and_masked_answer(webhook: WebhookReceiver) -> None:
    webhook.status, webhook.body = 400, b"invalid_blocks at /hooks/T0KEN-s3cret"
    with pytest.raises(WebhookError) as err:
        await post_json(Secret(webhook.url, "env IACT_WEBHOOK"), {"text": "x"})
    assert err.value.status == 400 and err.value.answer == "invalid_blocks at ••••••"


async def test_proxies_from_the_environment_are_not_used(
    webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy nobody listens on: a client that trusted the environment would fail.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    answer = await post_json(Secret(webhook.url, "env IACT_WEBHOOK"), {"text": "hello"})
    assert answer.status == 200 and answer.answer == "ok" and answer.elapsed_ms >= 0


MARKDOWN = """\
# Release v2.0.0 — *big* one

**v2.0.0** was deployed on 2026-11-29 07:51 CET (06:51 UTC).

## What's new

- Export to CSV: see [the guide](https://docs.example/csv?a=1&b=2) and <https://docs.example>.
- Compare `a < b` & keep __bold__ and ~~old~~ text
  on a continuation line.
  - A nested item.
1. A numbered one.

## Notes

Paragraph one line
and its second line.

```
x = a < b
```

---

— The team
"""


def test_slack_mrkdwn_converts_markdown() -> None:
    text = slack_mrkdwn(MARKDOWN)
    assert text.splitlines()[:5] == [
        "*Release v2.0.0 — big one*",
        "",
        "*v2.0.0* was deployed on 2026-11-29 07:51 CET (06:51 UTC).",
        "",
        "*What's new*",
    ]
    assert "• Export to CSV: see <https://docs.example/csv?a=1&amp;b=2|the guide> and <https://docs.example>." in text
    assert "• Compare `a &lt; b` &amp; keep *bold* and ~old~ text on a continuation line." in text
    assert "    ◦ A nested item." in text and "1. A numbered one." in text
    assert "Paragraph one line and its second line." in text
    assert "```\nx = a &lt; b\n```" in text
    assert slack_problems(slack_payload(MARKDOWN)) == []


def test_slack_blocks_stay_within_slacks_limits() -> None:
    long = "# Big release\n\n" + "\n\n".join(f"## Part {i}\n\n" + "- an entry line\n" * 250 for i in range(60))
    payload = slack_payload(long)
    blocks = payload["blocks"]
    assert len(blocks) <= 50 and blocks[0]["type"] == "header"
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks[1:])
    assert slack_problems(payload) == []
    title = slack_payload("# " + "T" * 200)["blocks"][0]["text"]["text"]
    assert len(title) == 150 and title.endswith("…")


def test_mattermost_gets_the_markdown_and_teams_an_adaptive_card() -> None:
    assert payload("mattermost", MARKDOWN) == {"text": MARKDOWN}
    card = payload("teams", MARKDOWN)
    assert teams_problems(card) == []
    body = card["attachments"][0]["content"]["body"]
    assert body[0] == {
        "type": "TextBlock",
        "text": "Release v2.0.0 — big one",
        "weight": "Bolder",
        "wrap": True,
        "size": "Large",
    }
    assert body[3]["text"].split("\r") == [
        "- Export to CSV: see [the guide](https://docs.example/csv?a=1&b=2) and "
        "[https://docs.example](https://docs.example).",
        "- Compare a < b & keep **bold** and old text on a continuation line.",
        "- A nested item.",
        "1. A numbered one.",
    ]
    assert body[-2] == {"type": "TextBlock", "text": "x = a < b", "fontType": "Monospace", "wrap": True}
    assert body[-1] == {"type": "TextBlock", "text": "— The team", "wrap": True, "separator": True}
    with pytest.raises(ValueError, match="unknown webhook format 'discord'"):
        payload("discord", MARKDOWN)
