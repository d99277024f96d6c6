"""The release announcement as each chat webhook takes it: Slack, Mattermost, Microsoft Teams.

The announcement is Markdown. Mattermost renders Markdown, so it gets it as it is
(``{"text": ...}``). Slack does not: its ``mrkdwn`` has ``*bold*``, ``_italic_``,
``<url|text>`` links and no headings, and ``&``, ``<``, ``>`` must be escaped; the
message is ``text`` (the whole announcement, what notifications show) and ``blocks`` (a
``header`` for the title, a ``section`` per part, at most 3,000 characters each and 50
blocks). Teams workflows webhooks take an Adaptive Card message (version 1.4): each
heading a bold ``TextBlock``, each paragraph or list a wrapped one (Adaptive Cards
render bold, italic, links and lists; not headings or code).

Size limits (:func:`payloads`): Mattermost refuses a post over 16,383 characters (its
server default), so a longer announcement goes as several posts, cut between paragraphs
(a code block cut in two is closed and reopened), each after the first headed
``(part i of n)``. A Teams message is limited to about 28 KB: a card over
:data:`TEAMS_MAX_BYTES` keeps its first parts and ends with a line saying how much was
left out and where the full announcement is. :func:`send` says which was done.

Sending is :func:`~iact_tui.services.notify.post_json` (the URL a secret, no proxies
from the environment, a timeout).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from iact_tui.services.notify import WebhookAnswer, WebhookError, post_json
from iact_tui.services.secrets import Secret

Format = Literal["slack", "mattermost", "teams"]

FORMATS: tuple[Format, ...] = ("slack", "mattermost", "teams")
"""The payload formats, as ``[announce] format`` names them."""

LABELS: dict[str, str] = {"slack": "Slack", "mattermost": "Mattermost", "teams": "Microsoft Teams"}
"""Each format's name for the operator."""

#: Slack's limits: a section's text, a header's text, blocks per message, the ``text`` field.
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
SLACK_MAX_BLOCKS = 50
SLACK_TEXT_CHARS = 40000

#: Mattermost's post message limit in characters (Unicode code points), the server default
#: since Mattermost 5.0: "Message length: 16,383 characters"
#: (https://docs.mattermost.com/administration-guide/manage/product-limits.html). A longer
#: ``text`` is refused, so a longer announcement is split into several posts.
MATTERMOST_POST_CHARS = 16383

#: Most bytes of a Teams payload. Microsoft documents "The message size limit is 28 KB.
#: When the size exceeds 28 KB, you receive an error"
#: (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook)
#: and, for the Teams connector of Power Automate workflows, "the message size limit is
#: approximately 28 KB ... Request Entity too large"
#: (https://learn.microsoft.com/connectors/teams/#known-issues-and-limitations-with-actions).
#: Measured as ``json.dumps`` (ASCII-escaped, spaced: never smaller than what is sent),
#: with a margin for the envelope Teams adds.
TEAMS_MAX_BYTES = 27_000

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


@dataclass
class _Block:
    """One block of the Markdown: ``heading`` (with ``level``), ``para``, ``list``, ``code`` or ``rule``."""

    kind: str
    lines: list[str] = field(default_factory=list)
    level: int = 0


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def _blocks(markdown: str) -> list[_Block]:
    """Split Markdown into blocks (the subset announcements use; anything else is a paragraph)."""
    blocks: list[_Block] = []
    current: _Block | None = None
    fence = ""
    for line in markdown.replace("\r\n", "\n").split("\n"):
        if fence:
            assert current is not None
            if line.strip().startswith(fence):
                fence, current = "", None
            else:
                current.lines.append(line)
            continue
        opening = _FENCE.match(line)
        if opening:
            fence = opening[1][0] * 3
            current = _Block("code")
            blocks.append(current)
            continue
        if not line.strip():
            current = None
            continue
        heading = _HEADING.match(line)
        if heading:
            blocks.append(_Block("heading", [heading[2]], len(heading[1])))
            current = None
        elif _RULE.match(line):
            blocks.append(_Block("rule"))
            current = None
        elif _ITEM.match(line):
            if current is None or current.kind != "list":
                current = _Block("list")
                blocks.append(current)
            current.lines.append(line)
        elif current is not None and current.kind == "list":
            current.lines[-1] += " " + line.strip()  # a bullet's continuation line
        elif current is not None and current.kind == "para":
            current.lines.append(line.strip())
        else:
            current = _Block("para", [line.strip()])
            blocks.append(current)
    return blocks


# -- Slack ---------------------------------------------------------------------------

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)(.+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")


def _escape(text: str) -> str:
    """Slack's three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_inline(text: str) -> str:
    """One line of Markdown in Slack's mrkdwn: links, bold, italic, strike; code spans kept."""
    out: list[str] = []
    pos = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_slack_prose(text[pos : match.start()]))
        out.append(f"`{_escape(match[2])}`")
        pos = match.end()
    out.append(_slack_prose(text[pos:]))
    return "".join(out)


def _slack_prose(text: str) -> str:
    links: list[str] = []

    def keep(link: str) -> str:
        links.append(link)
        return f"\x00{len(links) - 1}\x00"

    text = _LINK.sub(lambda m: keep(f"<{_escape(m[2])}|{_escape(_plain(m[1]) or m[2])}>"), text)
    text = _AUTOLINK.sub(lambda m: keep(f"<{_escape(m[1])}>"), text)
    text = _escape(text)
    text = _BOLD.sub(lambda m: f"\x01{m[1] or m[2]}\x01", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    text = text.replace("\x01", "*")
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m[1])], text)


def _plain(text: str) -> str:
    """Markdown emphasis, code marks and links reduced to their text (Slack headers are plain text)."""
    text = _LINK.sub(lambda m: m[1], text)
    text = _BOLD.sub(lambda m: m[1] or m[2], text)
    text = _ITALIC.sub(r"\1", text)
    return text.replace("`", "")


def _slack_item(line: str) -> str:
    match = _ITEM.match(line)
    assert match is not None
    indent, marker, text = match[1], match[2], match[3]
    depth = len(indent.replace("\t", "    ")) // 2
    bullet = marker if marker[0].isdigit() else ("•" if depth == 0 else "◦")
    return "    " * depth + f"{bullet} {_slack_inline(text)}"


def _slack_parts(markdown: str) -> tuple[str, list[list[str]]]:
    """The title (first ``#`` heading, plain) and the parts: each a list of mrkdwn
    paragraphs, a new part at each ``##`` heading and rule."""
    title = ""
    parts: list[list[str]] = [[]]
    for block in _blocks(markdown):
        if block.kind == "heading" and block.level == 1 and not title:
            title = _plain(block.lines[0])
        elif block.kind == "heading":
            if block.level <= 2 and parts[-1]:
                parts.append([])
            parts[-1].append(f"*{_slack_inline(_plain(block.lines[0]))}*")
        elif block.kind == "rule":
            if parts[-1]:
                parts.append([])
        elif block.kind == "list":
            parts[-1].append("\n".join(_slack_item(line) for line in block.lines))
        elif block.kind == "code":
            parts[-1].append("```\n" + _escape("\n".join(block.lines)) + "\n```")
        else:
            parts[-1].append(_slack_inline(" ".join(block.lines)))
    return title, [p for p in parts if p]


def slack_mrkdwn(markdown: str) -> str:
    """The whole announcement in Slack's mrkdwn (the message's ``text``)."""
    title, parts = _slack_parts(markdown)
    paragraphs = ([f"*{_escape(title)}*"] if title else []) + [p for part in parts for p in part]
    return "\n\n".join(paragraphs)


def _chunks(text: str, limit: int) -> Iterator[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line ends where possible."""
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        yield text[:cut]
        text = text[cut:].lstrip("\n")
    if text:
        yield text


def slack_payload(markdown: str) -> dict[str, Any]:
    """``{"text": mrkdwn, "blocks": [header, section...]}`` within Slack's limits."""
    title, parts = _slack_parts(markdown)
    sections = [chunk for part in parts for chunk in _chunks("\n\n".join(part), SLACK_SECTION_CHARS)]
    room = SLACK_MAX_BLOCKS - (1 if title else 0)
    if len(sections) > room:
        # Too many parts for one message: pack them, in order, into fewer sections.
        packed: list[str] = []
        for section in sections:
            if packed and len(packed[-1]) + 2 + len(section) <= SLACK_SECTION_CHARS:
                packed[-1] += "\n\n" + section
            else:
                packed.append(section)
        sections = packed[:room]
    blocks: list[dict[str, Any]] = []
    if title:
        header = title if len(title) <= SLACK_HEADER_CHARS else title[: SLACK_HEADER_CHARS - 1] + "…"
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}})
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections]
    text = slack_mrkdwn(markdown)
    if len(text) > SLACK_TEXT_CHARS:
        text = text[: SLACK_TEXT_CHARS - 1] + "…"
    return {"text": text, "blocks": blocks}


# -- Mattermost ----------------------------------------------------------------------


def mattermost_payload(markdown: str) -> dict[str, Any]:
    """``{"text": markdown}``: Mattermost renders Markdown itself (see :func:`mattermost_payloads`
    for an announcement over :data:`MATTERMOST_POST_CHARS`)."""
    return {"text": markdown}


#: Room kept in each Mattermost part for its ``(part i of n)`` head and a closing fence.
_PART_ROOM = 64


def _is_fence(line: str) -> bool:
    return _FENCE.match(line) is not None


def _split_markdown(markdown: str, limit: int) -> list[str]:
    """``markdown`` in parts of at most ``limit`` characters: cut between paragraphs where
    possible, else at a line end, else (one huge line) inside it. A part that ends inside
    a code block closes it, and the next part opens it again."""
    parts: list[str] = []
    rest = markdown
    reopen = ""
    while len(reopen) + len(rest) > limit:
        room = limit - len(reopen) - 4  # "\n```" may be added
        cut = rest.rfind("\n\n", 0, room)
        if cut <= 0:
            cut = rest.rfind("\n", 0, room)
        if cut <= 0:
            cut = room
        part = reopen + rest[:cut].rstrip("\n")
        rest = rest[cut:].lstrip("\n")
        opener = ""
        for line in part.split("\n"):
            if _is_fence(line):
                opener = "" if opener else line.strip()
        if opener:
            part += "\n```"
        parts.append(part)
        reopen = opener + "\n" if opener else ""
    if rest.strip():
        parts.append(reopen + rest)
    return parts


def mattermost_payloads(markdown: str, *, limit: int = MATTERMOST_POST_CHARS) -> list[dict[str, Any]]:
    """One ``{"text": ...}`` post, or several when ``markdown`` is over ``limit`` characters
    (see the module docstring); each post's text is at most ``limit`` characters."""
    if len(markdown) <= limit:
        return [mattermost_payload(markdown)]
    parts = _split_markdown(markdown, limit - _PART_ROOM)
    total = len(parts)
    return [
        mattermost_payload(part if i == 1 else f"_(part {i} of {total})_\n\n{part}")
        for i, part in enumerate(parts, start=1)
    ]


# -- Microsoft Teams -----------------------------------------------------------------

_SIZES = {1: "Large", 2: "Medium"}


def _teams_inline(text: str) -> str:
    """Markdown Adaptive Cards do not render (strike, code marks, autolinks, ``__bold__``) made plain."""
    text = _STRIKE.sub(r"\1", text).replace("`", "")
    text = re.sub(r"__(?=\S)(.+?)(?<=\S)__", r"**\1**", text)
    return _AUTOLINK.sub(r"[\1](\1)", text)


def _teams_item(line: str) -> str:
    match = _ITEM.match(line)
    assert match is not None
    marker = match[2] if match[2][0].isdigit() else "-"
    return f"{marker} {_teams_inline(match[3])}"


def teams_payload(markdown: str) -> dict[str, Any]:
    """An Adaptive Card (1.4) message, as Teams workflows ("Post to a channel when a
    webhook request is received") take it (see :func:`teams_payload_within` for the size
    limit)."""
    return _teams_message(_teams_body(markdown))


def _teams_message(body: list[dict[str, Any]]) -> dict[str, Any]:
    card = {"type": "AdaptiveCard", "$schema": ADAPTIVE_SCHEMA, "version": "1.4", "body": body}
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


def payload_bytes(payload: dict[str, Any]) -> int:
    """The payload's size as measured against :data:`TEAMS_MAX_BYTES` (``json.dumps``,
    ASCII-escaped: at least the bytes sent however the client encodes it)."""
    return len(json.dumps(payload))


def _cut_text(text: str, chars: int) -> str:
    """The first ``chars`` characters of ``text``, cut back to a line end when there is one."""
    head = text[:chars]
    end = head.rfind("\n")
    return head[:end] if end > 0 else head


def teams_payload_within(
    markdown: str, *, max_bytes: int = TEAMS_MAX_BYTES, full_at: str = ""
) -> tuple[dict[str, Any], int]:
    """:func:`teams_payload`, shortened to ``max_bytes`` when it is larger.

    The card keeps its first parts (the last one kept perhaps cut at a line end) and ends
    with ``… (truncated: N characters left out; the full announcement is in FULL_AT)``.

    Args:
        markdown: The announcement.
        max_bytes: The most bytes (:func:`payload_bytes`).
        full_at: Where the full announcement is (a file), named in the last line.

    Returns:
        The payload, and how many characters of the card's text were left out (0: none).
    """
    body = _teams_body(markdown)
    full = _teams_message(body)
    if payload_bytes(full) <= max_bytes:
        return full, 0
    total = sum(len(str(e.get("text", ""))) for e in body)

    def notice(kept: int) -> dict[str, Any]:
        where = f"; the full announcement is in {full_at}" if full_at else ""
        text = f"… (truncated: {total - kept:,} characters left out{where})"
        return {"type": "TextBlock", "text": text, "wrap": True, "isSubtle": True, "separator": True}

    def fits(elements: list[dict[str, Any]]) -> bool:
        kept = sum(len(str(e["text"])) for e in elements)
        return payload_bytes(_teams_message([*elements, notice(kept)])) <= max_bytes

    count = 0
    while count < len(body) and fits(body[: count + 1]):
        count += 1
    kept = body[:count]
    if count < len(body):
        # As much of the next part as fits (a long list or code block), cut at a line end.
        element, text = body[count], str(body[count]["text"])
        low, high = 0, len(text)
        while low < high:
            mid = (low + high + 1) // 2
            if fits([*kept, {**element, "text": _cut_text(text, mid)}]):
                low = mid
            else:
                high = mid - 1
        cut = _cut_text(text, low)
        if cut.strip():
            kept = [*kept, {**element, "text": cut}]
    shown = sum(len(str(e["text"])) for e in kept)
    return _teams_message([*kept, notice(shown)]), total - shown


def _teams_body(markdown: str) -> list[dict[str, Any]]:
    """The card's body: a TextBlock per heading, paragraph, list or code block."""
    body: list[dict[str, Any]] = []
    separator = False
    for block in _blocks(markdown):
        element: dict[str, Any]
        if block.kind == "rule":
            separator = True
            continue
        if block.kind == "heading":
            element = {"type": "TextBlock", "text": _plain(block.lines[0]), "weight": "Bolder", "wrap": True}
            if block.level in _SIZES:
                element["size"] = _SIZES[block.level]
            if body:
                element["spacing"] = "Medium"
        elif block.kind == "list":
            # Adaptive Cards' Markdown: one item per line, separated by \r.
            element = {"type": "TextBlock", "text": "\r".join(_teams_item(x) for x in block.lines), "wrap": True}
        elif block.kind == "code":
            element = {"type": "TextBlock", "text": "\n".join(block.lines), "fontType": "Monospace", "wrap": True}
        else:
            element = {"type": "TextBlock", "text": _teams_inline(" ".join(block.lines)), "wrap": True}
        if separator:
            element["separator"] = True
            separator = False
        body.append(element)
    return body


# -- sending -------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """The posts an announcement goes as, within the format's limits.

    Attributes:
        payloads: The JSON bodies, posted in order (several only for Mattermost).
        note: What was done to fit the limits, for the operator (``""``: nothing).
    """

    payloads: list[dict[str, Any]]
    note: str = ""


def payloads(fmt: str, markdown: str, *, full_at: str = "") -> Prepared:
    """The JSON bodies for ``fmt`` (one of :data:`FORMATS`), within its limits (see the
    module docstring).

    Args:
        fmt: The format.
        markdown: The announcement.
        full_at: Where the full announcement is (named when it had to be shortened).

    Raises:
        ValueError: An unknown format (the config allows only :data:`FORMATS`).
    """
    if fmt == "slack":
        return Prepared([slack_payload(markdown)])
    if fmt == "mattermost":
        posts = mattermost_payloads(markdown)
        if len(posts) == 1:
            return Prepared(posts)
        note = (
            f"split into {len(posts)} posts: {len(markdown):,} characters is over Mattermost's "
            f"{MATTERMOST_POST_CHARS:,}-character limit per post"
        )
        return Prepared(posts, note)
    if fmt == "teams":
        card, left_out = teams_payload_within(markdown, full_at=full_at)
        if not left_out:
            return Prepared([card])
        where = f"; the full announcement is in {full_at}" if full_at else ""
        note = f"shortened to Teams' 28 KB message limit: {left_out:,} characters left out{where}"
        return Prepared([card], note)
    raise ValueError(f"unknown webhook format {fmt!r}; one of {', '.join(FORMATS)}")


def payload(fmt: str, markdown: str) -> dict[str, Any]:
    """The (first) JSON body for ``fmt``, within its limits (see :func:`payloads`).

    Raises:
        ValueError: An unknown format (the config allows only :data:`FORMATS`).
    """
    return payloads(fmt, markdown).payloads[0]


@dataclass(frozen=True)
class Sent:
    """An announcement posted.

    Attributes:
        answer: The webhook's 2xx answer to the last post.
        posts: How many posts it went as.
        note: What was done to fit the format's limits (``""``: nothing).
    """

    answer: WebhookAnswer
    posts: int = 1
    note: str = ""


async def send(url: Secret, fmt: str, markdown: str, *, timeout: float = 10.0, full_at: str = "") -> Sent:
    """Post the announcement to the webhook in ``fmt`` (several posts when it must be split).

    Args:
        url: The webhook URL.
        fmt: One of :data:`FORMATS`.
        markdown: The announcement.
        timeout: Seconds for each post.
        full_at: Where the full announcement is, named when it had to be shortened.

    Returns:
        The last answer, the number of posts and what was done to fit the limits.

    Raises:
        WebhookError: See :func:`~iact_tui.services.notify.post_json`; when a later part of
            a split announcement fails, its message says how many parts were posted.
    """
    prepared = payloads(fmt, markdown, full_at=full_at)
    total = len(prepared.payloads)
    answer: WebhookAnswer | None = None
    for i, body in enumerate(prepared.payloads):
        try:
            answer = await post_json(url, body, timeout=timeout)
        except WebhookError as exc:
            if i == 0:
                raise
            raise WebhookError(
                f"{i} of {total} parts posted, then part {i + 1}: {exc.what}",
                exc.fix,
                status=exc.status,
                answer=exc.answer,
            ) from None
    assert answer is not None
    return Sent(answer, total, prepared.note)


__all__ = [
    "FORMATS",
    "LABELS",
    "MATTERMOST_POST_CHARS",
    "TEAMS_MAX_BYTES",
    "Format",
    "Prepared",
    "Sent",
    "mattermost_payload",
    "mattermost_payloads",
    "payload",
    "payload_bytes",
    "payloads",
    "send",
    "slack_mrkdwn",
    "slack_payload",
    "teams_payload",
    "teams_payload_within",
]
