"""What a release includes, from git (and GitHub when asked): the release pull request's
"Changes included" section.

The commits on the release branch's first-parent line since the previous tag are the
main branch's own history: merges of pull requests (GitHub's subject ``Merge pull request
#12 from owner/branch``, the PR's title in the body), squash merges (``Title (#12)``) and
commits made or rebased onto main directly. Git alone lists the numbered ones as pull
requests; GitHub, when asked (callbacks, so this module needs no HTTP), gives each number's
title, author and page, and finds the pull request of a commit without a number (a
rebase merge), with a bounded number of lookups. A lookup that fails never fails the
release: the rest of the list stays as git has it, with a note.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from iact_tui.errors import IactError
from iact_tui.services.changelog import Commit

MAX_LOOKUPS = 100
"""At most this many GitHub lookups for one list (one per numbered PR or numberless commit)."""
MAX_LISTED_COMMITS = 50
"""At most this many commits without a pull request are listed one by one."""

_MERGE = re.compile(r"^Merge pull request #(?P<n>\d+) from (?P<branch>\S+)")
_SQUASH = re.compile(r"^(?P<title>.*\S)\s+\(#(?P<n>\d+)\)$")

How = Literal["merge commit", "squash merge", "rebase merge", "commit"]


class PullLike(Protocol):
    """What a forge says about one pull request (e.g. ``services.github.PullRequest``)."""

    @property
    def number(self) -> int: ...

    @property
    def title(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def author(self) -> str: ...


GetPull = Callable[[int], Awaitable[PullLike | None]]
"""Pull request ``number``, or ``None`` when the forge has none to show (GitHub's 404)."""
PullsOfCommit = Callable[[str], Awaitable[Sequence[PullLike]]]
"""The pull requests associated with a commit sha (GitHub lists the one that merged it first)."""


@dataclass(frozen=True)
class Change:
    """One line of the list: a pull request, or a commit that has none.

    Attributes:
        number: The pull request's number; ``None`` for a commit.
        title: The PR's title (GitHub's, else from git), or the commit's subject.
        author: ``@login`` from GitHub, the git author's name, or ``from owner/branch`` for
            a merge commit read from git (its author is whoever merged, not who wrote it).
        url: The PR's page when GitHub gave it.
        sha: The main-line commit that brought it in.
        how: ``merge commit``, ``squash merge``, ``rebase merge`` or ``commit``.
    """

    number: int | None
    title: str
    author: str = ""
    url: str = ""
    sha: str = ""
    how: How = "commit"

    @property
    def markdown(self) -> str:
        """``[#12](url) Add CSV export (@alice)`` or ``` `abc1234` Fix a typo (Dave) ```."""
        who = f" ({self.author})" if self.author else ""
        if self.number is None:
            return f"`{self.sha[:7]}` {self.title}{who}"
        ref = f"[#{self.number}]({self.url})" if self.url else f"#{self.number}"
        how = " — rebase merge" if self.how == "rebase merge" else ""
        return f"{ref} {self.title}{who}{how}"


@dataclass(frozen=True)
class Changes:
    """The pull requests and commits a release brings in.

    Attributes:
        since: The previous release tag; ``""`` for a first release.
        pulls: Distinct pull requests, in the order they reached main.
        commits: Commits no pull request was found for, oldest first.
        unlisted: Commits left out: beyond the lookup bound, or beyond the listed ones.
        note: Why the list is less than complete (GitHub could not be asked), or ``""``.
        source: ``"github"`` when GitHub was asked, ``"git"`` otherwise.
    """

    since: str
    pulls: tuple[Change, ...] = ()
    commits: tuple[Change, ...] = ()
    unlisted: int = 0
    note: str = ""
    source: Literal["git", "github"] = "git"

    @property
    def line(self) -> str:
        """``3 pull requests and 1 commit since v1.0.0``, for logs."""
        since = self.since or "the first commit"
        parts = [_count(len(self.pulls), "pull request") if self.pulls else "no pull requests"]
        if self.commits or self.unlisted:
            parts.append(_count(len(self.commits) + self.unlisted, "other commit"))
        return f"{' and '.join(parts)} since {since}"

    def markdown(self) -> str:
        """The "Changes included" section's text (no heading)."""
        since = self.since or "the first commit"
        out: list[str] = []
        if self.pulls:
            out += [f"**{_count(len(self.pulls), 'pull request')}** merged since {since}:", ""]
            out += [f"- {c.markdown}" for c in self.pulls]
        else:
            out.append(f"No pull requests merged since {since}.")
        shown = self.commits[:MAX_LISTED_COMMITS]
        if shown:
            out += ["", f"**{_count(len(self.commits), 'commit')}** without a pull request:", ""]
            out += [f"- {c.markdown}" for c in shown]
        more = self.unlisted + len(self.commits) - len(shown)
        if more:
            why = " (not looked up on GitHub)" if self.unlisted and self.source == "github" else ""
            out += ["", f"…and {_count(more, 'more commit')}{why}."]
        if self.note:
            out += ["", f"> {self.note}"]
        return "\n".join(out)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _parse(commit: Commit) -> Change:
    """A main-line commit as git tells it: a numbered pull request, or a commit."""
    merge = _MERGE.match(commit.subject)
    if merge and commit.parents > 1:
        body = commit.body.splitlines()
        title = body[0].strip() if body and body[0].strip() else merge["branch"]
        return Change(int(merge["n"]), title, f"from {merge['branch']}", sha=commit.sha, how="merge commit")
    squash = _SQUASH.match(commit.subject)
    if squash:
        return Change(int(squash["n"]), squash["title"], commit.author, sha=commit.sha, how="squash merge")
    return Change(None, commit.subject, commit.author, sha=commit.sha)


def _mainline(commits: Sequence[Commit], exclude: Collection[str]) -> list[Change]:
    return [_parse(c) for c in commits if c.subject not in exclude]


def from_git(commits: Sequence[Commit], since: str, *, exclude: Collection[str] = ()) -> Changes:
    """The list from git alone: numbered subjects are pull requests, the rest commits.

    Args:
        commits: The main-line commits since ``since``, oldest first
            (:meth:`~iact_tui.services.git.GitService.mainline_commits`).
        since: The previous release tag, ``""`` for none.
        exclude: Subjects to leave out (the release's own commit).
    """
    pulls: dict[int, Change] = {}
    others: list[Change] = []
    for change in _mainline(commits, exclude):
        if change.number is None:
            others.append(change)
        else:
            pulls.setdefault(change.number, change)
    return Changes(since, tuple(pulls.values()), tuple(others))


async def from_forge(
    commits: Sequence[Commit],
    since: str,
    *,
    get_pull: GetPull,
    pulls_of_commit: PullsOfCommit,
    exclude: Collection[str] = (),
    max_lookups: int = MAX_LOOKUPS,
    forge_name: str = "GitHub",
) -> Changes:
    """The list with each pull request's details from the forge, and rebase merges found.

    Each numbered commit costs one ``get_pull``, each numberless one a ``pulls_of_commit``;
    after ``max_lookups`` numbered ones keep git's details and numberless ones are counted
    as unlisted. The first failing lookup (an :class:`IactError`) stops the asking: what
    was found is kept, the rest is git's, and :attr:`Changes.note` says why.

    Args:
        commits: As for :func:`from_git`.
        since: The previous release tag, ``""`` for none.
        get_pull: Pull request ``number``, or ``None`` when the forge has none to show
            (then git's details are kept).
        pulls_of_commit: The pull requests associated with a commit.
        exclude: Subjects to leave out.
        max_lookups: The bound on lookups.
        forge_name: For the note.
    """
    pulls: dict[int, Change] = {}
    others: list[Change] = []
    unlisted = 0
    lookups = 0
    failure: IactError | None = None
    for change in _mainline(commits, exclude):
        asking = failure is None and lookups < max_lookups
        if change.number is not None:
            if change.number in pulls:
                continue
            if not asking:
                pulls[change.number] = change
                continue
            lookups += 1
            try:
                found = await get_pull(change.number)
            except IactError as exc:
                failure, found = exc, None
                pulls[change.number] = change
                continue
            # None: GitHub has no such PR (or cannot show it); git's details stay.
            pulls[change.number] = change if found is None else _from_forge(found, change.sha, change.how)
            continue
        if not asking:
            if failure is not None:
                others.append(change)
            else:
                unlisted += 1
            continue
        lookups += 1
        try:
            associated = list(await pulls_of_commit(change.sha))
        except IactError as exc:
            failure, associated = exc, []
        if not associated:
            others.append(change)
            continue
        pull = associated[0]
        if pull.number not in pulls:
            pulls[pull.number] = _from_forge(pull, change.sha, "rebase merge")
    note = ""
    if failure is not None:
        note = (
            f"{forge_name} could not be asked about every change ({failure.what}); "
            "the rest of this list is from git only."
        )
    return Changes(since, tuple(pulls.values()), tuple(others), unlisted, note, "github")


def _from_forge(pull: PullLike, sha: str, how: How) -> Change:
    author = f"@{pull.author}" if pull.author else ""
    return Change(pull.number, pull.title, author, pull.url, sha, how)


__all__ = [
    "MAX_LISTED_COMMITS",
    "MAX_LOOKUPS",
    "Change",
    "Changes",
    "GetPull",
    "PullLike",
    "PullsOfCommit",
    "from_forge",
    "from_git",
]
