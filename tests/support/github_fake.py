"""A GitHub REST API stand-in: a real HTTP server on 127.0.0.1 that follows GitHub's documented shapes.

It serves one repository under a GitHub Enterprise Server style prefix (``/api/v3``):
pull requests (create, list filtered by ``head``/``base``/``state``, get, update, merge),
labels, issues (pull requests mixed in, as GitHub does), comments on issues and pull
requests (created with GitHub's 201 answer and kept in :attr:`GitHubFake.comments`),
milestones, check runs, the combined commit status and the pull requests associated
with a commit. Answers carry GitHub's headers (``X-RateLimit-*``,
``X-OAuth-Scopes``/``X-Accepted-OAuth-Scopes`` for classic tokens,
``X-Accepted-GitHub-Permissions`` for fine-grained ones, ``Link`` for pages) and its error
bodies ``{"message", "documentation_url", "errors", "status"}``.

Every request is recorded (:attr:`GitHubFake.requests`). Knobs, settable at any time:

* ``token``, ``token_kind`` (``"classic"``/``"fine-grained"``), ``scopes``, ``permissions``,
  ``private`` — who may do what (a classic token without ``repo`` gets 404 on a private
  repository, 403 on a public one; a fine-grained token without the permission gets 403);
* ``max_per_page`` — force pagination with few items;
* ``head_filter_broken`` — the pulls listing ignores PRs when filtered by ``head``;
* ``merge_methods`` — the methods the repository allows;
* :meth:`GitHubFake.fail_next` — canned answers (any status, body, headers, a delay) for the
  next matching requests; :meth:`GitHubFake.rate_limit_next` builds the rate-limit ones;
* per PR: ``mergeable``, ``mergeable_state``, ``unknown_polls`` (GETs answering
  ``mergeable: null`` first);
* :meth:`GitHubFake.add_check_run`, :meth:`GitHubFake.set_status`, :meth:`GitHubFake.push`;
* :meth:`GitHubFake.associate` — a commit that belongs to a pull request (a rebase merge's
  commits); a PR's head and merge commits are associated with it anyway.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

DOCS = "https://docs.github.com/rest"
TOKEN = "ghp_fakeT0KEN0123456789abcdefSECRET"


def fake_sha(seed: str) -> str:
    """A stable 40-hex-digit sha for ``seed``."""
    return hashlib.sha1(seed.encode()).hexdigest()


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def _add(repo: Path, path: str, text: str = "") -> None:
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text or f"# {path}\n")
    _git(repo, "add", path)


def add_django_app(repo: Path) -> None:
    """An app ``shop`` with its first migration (commit it with the release it belongs to)."""
    _add(repo, "shop/migrations/__init__.py", "\n")
    _add(repo, "shop/migrations/0001_initial.py")


def github_history(repo: Path) -> dict[str, str]:
    """Commit on ``main`` what GitHub leaves behind after four pull requests and one direct commit.

    * #12 merged with a merge commit (``Merge pull request #12 from acme/feature/export``,
      the title in its body), adding ``shop/migrations/0002_order_export.py``;
    * #13 squash-merged (``Fix totals rounding (#13)``), adding the new app ``accounts``'s
      ``0001_initial.py``;
    * #15 rebase-merged: two commits with no number (associate them with :meth:`GitHubFake.associate`);
    * a direct commit ``docs: fix a typo in the README``.

    The repository must have ``shop/migrations/0001_initial.py`` (:func:`add_django_app`)
    and be on ``main``.

    Returns:
        Commit shas by name: ``merge``, ``inside`` (the commit inside #12's branch),
        ``squash``, ``rebase1``, ``rebase2``, ``direct``.
    """
    shas: dict[str, str] = {}
    _git(repo, "checkout", "-q", "-b", "feature/export")
    _add(repo, "shop/migrations/0002_order_export.py")
    _git(repo, "commit", "-qm", "feat: export orders to CSV")
    shas["inside"] = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "main")
    _git(
        repo,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge pull request #12 from acme/feature/export",
        "-m",
        "Export orders to CSV",
        "feature/export",
    )
    _git(repo, "branch", "-q", "-D", "feature/export")
    shas["merge"] = _git(repo, "rev-parse", "HEAD")
    _add(repo, "accounts/migrations/__init__.py", "\n")
    _add(repo, "accounts/migrations/0001_initial.py")
    _git(repo, "commit", "-qm", "Fix totals rounding (#13)")
    shas["squash"] = _git(repo, "rev-parse", "HEAD")
    for n, subject in ((1, "perf: index the search"), (2, "perf: cache search results")):
        _add(repo, f"search_{n}.py")
        _git(repo, "commit", "-qm", subject)
        shas[f"rebase{n}"] = _git(repo, "rev-parse", "HEAD")
    _add(repo, "README.md", "# Shop\n")
    _git(repo, "commit", "-qm", "docs: fix a typo in the README")
    shas["direct"] = _git(repo, "rev-parse", "HEAD")
    return shas


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in received it.

    Attributes:
        method: ``GET``, ``POST``, ``PUT``, ``PATCH``...
        path: The path under the API prefix, e.g. ``/repos/acme/shop/pulls`` (percent-decoded).
        query: The query string's parameters (last value of each).
        json: The JSON body, or ``None``.
        authorization: The ``Authorization`` header, or ``None``.
        headers: Every header, names lower-cased.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    authorization: str | None
    headers: dict[str, str]


@dataclass
class FakeItem:
    """An issue or pull request of the fake repository (GitHub numbers both from one sequence)."""

    number: int
    title: str
    body: str = ""
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    milestone: int | None = None
    is_pr: bool = False
    head: str = ""
    base: str = "main"
    head_sha: str = ""
    draft: bool = False
    merged: bool = False
    mergeable: bool = True
    mergeable_state: str = "clean"
    unknown_polls: int = 0
    merge_commit_sha: str | None = None
    head_owner: str = ""
    author: str = ""
    """The ``user.login``; empty: the repository's owner."""


@dataclass
class Canned:
    """An answer given instead of the real one to the next ``times`` matching requests."""

    status: int | None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    path: str | None = None
    """A regular expression searched in the path; ``None`` matches every path."""
    times: int = 1
    delay: float = 0.0
    """Seconds to wait before answering (for client timeouts); ``status=None`` then answers normally."""


# Fine-grained permission each route needs, as GitHub's X-Accepted-GitHub-Permissions says it.
_ROUTES: list[tuple[str, str, str, str]] = [
    ("GET", r"/pulls", "pull_requests=read", "list_pulls"),
    ("POST", r"/pulls", "pull_requests=write", "create_pull"),
    ("GET", r"/pulls/(?P<n>\d+)", "pull_requests=read", "get_pull"),
    ("PATCH", r"/pulls/(?P<n>\d+)", "pull_requests=write", "update_pull"),
    ("PUT", r"/pulls/(?P<n>\d+)/merge", "contents=write", "merge_pull"),
    ("POST", r"/issues/(?P<n>\d+)/labels", "issues=write; pull_requests=write", "add_labels"),
    ("POST", r"/issues/(?P<n>\d+)/comments", "issues=write; pull_requests=write", "create_comment"),
    ("GET", r"/issues", "issues=read", "list_issues"),
    ("GET", r"/milestones", "issues=read", "list_milestones"),
    ("GET", r"/commits/(?P<ref>[^/]+)/check-runs", "checks=read", "check_runs"),
    ("GET", r"/commits/(?P<ref>[^/]+)/status", "statuses=read", "combined_status"),
    ("GET", r"/commits/(?P<ref>[^/]+)/pulls", "pull_requests=read", "commit_pulls"),
]


class HttpAnswer(Exception):
    """Raised inside a route to answer with ``status`` and a GitHub error body."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None, doc: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.headers: dict[str, str] = {}
        self.body: dict[str, Any] = {"message": message, "documentation_url": doc or DOCS, "status": str(status)}
        if errors is not None:
            self.body["errors"] = errors


class GitHubFake:
    """The stand-in's state and knobs (see the module docstring); ``api_url`` is its base URL."""

    def __init__(self, owner: str = "acme", name: str = "shop", prefix: str = "/api/v3") -> None:
        self.owner = owner
        self.name = name
        self.prefix = prefix
        self.api_url = ""
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.token = TOKEN
        self.token_kind = "classic"
        self.scopes: set[str] = {"repo", "read:org"}
        self.permissions: dict[str, str] = {
            "contents": "write",
            "pull_requests": "write",
            "issues": "write",
            "checks": "read",
            "statuses": "read",
            "metadata": "read",
        }
        self.private = True
        self.max_per_page = 100
        self.head_filter_broken = False
        self.merge_methods: set[str] = {"merge", "squash", "rebase"}
        self.canned: list[Canned] = []
        self.branches: dict[str, str] = {"main": fake_sha("main-0")}
        self.items: dict[int, FakeItem] = {}
        self.repo_labels: set[str] = {"bug", "critical"}
        self.milestones: list[dict[str, Any]] = []
        self.check_runs: dict[str, list[dict[str, Any]]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.commit_pulls: dict[str, list[int]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        """Issue or pull request number → the comments created on it, as GitHub answered them."""
        self.rate_remaining = 5000
        self._next_number = 1
        self._next_id = 1000
        self.stop = threading.Event()

    # ----------------------------------------------------------------- helpers for tests

    @property
    def repo(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"

    def html(self, kind: str, number: int) -> str:
        """The page of issue or pull ``number`` as GitHub would link it."""
        return f"https://github.test/{self.repo}/{kind}/{number}"

    def add_branch(self, name: str, sha: str | None = None) -> str:
        """Create (or move) branch ``name``; returns its sha."""
        with self.lock:
            self.branches[name] = sha or fake_sha(f"{name}-0")
            return self.branches[name]

    def push(self, branch: str, sha: str | None = None) -> str:
        """Move ``branch`` to a new commit, as a push would; open PRs from it follow."""
        with self.lock:
            new = sha or fake_sha(f"{branch}-{self.branches.get(branch, '')}")
            self.branches[branch] = new
            for item in self.items.values():
                if item.is_pr and item.head == branch and item.state == "open":
                    item.head_sha = new
            return new

    def add_pr(self, head: str, base: str = "main", title: str = "", **fields: Any) -> FakeItem:
        """An existing pull request from ``head`` (the branch is created when missing)."""
        with self.lock:
            sha = self.branches.get(head) or self.add_branch(head)
            item = FakeItem(
                self._number(),
                title or f"Work on {head}",
                is_pr=True,
                head=head,
                base=base,
                head_sha=sha,
                head_owner=self.owner,
            )
            for key, value in fields.items():
                setattr(item, key, value)
            self.items[item.number] = item
            return item

    def add_issue(self, title: str, labels: list[str] | None = None, **fields: Any) -> FakeItem:
        """An issue (``is_pr=True`` in ``fields`` makes it a pull request)."""
        with self.lock:
            item = FakeItem(self._number(), title, labels=list(labels or []), head_owner=self.owner)
            for key, value in fields.items():
                setattr(item, key, value)
            self.items[item.number] = item
            return item

    def add_milestone(self, title: str) -> int:
        """A milestone; returns its number."""
        with self.lock:
            number = len(self.milestones) + 1
            self.milestones.append({"number": number, "title": title, "state": "open"})
            return number

    def add_check_run(
        self, sha: str, name: str, status: str = "completed", conclusion: str | None = "success"
    ) -> dict[str, Any]:
        """A check run on ``sha``; the returned dict can be changed later (under :attr:`lock`)."""
        with self.lock:
            self._next_id += 1
            run = {
                "id": self._next_id,
                "name": name,
                "head_sha": sha,
                "status": status,
                "conclusion": conclusion if status == "completed" else None,
                "html_url": f"https://github.test/{self.repo}/actions/runs/{self._next_id}",
                "details_url": f"https://ci.test/{self._next_id}",
                "app": {"slug": "github-actions"},
            }
            self.check_runs.setdefault(sha, []).append(run)
            return run

    def set_check_run(self, sha: str, name: str, status: str, conclusion: str | None = None) -> None:
        """Change the check run ``name`` on ``sha``."""
        with self.lock:
            for run in self.check_runs[sha]:
                if run["name"] == name:
                    run["status"], run["conclusion"] = status, conclusion

    def set_status(self, sha: str, context: str, state: str, target_url: str = "", description: str = "") -> None:
        """The commit status ``context`` on ``sha`` (replacing an earlier one of that context)."""
        with self.lock:
            statuses = [s for s in self.statuses.get(sha, []) if s["context"] != context]
            statuses.append(
                {"context": context, "state": state, "target_url": target_url or None, "description": description}
            )
            self.statuses[sha] = statuses

    def associate(self, sha: str, number: int) -> None:
        """Commit ``sha`` belongs to pull request ``number`` (e.g. rebased onto main by its merge)."""
        with self.lock:
            self.commit_pulls.setdefault(sha, []).append(number)

    def fail_next(
        self,
        status: int | None,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and ``path`` (a regex) with
        ``status`` (GitHub's error body for it when ``body`` is ``None``), after ``delay`` s."""
        if body is None and status is not None:
            body = {"message": _REASONS.get(status, "Error"), "documentation_url": DOCS, "status": str(status)}
        with self.lock:
            self.canned.append(Canned(status, body, dict(headers or {}), method, path, times, delay))

    def rate_limit_next(
        self,
        *,
        retry_after: int | None = None,
        reset_at: int | None = None,
        status: int = 403,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next matching request hits a rate limit: secondary with ``Retry-After`` seconds,
        or primary (``X-RateLimit-Remaining: 0``) until epoch second ``reset_at``."""
        if retry_after is not None:
            message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            headers = {"Retry-After": str(retry_after)}
        else:
            message = "API rate limit exceeded for user ID 1."
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_at or int(time.time()) + 60)}
        body = {"message": message, "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api"}
        self.fail_next(status, body=body, headers=headers, method=method, path=path)

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        """Recorded requests with that method whose path (under the repository) matches the regex."""
        pattern = re.compile(f"^/repos/{re.escape(self.repo)}{path}$")
        return [r for r in self.requests if r.method == method and pattern.match(r.path)]

    # ----------------------------------------------------------------- JSON shapes

    def _number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _label(self, name: str) -> dict[str, Any]:
        return {"id": abs(hash(name)) % 10**6, "name": name, "color": "ededed", "default": False}

    def _user(self, login: str = "") -> dict[str, Any]:
        if login:
            return {"login": login, "id": 2 + abs(hash(login)) % 10**6, "type": "User"}
        return {"login": self.owner, "id": 1, "type": "Organization"}

    def pull_json(self, item: FakeItem, *, full: bool, poll: bool = False) -> dict[str, Any]:
        """A pull request as GitHub's list (``full=False``) or get (``full=True``) answers it;
        ``poll`` (a GET) uses up one of ``unknown_polls``."""
        url = f"{self.api_url}/repos/{self.repo}/pulls/{item.number}"
        data: dict[str, Any] = {
            "url": url,
            "id": 500 + item.number,
            "number": item.number,
            "html_url": self.html("pull", item.number),
            "state": item.state,
            "title": item.title,
            "body": item.body,
            "user": self._user(item.author),
            "draft": item.draft,
            "labels": [self._label(n) for n in item.labels],
            "milestone": self._milestone(item.milestone),
            "merged_at": "2024-05-01T10:00:00Z" if item.merged else None,
            "merge_commit_sha": item.merge_commit_sha or fake_sha(f"test-merge-{item.number}-{item.head_sha}"),
            "head": {
                "label": f"{item.head_owner}:{item.head}",
                "ref": item.head,
                "sha": item.head_sha,
                "repo": {"full_name": self.repo},
            },
            "base": {
                "label": f"{self.owner}:{item.base}",
                "ref": item.base,
                "sha": self.branches.get(item.base, ""),
                "repo": {"full_name": self.repo},
            },
        }
        if full:
            mergeable: bool | None = item.mergeable
            state = item.mergeable_state
            if item.unknown_polls > 0 and poll:
                item.unknown_polls -= 1
                mergeable, state = None, "unknown"
            if item.merged or item.state == "closed":
                mergeable, state = None, "unknown"
            data.update({"merged": item.merged, "mergeable": mergeable, "mergeable_state": state, "rebaseable": True})
        return data

    def _milestone(self, number: int | None) -> dict[str, Any] | None:
        return next((m for m in self.milestones if m["number"] == number), None)

    def issue_json(self, item: FakeItem) -> dict[str, Any]:
        """An issue (or a pull request seen through the issues API, with ``pull_request``)."""
        kind = "pull" if item.is_pr else "issues"
        data: dict[str, Any] = {
            "url": f"{self.api_url}/repos/{self.repo}/issues/{item.number}",
            "id": 900 + item.number,
            "number": item.number,
            "html_url": self.html(kind, item.number),
            "state": item.state,
            "title": item.title,
            "body": item.body,
            "user": self._user(item.author),
            "labels": [self._label(n) for n in item.labels],
            "milestone": self._milestone(item.milestone),
        }
        if item.is_pr:
            data["pull_request"] = {
                "url": f"{self.api_url}/repos/{self.repo}/pulls/{item.number}",
                "html_url": self.html("pull", item.number),
                "merged_at": None,
            }
        return data

    # ----------------------------------------------------------------- routes

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        """The answer to one authorised request under ``/repos/{owner}/{name}``: status, JSON, headers."""
        for route_method, pattern, _permission, name in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                handler: Callable[..., tuple[int, Any, dict[str, str]]] = getattr(self, f"_{name}")
                return handler(query, body, **match.groupdict())
        raise HttpAnswer(404, "Not Found")

    def _page(self, items: list[Any], query: dict[str, str], path: str) -> tuple[list[Any], dict[str, str]]:
        per_page = min(int(query.get("per_page", "30")), 100, self.max_per_page)
        page = max(1, int(query.get("page", "1")))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(number: int, rel: str) -> str:
            params = urllib.parse.urlencode({**query, "page": str(number)})
            return f'<{self.api_url}/repos/{self.repo}{path}?{params}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _pull(self, n: str) -> FakeItem:
        item = self.items.get(int(n))
        if item is None or not item.is_pr:
            raise HttpAnswer(404, "Not Found", doc=f"{DOCS}/pulls/pulls#get-a-pull-request")
        return item

    def _list_pulls(self, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", "open")
        pulls = [i for i in self.items.values() if i.is_pr and (state == "all" or i.state == state)]
        if "head" in query:
            if self.head_filter_broken:
                pulls = []
            owner, _, branch = query["head"].partition(":")
            pulls = [p for p in pulls if p.head_owner == owner and p.head == branch]
        if "base" in query:
            pulls = [p for p in pulls if p.base == query["base"]]
        pulls.sort(key=lambda p: -p.number)
        chunk, headers = self._page(pulls, query, "/pulls")
        return 200, [self.pull_json(p, full=False) for p in chunk], headers

    def _create_pull(self, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        doc = f"{DOCS}/pulls/pulls#create-a-pull-request"
        if not isinstance(body, dict):
            raise HttpAnswer(400, "Problems parsing JSON", doc=doc)
        missing = [k for k in ("head", "base") if not body.get(k)]
        if missing or not body.get("title"):
            raise HttpAnswer(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": k, "code": "missing_field"} for k in missing or ["title"]],
                doc,
            )
        head, base = str(body["head"]), str(body["base"])
        branch = head.split(":", 1)[1] if ":" in head else head
        errors = [
            {"resource": "PullRequest", "field": field, "code": "invalid"}
            for field, name in (("head", branch), ("base", base))
            if name not in self.branches
        ]
        if errors:
            raise HttpAnswer(422, "Validation Failed", errors, doc)
        if any(
            i.is_pr and i.state == "open" and i.head == branch and i.base == base and i.head_owner == self.owner
            for i in self.items.values()
        ):
            raise HttpAnswer(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {self.owner}:{branch}.",
                    }
                ],
                doc,
            )
        item = FakeItem(
            self._number(),
            str(body["title"]),
            body=str(body.get("body") or ""),
            is_pr=True,
            head=branch,
            base=base,
            head_sha=self.branches[branch],
            draft=bool(body.get("draft")),
            head_owner=self.owner,
        )
        self.items[item.number] = item
        return (
            201,
            self.pull_json(item, full=True),
            {"Location": f"{self.api_url}/repos/{self.repo}/pulls/{item.number}"},
        )

    def _get_pull(self, query: dict[str, str], body: Any, n: str) -> tuple[int, Any, dict[str, str]]:
        return 200, self.pull_json(self._pull(n), full=True, poll=True), {}

    def _update_pull(self, query: dict[str, str], body: Any, n: str) -> tuple[int, Any, dict[str, str]]:
        item = self._pull(n)
        for key in ("title", "body", "state"):
            if isinstance(body, dict) and key in body:
                setattr(item, key, str(body[key]))
        return 200, self.pull_json(item, full=True), {}

    def _merge_pull(self, query: dict[str, str], body: Any, n: str) -> tuple[int, Any, dict[str, str]]:
        doc = f"{DOCS}/pulls/pulls#merge-a-pull-request"
        item = self._pull(n)
        body = body if isinstance(body, dict) else {}
        method = str(body.get("merge_method") or "merge")
        if method not in {"merge", "squash", "rebase"}:
            raise HttpAnswer(
                422, "Validation Failed", [{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}], doc
            )
        if method not in self.merge_methods:
            word = {"merge": "Merge commits", "squash": "Squash merges", "rebase": "Rebase merges"}[method]
            raise HttpAnswer(405, f"{word} are not allowed on this repository.", doc=doc)
        if item.merged or item.state != "open" or not item.mergeable or item.mergeable_state in {"dirty", "blocked"}:
            raise HttpAnswer(405, "Pull Request is not mergeable", doc=doc)
        if body.get("sha") and body["sha"] != item.head_sha:
            raise HttpAnswer(409, "Head branch was modified. Review and try the merge again.", doc=doc)
        sha = fake_sha(f"merge-{item.number}-{method}")
        item.merged, item.state, item.merge_commit_sha = True, "closed", sha
        self.branches[item.base] = sha
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}, {}

    def _add_labels(self, query: dict[str, str], body: Any, n: str) -> tuple[int, Any, dict[str, str]]:
        item = self.items.get(int(n))
        if item is None:
            raise HttpAnswer(404, "Not Found")
        names = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            raise HttpAnswer(422, "Invalid request.\n\nFor 'links/0/schema', nil is not an array.")
        for name in names:
            self.repo_labels.add(name)
            if name not in item.labels:
                item.labels.append(name)
        return 200, [self._label(x) for x in item.labels], {}

    def _create_comment(self, query: dict[str, str], body: Any, n: str) -> tuple[int, Any, dict[str, str]]:
        """GitHub's "create an issue comment": 201 with the comment, ``Location`` its API URL;
        422 without a ``body``; 404 for an unknown number."""
        doc = f"{DOCS}/issues/comments#create-an-issue-comment"
        item = self.items.get(int(n))
        if item is None:
            raise HttpAnswer(404, "Not Found", doc=doc)
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            raise HttpAnswer(422, 'Invalid request.\n\n"body" wasn\'t supplied.', doc=doc)
        self._next_id += 1
        kind = "pull" if item.is_pr else "issues"
        url = f"{self.api_url}/repos/{self.repo}/issues/comments/{self._next_id}"
        comment: dict[str, Any] = {
            "id": self._next_id,
            "node_id": f"IC_{self._next_id}",
            "url": url,
            "html_url": f"{self.html(kind, item.number)}#issuecomment-{self._next_id}",
            "issue_url": f"{self.api_url}/repos/{self.repo}/issues/{item.number}",
            "body": text,
            "user": self._user("iact-bot"),
            "created_at": "2024-05-01T10:00:00Z",
            "updated_at": "2024-05-01T10:00:00Z",
            "author_association": "MEMBER",
        }
        self.comments.setdefault(item.number, []).append(comment)
        return 201, comment, {"Location": url}

    def _list_issues(self, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", "open")
        found = [i for i in self.items.values() if state == "all" or i.state == state]
        for label in filter(None, query.get("labels", "").split(",")):
            found = [i for i in found if label in i.labels]
        if "milestone" in query:
            wanted = query["milestone"]
            if wanted == "none":
                found = [i for i in found if i.milestone is None]
            elif wanted != "*":
                found = [i for i in found if str(i.milestone) == wanted]
        found.sort(key=lambda i: -i.number)
        chunk, headers = self._page(found, query, "/issues")
        return 200, [self.issue_json(i) for i in chunk], headers

    def _list_milestones(self, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        chunk, headers = self._page(list(self.milestones), query, "/milestones")
        return 200, chunk, headers

    def _resolve(self, ref: str) -> str:
        if ref in self.branches:
            return self.branches[ref]
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            return ref
        raise HttpAnswer(422, f"No commit found for SHA: {ref}", doc=f"{DOCS}/commits/commits")

    def _check_runs(self, query: dict[str, str], body: Any, ref: str) -> tuple[int, Any, dict[str, str]]:
        sha = self._resolve(ref)
        runs = list(self.check_runs.get(sha, []))
        chunk, headers = self._page(runs, query, f"/commits/{urllib.parse.quote(ref, safe='')}/check-runs")
        return 200, {"total_count": len(runs), "check_runs": [dict(r) for r in chunk]}, headers

    def _combined_status(self, query: dict[str, str], body: Any, ref: str) -> tuple[int, Any, dict[str, str]]:
        sha = self._resolve(ref)
        statuses = list(self.statuses.get(sha, []))
        words = {s["state"] for s in statuses}
        if words & {"failure", "error"}:
            state = "failure"
        elif "pending" in words or not statuses:
            state = "pending"  # GitHub's combined state for a commit without statuses
        else:
            state = "success"
        return (
            200,
            {
                "state": state,
                "statuses": [dict(s) for s in statuses],
                "sha": sha,
                "total_count": len(statuses),
                "repository": {"full_name": self.repo},
                "commit_url": f"{self.api_url}/repos/{self.repo}/commits/{sha}",
            },
            {},
        )

    def _commit_pulls(self, query: dict[str, str], body: Any, ref: str) -> tuple[int, Any, dict[str, str]]:
        """GitHub's "list pull requests associated with a commit": PRs whose head or merge
        commit it is, or that it was associated with; paginated; 422 for an unknown ref."""
        sha = self._resolve(ref)
        numbers = list(self.commit_pulls.get(sha, []))
        numbers += [
            i.number
            for i in self.items.values()
            if i.is_pr and sha in (i.head_sha, i.merge_commit_sha) and i.number not in numbers
        ]
        pulls = [self.items[n] for n in numbers if n in self.items and self.items[n].is_pr]
        chunk, headers = self._page(pulls, query, f"/commits/{urllib.parse.quote(ref, safe='')}/pulls")
        return 200, [self.pull_json(p, full=False) for p in chunk], headers

    # ----------------------------------------------------------------- auth

    def authorise(self, method: str, path: str, authorization: str | None) -> dict[str, str]:
        """Headers GitHub adds for this token; raises :class:`HttpAnswer` when refused."""
        if authorization is None:
            raise HttpAnswer(401, "Requires authentication")
        kind, _, given = authorization.partition(" ")
        if kind.lower() not in {"bearer", "token"} or given != self.token:
            raise HttpAnswer(401, "Bad credentials")
        repo_path = f"/repos/{self.repo}"
        if not (path == repo_path or path.startswith(repo_path + "/")):
            raise HttpAnswer(404, "Not Found")
        sub = path[len(repo_path) :]
        permission = next(
            (p for m, pattern, p, _n in _ROUTES if m == method and re.fullmatch(pattern, sub)), "metadata=read"
        )
        if self.token_kind == "classic":
            headers = {"X-OAuth-Scopes": ", ".join(sorted(self.scopes)), "X-Accepted-OAuth-Scopes": "repo"}
            if not self.scopes & ({"repo"} if self.private else {"repo", "public_repo"}):
                if self.private:
                    raise _with_headers(HttpAnswer(404, "Not Found"), headers)
                raise _with_headers(HttpAnswer(403, "Resource not accessible by personal access token"), headers)
            return headers
        headers = {"X-Accepted-GitHub-Permissions": permission}
        if not any(self._granted(option) for option in permission.split(";")):
            raise _with_headers(HttpAnswer(403, "Resource not accessible by personal access token"), headers)
        return headers

    def _granted(self, option: str) -> bool:
        levels = {"read": 1, "write": 2, "admin": 3}
        for pair in option.split(","):
            name, _, level = pair.strip().partition("=")
            if levels.get(self.permissions.get(name, ""), 0) < levels.get(level, 1):
                return False
        return True

    def take_canned(self, method: str, path: str) -> Canned | None:
        """The canned answer for this request, if one is queued (its count is used up)."""
        for canned in self.canned:
            if (canned.method in (None, method)) and (canned.path is None or re.search(canned.path, path)):
                canned.times -= 1
                if canned.times <= 0:
                    self.canned.remove(canned)
                return canned
        return None


_REASONS = {
    401: "Bad credentials",
    403: "Forbidden",
    404: "Not Found",
    422: "Validation Failed",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
}


def _with_headers(answer: HttpAnswer, headers: dict[str, str]) -> HttpAnswer:
    answer.headers = headers
    return answer


def _handler(fake: GitHubFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _handle(self, method: str) -> None:
            parts = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(parts.path)
            outside = bool(fake.prefix) and not path.startswith(fake.prefix + "/")
            path = path if outside else path[len(fake.prefix) :]
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = "<not JSON>"
            with fake.lock:
                fake.requests.append(
                    Recorded(
                        method,
                        path,
                        query,
                        body,
                        self.headers.get("Authorization"),
                        {k.lower(): v for k, v in self.headers.items()},
                    )
                )
                canned = fake.take_canned(method, path)
            if canned is not None and canned.delay:
                fake.stop.wait(canned.delay)
            headers: dict[str, str] = {}
            with fake.lock:
                fake.rate_remaining = max(0, fake.rate_remaining - 1)
                headers.update(
                    {
                        "X-RateLimit-Limit": "5000",
                        "X-RateLimit-Remaining": str(fake.rate_remaining),
                        "X-RateLimit-Reset": str(int(time.time()) + 3600),
                        "X-RateLimit-Used": str(5000 - fake.rate_remaining),
                        "X-RateLimit-Resource": "core",
                        "X-GitHub-Media-Type": "github.v3; format=json",
                    }
                )
                if outside:
                    status, payload = 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
                elif canned is not None and canned.status is not None:
                    status, payload = canned.status, canned.body
                    headers.update(canned.headers)
                else:
                    try:
                        headers.update(fake.authorise(method, path, self.headers.get("Authorization")))
                        sub = path[len(f"/repos/{fake.repo}") :]
                        if body == "<not JSON>":
                            raise HttpAnswer(400, "Problems parsing JSON")
                        status, payload, extra = fake.route(method, sub, query, body)
                        headers.update(extra)
                    except HttpAnswer as answer:
                        status, payload = answer.status, answer.body
                        headers.update(answer.headers)
                    except Exception as exc:  # a bug in the stand-in: make it visible in the test
                        status, payload = 500, {"message": f"github_fake crashed: {exc!r}", "documentation_url": DOCS}
            data = json.dumps(payload).encode() if payload is not None else b""
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

    return Handler


def merge_for_real(github: GitHubFake, origin: Path, work_root: Path) -> None:
    """Make the stand-in's merges real merge commits in the bare ``origin``, as GitHub merges
    on its side (``Merge pull request #N from owner/branch``); the answer's ``sha`` is it."""
    original = github._merge_pull

    def merge(query: dict[str, str], body: Any, n: str) -> tuple[int, Any, dict[str, str]]:
        status, answer, headers = original(query, body, n)
        item = github.items[int(n)]
        work = work_root / f"github-merge-{n}"
        _git(work_root, "clone", "-q", str(origin), str(work))
        message = f"Merge pull request #{n} from {github.owner}/{item.head}"
        _git(work, "merge", "-q", "--no-ff", "-m", message, "-m", item.title, f"origin/{item.head}")
        _git(work, "push", "-q", "origin", "main")
        sha = _git(work, "rev-parse", "HEAD")
        item.merge_commit_sha = sha
        github.branches[item.base] = sha
        return status, {**answer, "sha": sha}, headers

    github._merge_pull = merge  # type: ignore[method-assign]


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    """The GitHub stand-in for ``acme/shop`` on a free loopback port, base URL ``…/api/v3``."""
    fake = GitHubFake()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads = True
    fake.api_url = f"http://127.0.0.1:{httpd.server_address[1]}{fake.prefix}"
    # A short poll interval: shutdown() waits for serve_forever to notice, up to this long.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stop.set()
        httpd.shutdown()
        httpd.server_close()
