"""The changelog: Keep a Changelog 1.1.0 parsing and insertion, drafts from Conventional Commits.

This module owns three rules:

* how a commit becomes a changelog entry (Conventional Commits 1.0.0 type → Keep a
  Changelog 1.1.0 section, :func:`classify`);
* what the ``## [Unreleased]`` section holds (:func:`unreleased_entries`) and how a
  release's body is drafted from it and the commits (:func:`draft_section_body`);
* where a new release section and its compare links go (:func:`insert_release`).

It works on text only; reading and writing ``CHANGELOG.md`` is the caller's job. Line
endings: CRLF input gives CRLF output from :func:`insert_release`; every other function
returns LF text.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import overload

from iact_tui.errors import ChangelogError

SECTIONS: tuple[str, ...] = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
"""Keep a Changelog 1.1.0 change types, in the order they are rendered."""

HEADER = (
    "# Changelog\n"
    "\n"
    "All notable changes to this project will be documented in this file.\n"
    "\n"
    "The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),\n"
    "and this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).\n"
)
"""The header a new changelog starts with (Keep a Changelog 1.1.0's own wording)."""

# Conventional Commits 1.0.0 type (case-insensitive, §15) → Keep a Changelog section.
_TYPE_SECTION: dict[str, str] = {
    "feat": "Added",
    "feature": "Added",
    "fix": "Fixed",
    "bugfix": "Fixed",
    "hotfix": "Fixed",
    "perf": "Changed",
    "refactor": "Changed",
    "deprecate": "Deprecated",
    "deprecated": "Deprecated",
    "security": "Security",
    "sec": "Security",
    "remove": "Removed",
    "removed": "Removed",
    "revert": "Removed",
}
# Internal work the changelog's readers do not need (unless marked breaking).
_INTERNAL_TYPES = frozenset({"docs", "doc", "test", "tests", "chore", "ci", "build", "style", "release", "wip"})

# Conventional Commits 1.0.0 §1-§5: type, optional (scope), optional !, ": ", description.
_HEADER_RE = re.compile(
    r"^(?P<type>[A-Za-z][A-Za-z0-9_-]*)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?"
    r":[ \t]+(?P<desc>\S.*)$"
)
# §12-§13: a BREAKING CHANGE (or BREAKING-CHANGE) footer, upper case only (§15).
_BREAKING_RE = re.compile(r"^BREAKING[ -]CHANGE:[ \t]*(?P<text>.*)$", re.MULTILINE)
# §8-§10: a footer is "Token: value" or "Token #value"; a value runs until the next one.
_FOOTER_TOKEN_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|BREAKING CHANGE)(?:: | #)")
# Release bookkeeping commits that are not changes: "chore(release): 1.2.0",
# "chore: prepare release 1.2.0", "Release v1.2.0", "Bump version to 1.2.0".
_RELEASE_RE = re.compile(
    r"^(?:prepare\s+|cut\s+)?(?:release|bump\s+version(?:\s+to)?)\s+v?\d+\.\d+\.\d+\S*$",
    re.IGNORECASE,
)
# Bound methods, looked up once: the draft calls them for every commit.
_HEADER_MATCH = _HEADER_RE.match
_RELEASE_MATCH = _RELEASE_RE.match
_BREAKING_SEARCH = _BREAKING_RE.search
# Conventional Commits type (lower case) → section; None for an internal type.
_KIND: dict[str, str | None] = {**_TYPE_SECTION, **dict.fromkeys(_INTERNAL_TYPES)}
_UNKNOWN = "?"

_HEADING2_RE = re.compile(r"^##(?:[ \t]+|$)")
_HEADING3_RE = re.compile(r"^###[ \t]+(?P<name>.+?)[ \t#]*$")
_UNRELEASED_RE = re.compile(r"^##[ \t]+\[?[ \t]*unreleased[ \t]*\]?", re.IGNORECASE)
_RELEASE_HEADING_RE = re.compile(r"^##[ \t]+\[?(?P<version>[^\]\s]+)\]?")
_LINKDEF_RE = re.compile(r"^[ ]{0,3}\[(?P<label>[^\]]+)\]:[ \t]*(?P<url>\S+)[ \t]*$")
_BULLET_RE = re.compile(r"^[-*+][ \t]+(?P<text>.*)$")
_FENCE_RE = re.compile(r"^[ ]{0,3}(?P<fence>`{3,}|~{3,})")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, init=False)
class Commit:
    """One commit, as read from git.

    Attributes:
        sha: The full commit id.
        subject: The first line of the message.
        body: The rest of the message (footers included), stripped.
        author: The author's name.
        parents: The number of parents; more than one means a merge commit.
        changelog_added: Bullet entries this commit added to the changelog file (their
            text, without the bullet). When one of them is still under ``[Unreleased]``,
            the author wrote the commit's entry by hand and none is drafted from it.
    """

    sha: str
    subject: str
    body: str = ""
    author: str = ""
    parents: int = 1
    changelog_added: tuple[str, ...] = ()

    def __init__(
        self,
        sha: str,
        subject: str,
        body: str = "",
        author: str = "",
        parents: int = 1,
        changelog_added: tuple[str, ...] = (),
    ) -> None:
        # The frozen dataclass's own __init__ sets each field through object.__setattr__;
        # filling the instance's dict does the same (no slots, no __post_init__) in half
        # the time, and a draft builds one Commit per commit since the tag (20,000 in the
        # benchmark).
        fields = self.__dict__
        fields["sha"] = sha
        fields["subject"] = subject
        fields["body"] = body
        fields["author"] = author
        fields["parents"] = parents
        fields["changelog_added"] = changelog_added


class CommitLog(Sequence[Commit]):
    """Commits kept as columns, one list per :class:`Commit` field, all of one length.

    ``GitService.commits_since`` returns one: a draft reads three fields of every commit
    since the tag (20,000 in the benchmark), and building a :class:`Commit` for each cost
    more than reading them. Indexing and iterating give :class:`Commit` values, built
    on demand; it equals any sequence holding equal commits in the same order.

    Args:
        shas: The commit ids.
        subjects: The subjects.
        bodies: The bodies, stripped.
        authors: The authors' names.
        parents: The parent counts.
        added: The changelog bullets each commit added (``()`` for none).
        entries: :func:`classify` of each commit when the reader has it already
            (``GitService.commits_since`` classifies while git is still writing the
            log); ``None``: classified when a draft needs it.

    Raises:
        ValueError: The columns differ in length.
    """

    __slots__ = ("added", "authors", "bodies", "entries", "parents", "shas", "subjects")

    def __init__(
        self,
        shas: list[str],
        subjects: list[str],
        bodies: list[str],
        authors: list[str],
        parents: list[int],
        added: list[tuple[str, ...]],
        entries: list[tuple[str, str] | None] | None = None,
    ) -> None:
        lengths = {len(shas), len(subjects), len(bodies), len(authors), len(parents), len(added)}
        if len(lengths) > 1 or (entries is not None and len(entries) not in lengths):
            raise ValueError("the columns of a CommitLog must have one length")
        self.shas = shas
        self.subjects = subjects
        self.bodies = bodies
        self.authors = authors
        self.parents = parents
        self.added = added
        self.entries = entries

    @classmethod
    def of(cls, commits: Sequence[Commit]) -> CommitLog:
        """The log of ``commits``, in their order."""
        return cls(
            [c.sha for c in commits],
            [c.subject for c in commits],
            [c.body for c in commits],
            [c.author for c in commits],
            [c.parents for c in commits],
            [c.changelog_added for c in commits],
        )

    def __len__(self) -> int:
        return len(self.shas)

    @overload
    def __getitem__(self, index: int) -> Commit: ...

    @overload
    def __getitem__(self, index: slice) -> CommitLog: ...

    def __getitem__(self, index: int | slice) -> Commit | CommitLog:
        if isinstance(index, slice):
            return CommitLog(
                self.shas[index],
                self.subjects[index],
                self.bodies[index],
                self.authors[index],
                self.parents[index],
                self.added[index],
                None if self.entries is None else self.entries[index],
            )
        return Commit(
            self.shas[index],
            self.subjects[index],
            self.bodies[index],
            self.authors[index],
            self.parents[index],
            self.added[index],
        )

    def __iter__(self) -> Iterator[Commit]:
        return map(Commit, *self._columns())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable columns, as a list

    def __repr__(self) -> str:
        return f"CommitLog({list(self)!r})"

    def _columns(self) -> tuple[list[str], list[str], list[str], list[str], list[int], list[tuple[str, ...]]]:
        return self.shas, self.subjects, self.bodies, self.authors, self.parents, self.added


def _fields(commits: Sequence[Commit]) -> tuple[Sequence[str], Sequence[str], Sequence[int], Sequence[tuple[str, ...]]]:
    """The subjects, bodies, parent counts and added bullets of ``commits``, as columns."""
    if isinstance(commits, CommitLog):
        return commits.subjects, commits.bodies, commits.parents, commits.added
    return (
        [c.subject for c in commits],
        [c.body for c in commits],
        [c.parents for c in commits],
        [c.changelog_added for c in commits],
    )


def classify_columns(
    subjects: Sequence[str], bodies: Sequence[str], parents: Sequence[int]
) -> list[tuple[str, str] | None]:
    """:func:`classify` of each commit, given as columns (subject, body, parent count).

    Args:
        subjects: The subjects.
        bodies: The bodies.
        parents: The parent counts.

    Returns:
        ``(section, text)`` or ``None`` per commit, in order.
    """
    return list(map(_classify, subjects, bodies, parents))


def _classified(commits: Sequence[Commit]) -> list[tuple[str, str] | None]:
    """:func:`classify` of each commit (taken from the log when it has them)."""
    if isinstance(commits, CommitLog) and commits.entries is not None:
        return commits.entries
    subjects, bodies, parents, _ = _fields(commits)
    return classify_columns(subjects, bodies, parents)


def _capitalise(text: str) -> str:
    """``text`` with its first character upper-cased (``"é"`` → ``"É"``), rest untouched."""
    return text[:1].upper() + text[1:]


def _breaking_note(body: str) -> str:
    """The text of a ``BREAKING CHANGE:`` footer, on one line (``""`` when there is none).

    The value runs from the token to the next footer token or blank line (Conventional
    Commits 1.0.0 §8-§10); its lines are joined with single spaces.
    """
    match = _BREAKING_RE.search(body)
    if match is None:
        return ""
    parts = [match["text"].strip()]
    for line in body[match.end() :].split("\n")[1:]:
        if not line.strip() or _FOOTER_TOKEN_RE.match(line):
            break
        parts.append(line.strip())
    return " ".join(p for p in parts if p)


def is_skipped(commit: Commit) -> bool:
    """Whether ``commit`` is a merge or release-bookkeeping commit (never an entry).

    Args:
        commit: The commit.

    Returns:
        True for merge commits (more than one parent, or a subject starting
        ``"Merge "``) and release commits (``chore(release): ...``, ``release: ...``,
        ``chore: prepare release 1.2.0``, ``Release v1.2.0``, ``Bump version to 1.2.0``).
    """
    subject = commit.subject.strip()
    if commit.parents > 1 or subject.startswith("Merge "):
        return True
    match = _HEADER_RE.match(subject)
    if match and (match["scope"] or "").strip().lower() == "release":
        return True
    return bool(_RELEASE_RE.match(subject))


def classify(commit: Commit) -> tuple[str, str] | None:
    """The changelog section and entry text for one commit, or ``None`` to leave it out.

    Mapping (Conventional Commits 1.0.0 type, case-insensitive per its §15, to Keep a
    Changelog 1.1.0 section): ``feat`` → Added; ``fix`` → Fixed; ``perf``/``refactor`` →
    Changed; ``deprecate``/``deprecated`` → Deprecated; ``remove``/``revert`` (and git's
    ``Revert "..."`` subjects) → Removed; ``security``/``sec`` → Security.

    Left out: merge commits, release commits (see :func:`is_skipped`) and internal types
    (``docs``, ``test``, ``chore``, ``ci``, ``build``, ``style``, ``wip``) — except that a
    *breaking* internal commit goes to Changed, because a breaking change is never hidden.
    A subject with no recognised type (plain prose, or ``"api: ..."``) goes to Changed with
    the whole subject as its text, so no real change is dropped.

    Entry text: the description with its first letter capitalised; a scope is kept as
    ``"**scope:** Text"``; breaking commits (``type!:`` or a ``BREAKING CHANGE:`` /
    ``BREAKING-CHANGE:`` footer, Conventional Commits 1.0.0 §12-§13, §16) are prefixed
    ``"**BREAKING:** "``, and the footer's text, joined into one line, follows the
    description after ``" — "`` (``refactor: drop legacy API`` with ``BREAKING CHANGE:
    the v1 endpoints are gone`` gives ``"**BREAKING:** Drop legacy API — the v1 endpoints
    are gone"``); a footer repeating the description is not added again.

    Args:
        commit: The commit.

    Returns:
        ``(section, text)`` or ``None``.
    """
    return _classify(commit.subject, commit.body, commit.parents)


def _classify(subject: str, body: str, parents: int) -> tuple[str, str] | None:
    """:func:`classify` on a commit's subject, body and parent count.

    ``is_skipped`` is inlined and each step done once, in the cheapest order that gives
    the same result: a draft classifies every commit since the tag (20,000 in the
    benchmark), so one header match per commit, its groups read in one call, the release
    pattern only where it can match, and the type looked up as written before lower-casing.
    """
    subject = subject.strip()
    if not subject or parents > 1 or subject.startswith("Merge "):
        return None
    match = _HEADER_MATCH(subject)
    if "." in subject and _RELEASE_MATCH(subject):  # it needs an x.y.z version
        return None
    breaking = "BREAKING" in body and _BREAKING_SEARCH(body) is not None
    if match is not None:
        kind, scope, bang, desc = match.groups()
        if scope and scope.strip().lower() == "release":
            return None
        section = _KIND.get(kind, _UNKNOWN)
        if section is _UNKNOWN:
            section = _KIND.get(kind.lower(), _UNKNOWN)
        if bang:
            breaking = True
        if section is not _UNKNOWN:
            if section is None:  # an internal type
                if not breaking:
                    return None
                section = "Changed"
            described = desc.strip()
            text = described[:1].upper() + described[1:]
            if scope and (scope := scope.strip()):
                text = f"**{scope}:** {text}"
            if breaking:
                text = _breaking_text(text, described, body)
            return section, text
    # No recognised type: the whole subject is the entry.
    section = "Removed" if subject.startswith('Revert "') else "Changed"
    text = subject[:1].upper() + subject[1:]
    if breaking:
        text = _breaking_text(text, subject, body)
    return section, text


def _breaking_text(text: str, described: str, body: str) -> str:
    """``text`` marked ``**BREAKING:**``, with the footer's note unless it repeats ``described``."""
    note = _breaking_note(body)
    if note and _dedupe_key(note) != _dedupe_key(described):
        text = f"{text} — {note}"
    return f"**BREAKING:** {text}"


@dataclass(frozen=True)
class BumpSuggestion:
    """The SemVer bump the commits since the last release call for.

    Conventional Commits 1.0.0 §1-§3, §12-§13: a breaking change means MAJOR, a ``feat``
    MINOR, any other releasable change PATCH (SemVer 2.0.0 §6-§8). While the major
    version is 0 (SemVer 2.0.0 §4, initial development) a breaking change calls for
    MINOR, as most release tools treat it.

    Attributes:
        level: ``"major"``, ``"minor"``, ``"patch"``, or ``""`` when no commit is
            releasable (merges, release commits and internal types only).
        breaking: The breaking commits' subjects, oldest first.
        features: How many ``feat`` commits.
        others: How many other releasable commits (fixes, changes...).
    """

    level: str
    breaking: tuple[str, ...]
    features: int
    others: int

    def counts(self) -> str:
        """``"2 breaking, 5 features, 3 other changes"`` (zero counts left out; ``"no changes"``)."""
        parts = [
            f"{n} {word}{'' if n == 1 else plural}"
            for n, word, plural in (
                (len(self.breaking), "breaking", ""),
                (self.features, "feature", "s"),
                (self.others, "other change", "s"),
            )
            if n
        ]
        return ", ".join(parts) or "no releasable changes"


def suggest_bump(commits: Sequence[Commit], current_major: int) -> BumpSuggestion:
    """The bump the commits call for (see :class:`BumpSuggestion` for the rules).

    Args:
        commits: The commits since the previous release tag.
        current_major: The current release's MAJOR number (0 during initial development).

    Returns:
        The :class:`BumpSuggestion`.
    """
    breaking: list[str] = []
    features = others = 0
    subjects = commits.subjects if isinstance(commits, CommitLog) else [c.subject for c in commits]
    for subject, result in zip(subjects, _classified(commits), strict=True):
        if result is None:
            continue
        section, text = result
        if text.startswith("**BREAKING:**"):
            breaking.append(subject.strip())
        elif section == "Added" and (m := _HEADER_RE.match(subject.strip())) and m["type"].lower() == "feat":
            features += 1
        else:
            others += 1
    if breaking:
        level = "major" if current_major > 0 else "minor"
    elif features:
        level = "minor"
    elif others:
        level = "patch"
    else:
        level = ""
    return BumpSuggestion(level, tuple(breaking), features, others)


def group_commits(commits: Sequence[Commit]) -> dict[str, list[str]]:
    """Classify commits and group the entries by section.

    Args:
        commits: Commits in the order they should be listed; ``GitService.commits_since``
            gives them oldest first, so entries read chronologically.

    Returns:
        Section → entry texts, keys in :data:`SECTIONS` order, only non-empty sections;
        each section's entries keep the order of ``commits``.
    """
    return _group(_classified(commits))


def _group(results: Sequence[tuple[str, str] | None]) -> dict[str, list[str]]:
    """:func:`group_commits` on the commits' :func:`classify` results."""
    found: dict[str, list[str]] = {s: [] for s in SECTIONS}
    for result in results:
        if result is not None:
            found[result[0]].append(result[1])
    return {s: entries for s, entries in found.items() if entries}


# -- reading Markdown ---------------------------------------------------------------------


def _fenced(lines: Sequence[str]) -> list[bool]:
    """For each line, whether it is inside (or delimits) a fenced code block."""
    inside: list[bool] = []
    fence = ""
    for line in lines:
        match = _FENCE_RE.match(line)
        if fence:
            inside.append(True)
            if match and match["fence"][0] == fence[0] and len(match["fence"]) >= len(fence):
                fence = ""
        elif match:
            fence = match["fence"]
            inside.append(True)
        else:
            inside.append(False)
    return inside


@dataclass(frozen=True)
class _Doc:
    """A changelog split into LF lines with the positions that matter.

    Attributes:
        lines: The text's lines, without line endings.
        headings: Indexes of ``## `` headings outside code fences.
        links_start: Index where the trailing block of link reference definitions (and
            blank lines) begins; ``len(lines)`` when there is none.
    """

    lines: list[str]
    headings: list[int]
    links_start: int

    @classmethod
    def parse(cls, text: str) -> _Doc:
        lines = text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        fenced = _fenced(lines)
        headings = [i for i, line in enumerate(lines) if not fenced[i] and _HEADING2_RE.match(line)]
        floor = headings[-1] + 1 if headings else 0
        start = len(lines)
        while start > floor and (not lines[start - 1].strip() or _LINKDEF_RE.match(lines[start - 1])):
            start -= 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        return cls(lines, headings, start)

    def section_end(self, heading: int) -> int:
        """Index after the last line of the section whose heading is at ``heading``."""
        later = [h for h in self.headings if h > heading]
        return later[0] if later else self.links_start

    def unreleased(self) -> int | None:
        """Index of the ``## [Unreleased]`` heading, if any."""
        return next((h for h in self.headings if _UNRELEASED_RE.match(self.lines[h])), None)

    def release(self, version: str, prefixes: Sequence[str]) -> int | None:
        """Index of the heading of ``version``'s section (``## [1.2.0]``, ``## v1.2.0``...)."""
        for h in self.headings:
            found = _heading_version(self.lines[h], prefixes)
            if found == version:
                return h
        return None


def _heading_version(line: str, prefixes: Sequence[str]) -> str | None:
    """The version a ``## `` heading names, tag prefix removed; ``None`` for Unreleased."""
    if _UNRELEASED_RE.match(line):
        return None
    match = _RELEASE_HEADING_RE.match(line)
    if match is None:
        return None
    version = match["version"]
    for prefix in prefixes:
        if prefix and version.startswith(prefix) and version[len(prefix) : len(prefix) + 1].isdigit():
            return version[len(prefix) :]
    return version


def _trim(lines: list[str]) -> list[str]:
    """``lines`` without leading and trailing blank lines."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _bullets(lines: Sequence[str]) -> dict[str, list[str]]:
    """The ``### Group`` → bullet texts of a section's lines.

    A bullet is a ``-``, ``*`` or ``+`` item at column 0; its following lines (indented
    continuation, nested lists, a lazy continuation line, an indented paragraph after a
    blank line) are kept with it, joined by ``\\n``. Bullets before any ``###`` heading
    go to Changed. Prose and code blocks outside bullets are not entries.
    """
    groups: dict[str, list[str]] = {}
    group = "Changed"
    current: list[str] | None = None
    pending_blank = False

    def close() -> None:
        nonlocal current
        if current is not None:
            groups.setdefault(group, []).append("\n".join(_trim(current)))
        current = None

    fenced = _fenced(lines)
    for line, in_fence in zip(lines, fenced, strict=True):
        if in_fence and (current is None or line[:1] not in (" ", "\t")):
            # A code block outside any bullet is prose, not an entry.
            close()
            pending_blank = False
            continue
        heading = _HEADING3_RE.match(line)
        bullet = _BULLET_RE.match(line)
        if heading:
            close()
            group = heading["name"].strip()
        elif bullet:
            close()
            current = [bullet["text"].rstrip()]
        elif current is not None and not line.strip():
            pending_blank = True
            continue
        elif current is not None and (not pending_blank or line[:1] in (" ", "\t")):
            if pending_blank:
                current.append("")
            current.append(line.rstrip())
        else:
            close()
        pending_blank = False
    close()
    return groups


def unreleased_entries(text: str) -> dict[str, list[str]]:
    """The entries of the ``## [Unreleased]`` section, by ``###`` group.

    Keep a Changelog 1.1.0 keeps upcoming changes under ``## [Unreleased]`` (the heading
    is matched case-insensitively, with or without brackets). Multi-line bullets are kept
    whole (continuation lines joined with ``\\n``, indentation kept); groups that are not
    one of :data:`SECTIONS` (e.g. ``### Internal``) are kept under their own name.

    Args:
        text: The changelog (LF or CRLF).

    Returns:
        Group → bullet texts (without the ``- ``), in the file's order; empty when there
        is no Unreleased section or it has no bullets.
    """
    doc = _Doc.parse(text)
    start = doc.unreleased()
    if start is None:
        return {}
    return _bullets(doc.lines[start + 1 : doc.section_end(start)])


def layout_warning(text: str) -> str | None:
    """Why ``text`` does not follow Keep a Changelog 1.1.0's layout, or ``None`` when it does.

    A file with no ``## [Unreleased]`` heading is still written (the new section goes above
    the first ``## `` heading, with an empty ``[Unreleased]`` added); this says so, so the
    operator can check the result.
    """
    if not text.strip():
        return None
    lines = text.splitlines()
    if any(_UNRELEASED_RE.match(line) for line in lines):
        return None
    if any(line.startswith("## ") for line in lines):
        return "it has no '## [Unreleased]' heading: the new section and an empty [Unreleased] go above the first '## ' heading"
    return "it has no '## ' release headings: the new section is added at its end"


def count_entries(body: str) -> int:
    """How many bullet entries (``-``, ``*`` or ``+``) a section body holds, outside code fences.

    Keep a Changelog 1.1.0 lists each change as a bullet under a ``###`` group.
    """
    lines = body.splitlines()
    fenced = _fenced(lines)
    return sum(1 for line, inside in zip(lines, fenced, strict=True) if not inside and _BULLET_RE.match(line.lstrip()))


_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*)$")


def section_problems(body: str) -> list[str]:
    """What is wrong with a release section's body as the operator wrote it, one
    sentence each with its line number; ``[]`` when it can be written.

    A body holds ``###`` groups with bullet entries (Keep a Changelog 1.1.0). A ``#`` or
    ``##`` heading in it would end the release's section in the file (``## [X.Y.Z]``
    heads a release) and is refused, outside code fences; so is text before the first
    ``###`` group (no group holds it: the announcement reads groups) and a body with no
    entry.

    Args:
        body: The section body, without its ``## [X.Y.Z] - date`` heading.

    Returns:
        Problems in line order, e.g. ``["line 1: '## Added' is a level-2 heading: ..."]``.
    """
    lines = body.splitlines()
    fenced = _fenced(lines)
    found: list[str] = []
    for number, (line, inside) in enumerate(zip(lines, fenced, strict=True), start=1):
        match = _HEADING_RE.match(line)
        if inside or match is None or len(match.group(1)) > 2:
            continue
        level = len(match.group(1))
        name = match.group(2).strip()
        group = f"### {name}" if name.title() in SECTIONS else "### Added, ### Fixed..."
        found.append(
            f"line {number}: '{line.strip()}' is a level-{level} heading, which would end the release's "
            f"section in the file; groups are level 3 ({group})"
        )
    stray = next(
        ((number, line) for number, line in enumerate(lines, start=1) if line.strip() and not _HEADING_RE.match(line)),
        None,
    )
    first_group = next((i for i, line in enumerate(lines, start=1) if _HEADING3_RE.match(line)), None)
    if stray is not None and (first_group is None or stray[0] < first_group):
        number, line = stray
        found.append(
            f"line {number}: '{line.strip()[:60]}' comes before the first ### group, so no group holds it "
            "(the announcement would drop it); put it under a group (### Added, ### Changed, ### Fixed...) "
            "or delete it"
        )
    if not count_entries(body):
        found.append("the section has no entries: write at least one `- ` entry under a ### group")
    return found


def render_groups(groups: Mapping[str, Sequence[str]]) -> str:
    """Render groups as Keep a Changelog 1.1.0 ``###`` subsections.

    Args:
        groups: Section → entry texts. :data:`SECTIONS` come first in their order; any
            other group name follows, in the mapping's order.

    Returns:
        ``"### Added\\n\\n- a\\n- b\\n\\n### Fixed\\n\\n- c\\n"``; empty groups are left
        out; ``""`` when there is nothing.
    """
    names = [s for s in SECTIONS if s in groups] + [g for g in groups if g not in SECTIONS]
    blocks = []
    for name in names:
        entries = [e for e in groups[name] if e.strip()]
        if entries:
            blocks.append(f"### {name}\n\n" + "".join(f"- {e}\n" for e in entries))
    return "\n".join(blocks)


def drop_empty_groups(body: str) -> str:
    """``body`` without the ``###`` group headings that have nothing under them.

    Keep a Changelog 1.1.0 lists only the types of change a release has, so an edited
    section's ``### Security`` with no entry below it (before the next ``###`` heading or
    the end) is left out, with the blank lines that followed it. Headings inside code
    fences are text, not groups. Line endings become LF.

    Args:
        body: A section body (``### Added`` ... groups), e.g. as edited by the operator.

    Returns:
        The body without its empty groups; everything else unchanged.
    """
    lines = body.replace("\r\n", "\n").split("\n")
    fenced = _fenced(lines)
    heads = [i for i, line in enumerate(lines) if not fenced[i] and _HEADING3_RE.match(line)]
    dropped: set[int] = set()
    for n, head in enumerate(heads):
        end = heads[n + 1] if n + 1 < len(heads) else len(lines)
        if not any(line.strip() for line in lines[head + 1 : end]):
            dropped.update(range(head, end))
    return "\n".join(line for i, line in enumerate(lines) if i not in dropped)


def _dedupe_key(entry: str) -> str:
    """Entries that differ only in case, whitespace or a final full stop are the same."""
    return " ".join(entry.split()).rstrip(".").casefold()


def draft_section_body(changelog_text: str, commits: Sequence[Commit]) -> str:
    """Draft a release's section body from ``[Unreleased]`` and the commits since the last tag.

    Per section, the Unreleased entries come first (in file order), then the
    commit-derived ones (in commit order, see :func:`group_commits`); an entry equal to
    an earlier one in the same section, ignoring case, whitespace and a final full stop,
    is dropped. A commit that added an entry now standing under ``[Unreleased]``
    (``changelog_added``) drafts no second one: its author wrote it in their own words.
    A commit that only touched other parts of the file (a typo in an old section) is
    drafted as usual.

    Args:
        changelog_text: The current changelog (may be empty).
        commits: Commits since the previous release, oldest first.

    Returns:
        The body rendered by :func:`render_groups` (``""`` when there is nothing).
    """
    merged: dict[str, list[str]] = {}
    seen: dict[str, set[str]] = {}
    unreleased = unreleased_entries(changelog_text)
    written = {_dedupe_key(entry) for entries in unreleased.values() for entry in entries}
    results = _classified(commits)
    added = commits.added if isinstance(commits, CommitLog) else [c.changelog_added for c in commits]
    if written and any(added):
        drafted = [not bullets or not any(_dedupe_key(a) in written for a in bullets) for bullets in added]
        results = list(compress(results, drafted))
    sources = [unreleased, _group(results)]
    for groups in sources:
        for section, entries in groups.items():
            keys = seen.setdefault(section, set())
            kept = merged.setdefault(section, [])  # left empty: render_groups drops it
            for entry, key in zip(entries, map(_dedupe_key, entries), strict=True):
                if key and key not in keys:
                    keys.add(key)
                    kept.append(entry)
    return render_groups(merged)


# -- writing ------------------------------------------------------------------------------


def _compare_base(url: str) -> tuple[str, str, str] | None:
    """Split a compare URL ``BASE/compare/A...B`` into ``(BASE/compare/, A, B)``."""
    match = re.match(r"^(?P<base>.*/)(?P<a>[^/]+?)\.\.\.(?P<b>[^/]+)$", url)
    return (match["base"], match["a"], match["b"]) if match else None


def insert_release(
    text: str,
    version: str,
    date: str,
    body: str,
    *,
    tag_prefix: str = "v",
    repo_url: str = "",
) -> str:
    """Add the ``## [version] - date`` section, Keep a Changelog 1.1.0 style.

    Placement:

    * ``## [Unreleased]`` exists: its content is replaced by nothing (``body`` is expected
      to carry it, as :func:`draft_section_body` does), the heading stays on top, empty,
      and the new section goes directly below it, above the previous release.
    * no Unreleased heading but other ``## `` headings: an empty ``## [Unreleased]`` and
      the new section are inserted above the first ``## `` heading (so the file is Keep a
      Changelog shaped from now on).
    * no ``## `` heading at all: ``## [Unreleased]`` and the new section are appended
      after the existing text (a header), or after the standard header when ``text`` is
      empty or blank.

    ``body`` is written as given except for its empty ``###`` groups, which are left out
    (:func:`drop_empty_groups`).

    Links (Keep a Changelog 1.1.0 puts compare links at the bottom): when the file already
    has link reference definitions, or ``repo_url`` is given, ``[Unreleased]`` is made to
    compare the new tag with ``HEAD`` and ``[version]: BASE/compare/PREV...TAG`` is added
    right below it (``BASE/releases/tag/TAG`` for a first release). ``BASE`` comes from the
    existing ``[Unreleased]`` compare link, else ``repo_url``, else any existing compare
    link; ``PREV`` from the existing ``[Unreleased]`` link, else the previous release's
    heading. With no base found, no links are written.

    Line endings: CRLF in ``text`` gives CRLF out; a UTF-8 BOM (``\\ufeff``) is kept.

    Args:
        text: The current changelog (may be empty).
        version: The new version, without tag prefix (``"1.4.0"``).
        date: The release date, ISO 8601 ``YYYY-MM-DD``.
        body: The section body (``### Added`` ... groups).
        tag_prefix: The tag prefix, for link targets.
        repo_url: The repository's web URL (``https://github.com/o/r``); ``""``: none.

    Returns:
        The new changelog text.

    Raises:
        ChangelogError: ``version`` already has a section, or ``version``/``date`` is
            malformed.
    """
    version = version.strip()
    if not version or any(c.isspace() or c in "[]" for c in version):
        raise ChangelogError(f"{version!r} cannot be a changelog section name", "pass a version like 1.4.0")
    if not _DATE_RE.match(date):
        raise ChangelogError(f"release date {date!r} is not YYYY-MM-DD", "pass an ISO 8601 date, e.g. 2024-05-01")
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    text = text[len(bom) :]
    crlf = "\r\n" in text
    if not text.strip():
        text = HEADER
    doc = _Doc.parse(text)
    lines = doc.lines
    prefixes = [tag_prefix, "v"]
    existing = doc.release(version, prefixes)
    if existing is not None:
        raise ChangelogError(
            f"the changelog already has a section for {version} (line {existing + 1}: {lines[existing]!r})",
            "remove or rename that section, or release another version",
        )
    tag = f"{tag_prefix}{version}"
    unreleased = doc.unreleased()
    body_lines = _trim(drop_empty_groups(body).split("\n"))
    new_section = [f"## [{version}] - {date}", ""] + ([*body_lines, ""] if body_lines else [])

    if unreleased is not None:
        head_line = lines[unreleased]
        start, end = unreleased, doc.section_end(unreleased)
    elif doc.headings:
        head_line = "## [Unreleased]"
        start = end = doc.headings[0]
    else:
        head_line = "## [Unreleased]"
        start = end = doc.links_start
    before = [*_trim_end(lines[:start]), ""] if _trim(lines[:start]) else []
    after = lines[end:]
    inserted = [head_line, "", *new_section]
    if not after:
        inserted = _trim_end(inserted)
    lines = [*before, *inserted, *after]

    previous = _previous_version(lines, len(before) + len(inserted), prefixes)
    lines = _update_links(lines, version, tag, previous, tag_prefix, repo_url)
    out = "\n".join(lines) + "\n"
    if crlf:
        out = out.replace("\n", "\r\n")
    return bom + out


def _trim_end(lines: list[str]) -> list[str]:
    """``lines`` without trailing blank lines."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _previous_version(lines: list[str], start: int, prefixes: Sequence[str]) -> str | None:
    """The version of the first release heading at or after ``start`` (outside fences)."""
    fenced = _fenced(lines)
    for i in range(start, len(lines)):
        if not fenced[i] and _HEADING2_RE.match(lines[i]):
            found = _heading_version(lines[i], prefixes)
            if found is not None:
                return found
    return None


def _update_links(
    lines: list[str], version: str, tag: str, previous: str | None, tag_prefix: str, repo_url: str
) -> list[str]:
    """Point ``[Unreleased]`` at ``TAG...HEAD``; add ``[version]``'s link (see insert_release)."""
    doc = _Doc.parse("\n".join(lines))
    defs = {i: m for i in range(doc.links_start, len(lines)) if (m := _LINKDEF_RE.match(lines[i])) is not None}
    if not defs and not repo_url:
        return lines
    unreleased_at = next((i for i, m in defs.items() if m["label"].strip().lower() == "unreleased"), None)
    own_at = next((i for i, m in defs.items() if m["label"].strip() in (version, tag)), None)
    base: str | None = None
    prev_tag = f"{tag_prefix}{previous}" if previous else None
    if unreleased_at is not None and (parts := _compare_base(defs[unreleased_at]["url"])):
        base, prev_tag = parts[0], parts[1]
    elif repo_url:
        base = repo_url.rstrip("/") + "/compare/"
    else:
        for m in defs.values():
            if (parts := _compare_base(m["url"])) and parts[0].endswith("/compare/"):
                base = parts[0]
                break
    if base is None:
        return lines
    if prev_tag:
        own_url = f"{base}{prev_tag}...{tag}"
    else:
        root = base[: -len("compare/")] if base.endswith("/compare/") else base
        own_url = f"{root}releases/tag/{tag}"
    label = defs[unreleased_at]["label"] if unreleased_at is not None else "Unreleased"
    unreleased_line = f"[{label}]: {base}{tag}...HEAD"
    own_line = f"[{version}]: {own_url}"

    out = list(lines)
    if own_at is not None:
        out[own_at] = own_line
    if unreleased_at is not None:
        out[unreleased_at] = unreleased_line
        if own_at is None:
            out.insert(unreleased_at + 1, own_line)
    elif defs:
        first = min(defs)
        out[first:first] = [unreleased_line] if own_at is not None else [unreleased_line, own_line]
    else:
        out = [*_trim_end(out), "", unreleased_line, own_line]
    return out


def release_section(text: str, version: str) -> str | None:
    """The body of the ``## [version]`` section, without its heading.

    The heading may be ``## [1.4.0] - 2024-05-01``, ``## 1.4.0`` or ``## [v1.4.0]``. The
    section ends at the next ``## `` heading, or before the link reference definitions at
    the end of the file.

    Args:
        text: The changelog (LF or CRLF).
        version: The version, without prefix.

    Returns:
        The body with surrounding blank lines removed, LF line endings and one final
        newline (``""`` for an empty section), so it equals the ``body`` given to
        :func:`insert_release` when that was :func:`render_groups` output; ``None`` when
        there is no such section.
    """
    doc = _Doc.parse(text.removeprefix("\ufeff"))
    heading = doc.release(version.strip(), ["v"])
    if heading is None:
        return None
    body = _trim(doc.lines[heading + 1 : doc.section_end(heading)])
    return "\n".join(body) + "\n" if body else ""


def newest_release(text: str, prefixes: Sequence[str] = ("v",)) -> str | None:
    """The highest version (SemVer 2.0.0 precedence) among the ``## [X.Y.Z]`` headings.

    Args:
        text: The changelog.
        prefixes: Tag prefixes a heading may carry (``## [v1.2.0]``).

    Returns:
        The version text, or ``None`` when no heading names a SemVer version.
    """
    import semver

    doc = _Doc.parse(text.removeprefix("\ufeff"))
    found: list[semver.Version] = []
    for h in doc.headings:
        name = _heading_version(doc.lines[h], prefixes)
        if name is not None and semver.Version.is_valid(name):
            found.append(semver.Version.parse(name))
    return str(max(found)) if found else None


def insert_backported(text: str, version: str, date: str, body: str) -> str:
    """Add a hotfix's ``## [version] - date`` section to another branch's changelog
    (main, an open release branch), keeping what stands under ``[Unreleased]`` there.

    The section goes above the first release heading below ``[Unreleased]`` (the hotfix
    is newer than the release it fixes); with no such heading, at the end. Link reference
    definitions are left as they are.

    Args:
        text: That branch's changelog.
        version: The hotfix's version, without prefix.
        date: Its release date (``YYYY-MM-DD``).
        body: The hotfix's section body, as written on the hotfix branch.

    Returns:
        The new text; ``text`` itself when it has a ``[version]`` section already.
    """
    if release_section(text, version) is not None:
        return text
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(newline)
    section = [f"## [{version}] - {date}", "", *drop_empty_groups(body).strip().split("\n"), ""]
    for index, line in enumerate(lines):
        if line.startswith("## ") and "unreleased" not in line.lower():
            return newline.join([*lines[:index], *section, *lines[index:]])
    return text.rstrip() + newline + newline + newline.join(section) + newline


def release_date() -> str:
    """The date of a new release section, ``YYYY-MM-DD``: today in this machine's time
    zone, or the UTC date of ``SOURCE_DATE_EPOCH`` (Unix seconds) when that is set to an
    integer, as the Reproducible Builds specification asks of tools that write dates
    (https://reproducible-builds.org/specs/source-date-epoch/)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC).date().isoformat()
    return dt.date.today().isoformat()
