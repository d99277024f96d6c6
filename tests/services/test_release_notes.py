"""Release notes from a real history (merge commits, a squash merge, a rebase merge, a direct
commit) and the GitHub stand-in; migrations added between two tags."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.github_fake import GitHubFake, add_django_app, github_history

from iact_tui.errors import ForgeError
from iact_tui.services import release_notes
from iact_tui.services.git import GitService
from iact_tui.services.github import GitHubForge
from iact_tui.services.migrations import added_migrations
from iact_tui.services.release_notes import Change, Changes
from iact_tui.services.secrets import Secret

RELEASE = "chore: prepare release v1.1.0"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def history(tmp_path: Path) -> tuple[GitService, dict[str, str]]:
    """v1.0.0, then four PRs and a direct commit on main, then the release branch's commit."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    add_django_app(repo)
    git(repo, "commit", "-qm", "feat: first release")
    git(repo, "tag", "-a", "v1.0.0", "-m", "Release v1.0.0")
    shas = github_history(repo)
    git(repo, "checkout", "-q", "-b", "release/v1.1.0")
    git(repo, "commit", "-q", "--allow-empty", "-m", RELEASE)
    git(repo, "checkout", "-q", "main")
    return GitService(repo), shas


@pytest.fixture
async def forge(github: GitHubFake) -> AsyncIterator[GitHubForge]:
    async def no_wait(_seconds: float) -> None:
        return None

    forge = GitHubForge(
        github.repo, Secret(github.token, "env GITHUB_TOKEN"), api_url=github.api_url, retries=1, sleep=no_wait
    )
    yield forge
    await forge.aclose()


async def test_git_alone_lists_the_numbered_pull_requests_and_the_other_commits(
    history: tuple[GitService, dict[str, str]],
) -> None:
    repo, shas = history
    commits = await repo.mainline_commits("v1.0.0", "release/v1.1.0")
    assert shas["inside"] not in {c.sha for c in commits}  # a merged branch's own commits are not main's
    changes = release_notes.from_git(commits, "v1.0.0", exclude={RELEASE})

    assert changes.pulls == (
        Change(12, "Export orders to CSV", "from acme/feature/export", sha=shas["merge"], how="merge commit"),
        Change(13, "Fix totals rounding", "Test Operator", sha=shas["squash"], how="squash merge"),
    )
    assert [c.title for c in changes.commits] == [
        "perf: index the search",
        "perf: cache search results",
        "docs: fix a typo in the README",
    ]
    assert changes.line == "2 pull requests and 3 other commits since v1.0.0"
    text = changes.markdown()
    assert text.startswith(
        "**2 pull requests** merged since v1.0.0:\n\n- #12 Export orders to CSV (from acme/feature/export)"
    )
    assert "- #13 Fix totals rounding (Test Operator)" in text
    assert f"**3 commits** without a pull request:\n\n- `{shas['rebase1'][:7]}` perf: index the search" in text
    assert RELEASE not in text


async def test_github_gives_titles_authors_links_and_finds_the_rebase_merge(
    history: tuple[GitService, dict[str, str]], github: GitHubFake, forge: GitHubForge
) -> None:
    repo, shas = history
    github._next_number = 12
    github.add_pr("feature/export", title="Export orders to CSV files", author="alice", state="closed", merged=True)
    github.add_pr("fix/totals", title="Fix totals rounding", author="bob", state="closed", merged=True)
    github.add_issue("Search is slow")  # #14: an issue
    search = github.add_pr("perf/search", title="Faster search", author="carol", state="closed", merged=True)
    github.associate(shas["rebase1"], search.number)
    github.associate(shas["rebase2"], search.number)
    commits = await repo.mainline_commits("v1.0.0", "release/v1.1.0")

    changes = await release_notes.from_forge(
        commits, "v1.0.0", get_pull=forge.find_pull, pulls_of_commit=forge.pulls_of_commit, exclude={RELEASE}
    )

    assert [(c.number, c.title, c.author, c.how) for c in changes.pulls] == [
        (12, "Export orders to CSV files", "@alice", "merge commit"),
        (13, "Fix totals rounding", "@bob", "squash merge"),
        (15, "Faster search", "@carol", "rebase merge"),
    ]
    assert changes.pulls[0].url == github.html("pull", 12)
    assert [c.title for c in changes.commits] == ["docs: fix a typo in the README"]
    assert (changes.note, changes.unlisted, changes.source) == ("", 0, "github")
    text = changes.markdown()
    assert "**3 pull requests** merged since v1.0.0:" in text
    assert f"- [#15]({github.html('pull', 15)}) Faster search (@carol) — rebase merge" in text
    # One lookup per numbered PR, one per commit without a number.
    assert [r.path.rsplit("/", 2)[-2:] for r in github.requests] == [
        ["pulls", "12"],
        ["pulls", "13"],
        [shas["rebase1"], "pulls"],
        [shas["rebase2"], "pulls"],
        [shas["direct"], "pulls"],
    ]


async def test_lookups_are_bounded_and_the_rest_counted(
    history: tuple[GitService, dict[str, str]], github: GitHubFake, forge: GitHubForge
) -> None:
    repo, _shas = history
    commits = await repo.mainline_commits("v1.0.0", "release/v1.1.0")
    changes = await release_notes.from_forge(
        commits,
        "v1.0.0",
        get_pull=forge.find_pull,
        pulls_of_commit=forge.pulls_of_commit,
        exclude={RELEASE},
        max_lookups=3,
    )
    assert len(github.requests) == 3
    # The numbers GitHub does not know keep git's details; two commits were not looked up.
    assert [c.number for c in changes.pulls] == [12, 13]
    assert [c.title for c in changes.commits] == ["perf: index the search"]
    assert changes.unlisted == 2
    assert changes.markdown().endswith("…and 2 more commits (not looked up on GitHub).")


async def test_an_api_error_keeps_what_was_found_and_says_the_rest_is_from_git(
    history: tuple[GitService, dict[str, str]], github: GitHubFake, forge: GitHubForge
) -> None:
    repo, _shas = history
    github._next_number = 12
    github.add_pr("feature/export", title="Export orders to CSV files", author="alice", state="closed", merged=True)
    github.fail_next(502, method="GET", path=r"/pulls/13$", times=2)
    commits = await repo.mainline_commits("v1.0.0", "release/v1.1.0")
    changes = await release_notes.from_forge(
        commits, "v1.0.0", get_pull=forge.find_pull, pulls_of_commit=forge.pulls_of_commit, exclude={RELEASE}
    )
    assert [(c.number, c.author) for c in changes.pulls] == [(12, "@alice"), (13, "Test Operator")]
    assert len(changes.commits) == 3 and changes.unlisted == 0
    assert changes.note.startswith("GitHub could not be asked about every change (could not read pull request #13")
    assert changes.note.endswith("the rest of this list is from git only.")
    assert changes.markdown().endswith(f"> {changes.note}")
    assert len(github.requests) == 3  # #12, then #13 and its one retry; nothing after


async def test_a_refusal_is_an_iact_error_the_notes_survive() -> None:
    async def refuse(_n: int) -> None:
        raise ForgeError("GitHub answered 403 Forbidden", "give the token Pull requests: read")

    async def nothing(_sha: str) -> list[release_notes.PullLike]:
        return []

    from iact_tui.services.changelog import Commit

    commits = [Commit("a" * 40, "Add export (#3)", author="Ann"), Commit("b" * 40, "tidy", author="Ben")]
    changes = await release_notes.from_forge(commits, "", get_pull=refuse, pulls_of_commit=nothing)
    assert changes.pulls == (Change(3, "Add export", "Ann", sha="a" * 40, how="squash merge"),)
    assert [c.title for c in changes.commits] == ["tidy"]
    assert "GitHub answered 403 Forbidden" in changes.note
    assert changes.markdown().startswith("**1 pull request** merged since the first commit:")


def test_an_empty_release_says_so() -> None:
    assert Changes("v2.0.0").markdown() == "No pull requests merged since v2.0.0."


def test_many_commits_are_listed_up_to_a_bound() -> None:
    from iact_tui.services.changelog import Commit

    commits = [Commit(f"{i:040x}", f"chore: step {i}") for i in range(release_notes.MAX_LISTED_COMMITS + 7)]
    text = release_notes.from_git(commits, "v1.0.0").markdown()
    assert text.count("\n- `") == release_notes.MAX_LISTED_COMMITS
    assert text.endswith("…and 7 more commits.")


async def test_migrations_added_since_a_tag_with_each_apps_target(history: tuple[GitService, dict[str, str]]) -> None:
    repo, _shas = history
    added = await added_migrations(repo, "v1.0.0", "release/v1.1.0")
    assert added.paths == ("accounts/migrations/0001_initial.py", "shop/migrations/0002_order_export.py")
    assert added.names == ["accounts.0001_initial", "shop.0002_order_export"]
    assert added.by_app == {"accounts": ["0001_initial"], "shop": ["0002_order_export"]}
    assert added.targets == {"accounts": "zero", "shop": "0001_initial"}
    assert added.migrate_commands() == ["manage.py migrate accounts zero", "manage.py migrate shop 0001_initial"]
    first = await added_migrations(repo, "", "v1.0.0")
    assert (first.names, first.targets) == (["shop.0001_initial"], {"shop": "zero"})
    none = await added_migrations(repo, "release/v1.1.0", "main")
    assert (none.paths, none.targets) == ((), {})
