"""The ``github`` forge: the release pull request, its checks and merge, and checklist queries.

This module owns every call to GitHub's REST API (github.com and GitHub Enterprise Server,
API version ``2022-11-28``) through one :class:`httpx.AsyncClient`. It knows nothing of
the engine or the UI: callers pass callbacks for progress and waits.

Rules it follows (GitHub's REST documentation, "Best practices" and "Rate limits"):

* The token is a :class:`~iact_tui.services.secrets.Secret`: sent only in the
  ``Authorization`` header to ``api_url``'s own origin (a ``Link`` to anywhere else is
  refused), never part of a message, ``repr`` or log line.
* A primary rate limit (``X-RateLimit-Remaining: 0`` with ``X-RateLimit-Reset``) waits until
  the reset; a secondary one (``Retry-After``, or a 403/429 saying "secondary rate limit")
  waits that many seconds, else one minute. Each wait is bounded and reported first.
* 5xx answers, timeouts and connection failures are retried with exponential backoff a
  bounded number of times; other 4xx answers raise :class:`~iact_tui.errors.ForgeError`
  saying what was refused and which token scope or permission is missing.
* Lists follow ``Link: <…>; rel="next"`` with ``per_page=100``.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import re
import shutil
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import httpx

from iact_tui import __version__
from iact_tui.errors import ForgeError, SecretError
from iact_tui.services.forge import MergeResult
from iact_tui.services.secrets import Secret, run_secret_command
from iact_tui.services.tls import ssl_context

DEFAULT_API_URL = "https://api.github.com"
"""github.com's REST API; GitHub Enterprise Server's is ``https://HOST/api/v3``."""
API_VERSION = "2022-11-28"
MERGE_METHODS = ("merge", "squash", "rebase")
TOKEN_ENV = ("GITHUB_TOKEN", "GH_TOKEN")
"""Environment variables read for the token, in this order (then ``gh auth token``)."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits that many seconds (``asyncio.sleep``; tests inject a recorder)."""
Clock = Callable[[], float]
"""Seconds since the epoch (``time.time``); also measures the merge deadline."""

CheckState = Literal["success", "pending", "failure"]

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_PERMISSION_NAMES = {
    "actions": "Actions",
    "checks": "Checks",
    "contents": "Contents",
    "issues": "Issues",
    "metadata": "Metadata",
    "pull_requests": "Pull requests",
    "statuses": "Commit statuses",
    "workflows": "Workflows",
}
_PASSED = {"success", "neutral", "skipped"}


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True)
class PullRequest:
    """A pull request as GitHub reported it.

    Attributes:
        number: The PR number (shared with issues).
        title: Its title.
        url: Its page (``html_url``), for links in the UI and the journal.
        state: ``"open"`` or ``"closed"``.
        head: The branch merged from (``head.ref``).
        head_sha: The head commit (40 hex digits).
        base: The branch merged into.
        labels: Label names on it.
        draft: Whether it is a draft (drafts cannot be merged).
        merged: Whether it has been merged.
        mergeable: ``True``/``False`` once GitHub has computed it, ``None`` while it computes
            (and in list answers, which never carry it).
        mergeable_state: GitHub's word: ``clean``, ``unstable``, ``has_hooks``, ``blocked``
            (branch protection), ``behind``, ``dirty`` (conflicts), ``draft``, ``unknown``.
        merge_commit_sha: The merge commit once merged (a test merge commit before).
        body: Its description (Markdown).
        created: ``True`` when this call opened it, ``False`` when an open one was reused.
        author: Its author's login (``user.login``).
        merged_at: When it was merged (ISO 8601), ``""`` when it was not.
    """

    number: int
    title: str
    url: str
    state: str
    head: str
    head_sha: str
    base: str
    labels: tuple[str, ...] = ()
    draft: bool = False
    merged: bool = False
    mergeable: bool | None = None
    mergeable_state: str = "unknown"
    merge_commit_sha: str | None = None
    body: str = ""
    created: bool = False
    author: str = ""
    merged_at: str = ""


@dataclass(frozen=True)
class Comment:
    """A comment GitHub stored on an issue or pull request.

    Attributes:
        id: Its id (for ``/issues/comments/{id}``).
        url: Its page (``html_url``: the pull request's page with ``#issuecomment-{id}``).
        body: Its text as GitHub stored it (Markdown).
    """

    id: int
    url: str
    body: str


@dataclass(frozen=True)
class Item:
    """An open issue or pull request listed on the checklist.

    Attributes:
        number: Its number.
        title: Its title.
        url: Its page (``html_url``).
        labels: Label names on it.
        pull_request: ``True`` for a pull request.
    """

    number: int
    title: str
    url: str
    labels: tuple[str, ...] = ()
    pull_request: bool = False

    @property
    def line(self) -> str:
        """``#12 Fix the login page — https://github.com/o/r/issues/12``."""
        return f"#{self.number} {self.title} — {self.url}"


@dataclass(frozen=True)
class Check:
    """One check on a commit: a check run (GitHub Actions, apps) or a commit status.

    Attributes:
        name: The check run's ``name`` or the status's ``context``.
        state: ``success`` (also neutral and skipped runs), ``pending`` (queued, in
            progress, waiting) or ``failure`` (failure, error, cancelled, timed out,
            action required, stale, startup failure).
        detail: GitHub's own word: the run's conclusion or status, the status's state, and
            its description when there is one.
        url: Where to read about it (``html_url``/``details_url``/``target_url``), may be empty.
        source: ``"check_run"`` or ``"status"``.
    """

    name: str
    state: CheckState
    detail: str
    url: str
    source: Literal["check_run", "status"]


@dataclass(frozen=True)
class CheckSummary:
    """Every check of one commit, and what they add up to.

    Attributes:
        ref: What was asked for (a branch or a sha).
        sha: The commit it resolved to (empty when GitHub did not say).
        checks: Check runs then statuses, in GitHub's order.
        required: Names that decide the state; empty means every check decides.
    """

    ref: str
    sha: str
    checks: tuple[Check, ...]
    required: tuple[str, ...] = ()

    @property
    def deciding(self) -> tuple[Check, ...]:
        """The checks that count: the required ones, or all when none are required."""
        if not self.required:
            return self.checks
        return tuple(c for c in self.checks if c.name in self.required)

    @property
    def missing(self) -> tuple[str, ...]:
        """Required checks that have not reported on the commit yet."""
        names = {c.name for c in self.checks}
        return tuple(n for n in self.required if n not in names)

    @property
    def failing(self) -> tuple[Check, ...]:
        """Deciding checks that failed."""
        return tuple(c for c in self.deciding if c.state == "failure")

    @property
    def pending(self) -> tuple[str, ...]:
        """Names of deciding checks still running, then the missing required ones."""
        return tuple(c.name for c in self.deciding if c.state == "pending") + self.missing

    @property
    def state(self) -> Literal["success", "pending", "failure", "none"]:
        """``failure`` when a deciding check failed, ``pending`` while one runs or a required
        one is missing, ``none`` when the commit has no checks at all and none is required,
        else ``success``."""
        if self.failing:
            return "failure"
        if self.pending:
            return "pending"
        return "success" if self.deciding else "none"

    @property
    def line(self) -> str:
        """One line for the step's output: ``3 checks: 2 passed, 1 pending (ci / test)``."""
        deciding = self.deciding
        if not deciding and not self.missing:
            return f"no checks on {self.ref}"
        passed = sum(c.state == "success" for c in deciding)
        parts = [f"{passed} passed"]
        if self.failing:
            parts.append(f"{len(self.failing)} failed ({', '.join(c.name for c in self.failing)})")
        if self.pending:
            parts.append(f"{len(self.pending)} pending ({', '.join(self.pending)})")
        return f"{len(deciding) + len(self.missing)} checks: " + ", ".join(parts)


@dataclass(frozen=True)
class MergeWait:
    """One poll of :meth:`GitHubForge.wait_until_mergeable` that found something still to wait for.

    Attributes:
        pr: The pull request as just read.
        checks: Its head commit's checks.
        waiting_for: What is not ready yet, e.g. ``("checks: ci / test", "GitHub to compute
            mergeability")``.
        elapsed: Seconds since the wait began.
        deadline: Seconds the wait may last in all.
    """

    pr: PullRequest
    checks: CheckSummary
    waiting_for: tuple[str, ...]
    elapsed: float
    deadline: float

    @property
    def line(self) -> str:
        """``PR #7: waiting for checks: ci / test (12 s of 900 s)``."""
        return f"PR #{self.pr.number}: waiting for {'; '.join(self.waiting_for)} ({self.elapsed:.0f} s of {self.deadline:g} s)"


@dataclass(frozen=True)
class RetryWait:
    """A wait before a request is sent again.

    Attributes:
        reason: Why: ``"rate limit (resets at 12:01:00 UTC)"``, ``"GitHub answered 502"``,
            ``"timed out after 30 s"``...
        seconds: How long the wait is.
        attempt: 1 for the first retry of this request.
        request: ``"GET /repos/o/r/pulls"`` (path only: no query, no host).
    """

    reason: str
    seconds: float
    attempt: int
    request: str

    @property
    def line(self) -> str:
        """``GitHub: rate limit (…); waiting 61 s before retrying GET /repos/o/r/pulls``."""
        return (
            f"GitHub: {self.reason}; waiting {self.seconds:g} s before retrying {self.request} (retry {self.attempt})"
        )


@dataclass(frozen=True)
class _Need:
    """What a request is for, to explain a refusal: an action and the token rights it needs."""

    action: str
    """Completes "while trying to …", e.g. ``"open the release pull request"``."""
    permission: str
    """The fine-grained permission, e.g. ``"Pull requests: write"``."""
    scope: str = "repo"
    """The classic scope (``public_repo`` is enough for a public repository)."""
    not_found: str = ""
    """What a 404 means when it is not the repository, e.g. ``"pull request #7"``."""


# --------------------------------------------------------------------------- token


async def github_token(*, api_url: str = DEFAULT_API_URL, gh: str = "gh", timeout: float = 10.0) -> Secret:
    """The token for GitHub: ``GITHUB_TOKEN``, then ``GH_TOKEN``, then ``gh auth token``.

    Args:
        api_url: The API's base URL; for a GitHub Enterprise Server its host is passed to
            ``gh auth token --hostname``.
        gh: The ``gh`` executable, looked up on ``PATH`` (skipped when not installed).
        timeout: Seconds ``gh auth token`` may take.

    Returns:
        A :class:`Secret` whose ``source`` is ``"env GITHUB_TOKEN"``, ``"env GH_TOKEN"`` or
        ``"gh auth token"``.

    Raises:
        SecretError: No variable is set and ``gh`` is missing, fails, times out or prints
            nothing (its stderr is shown, never its stdout).
    """
    for name in TOKEN_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return Secret(value, f"env {name}")
    fix = (
        "export GITHUB_TOKEN (a classic token with the repo scope, or a fine-grained one with Contents, "
        "Pull requests and Issues: write, Checks and Commit statuses: read), or run `gh auth login`"
    )
    exe = shutil.which(gh)
    if exe is None:
        raise SecretError("no GitHub token: GITHUB_TOKEN and GH_TOKEN are unset and the gh CLI is not installed", fix)
    args = [exe, "auth", "token"]
    host = urllib.parse.urlsplit(api_url).hostname or ""
    if host and host not in {"api.github.com", "github.com"}:
        args += ["--hostname", host]
    run = await run_secret_command(args, timeout=timeout)
    if run.timed_out:
        raise SecretError(f"`gh auth token` took longer than {timeout:g} s", fix)
    value = run.stdout.strip()
    if run.returncode != 0:
        raise SecretError(f"`gh {' '.join(args[1:])}` exited {run.returncode}: {run.reason}", fix)
    if not value:
        raise SecretError("`gh auth token` printed no token", fix)
    return Secret(value, "gh auth token")


# --------------------------------------------------------------------------- the forge


class GitHubForge:
    """One repository on GitHub: the release pull request, checks, merge and checklist queries.

    Use it as an async context manager (or call :meth:`aclose`); the HTTP client is opened
    on the first request.

    Args:
        repository: ``owner/name``.
        token: The token (see :func:`github_token`).
        api_url: The REST API's base URL: ``https://api.github.com`` or, for GitHub
            Enterprise Server, ``https://HOST/api/v3``.
        timeout: Seconds for one request (connect, each read and write).
        retries: How many times a request that timed out, could not connect or got a 5xx
            is sent again.
        backoff: Seconds before the first such retry; doubled for each next one.
        rate_limit_retries: How many rate-limit waits one request may take.
        max_rate_wait: Longest single rate-limit wait, in seconds; a longer one raises.
        sleep: The wait (``asyncio.sleep``); injectable for tests.
        clock: Seconds since the epoch (``time.time``), for ``X-RateLimit-Reset`` and deadlines.
        on_wait: Told about every wait before it starts (rate limit, retry backoff).
        trust_env: Whether proxy and CA settings come from the environment
            (``HTTPS_PROXY``, ``SSL_CERT_FILE``), as a GitHub Enterprise Server often needs.

    Raises:
        ForgeError: ``repository`` is not ``owner/name`` or ``api_url`` is not an http(s) URL.
    """

    def __init__(
        self,
        repository: str,
        token: Secret,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 1.0,
        rate_limit_retries: int = 3,
        max_rate_wait: float = 300.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.time,
        on_wait: Callable[[RetryWait], None] | None = None,
        trust_env: bool = True,
    ) -> None:
        if not _REPOSITORY.match(repository):
            raise ForgeError(
                f"the GitHub repository {repository!r} is not owner/name",
                'set [forge] repository to e.g. "acme/shop" in iact-release.toml',
            )
        parts = urllib.parse.urlsplit(api_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ForgeError(
                f"the GitHub API URL {api_url!r} is not an http(s) URL",
                "set [forge] api_url to https://api.github.com or https://HOST/api/v3 (GitHub Enterprise Server)",
            )
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.rate_limit_retries = rate_limit_retries
        self.max_rate_wait = max_rate_wait
        self._sleep = sleep
        self._clock = clock
        self._on_wait = on_wait
        self._trust_env = trust_env
        self._origin = (parts.scheme, parts.netloc.lower())
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"GitHubForge({self.repository!r}, api_url={self.api_url!r}, token={self.token!r})"

    async def __aenter__(self) -> GitHubForge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (its connections); the forge can be used again after."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------------- pull requests

    async def get_pr(self, number: int) -> PullRequest:
        """``GET /repos/{o}/{r}/pulls/{number}``: the PR with ``merged`` and ``mergeable``.

        Raises:
            ForgeError: Refused, not found, or GitHub unreachable after the retries.
        """
        need = _Need(f"read pull request #{number}", "Pull requests: read", not_found=f"pull request #{number}")
        return _pull_request(await self._json("GET", f"{self._repo}/pulls/{number}", need=need))

    async def find_pull(self, number: int) -> PullRequest | None:
        """``GET /repos/{o}/{r}/pulls/{number}``, or ``None`` when GitHub answers 404 (the
        number is an issue's, or the PR is gone): for release notes, where a number in a
        commit subject may not be a pull request.

        Raises:
            ForgeError: Any other refusal, or GitHub unreachable after the retries.
        """
        need = _Need(f"read pull request #{number}", "Pull requests: read", not_found=f"pull request #{number}")
        response = await self._request("GET", f"{self._repo}/pulls/{number}", need=need, allow=(404,))
        if response.status_code == 404:
            return None
        return _pull_request(_object(response, need))

    async def pulls_of_commit(self, sha: str) -> list[PullRequest]:
        """``GET /repos/{o}/{r}/commits/{sha}/pulls``: the pull requests associated with a
        commit (all pages). For a commit on the default branch GitHub lists the merged PR
        that brought it in, which finds rebase-merged PRs whose commits carry no number.

        Returns:
            The PRs as GitHub lists them; empty when GitHub does not know the commit
            (422 "No commit found", 404).

        Raises:
            ForgeError: Any other refusal, or GitHub unreachable after the retries.
        """
        need = _Need(f"list the pull requests of commit {sha[:10]}", "Pull requests: read and Contents: read")
        found = await self._list(
            f"{self._repo}/commits/{urllib.parse.quote(sha, safe='')}/pulls", need=need, allow=(404, 422)
        )
        return [_pull_request(data) for data in found if isinstance(data, dict)]

    async def find_open_pr(self, head: str, base: str, *, scan: bool = False) -> PullRequest | None:
        """The open PR from branch ``head`` (of this repository) into ``base``, if any.

        Args:
            head: The release branch, e.g. ``release/1.2.0``.
            base: The main branch.
            scan: Look through every open PR into ``base`` instead of asking with GitHub's
                ``head=owner:branch`` filter, which misses a PR when the owner's spelling
                differs (and a listing can lag behind a PR just opened).

        Returns:
            The PR as a list answer gives it (``mergeable`` is ``None``), or ``None``.

        Raises:
            ForgeError: Refused, or GitHub unreachable after the retries.
        """
        need = _Need("list open pull requests", "Pull requests: read")
        params = {"state": "open", "base": base}
        if not scan:
            params["head"] = f"{self.owner}:{head}"
        for data in await self._list(f"{self._repo}/pulls", params=params, need=need):
            pr = _pull_request(data)
            if pr.head == head and pr.base == base and _head_owner(data).lower() == self.owner.lower():
                return pr
        return None

    async def find_or_create_pr(
        self,
        *,
        version: str,
        head: str,
        base: str,
        body: str,
        labels: Sequence[str] = ("release",),
        progress: Callable[[str], None] | None = None,
        update_existing: bool = False,
    ) -> PullRequest:
        """The release PR ``Release v{version}`` from ``head`` into ``base``: reused when open, else opened.

        Re-running never opens a second one: an open PR for the same head and base is reused,
        and GitHub's 422 "A pull request already exists for owner:branch" leads to the
        existing one. A reused PR keeps its title and description unless
        ``update_existing``: people may have edited them on GitHub since it was opened.
        Missing ``labels`` are added.

        Args:
            version: The version without ``v``, e.g. ``"1.2.0"``.
            head: The release branch (already pushed).
            base: The main branch.
            body: The PR description (Markdown; typically the changelog section).
            labels: Labels the PR must carry; GitHub creates unknown ones.
            progress: Receives one line per action taken.
            update_existing: Bring a reused PR's title and description to ``title`` and
                ``body`` (a ``PATCH``); otherwise they are left as GitHub has them.

        Returns:
            The PR with ``created`` telling whether this call opened it, and its labels.

        Raises:
            ForgeError: The branch is not on GitHub (422), the token may not open PRs,
                GitHub says a PR exists but none can be found, or any refusal.
        """
        say = progress or (lambda _line: None)
        title = f"Release v{version}"
        pr = await self.find_open_pr(head, base)
        if pr is not None:
            say(f"reusing open pull request #{pr.number}: {pr.url}")
            if (pr.title != title or pr.body != body) and not update_existing:
                say(f"#{pr.number} keeps its title and description as they are on GitHub (not overwritten)")
            elif pr.title != title or pr.body != body:
                need = _Need(f"update pull request #{pr.number}", "Pull requests: write")
                data = await self._json(
                    "PATCH", f"{self._repo}/pulls/{pr.number}", json={"title": title, "body": body}, need=need
                )
                pr = _pull_request(data)
                say(f"updated the title and description of #{pr.number}")
        else:
            pr = await self._create_pr(title=title, head=head, base=base, body=body, say=say)
        missing = [label for label in labels if label not in pr.labels]
        if missing:
            now = await self.add_labels(pr.number, missing)
            say(f"labelled #{pr.number}: {', '.join(missing)}")
            pr = replace(pr, labels=now)
        return pr

    async def _create_pr(
        self, *, title: str, head: str, base: str, body: str, say: Callable[[str], None]
    ) -> PullRequest:
        need = _Need("open the release pull request", "Pull requests: write")
        response = await self._request(
            "POST",
            f"{self._repo}/pulls",
            json={"title": title, "head": head, "base": base, "body": body},
            need=need,
            allow=(422,),
        )
        if response.status_code != 422:
            pr = replace(_pull_request(_object(response, need)), created=True)
            say(f"opened pull request #{pr.number}: {pr.url}")
            return pr
        message, errors = _messages(response)
        if not any("already exists" in e for e in errors):
            raise self._error(response, need)
        # GitHub has an open PR for this head and base that the listing did not show (the
        # head filter is fussy about the owner's spelling; lists can lag a fresh PR).
        found = await self.find_open_pr(head, base, scan=True)
        if found is None:
            raise ForgeError(
                f"GitHub says a pull request from {head} into {base} already exists on {self.repository}, "
                "but it is not among the open pull requests",
                "open the repository's pull requests page, close or reopen the stray one, then retry",
            )
        say(f"reusing open pull request #{found.number} (GitHub: {errors[0] if errors else message}): {found.url}")
        return found

    async def add_labels(self, number: int, labels: Sequence[str]) -> tuple[str, ...]:
        """``POST /repos/{o}/{r}/issues/{number}/labels``: add ``labels`` (unknown ones are created).

        Returns:
            Every label name now on the issue or PR.

        Raises:
            ForgeError: Refused (needs Issues or Pull requests: write), or not found.
        """
        need = _Need(
            f"label #{number}", "Issues: write or Pull requests: write", not_found=f"issue or pull request #{number}"
        )
        response = await self._request(
            "POST", f"{self._repo}/issues/{number}/labels", json={"labels": list(labels)}, need=need
        )
        data = _body(response)
        if not isinstance(data, list):
            raise self._unexpected(response, need)
        return tuple(str(label.get("name", "")) for label in data if isinstance(label, dict))

    async def comment(self, number: int, body: str) -> Comment:
        """``POST /repos/{o}/{r}/issues/{number}/comments``: add a comment to issue or pull
        request ``number`` (pull requests take comments through the issues API).

        Args:
            number: The issue or pull request.
            body: The comment (Markdown; GitHub allows 65,536 characters).

        Returns:
            The :class:`Comment` GitHub created (201).

        Raises:
            ForgeError: Refused (needs Issues or Pull requests: write), not found, locked
                (403/422), or GitHub unreachable after the retries.
        """
        need = _Need(
            f"comment on #{number}",
            "Issues: write or Pull requests: write",
            not_found=f"issue or pull request #{number}",
        )
        data = await self._json("POST", f"{self._repo}/issues/{number}/comments", json={"body": body}, need=need)
        return Comment(
            id=int(data.get("id") or 0), url=str(data.get("html_url") or ""), body=str(data.get("body") or "")
        )

    # ------------------------------------------------------------------- checks and merge

    async def ci_status(self, ref: str, *, required: Sequence[str] = ()) -> CheckSummary:
        """Every check of commit ``ref``: its check runs (latest of each, all pages) and its
        combined commit status.

        ``GET /repos/{o}/{r}/commits/{ref}/check-runs`` and ``…/commits/{ref}/status``. A
        combined status with no statuses (GitHub calls it ``pending``) adds nothing.

        Args:
            ref: A sha or a branch (``main``).
            required: Check names that decide the state; empty: every check decides.

        Raises:
            ForgeError: Refused (needs Checks: read and Commit statuses: read), ``ref`` not
                found, or GitHub unreachable after the retries.
        """
        quoted = urllib.parse.quote(ref, safe="")
        runs = await self._list(
            f"{self._repo}/commits/{quoted}/check-runs",
            params={"filter": "latest"},
            key="check_runs",
            need=_Need(f"read the check runs of {ref}", "Checks: read", not_found=f"commit {ref}"),
        )
        status = await self._json(
            "GET",
            f"{self._repo}/commits/{quoted}/status",
            params={"per_page": "100"},
            need=_Need(f"read the commit status of {ref}", "Commit statuses: read", not_found=f"commit {ref}"),
        )
        checks = [_check_run(run) for run in runs if isinstance(run, dict)]
        statuses = status.get("statuses")
        if isinstance(statuses, list):
            checks += [_status(s) for s in statuses if isinstance(s, dict)]
        sha = str(status.get("sha") or next((r.get("head_sha") for r in runs if isinstance(r, dict)), "") or "")
        return CheckSummary(ref=ref, sha=sha, checks=tuple(checks), required=tuple(required))

    async def wait_until_mergeable(
        self,
        number: int,
        *,
        deadline: float,
        poll_interval: float = 10.0,
        required: Sequence[str] = (),
        progress: Callable[[MergeWait], None] | None = None,
        observe: Callable[[PullRequest, CheckSummary], None] | None = None,
    ) -> tuple[PullRequest, CheckSummary]:
        """Poll PR ``number`` until its head's checks pass and GitHub says it can be merged.

        Each poll reads the PR (``mergeable`` is ``null`` while GitHub computes it) and the
        checks of its head commit. Waits while checks are pending or required ones have not
        reported, while mergeability is being computed, and while branch protection blocks
        it (``mergeable_state`` ``blocked``: e.g. a review is missing). A commit with no
        checks at all and nothing required does not wait.

        Args:
            number: The PR.
            deadline: Seconds the whole wait may last.
            poll_interval: Seconds between polls.
            required: Check names that must pass; empty: every check on the head must.
            progress: Told each poll that still waits, before sleeping.
            observe: Told every poll's reading (the PR and its head's checks) before it is
                judged, so a live view shows a failing check before the error is raised.

        Returns:
            The PR and its checks when ready; an already merged PR is returned at once.

        Raises:
            ForgeError: A check failed (its name and link); the PR is closed, a draft, has
                conflicts or is behind its base under branch protection; the deadline passed
                (naming what was still awaited); or any request failed.
        """
        started = self._clock()
        while True:
            pr = await self.get_pr(number)
            if pr.merged:
                return pr, CheckSummary(ref=pr.head_sha, sha=pr.head_sha, checks=())
            self._check_open(pr)
            checks = await self.ci_status(pr.head_sha, required=required)
            if observe is not None:
                observe(pr, checks)
            if checks.failing:
                first = checks.failing[0]
                others = f" (and {len(checks.failing) - 1} more)" if len(checks.failing) > 1 else ""
                link = f": {first.url}" if first.url else ""
                raise ForgeError(
                    f"check {first.name!r} failed on pull request #{pr.number} ({first.detail}){others}{link}",
                    f"fix it and push to {pr.head} (or re-run the check), then retry: the pull request is reused",
                )
            waiting: list[str] = []
            if checks.pending:
                waiting.append("checks: " + ", ".join(checks.pending))
            if pr.mergeable is None:
                waiting.append("GitHub to compute mergeability")
            elif not pr.mergeable or pr.mergeable_state == "dirty":
                raise ForgeError(
                    f"pull request #{pr.number} ({pr.head} into {pr.base}) has merge conflicts: {pr.url}",
                    f"merge {pr.base} into {pr.head}, resolve the conflicts, push, then retry",
                )
            elif pr.mergeable_state == "behind":
                raise ForgeError(
                    f"pull request #{pr.number} is behind {pr.base} and branch protection wants it up to date: {pr.url}",
                    f"{pr.base} gained commits after the release branch was cut: bring them into {pr.head} "
                    "(and their changelog entries), push, then retry",
                )
            elif pr.mergeable_state == "blocked" and not checks.pending:
                waiting.append("branch protection (a required review or check)")
            if not waiting:
                return pr, checks
            elapsed = self._clock() - started
            if elapsed >= deadline:
                raise ForgeError(
                    f"pull request #{pr.number} still waits for {'; '.join(waiting)} after {deadline:g} s: {pr.url}",
                    "retry the step to keep waiting, or raise [forge] checks_deadline",
                )
            if progress is not None:
                progress(MergeWait(pr, checks, tuple(waiting), elapsed, deadline))
            await self._sleep(max(0.0, min(poll_interval, deadline - elapsed)))

    def _check_open(self, pr: PullRequest) -> None:
        if pr.state != "open":
            raise ForgeError(
                f"pull request #{pr.number} was closed without being merged: {pr.url}",
                "reopen it on GitHub, then retry",
            )
        if pr.draft:
            raise ForgeError(
                f"pull request #{pr.number} is a draft and cannot be merged: {pr.url}",
                "mark it ready for review on GitHub, then retry",
            )

    async def merge(
        self,
        number: int,
        *,
        method: str = "merge",
        sha: str | None = None,
        commit_title: str | None = None,
        base_moved_retries: int = 2,
    ) -> MergeResult:
        """``PUT /repos/{o}/{r}/pulls/{number}/merge``; idempotent.

        Args:
            number: The PR.
            method: ``"merge"``, ``"squash"`` or ``"rebase"``.
            sha: The head commit that was checked; GitHub refuses (409) when the head moved.
            commit_title: The merge commit's title; GitHub's default when ``None``.
            base_moved_retries: How often GitHub's transient 405 "Base branch was modified"
                is retried (after ``backoff`` seconds).

        Returns:
            :class:`~iact_tui.services.forge.MergeResult`: ``commit`` is the merge commit
            (for ``rebase``, the last rebased one); ``already`` when it was merged before.

        Raises:
            ForgeError: ``method`` unknown; 405 (conflicts, a failing required check, a
                missing review, or a merge method the repository forbids) or 409 (the head
                changed since ``sha``) explained; any other refusal.
        """
        if method not in MERGE_METHODS:
            raise ForgeError(
                f"merge method {method!r} is not one of {', '.join(MERGE_METHODS)}",
                "set [forge] merge_method in iact-release.toml",
            )
        need = _Need(f"merge pull request #{number}", "Contents: write", not_found=f"pull request #{number}")
        payload: dict[str, str] = {"merge_method": method}
        if sha:
            payload["sha"] = sha
        if commit_title:
            payload["commit_title"] = commit_title
        for attempt in range(base_moved_retries + 1):
            response = await self._request(
                "PUT", f"{self._repo}/pulls/{number}/merge", json=payload, need=need, allow=(405, 409)
            )
            if response.status_code < 300:
                return MergeResult(commit=str(_object(response, need).get("sha") or ""), already=False)
            message, _errors = _messages(response)
            if response.status_code == 409:
                raise ForgeError(
                    f"GitHub refused to merge pull request #{number}: its head is no longer "
                    f"{(sha or '?')[:10]} (409 {message or 'Head branch was modified'})",
                    "someone pushed to the release branch after the checks: look at the new commits, then retry "
                    "(the checks are awaited again)",
                )
            pr = await self.get_pr(number)
            if pr.merged:
                return MergeResult(commit=pr.merge_commit_sha or "", already=True)
            if "base branch was modified" in message.lower() and attempt < base_moved_retries:
                await self._wait(
                    RetryWait(f"GitHub: {message}", self.backoff, attempt + 1, f"PUT /pulls/{number}/merge")
                )
                continue
            raise self._not_mergeable(pr, method, message)
        raise AssertionError("unreachable")  # pragma: no cover

    def _not_mergeable(self, pr: PullRequest, method: str, message: str) -> ForgeError:
        said = f"405 {message}" if message else "405"
        if "not allowed" in message.lower():
            return ForgeError(
                f"GitHub refused to merge pull request #{pr.number} with method {method!r} ({said})",
                "set [forge] merge_method to a method the repository allows (Settings → General → Pull Requests)",
            )
        if pr.mergeable is False or pr.mergeable_state == "dirty":
            why = "it has merge conflicts"
        elif pr.mergeable_state == "blocked":
            why = "branch protection blocks it (a required review or check)"
        elif pr.mergeable_state == "behind":
            why = f"it is behind {pr.base} and branch protection wants it up to date"
        else:
            why = "it is not mergeable"
        return ForgeError(
            f"GitHub refused to merge pull request #{pr.number}: {why} ({said}): {pr.url}",
            "see the pull request's merge box on GitHub, fix what it names, then retry",
        )

    # ------------------------------------------------------------------- checklist queries

    async def open_prs_with_label(self, label: str) -> list[Item]:
        """Open pull requests carrying ``label`` (through the issues API, all pages).

        Raises:
            ForgeError: Refused (needs Issues: read), or GitHub unreachable.
        """
        return await self._open_items({"labels": label}, pull_requests=True, what=f"label {label!r}")

    async def open_issues_with_label(self, label: str) -> list[Item]:
        """Open issues (pull requests left out) carrying ``label``, e.g. ``critical``.

        Raises:
            ForgeError: Refused (needs Issues: read), or GitHub unreachable.
        """
        return await self._open_items({"labels": label}, pull_requests=False, what=f"label {label!r}")

    async def open_prs_in_milestone(self, title: str) -> list[Item]:
        """Open pull requests in the milestone titled ``title``.

        Raises:
            ForgeError: No milestone has that title (the open ones are named), refused, or
                GitHub unreachable.
        """
        need = _Need("list milestones", "Issues: read")
        milestones = await self._list(f"{self._repo}/milestones", params={"state": "all"}, need=need)
        for milestone in milestones:
            if isinstance(milestone, dict) and milestone.get("title") == title:
                return await self._open_items(
                    {"milestone": str(milestone.get("number"))}, pull_requests=True, what=f"milestone {title!r}"
                )
        known = ", ".join(repr(m.get("title")) for m in milestones if isinstance(m, dict)) or "none"
        raise ForgeError(
            f"{self.repository} has no milestone titled {title!r} (milestones: {known})",
            "fix [forge] milestone in iact-release.toml or create the milestone",
        )

    async def _open_items(self, params: dict[str, str], *, pull_requests: bool, what: str) -> list[Item]:
        need = _Need(f"list open issues and pull requests with {what}", "Issues: read")
        found = await self._list(f"{self._repo}/issues", params={"state": "open", **params}, need=need)
        items = []
        for data in found:
            if not isinstance(data, dict) or ("pull_request" in data) != pull_requests:
                continue
            items.append(
                Item(
                    number=int(data.get("number") or 0),
                    title=str(data.get("title") or ""),
                    url=str(data.get("html_url") or ""),
                    labels=_labels(data),
                    pull_request=pull_requests,
                )
            )
        return items

    # ------------------------------------------------------------------- HTTP

    @property
    def _repo(self) -> str:
        return f"/repos/{self.repository}"

    async def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # The shared TLS context, built off the event loop (see iact_tui.services.tls).
            verify = await ssl_context(trust_env=self._trust_env)
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                trust_env=self._trust_env,
                verify=verify,
                follow_redirects=False,
                headers={
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": API_VERSION,
                    "User-Agent": f"iact-tui/{__version__}",
                },
            )
        return self._client

    async def _json(
        self, method: str, path: str, *, need: _Need, params: dict[str, str] | None = None, json: Any = None
    ) -> dict[str, Any]:
        return _object(await self._request(method, path, params=params, json=json, need=need), need)

    async def _list(
        self,
        path: str,
        *,
        need: _Need,
        params: dict[str, str] | None = None,
        key: str | None = None,
        allow: tuple[int, ...] = (),
    ) -> list[Any]:
        """Every item of a listing, following ``Link: rel="next"`` (at most 100 pages); a
        status in ``allow`` ends the listing with what was read (nothing, on the first page)."""
        items: list[Any] = []
        url: str | None = path
        query: dict[str, str] | None = {**(params or {}), "per_page": "100"}
        for _page in range(100):
            if url is None:
                break
            response = await self._request("GET", url, params=query, need=need, allow=allow)
            if response.status_code in allow:
                break
            data = _body(response)
            page = data.get(key) if key and isinstance(data, dict) else data
            if not isinstance(page, list):
                raise self._unexpected(response, need)
            items += page
            url, query = response.links.get("next", {}).get("url"), None
        return items

    async def _request(
        self,
        method: str,
        path: str,
        *,
        need: _Need,
        params: dict[str, str] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """One API call with rate-limit waits and retries; a status in ``allow`` is returned.

        ``path`` starts with ``/`` (under ``api_url``) or is an absolute ``Link`` URL, which
        must be on ``api_url``'s origin: the token goes nowhere else.
        """
        url = self.api_url + path if path.startswith("/") else path
        target = urllib.parse.urlsplit(url)
        if (target.scheme, target.netloc.lower()) != self._origin:
            raise ForgeError(
                f"GitHub pointed to {target.scheme}://{target.netloc} for the next page, not {self.api_url}",
                "check [forge] api_url (for GitHub Enterprise Server: https://HOST/api/v3)",
            )
        shown = f"{method} {target.path}"
        headers = {"Authorization": f"Bearer {self.token.reveal()}"}
        failures = rate_waits = 0
        while True:
            try:
                client = await self._http()
                response = await client.request(method, url, params=params, json=json, headers=headers)
            except httpx.TimeoutException:
                failure = f"no answer within {self.timeout:g} s"
            except httpx.TransportError as exc:
                failure = self.token.redact(f"cannot connect to {self.api_url}: {exc or type(exc).__name__}")
            else:
                status = response.status_code
                if status < 400 or status in allow:
                    return response
                wait = self._rate_limit_wait(response)
                if wait is not None:
                    seconds, reason = wait
                    if rate_waits >= self.rate_limit_retries or seconds > self.max_rate_wait:
                        raise ForgeError(
                            f"GitHub's {reason} for the token from {self.token.source} "
                            f"(a {seconds:.0f} s wait; at most {self.max_rate_wait:g} s and {self.rate_limit_retries} waits allowed)",
                            "retry the step later, or use a token with a higher rate limit",
                        )
                    rate_waits += 1
                    await self._wait(RetryWait(reason, seconds, rate_waits, shown))
                    continue
                if status < 500:
                    raise self._error(response, need)
                failure = f"GitHub answered {status}"
            if failures >= self.retries:
                raise ForgeError(
                    f"could not {need.action} on {self.repository}: {failure} ({shown}, {failures + 1} attempts)",
                    f"check that {self.api_url} is reachable (githubstatus.com for github.com), then retry",
                )
            delay = self.backoff * 2**failures
            failures += 1
            await self._wait(RetryWait(failure, delay, failures, shown))

    async def _wait(self, wait: RetryWait) -> None:
        if self._on_wait is not None:
            self._on_wait(wait)
        await self._sleep(wait.seconds)

    def _rate_limit_wait(self, response: httpx.Response) -> tuple[float, str] | None:
        """Seconds to wait and why, when ``response`` is a rate limit; ``None`` otherwise."""
        if response.status_code not in (403, 429):
            return None
        headers = response.headers
        retry_after = headers.get("Retry-After", "").strip()
        if retry_after:
            seconds = _retry_after_seconds(retry_after, self._clock())
            if seconds is not None:
                return seconds, f"secondary rate limit (Retry-After: {retry_after})"
        reset = headers.get("X-RateLimit-Reset", "").strip()
        if headers.get("X-RateLimit-Remaining", "").strip() == "0" and reset.isdigit():
            # GitHub's advice: wait until the reset time (epoch seconds); one more second
            # covers the clocks' disagreement.
            seconds = max(0.0, int(reset) - self._clock()) + 1
            at = time.strftime("%H:%M:%S UTC", time.gmtime(int(reset)))
            return seconds, f"rate limit is used up until {at}"
        message, _errors = _messages(response)
        if response.status_code == 429 or "secondary rate limit" in message.lower():
            return 60.0, "secondary rate limit (no Retry-After: one minute, as GitHub advises)"
        return None

    def _error(self, response: httpx.Response, need: _Need) -> ForgeError:
        """The :class:`ForgeError` for a refusal: what was refused, why, and what to do."""
        status = response.status_code
        message, errors = _messages(response)
        said = f"{status} {message}".strip() + (f": {'; '.join(errors)}" if errors else "")
        token = f"the token from {self.token.source}"
        headers = response.headers
        have = _scopes(headers.get("X-OAuth-Scopes"))
        accepted = _scopes(headers.get("X-Accepted-OAuth-Scopes"))
        permissions = _permissions(headers.get("X-Accepted-GitHub-Permissions", ""))
        scope_gap = ""
        accepted = accepted or []
        if have is not None and accepted and not set(accepted) & set(have):
            scope_gap = f"it lacks the {' or '.join(accepted)} scope (it has: {', '.join(have) or 'none'})"
        if status == 401:
            what = f"GitHub rejected {token} while trying to {need.action} ({said})"
            fix = "the token is wrong, expired or revoked: create a new one (or run `gh auth login`) and export GITHUB_TOKEN"
        elif status == 403:
            if scope_gap:
                what = f"{token} may not {need.action} on {self.repository}: {scope_gap} ({said})"
                fix = f"add the {accepted[0]} scope (`gh auth refresh -s {accepted[0]}`) or create a token with it"
            elif permissions or have is None:
                wanted = permissions or need.permission
                what = (
                    f"{token} may not {need.action} on {self.repository}: a fine-grained token needs {wanted} ({said})"
                )
                fix = (
                    f"give the token {wanted} for {self.repository} (Settings → Developer settings → "
                    f"fine-grained tokens), or use a classic token with the {need.scope} scope"
                )
            else:
                what = f"GitHub refused to let {token} {need.action} on {self.repository} ({said})"
                fix = (
                    f"the account needs write access to {self.repository}; a classic token needs the {need.scope} "
                    f"scope, a fine-grained one {need.permission}"
                )
        elif status == 404:
            thing = need.not_found or f"the repository {self.repository}"
            what = f"GitHub answered 404 for {thing} at {self.api_url} while trying to {need.action}"
            if need.not_found:
                what += f" ({need.not_found} or {self.repository} does not exist, or {token} cannot see it)"
            else:
                what += f": it does not exist or {token} cannot see it"
            if scope_gap:
                what += f"; {scope_gap}"
            fix = (
                "check [forge] repository and api_url; a classic token needs the repo scope for a private "
                "repository, a fine-grained one must include this repository"
            )
        elif status == 422:
            what = f"GitHub refused to {need.action} on {self.repository} ({said})"
            fix = "check that the branches exist on GitHub (pushed) and the values in iact-release.toml"
        else:
            what = f"GitHub answered {said} while trying to {need.action} on {self.repository}"
            fix = "see the message; retry when it is fixed"
        return ForgeError(self.token.redact(what), self.token.redact(fix))

    def _unexpected(self, response: httpx.Response, need: _Need) -> ForgeError:
        return ForgeError(
            f"GitHub's answer to {need.action} is not what its API documents "
            f"({response.status_code}, {response.headers.get('Content-Type', 'no content type')})",
            f"check [forge] api_url ({self.api_url}): it must be the REST API's base URL",
        )


# --------------------------------------------------------------------------- parsing


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _object(response: httpx.Response, need: _Need) -> dict[str, Any]:
    data = _body(response)
    if not isinstance(data, dict):
        raise ForgeError(
            f"GitHub's answer to {need.action} is not a JSON object ({response.status_code})",
            "check [forge] api_url: it must be the REST API's base URL",
        )
    return data


def _messages(response: httpx.Response) -> tuple[str, list[str]]:
    """GitHub's error body ``{"message", "errors": [...]}``: the message and each error's text."""
    data = _body(response)
    if not isinstance(data, dict):
        return "", []
    errors = []
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            text = error.get("message") or " ".join(
                f"{k}={error[k]}" for k in ("resource", "field", "code") if error.get(k)
            )
            errors.append(str(text))
        elif isinstance(error, str):
            errors.append(error)
    return str(data.get("message") or ""), errors


def _labels(data: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(label.get("name")) for label in data.get("labels") or [] if isinstance(label, dict))


def _head_owner(data: dict[str, Any]) -> str:
    head = data.get("head") or {}
    return str(head.get("label") or "").split(":", 1)[0]


def _pull_request(data: dict[str, Any]) -> PullRequest:
    head = data.get("head") or {}
    base = data.get("base") or {}
    mergeable = data.get("mergeable")
    return PullRequest(
        number=int(data.get("number") or 0),
        title=str(data.get("title") or ""),
        url=str(data.get("html_url") or ""),
        state=str(data.get("state") or ""),
        head=str(head.get("ref") or ""),
        head_sha=str(head.get("sha") or ""),
        base=str(base.get("ref") or ""),
        labels=_labels(data),
        draft=bool(data.get("draft")),
        merged=bool(data.get("merged") or data.get("merged_at")),
        mergeable=mergeable if isinstance(mergeable, bool) else None,
        mergeable_state=str(data.get("mergeable_state") or "unknown"),
        merge_commit_sha=data.get("merge_commit_sha") or None,
        body=str(data.get("body") or ""),
        author=str((data.get("user") or {}).get("login") or ""),
        merged_at=str(data.get("merged_at") or ""),
    )


def _check_run(run: dict[str, Any]) -> Check:
    status = str(run.get("status") or "")
    conclusion = str(run.get("conclusion") or "")
    if status != "completed":
        state: CheckState = "pending"
        detail = status or "pending"
    else:
        state = "success" if conclusion in _PASSED else "failure"
        detail = conclusion or "completed"
    url = str(run.get("html_url") or run.get("details_url") or "")
    return Check(str(run.get("name") or "?"), state, detail, url, "check_run")


def _status(status: dict[str, Any]) -> Check:
    word = str(status.get("state") or "pending")
    state: CheckState = "success" if word == "success" else "pending" if word == "pending" else "failure"
    description = str(status.get("description") or "")
    detail = f"{word}: {description}" if description else word
    return Check(str(status.get("context") or "?"), state, detail, str(status.get("target_url") or ""), "status")


def _scopes(header: str | None) -> list[str] | None:
    """A scopes header as a list; ``None`` when the header is absent (fine-grained tokens)."""
    if header is None:
        return None
    return [s.strip() for s in header.split(",") if s.strip()]


def _permissions(header: str) -> str:
    """``pull_requests=write; issues=write`` → ``Pull requests: write or Issues: write``."""
    alternatives = []
    for option in header.split(";"):
        needs = []
        for pair in option.split(","):
            name, _, level = pair.strip().partition("=")
            if name:
                needs.append(f"{_PERMISSION_NAMES.get(name, name.replace('_', ' ').capitalize())}: {level or 'read'}")
        if needs:
            alternatives.append(" and ".join(needs))
    return " or ".join(alternatives)


def _retry_after_seconds(value: str, now: float) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


__all__ = [
    "API_VERSION",
    "DEFAULT_API_URL",
    "MERGE_METHODS",
    "TOKEN_ENV",
    "Check",
    "CheckSummary",
    "Comment",
    "GitHubForge",
    "Item",
    "MergeResult",
    "MergeWait",
    "PullRequest",
    "RetryWait",
    "github_token",
]
