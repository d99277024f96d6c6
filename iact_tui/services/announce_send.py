"""The release announcement as each chat webhook takes it: Slack, Mattermost, Microsoft Teams.

The announcement is Markdown. Mattermost renders Markdown, so it gets it as it is
(``{"text": ...}``). Slack does not: its ``mrkdwn`` has ``*bold*``, ``_italic_``,
``<url|text>`` links and no headings, and ``&``, ``<``, ``>`` must be escaped; the
message is ``text`` (the whole announcement, what notifications show) and ``blocks`` (a
``header`` for the title, a ``section`` per part, at most 3,000 characters each and 50
blocks). Teams workflows webhooks take an Adaptive Card message (version 1.4): each
heading a bold ``TextBlock``, each paragraph or list a wrapped one (Adaptive Cards
render bold, italic, links and lists; not headings or code).

Sending is :func:`~iact_tui.services.notify.post_json` (the URL a secret, no proxies
from the environment, a timeout).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from iact_tui.services.notify import WebhookAnswer, post_json
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
    """``{"text": markdown}``: Mattermost renders Markdown itself."""
    return {"text": markdown}


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
    webhook request is received") take it."""
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
    card = {"type": "AdaptiveCard", "$schema": ADAPTIVE_SCHEMA, "version": "1.4", "body": body}
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


# -- sending -------------------------------------------------------------------------


def payload(fmt: str, markdown: str) -> dict[str, Any]:
    """The JSON body for ``fmt`` (one of :data:`FORMATS`).

    Raises:
        ValueError: An unknown format (the config allows only :data:`FORMATS`).
    """
    if fmt == "slack":
        return slack_payload(markdown)
    if fmt == "mattermost":
        return mattermost_payload(markdown)
    if fmt == "teams":
        return teams_payload(markdown)
    raise ValueError(f"unknown webhook format {fmt!r}; one of {', '.join(FORMATS)}")


async def send(url: Secret, fmt: str, markdown: str, *, timeout: float = 10.0) -> WebhookAnswer:
    """Post the announcement to the webhook in ``fmt``.

    Returns:
        The webhook's 2xx answer.

    Raises:
        WebhookError: See :func:`~iact_tui.services.notify.post_json`.
    """
    return await post_json(url, payload(fmt, markdown), timeout=timeout)


__all__ = [
    "FORMATS",
    "LABELS",
    "Format",
    "mattermost_payload",
    "payload",
    "send",
    "slack_mrkdwn",
    "slack_payload",
    "teams_payload",
]
