"""The GitHub forge against a real HTTP stand-in on 127.0.0.1 (tests/support/github_fake.py).

Every test asserts on what the stand-in received (method, path, query, JSON body,
Authorization header) as well as on the result; waits go through an injected sleep and
clock, so no test waits on the wall clock except the timeout ones (fractions of a second).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from support.github_fake import TOKEN, GitHubFake, fake_sha

from iact_tui.errors import ForgeError, SecretError
from iact_tui.services.github import (
    DEFAULT_API_URL,
    GitHubForge,
    MergeWait,
    RetryWait,
    github_token,
)
from iact_tui.services.secrets import Secret

NOW = 1_700_000_000.0
BRANCH = "release/1.2.0"
BODY = "## [1.2.0] - 2024-05-01\n### Added\n- Invoices as PDF"


class FakeTime:
    """An injected clock and sleep: sleeping records the wait and moves the clock on."""

    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


MakeForge = Callable[..., GitHubForge]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def make_forge(github: GitHubFake, fake_time: FakeTime) -> AsyncIterator[MakeForge]:
    """Builds forges on the stand-in (closed after the test); keyword arguments override."""
    made: list[GitHubForge] = []

    def make(**overrides: Any) -> GitHubForge:
        options: dict[str, Any] = {
            "api_url": github.api_url,
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "timeout": 5.0,
            "trust_env": False,
        }
        options.update(overrides)
        repository = options.pop("repository", github.repo)
        token = options.pop("token", Secret(github.token, "env GITHUB_TOKEN"))
        forge = GitHubForge(repository, token, **options)
        made.append(forge)
        return forge

    yield make
    for forge in made:
        await forge.aclose()


@pytest.fixture
def forge(make_forge: MakeForge) -> GitHubForge:
    return make_forge()


def _no_token(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text


# ----------------------------------------------------------------------------- release PR


async def test_opens_the_release_pr_with_its_label(github: GitHubFake, forge: GitHubForge) -> None:
    github.add_branch(BRANCH)
    lines: list[str] = []
    pr = await forge.find_or_create_pr(version="1.2.0", head=BRANCH, base="main", body=BODY, progress=lines.append)

    assert (pr.number, pr.title, pr.head, pr.base, pr.created) == (1, "Release v1.2.0", BRANCH, "main", True)
    assert pr.labels == ("release",) and pr.url == "https://github.test/acme/shop/pull/1"
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/repos/acme/shop/pulls"),
        ("POST", "/repos/acme/shop/pulls"),
        ("POST", "/repos/acme/shop/issues/1/labels"),
    ]
    listing, create, label = github.requests
    assert listing.query == {"state": "open", "base": "main", "head": "acme:release/1.2.0", "per_page": "100"}
    assert create.json == {"title": "Release v1.2.0", "head": BRANCH, "base": "main", "body": BODY}
    assert label.json == {"labels": ["release"]}
    for request in github.requests:
        assert request.authorization == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
    assert github.items[1].labels == ["release"] and github.items[1].body == BODY
    assert lines == ["opened pull request #1: https://github.test/acme/shop/pull/1", "labelled #1: release"]


async def test_a_rerun_reuses_the_open_pr_as_it_is_on_github(github: GitHubFake, forge: GitHubForge) -> None:
    github.add_branch(BRANCH)
    first = await forge.find_or_create_pr(version="1.2.0", head=BRANCH, base="main", body=BODY)
    github.requests.clear()

    again = await forge.find_or_create_pr(version="1.2.0", head=BRANCH, base="main", body=BODY)
    assert (again.number, again.created, again.labels) == (first.number, False, ("release",))
    assert [(r.method, r.path) for r in github.requests] == [("GET", "/repos/acme/shop/pulls")]

    # Someone edited the description on GitHub: a rerun with another body leaves it alone.
    github.items[1].body = BODY + "\n\nReviewed by Dana: ship it."
    github.requests.clear()
    lines: list[str] = []
    kept = await forge.find_or_create_pr(
        version="1.2.0", head=BRANCH, base="main", body=BODY + "\n- Fixed totals", progress=lines.append
    )
    assert kept.number == first.number and not kept.created
    assert [(r.method, r.path) for r in github.requests] == [("GET", "/repos/acme/shop/pulls")]
    assert github.items[1].body == BODY + "\n\nReviewed by Dana: ship it."
    assert lines == [
        "reusing open pull request #1: https://github.test/acme/shop/pull/1",
        "#1 keeps its title and description as they are on GitHub (not overwritten)",
    ]
    assert len([i for i in github.items.values() if i.is_pr]) == 1


async def test_a_reused_pr_is_updated_only_when_asked(github: GitHubFake, forge: GitHubForge) -> None:
    github.add_pr(BRANCH, title="WIP release", body="draft", labels=["release"])
    lines: list[str] = []
    edited = await forge.find_or_create_pr(
        version="1.2.0", head=BRANCH, base="main", body=BODY, progress=lines.append, update_existing=True
    )
    assert (edited.number, edited.title, edited.body) == (1, "Release v1.2.0", BODY)
    [patch] = github.requests_to("PATCH", "/pulls/1")
    assert patch.json == {"title": "Release v1.2.0", "body": BODY}
    assert lines[-1] == "updated the title and description of #1"


async def test_github_422_already_exists_leads_to_the_open_pr(github: GitHubFake, forge: GitHubForge) -> None:
    github.add_pr(BRANCH, title="Release v1.2.0", body=BODY, labels=["release"])
    github.head_filter_broken = True  # the head=owner:branch listing misses it
    lines: list[str] = []
    pr = await forge.find_or_create_pr(version="1.2.0", head=BRANCH, base="main", body=BODY, progress=lines.append)

    assert (pr.number, pr.created, pr.labels) == (1, False, ("release",))
    assert [(r.method, r.path, r.query.get("head")) for r in github.requests] == [
        ("GET", "/repos/acme/shop/pulls", "acme:release/1.2.0"),
        ("POST", "/repos/acme/shop/pulls", None),
        ("GET", "/repos/acme/shop/pulls", None),
    ]
    assert lines == [
        "reusing open pull request #1 (GitHub: A pull request already exists for acme:release/1.2.0.): "
        "https://github.test/acme/shop/pull/1"
    ]


async def test_422_already_exists_but_nowhere_to_be_found(github: GitHubFake, forge: GitHubForge) -> None:
    github.add_branch(BRANCH)
    body = {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": "A pull request already exists for acme:release/1.2.0.",
            }
        ],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        "status": "422",
    }
    github.fail_next(422, body=body, method="POST", path="/pulls$")
    with pytest.raises(ForgeError) as err:
        await forge.find_or_create_pr(version="1.2.0", head=BRANCH, base="main", body=BODY)
    assert err.value.what == (
        "GitHub says a pull request from release/1.2.0 into main already exists on acme/shop, "
        "but it is not among the open pull requests"
    )
    assert "A pull request already exists" not in str(err.value)  # understood, not shown raw


async def test_a_branch_github_does_not_have(github: GitHubFake, forge: GitHubForge) -> None:
    with pytest.raises(ForgeError) as err:
        await forge.find_or_create_pr(version="1.2.0", head=BRANCH, base="main", body=BODY)
    assert err.value.what == (
        "GitHub refused to open the release pull request on acme/shop "
        "(422 Validation Failed: resource=PullRequest field=head code=invalid)"
    )
    assert "pushed" in err.value.fix


# ----------------------------------------------------------------------------- checks and mergeability


async def test_waits_for_pending_checks_then_succeeds(
    github: GitHubFake, forge: GitHubForge, fake_time: FakeTime
) -> None:
    item = github.add_pr(BRANCH, title="Release v1.2.0")
    sha = item.head_sha
    github.add_check_run(sha, "ci / test", status="in_progress")
    github.add_check_run(sha, "ci / docs", conclusion="skipped")
    github.set_status(sha, "ci/lint", "pending")
    seen: list[MergeWait] = []

    def progress(wait: MergeWait) -> None:
        seen.append(wait)
        if len(seen) == 2:  # the checks finish while we wait
            github.set_check_run(sha, "ci / test", "completed", "success")
            github.set_status(sha, "ci/lint", "success")
        elif len(seen) == 1:
            github.set_check_run(sha, "ci / test", "queued")

    pr, checks = await forge.wait_until_mergeable(1, deadline=600, poll_interval=15, progress=progress)

    assert pr.mergeable is True and checks.state == "success" and checks.sha == sha
    assert checks.line == "3 checks: 3 passed"
    assert [w.line for w in seen] == [
        "PR #1: waiting for checks: ci / test, ci/lint (0 s of 600 s)",
        "PR #1: waiting for checks: ci / test, ci/lint (15 s of 600 s)",
    ]
    assert seen[0].checks.line == "3 checks: 1 passed, 2 pending (ci / test, ci/lint)"
    assert fake_time.sleeps == [15, 15]
    assert [r.path for r in github.requests] == [
        "/repos/acme/shop/pulls/1",
        f"/repos/acme/shop/commits/{sha}/check-runs",
        f"/repos/acme/shop/commits/{sha}/status",
    ] * 3
    assert github.requests[1].query == {"filter": "latest", "per_page": "100"}


async def test_required_checks_wait_until_they_report(
    github: GitHubFake, forge: GitHubForge, fake_time: FakeTime
) -> None:
    item = github.add_pr(BRANCH)
    github.add_check_run(item.head_sha, "optional / flaky", conclusion="failure")
    seen: list[MergeWait] = []

    def progress(wait: MergeWait) -> None:
        seen.append(wait)
        github.add_check_run(item.head_sha, "ci / test")

    _pr, checks = await forge.wait_until_mergeable(
        1, deadline=60, poll_interval=5, required=["ci / test"], progress=progress
    )
    assert seen[0].waiting_for == ("checks: ci / test",) and seen[0].checks.missing == ("ci / test",)
    assert checks.state == "success" and [c.name for c in checks.deciding] == ["ci / test"]
    assert fake_time.sleeps == [5]


@pytest.mark.parametrize("source", ["check_run", "status"])
async def test_a_failing_check_blocks_with_its_name_and_link(
    github: GitHubFake, forge: GitHubForge, source: str
) -> None:
    item = github.add_pr(BRANCH)
    github.add_check_run(item.head_sha, "ci / lint")
    if source == "check_run":
        run = github.add_check_run(item.head_sha, "ci / test", conclusion="failure")
        name, detail, link = "ci / test", "failure", str(run["html_url"])
    else:
        link = "https://ci.example.test/builds/77"
        github.set_status(item.head_sha, "deploy/preview", "error", link, "preview build crashed")
        name, detail = "deploy/preview", "error: preview build crashed"
    with pytest.raises(ForgeError) as err:
        await forge.wait_until_mergeable(1, deadline=60)
    assert err.value.what == f"check '{name}' failed on pull request #1 ({detail}): {link}"
    assert err.value.fix.startswith("fix it and push to release/1.2.0")


async def test_mergeable_null_is_polled_until_github_computes_it(
    github: GitHubFake, forge: GitHubForge, fake_time: FakeTime
) -> None:
    item = github.add_pr(BRANCH)
    item.unknown_polls = 2  # GitHub answers mergeable: null twice
    seen: list[MergeWait] = []
    pr, checks = await forge.wait_until_mergeable(1, deadline=60, poll_interval=3, progress=seen.append)
    assert pr.mergeable is True and pr.mergeable_state == "clean"
    assert checks.state == "none" and checks.line == f"no checks on {item.head_sha}"
    assert [w.waiting_for for w in seen] == [("GitHub to compute mergeability",)] * 2
    assert [w.pr.mergeable for w in seen] == [None, None]
    assert fake_time.sleeps == [3, 3]
    assert len(github.requests_to("GET", r"/pulls/1")) == 3


async def test_the_deadline_names_what_is_still_awaited(
    github: GitHubFake, forge: GitHubForge, fake_time: FakeTime
) -> None:
    item = github.add_pr(BRANCH)
    github.add_check_run(item.head_sha, "ci / test", status="in_progress")
    with pytest.raises(ForgeError) as err:
        await forge.wait_until_mergeable(1, deadline=25, poll_interval=10)
    assert err.value.what == (
        "pull request #1 still waits for checks: ci / test after 25 s: https://github.test/acme/shop/pull/1"
    )
    assert fake_time.sleeps == [10, 10, 5]


@pytest.mark.parametrize(
    ("fields", "what"),
    [
        (
            {"mergeable": False, "mergeable_state": "dirty"},
            "pull request #1 (release/1.2.0 into main) has merge conflicts",
        ),
        ({"mergeable_state": "behind"}, "pull request #1 is behind main and branch protection wants it up to date"),
        ({"draft": True}, "pull request #1 is a draft and cannot be merged"),
        ({"state": "closed"}, "pull request #1 was closed without being merged"),
    ],
)
async def test_a_pr_that_cannot_become_mergeable(
    github: GitHubFake, forge: GitHubForge, fields: dict[str, Any], what: str
) -> None:
    github.add_pr(BRANCH, **fields)
    with pytest.raises(ForgeError) as err:
        await forge.wait_until_mergeable(1, deadline=60)
    assert err.value.what == f"{what}: https://github.test/acme/shop/pull/1"


async def test_branch_protection_blocking_is_waited_for(
    github: GitHubFake, forge: GitHubForge, fake_time: FakeTime
) -> None:
    item = github.add_pr(BRANCH, mergeable_state="blocked")
    github.add_check_run(item.head_sha, "ci / test")
    seen: list[MergeWait] = []

    def progress(wait: MergeWait) -> None:
        seen.append(wait)
        item.mergeable_state = "clean"  # a reviewer approved

    pr, _checks = await forge.wait_until_mergeable(1, deadline=60, poll_interval=5, progress=progress)
    assert pr.mergeable_state == "clean"
    assert [w.waiting_for for w in seen] == [("branch protection (a required review or check)",)]


# ----------------------------------------------------------------------------- merge


async def test_merge_sends_the_method_and_checked_sha_and_is_idempotent(github: GitHubFake, forge: GitHubForge) -> None:
    item = github.add_pr(BRANCH)
    result = await forge.merge(1, method="squash", sha=item.head_sha)
    assert result.commit == fake_sha("merge-1-squash") and not result.already
    (put,) = github.requests_to("PUT", r"/pulls/1/merge")
    assert put.json == {"merge_method": "squash", "sha": item.head_sha}
    assert put.authorization == f"Bearer {TOKEN}"
    assert github.branches["main"] == result.commit and github.items[1].merged

    again = await forge.merge(1, method="squash", sha=item.head_sha)  # GitHub: 405, the PR says merged
    assert again.commit == result.commit and again.already


async def test_merge_405_not_mergeable_is_explained(github: GitHubFake, forge: GitHubForge) -> None:
    github.add_pr(BRANCH, mergeable_state="blocked")
    with pytest.raises(ForgeError) as err:
        await forge.merge(1)
    assert err.value.what == (
        "GitHub refused to merge pull request #1: branch protection blocks it (a required review or check) "
        "(405 Pull Request is not mergeable): https://github.test/acme/shop/pull/1"
    )
    github.merge_methods = {"squash"}
    with pytest.raises(ForgeError) as err:
        await forge.merge(1, method="merge")
    assert err.value.what == (
        "GitHub refused to merge pull request #1 with method 'merge' "
        "(405 Merge commits are not allowed on this repository.)"
    )
    assert "merge_method" in err.value.fix
    with pytest.raises(ForgeError, match="'fast-forward' is not one of merge, squash, rebase"):
        await forge.merge(1, method="fast-forward")


async def test_merge_409_head_changed_is_explained(github: GitHubFake, forge: GitHubForge) -> None:
    item = github.add_pr(BRANCH)
    checked = item.head_sha
    github.push(BRANCH)  # someone pushed after the checks
    with pytest.raises(ForgeError) as err:
        await forge.merge(1, sha=checked)
    assert err.value.what == (
        f"GitHub refused to merge pull request #1: its head is no longer {checked[:10]} "
        "(409 Head branch was modified. Review and try the merge again.)"
    )
    assert not github.items[1].merged


async def test_merge_retries_githubs_transient_base_branch_modified(
    github: GitHubFake, forge: GitHubForge, fake_time: FakeTime
) -> None:
    github.add_pr(BRANCH)
    github.fail_next(405, body={"message": "Base branch was modified. Review and try the merge again."}, method="PUT")
    result = await forge.merge(1)
    assert not result.already and len(github.requests_to("PUT", r"/pulls/1/merge")) == 2
    assert fake_time.sleeps == [1.0]


# ----------------------------------------------------------------------------- refusals


async def test_401_names_the_token_source_never_the_token(github: GitHubFake, make_forge: MakeForge) -> None:
    forge = make_forge(token=Secret("ghp_wrongTOKENabcdef123456", "env GH_TOKEN"))
    with pytest.raises(ForgeError) as err:
        await forge.get_pr(1)
    assert err.value.what == (
        "GitHub rejected the token from env GH_TOKEN while trying to read pull request #1 (401 Bad credentials)"
    )
    assert "ghp_wrong" not in str(err.value) and github.requests[0].authorization == "Bearer ghp_wrongTOKENabcdef123456"


async def test_403_classic_token_missing_scope(github: GitHubFake, forge: GitHubForge) -> None:
    github.add_branch(BRANCH)
    github.scopes, github.private = {"read:org", "gist"}, False
    with pytest.raises(ForgeError) as err:
        await forge.find_or_create_pr(version="1.2.0", head=BRANCH, base="main", body=BODY)
    assert err.value.what == (
        "the token from env GITHUB_TOKEN may not list open pull requests on acme/shop: it lacks the repo scope "
        "(it has: gist, read:org) (403 Resource not accessible by personal access token)"
    )
    assert err.value.fix == "add the repo scope (`gh auth refresh -s repo`) or create a token with it"


async def test_private_repo_and_classic_token_without_scope_is_a_404_that_says_so(
    github: GitHubFake, forge: GitHubForge
) -> None:
    github.scopes = {"read:org"}
    with pytest.raises(ForgeError) as err:
        await forge.open_issues_with_label("critical")
    assert err.value.what.startswith("GitHub answered 404 for the repository acme/shop at http://127.0.0.1:")
    assert err.value.what.endswith(
        "it does not exist or the token from env GITHUB_TOKEN cannot see it; it lacks the repo scope (it has: read:org)"
    )


@pytest.mark.parametrize(
    ("permissions", "call", "wanted"),
    [
        ({"pull_requests": "read", "issues": "write"}, "create", "Pull requests: write"),
        ({"pull_requests": "write", "issues": "read", "contents": "read"}, "merge", "Contents: write"),
        ({"pull_requests": "write", "issues": "read", "checks": "none"}, "checks", "Checks: read"),
    ],
)
async def test_403_fine_grained_token_names_the_permission(
    github: GitHubFake, forge: GitHubForge, permissions: dict[str, str], call: str, wanted: str
) -> None:
    item = github.add_pr("release/1.1.0")
    github.add_branch(BRANCH)
    github.token_kind = "fine-grained"
    github.permissions = {"metadata": "read", "statuses": "read", "checks": "read", **permissions}
    with pytest.raises(ForgeError) as err:
        if call == "create":
            await forge.find_or_create_pr(version="1.2.0", head=BRANCH, base="main", body=BODY)
        elif call == "merge":
            await forge.merge(item.number)
        else:
            await forge.ci_status("main")
    assert f"a fine-grained token needs {wanted} (403 Resource not accessible by personal access token)" in (
        err.value.what
    )
    assert err.value.fix.startswith(f"give the token {wanted} for acme/shop")


async def test_labels_need_issues_or_pull_requests_write(github: GitHubFake, forge: GitHubForge) -> None:
    github.add_pr(BRANCH)
    github.token_kind = "fine-grained"
    github.permissions.update(issues="read", pull_requests="read")
    with pytest.raises(ForgeError) as err:
        await forge.add_labels(1, ["release"])
    assert "needs Issues: write or Pull requests: write" in err.value.what


async def test_a_comment_on_a_pull_request_is_created_as_github_documents(
    github: GitHubFake, forge: GitHubForge
) -> None:
    github.add_pr(BRANCH)
    text = "### Smoke tests on staging: passed\n\n| Check | Result |\n| --- | --- |\n| `health` | ✅ passed |\n"
    comment = await forge.comment(1, text)
    [request] = github.requests
    assert (request.method, request.path, request.json) == (
        "POST",
        "/repos/acme/shop/issues/1/comments",
        {"body": text},
    )
    assert request.authorization == f"Bearer {TOKEN}"
    [stored] = github.comments[1]
    assert (comment.id, comment.url, comment.body) == (stored["id"], stored["html_url"], text)
    assert comment.url == f"https://github.test/acme/shop/pull/1#issuecomment-{comment.id}"


async def test_a_comment_refused_or_on_a_missing_number_is_explained(github: GitHubFake, forge: GitHubForge) -> None:
    with pytest.raises(ForgeError) as err:
        await forge.comment(7, "results")
    assert err.value.what.startswith("GitHub answered 404 for issue or pull request #7 at ")
    github.add_pr(BRANCH)
    github.token_kind = "fine-grained"
    github.permissions.update(issues="read", pull_requests="read")
    with pytest.raises(ForgeError) as err:
        await forge.comment(1, "results")
    assert "may not comment on #1 on acme/shop: a fine-grained token needs Issues: write or Pull requests: write" in (
        err.value.what
    )
    assert github.comments == {}


async def test_404_says_the_repository_or_token_is_wrong(github: GitHubFake, make_forge: MakeForge) -> None:
    forge = make_forge(repository="acme/shopp")
    with pytest.raises(ForgeError) as err:
        await forge.open_prs_with_label("release")
    assert err.value.what == (
        f"GitHub answered 404 for the repository acme/shopp at {github.api_url} while trying to list open issues "
        "and pull requests with label 'release': it does not exist or the token from env GITHUB_TOKEN cannot see it"
    )
    assert "[forge] repository and api_url" in err.value.fix
    assert github.requests[0].path == "/repos/acme/shopp/issues"


async def test_a_missing_pr_number_is_not_blamed_on_the_repository(forge: GitHubForge) -> None:
    with pytest.raises(ForgeError, match=r"404 for pull request #42 .*\(pull request #42 or acme/shop does not exist"):
        await forge.get_pr(42)


async def test_an_api_url_without_the_enterprise_prefix_is_a_404(github: GitHubFake, make_forge: MakeForge) -> None:
    root = github.api_url.removesuffix("/api/v3")
    forge = make_forge(api_url=root)
    with pytest.raises(ForgeError) as err:
        await forge.ci_status("main")
    assert err.value.what.startswith(f"GitHub answered 404 for commit main at {root} ")
    assert github.requests[0].path == "/repos/acme/shop/commits/main/check-runs"  # outside /api/v3


def test_bad_repository_or_api_url_is_refused_up_front() -> None:
    token = Secret(TOKEN, "env GITHUB_TOKEN")
    with pytest.raises(ForgeError, match="'acme' is not owner/name"):
        GitHubForge("acme", token)
    with pytest.raises(ForgeError, match="not an http"):
        GitHubForge("acme/shop", token, api_url="ghe.example/api/v3")
    forge = GitHubForge("acme/shop", token, api_url="https://ghe.example/api/v3/")
    assert forge.api_url == "https://ghe.example/api/v3" and TOKEN not in repr(forge)
    assert DEFAULT_API_URL == "https://api.github.com"


# ----------------------------------------------------------------------------- rate limits, retries, timeouts


async def test_secondary_rate_limit_waits_retry_after(
    github: GitHubFake, make_forge: MakeForge, fake_time: FakeTime
) -> None:
    waits: list[RetryWait] = []
    forge = make_forge(on_wait=waits.append)
    github.add_pr(BRANCH)
    github.rate_limit_next(retry_after=7, path="/pulls/1$")
    pr = await forge.get_pr(1)
    assert pr.number == 1
    assert fake_time.sleeps == [7.0]
    assert [w.line for w in waits] == [
        "GitHub: secondary rate limit (Retry-After: 7); waiting 7 s before retrying "
        "GET /api/v3/repos/acme/shop/pulls/1 (retry 1)"
    ]
    assert len(github.requests_to("GET", r"/pulls/1")) == 2


async def test_primary_rate_limit_waits_until_the_reset(
    github: GitHubFake, make_forge: MakeForge, fake_time: FakeTime
) -> None:
    waits: list[RetryWait] = []
    forge = make_forge(on_wait=waits.append)
    github.rate_limit_next(reset_at=int(NOW) + 42, status=429, path="/issues")
    github.add_issue("Checkout crashes", ["critical"])
    items = await forge.open_issues_with_label("critical")
    assert [i.title for i in items] == ["Checkout crashes"]
    assert fake_time.sleeps == [43.0]  # until the reset, plus a second for clock skew
    assert waits[0].reason == "rate limit is used up until 22:14:02 UTC"


async def test_a_rate_limit_beyond_the_allowed_wait_is_an_error(
    github: GitHubFake, make_forge: MakeForge, fake_time: FakeTime
) -> None:
    forge = make_forge(max_rate_wait=300)
    github.rate_limit_next(reset_at=int(NOW) + 3000)
    with pytest.raises(ForgeError) as err:
        await forge.ci_status("main")
    assert err.value.what == (
        "GitHub's rate limit is used up until 23:03:20 UTC for the token from env GITHUB_TOKEN "
        "(a 3001 s wait; at most 300 s and 3 waits allowed)"
    )
    assert fake_time.sleeps == [] and len(github.requests) == 1


async def test_a_502_is_retried_with_backoff(github: GitHubFake, make_forge: MakeForge, fake_time: FakeTime) -> None:
    waits: list[RetryWait] = []
    forge = make_forge(on_wait=waits.append, backoff=2.0)
    github.add_pr(BRANCH)
    github.fail_next(502, path="/pulls/1$", times=2)
    pr = await forge.get_pr(1)
    assert pr.number == 1 and fake_time.sleeps == [2.0, 4.0]
    assert [w.reason for w in waits] == ["GitHub answered 502", "GitHub answered 502"]
    assert len(github.requests_to("GET", r"/pulls/1")) == 3


async def test_timeouts_are_retried_then_reported(
    github: GitHubFake, make_forge: MakeForge, fake_time: FakeTime
) -> None:
    forge = make_forge(timeout=0.2, retries=2)
    github.add_pr(BRANCH)
    github.fail_next(None, delay=1.0, path="/pulls/1$")  # one slow answer, then a normal one
    assert (await forge.get_pr(1)).number == 1
    assert fake_time.sleeps == [1.0]

    fake_time.sleeps.clear()
    github.fail_next(None, delay=1.0, path="/pulls/1$", times=3)
    with pytest.raises(ForgeError) as err:
        await forge.get_pr(1)
    assert err.value.what == (
        "could not read pull request #1 on acme/shop: no answer within 0.2 s "
        "(GET /api/v3/repos/acme/shop/pulls/1, 3 attempts)"
    )
    assert fake_time.sleeps == [1.0, 2.0]


async def test_nothing_listening_is_retried_then_reported(make_forge: MakeForge, fake_time: FakeTime) -> None:
    forge = make_forge(api_url="http://127.0.0.1:9/api/v3", retries=1)  # the discard port: nothing listens
    with pytest.raises(ForgeError, match=r"cannot connect to http://127\.0\.0\.1:9/api/v3.*2 attempts"):
        await forge.get_pr(1)
    assert fake_time.sleeps == [1.0]


# ----------------------------------------------------------------------------- checklist queries, pagination


async def test_open_issues_with_a_label_across_three_pages_without_prs(github: GitHubFake, forge: GitHubForge) -> None:
    github.max_per_page = 2
    for n in range(5):
        github.add_issue(f"Critical bug {n}", ["critical"])
    github.add_issue("A critical fix", ["critical"], is_pr=True, head="fix/crash")
    github.add_issue("Not critical", ["bug"])
    github.add_issue("Closed critical", ["critical"], state="closed")

    issues = await forge.open_issues_with_label("critical")
    assert [i.title for i in issues] == [f"Critical bug {n}" for n in (4, 3, 2, 1, 0)]
    assert issues[0].line == "#5 Critical bug 4 — https://github.test/acme/shop/issues/5"
    listing = github.requests_to("GET", "/issues")
    assert [r.query.get("page") for r in listing] == [None, "2", "3"]
    assert all(r.query["labels"] == "critical" and r.query["state"] == "open" for r in listing)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in listing)

    prs = await forge.open_prs_with_label("critical")
    assert [(p.number, p.title, p.url, p.pull_request) for p in prs] == [
        (6, "A critical fix", "https://github.test/acme/shop/pull/6", True)
    ]


async def test_open_prs_in_a_milestone(github: GitHubFake, forge: GitHubForge) -> None:
    github.add_milestone("1.1.0")
    number = github.add_milestone("1.2.0")
    github.add_pr("feat/pdf", title="Invoices as PDF", milestone=number)
    github.add_issue("Docs for PDF", milestone=number)
    github.add_pr("feat/old", title="Old work", milestone=1)
    prs = await forge.open_prs_in_milestone("1.2.0")
    assert [p.title for p in prs] == ["Invoices as PDF"]
    assert github.requests_to("GET", "/issues")[0].query["milestone"] == "2"
    with pytest.raises(ForgeError, match=r"no milestone titled '2\.0\.0' \(milestones: '1\.1\.0', '1\.2\.0'\)"):
        await forge.open_prs_in_milestone("2.0.0")


async def test_ci_green_on_main_reads_check_runs_across_pages_and_statuses(
    github: GitHubFake, forge: GitHubForge
) -> None:
    github.max_per_page = 2
    sha = github.branches["main"]
    for name in ("build", "test", "lint", "types"):
        github.add_check_run(sha, name)
    github.add_check_run(sha, "optional", conclusion="neutral")
    summary = await forge.ci_status("main")
    assert summary.state == "success" and summary.sha == sha  # no statuses: GitHub's "pending" adds nothing
    assert [c.name for c in summary.checks] == ["build", "test", "lint", "types", "optional"]
    assert len(github.requests_to("GET", "/commits/main/check-runs")) == 3

    github.set_status(sha, "deploy/staging", "failure", "https://ci.test/9")
    summary = await forge.ci_status("main")
    assert summary.state == "failure" and summary.line == "6 checks: 5 passed, 1 failed (deploy/staging)"
    assert summary.failing[0].url == "https://ci.test/9"


async def test_a_next_page_on_another_origin_is_refused(github: GitHubFake, forge: GitHubForge) -> None:
    github.fail_next(200, body=[], headers={"Link": '<http://127.0.0.2:1/steal?page=2>; rel="next"'}, path="/issues")
    with pytest.raises(ForgeError, match=r"pointed to http://127\.0\.0\.2:1 for the next page"):
        await forge.open_issues_with_label("critical")
    assert len(github.requests) == 1


# ----------------------------------------------------------------------------- the token


def _fake_gh(folder: Path, script: str) -> None:
    folder.mkdir(exist_ok=True)
    gh = folder / "gh"
    gh.write_text("#!/bin/sh\n" + script)
    gh.chmod(0o755)


async def test_find_pull_gives_title_author_and_page_and_none_for_a_404(github: GitHubFake, forge: GitHubForge) -> None:
    item = github.add_pr("feature/export", title="Export to CSV", author="alice", state="closed", merged=True)
    issue = github.add_issue("Crash on login")
    pr = await forge.find_pull(item.number)
    assert pr is not None
    assert (pr.number, pr.title, pr.author, pr.url) == (1, "Export to CSV", "alice", github.html("pull", 1))
    assert pr.merged and pr.merged_at == "2024-05-01T10:00:00Z"
    assert await forge.find_pull(issue.number) is None  # an issue's number: GitHub's 404
    assert await forge.find_pull(99) is None
    assert [r.path for r in github.requests] == [f"/repos/acme/shop/pulls/{n}" for n in (1, 2, 99)]


async def test_pulls_of_a_commit_follow_the_pages(github: GitHubFake, forge: GitHubForge) -> None:
    sha = fake_sha("rebased")
    first = github.add_pr("feature/a", title="Search by tag", author="bob", state="closed", merged=True)
    second = github.add_pr("feature/b", title="Backport search", author="carol")
    github.associate(sha, first.number)
    github.associate(sha, second.number)
    github.max_per_page = 1
    found = await forge.pulls_of_commit(sha)
    assert [(p.number, p.title, p.author) for p in found] == [
        (1, "Search by tag", "bob"),
        (2, "Backport search", "carol"),
    ]
    calls = github.requests_to("GET", f"/commits/{sha}/pulls")
    assert len(calls) == 2 and calls[0].query == {"per_page": "100"} and calls[1].query["page"] == "2"
    assert await forge.pulls_of_commit(fake_sha("nobody")) == []


async def test_pulls_of_a_commit_github_does_not_know_is_empty(github: GitHubFake, forge: GitHubForge) -> None:
    assert await forge.pulls_of_commit("not-a-commit") == []  # GitHub: 422 No commit found for SHA
    [call] = github.requests
    assert call.path == "/repos/acme/shop/commits/not-a-commit/pulls"


async def test_pulls_of_a_commit_refused_is_an_error(github: GitHubFake, forge: GitHubForge) -> None:
    github.token_kind = "fine-grained"
    github.permissions.pop("pull_requests")
    with pytest.raises(ForgeError) as err:
        await forge.pulls_of_commit(fake_sha("x"))
    assert "Pull requests: read" in err.value.what


async def test_every_poll_is_observed_before_it_is_judged(github: GitHubFake, forge: GitHubForge) -> None:
    item = github.add_pr(BRANCH)
    item.unknown_polls = 1
    github.add_check_run(item.head_sha, "ci / test", conclusion="failure")
    seen: list[tuple[bool | None, str]] = []
    with pytest.raises(ForgeError):
        await forge.wait_until_mergeable(
            1, deadline=60, observe=lambda pr, checks: seen.append((pr.mergeable, checks.line))
        )
    assert seen == [(None, "1 checks: 0 passed, 1 failed (ci / test)")]


async def test_token_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    _fake_gh(bin_dir, f"printf '%s\\n' \"$*\" > {tmp_path}/gh-args\necho gho_fromGH0123456789\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fromGITHUB_TOKEN")
    monkeypatch.setenv("GH_TOKEN", "ghp_fromGH_TOKEN")

    token = await github_token()
    assert (token.reveal(), token.source) == ("ghp_fromGITHUB_TOKEN", "env GITHUB_TOKEN")
    monkeypatch.setenv("GITHUB_TOKEN", "")
    token = await github_token()
    assert (token.reveal(), token.source) == ("ghp_fromGH_TOKEN", "env GH_TOKEN")
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.delenv("GH_TOKEN")
    token = await github_token()
    assert (token.reveal(), token.source) == ("gho_fromGH0123456789", "gh auth token")
    assert (tmp_path / "gh-args").read_text() == "auth token\n"
    assert "gho_from" not in repr(token) and "gho_from" not in str(token)

    token = await github_token(api_url="https://ghe.example/api/v3")
    assert (tmp_path / "gh-args").read_text() == "auth token --hostname ghe.example\n"


async def test_no_token_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SecretError, match="GITHUB_TOKEN and GH_TOKEN are unset and the gh CLI is not installed"):
        await github_token()
    _fake_gh(tmp_path / "empty", "echo gho_leaked0123456789\necho 'not logged in to github.com' >&2\nexit 1\n")
    with pytest.raises(SecretError) as err:
        await github_token()
    assert err.value.what == "`gh auth token` exited 1: not logged in to github.com"
    assert "gho_leaked" not in str(err.value)


async def test_the_token_never_shows_in_errors_or_reprs(github: GitHubFake, make_forge: MakeForge) -> None:
    forge = make_forge(retries=0)
    github.add_branch(BRANCH)
    texts = [repr(forge), str(forge.token)]
    echoing = {"message": f"Bad token {TOKEN} for you", "errors": [{"message": f"token={TOKEN}"}]}
    for status in (401, 403, 404, 422, 500):
        github.fail_next(status, body=echoing)
        with pytest.raises(ForgeError) as err:
            await forge.find_or_create_pr(version="1.2.0", head=BRANCH, base="main", body=BODY)
        texts += [str(err.value), repr(err.value), err.value.what, err.value.fix]
    assert any("Bad token ••••••" in t for t in texts)
    _no_token(*texts)
