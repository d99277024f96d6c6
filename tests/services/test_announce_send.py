"""The announcement within each webhook's size limits: Mattermost's 16,383 characters per
post (split into several posts) and Teams' 28 KB message (shortened, saying where the
full text is), on the payload builders and through the real receiver on 127.0.0.1."""

from __future__ import annotations

import json

from support.webhook import WebhookReceiver, teams_problems

from iact_tui.services.announce_send import (
    MATTERMOST_POST_CHARS,
    TEAMS_MAX_BYTES,
    mattermost_payloads,
    payload_bytes,
    payloads,
    send,
    teams_payload,
    teams_payload_within,
)
from iact_tui.services.secrets import Secret


def huge(parts: int = 40, entries: int = 60) -> str:
    """An announcement of about ``parts * entries * 60`` characters: headings, lists, a code block."""
    out = ["# Release v3.0.0", "", "**v3.0.0** was deployed today.", ""]
    for i in range(parts):
        out += [f"## Part {i}", ""]
        out += [f"- Entry {i}.{j}: a change described in some words — ünïcode too." for j in range(entries)]
        out.append("")
    out += ["## Migration", "", "```", *(f"manage.py migrate app{i} 00{i % 10}_step" for i in range(400)), "```", ""]
    out += ["— The release team", ""]
    return "\n".join(out)


def fences_balanced(text: str) -> bool:
    return sum(1 for line in text.split("\n") if line.strip().startswith("```")) % 2 == 0


def test_a_short_announcement_is_one_post_as_it_is() -> None:
    text = "# Release v1.0.0\n\nHello.\n"
    assert mattermost_payloads(text) == [{"text": text}]
    assert payloads("mattermost", text).note == ""
    card, left_out = teams_payload_within(text)
    assert card == teams_payload(text) and left_out == 0
    assert payloads("teams", text).note == ""


def test_mattermost_splits_a_long_announcement_into_posts_within_its_limit() -> None:
    text = huge()
    assert len(text) > 3 * MATTERMOST_POST_CHARS
    posts = mattermost_payloads(text)
    assert len(posts) >= 4
    texts = [p["text"] for p in posts]
    assert all(len(t) <= MATTERMOST_POST_CHARS for t in texts)
    assert texts[0].startswith("# Release v3.0.0") and "(part" not in texts[0]
    assert all(t.startswith(f"_(part {i} of {len(posts)})_\n\n") for i, t in enumerate(texts[1:], start=2))
    assert all(fences_balanced(t) for t in texts)
    # Nothing is lost: every line is in a post, in order (cuts fall at line ends).
    body = [t.split("\n\n", 1)[1] if i else t for i, t in enumerate(texts)]
    joined = [line for t in body for line in t.split("\n") if line.strip() and line.strip() != "```"]
    assert joined == [line for line in text.split("\n") if line.strip() and line.strip() != "```"]
    note = payloads("mattermost", text).note
    assert (
        note
        == f"split into {len(posts)} posts: {len(text):,} characters is over Mattermost's 16,383-character limit per post"
    )


def test_mattermost_cuts_one_huge_line() -> None:
    text = "x" * (MATTERMOST_POST_CHARS * 2)
    posts = mattermost_payloads(text)
    assert all(len(p["text"]) <= MATTERMOST_POST_CHARS for p in posts)
    assert "".join(p["text"].split("\n\n", 1)[-1] for p in posts) == text


def test_teams_is_shortened_to_its_size_limit_saying_what_was_left_out_and_where() -> None:
    text = huge()
    assert payload_bytes(teams_payload(text)) > TEAMS_MAX_BYTES
    card, left_out = teams_payload_within(text, full_at="/runs/x/announcement-v3.0.0.md")
    assert payload_bytes(card) <= TEAMS_MAX_BYTES
    assert len(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode()) <= TEAMS_MAX_BYTES
    assert teams_problems(card) == []
    body = card["attachments"][0]["content"]["body"]
    assert body[0]["text"] == "Release v3.0.0"
    assert body[-1]["text"] == (
        f"… (truncated: {left_out:,} characters left out; the full announcement is in /runs/x/announcement-v3.0.0.md)"
    )
    full = teams_payload(text)["attachments"][0]["content"]["body"]
    assert left_out == sum(len(e["text"]) for e in full) - sum(len(e["text"]) for e in body[:-1])
    # What is kept is the start of the card, the last part perhaps cut at a line end.
    assert [e["text"] for e in body[:-2]] == [e["text"] for e in full[: len(body) - 2]]
    assert full[len(body) - 2]["text"].startswith(body[-2]["text"])
    note = payloads("teams", text, full_at="/runs/x/a.md").note
    assert note.startswith("shortened to Teams' 28 KB message limit: ") and note.endswith(
        " characters left out; the full announcement is in /runs/x/a.md"
    )


def test_teams_cuts_one_huge_code_block_at_a_line_end() -> None:
    text = "# Big\n\n```\n" + "\n".join(f"line {i:05d} " + "y" * 50 for i in range(2000)) + "\n```\n"
    card, left_out = teams_payload_within(text)
    body = card["attachments"][0]["content"]["body"]
    assert payload_bytes(card) <= TEAMS_MAX_BYTES and left_out > 0
    code = body[1]["text"]
    assert code.startswith("line 00000 ") and code.split("\n")[-1].endswith("y" * 50)
    assert body[-1]["text"].startswith(f"… (truncated: {left_out:,} characters left out)")


async def test_a_huge_announcement_reaches_the_receiver_as_posts_within_the_limits(webhook: WebhookReceiver) -> None:
    text = huge()
    webhook.expect = "mattermost"
    sent = await send(Secret(webhook.url, "env HOOK"), "mattermost", text)
    posted = [str(r["json"]["text"]) for r in webhook.received]  # type: ignore[index]
    assert sent.posts == len(posted) >= 4 and sent.answer.status == 200
    assert all(len(t) <= MATTERMOST_POST_CHARS for t in posted) and webhook.problems == [[]] * len(posted)
    assert sent.note.startswith(f"split into {len(posted)} posts")
    assert posted[-1].rstrip().endswith("— The release team")

    webhook.received.clear()
    webhook.problems.clear()
    webhook.expect = "teams"
    sent = await send(Secret(webhook.url, "env HOOK"), "teams", text, full_at="/tmp/announcement-v3.0.0.md")
    [got] = [r["json"] for r in webhook.received]
    assert webhook.problems == [[]] and sent.posts == 1
    assert len(json.dumps(got).encode()) <= TEAMS_MAX_BYTES
    assert "the full announcement is in /tmp/announcement-v3.0.0.md" in sent.note
    assert got["attachments"][0]["content"]["body"][-1]["text"].startswith("… (truncated: ")  # type: ignore[index]
