"""GitService on real repositories: commit reading, refused pushes, ref names."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable
from pathlib import Path

import pytest

from iact_tui.errors import GitError, RepositoryError
from iact_tui.services.git import AheadBehind, GitService, check_ref_name


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(work))
    (work / "CHANGELOG.md").write_text("# Changelog\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "chore: start")
    git(work, "tag", "v1.0.0")
    git(work, "push", "-q", "origin", "main", "v1.0.0")
    return work


async def test_commits_since_marks_changelog_edits_and_survives_bad_bytes(repo: Path) -> None:
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n- entry\n")
    git(repo, "commit", "-qam", "feat: with its own entry")
    (repo / "x").write_bytes(b"x")
    git(repo, "add", "x")
    subprocess.run(["git", "commit", "-q", "-F", "-"], cwd=repo, input=b"fix: caf\xe9 \xff latin-1\n", check=True)
    commits = await GitService(repo).commits_since("v1.0.0", "CHANGELOG.md")
    assert commits[0].subject == "feat: with its own entry"
    # git may re-encode a legacy message or pass its bytes through; either way no crash.
    assert commits[1].subject.startswith("fix: caf") and commits[1].subject.endswith(" latin-1")
    assert [c.changelog_added for c in commits] == [("entry",), ()]


async def test_commits_since_counts_parents_and_reads_a_message_holding_the_field_separator(repo: Path) -> None:
    """Merges have two parents; a message holding \\x1f (a common field separator) is
    read whole."""
    git(repo, "checkout", "-qb", "topic")
    (repo / "t").write_text("t")
    git(repo, "add", "t")
    git(repo, "commit", "-qm", "feat: on a branch")
    git(repo, "checkout", "-q", "main")
    (repo / "m").write_text("m")
    git(repo, "add", "m")
    subprocess.run(
        ["git", "commit", "-q", "-F", "-"], cwd=repo, input=b"fix: odd \x1f byte\n\nbody \x1f too\n", check=True
    )
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge branch 'topic'", "topic")

    commits = await GitService(repo).commits_since("v1.0.0", "CHANGELOG.md")

    by_subject = {c.subject: c for c in commits}
    assert set(by_subject) == {"feat: on a branch", "fix: odd \x1f byte", "Merge branch 'topic'"}
    assert by_subject["Merge branch 'topic'"].parents == 2
    assert by_subject["feat: on a branch"].parents == 1
    assert by_subject["fix: odd \x1f byte"].body == "body \x1f too"
    assert all(len(c.sha) == 40 for c in commits)


async def test_commits_since_keeps_the_entries_a_side_branch_added_even_when_its_merge_dropped_them(
    repo: Path,
) -> None:
    """History simplification never hides a commit's changelog bullets: a side branch
    merged with ``-s ours`` still says what it added (so it is not drafted twice if the
    entry is under Unreleased again)."""
    git(repo, "checkout", "-qb", "side")
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n- side entry\n")
    git(repo, "commit", "-qam", "feat: on the side")
    git(repo, "checkout", "-q", "main")
    (repo / "m").write_text("m")
    git(repo, "add", "m")
    git(repo, "commit", "-qm", "fix: on main")
    git(repo, "merge", "-q", "-s", "ours", "--no-ff", "-m", "Merge side", "side")

    commits = await GitService(repo).commits_since("v1.0.0", "CHANGELOG.md")

    assert {c.subject: c.changelog_added for c in commits} == {
        "feat: on the side": ("side entry",),
        "fix: on main": (),
        "Merge side": (),
    }


async def test_a_push_the_remote_refuses_is_an_error_with_its_reason(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    (other / "b").write_text("b")
    git(other, "add", "b")
    git(other, "commit", "-qm", "feat: b")
    git(other, "push", "-q", "origin", "main")
    (repo / "a").write_text("a")
    git(repo, "add", "a")
    git(repo, "commit", "-qm", "feat: a")
    service = GitService(repo)
    with pytest.raises(GitError, match=r"refused .*main.*(fetch first|non-fast-forward|rejected)"):
        await service.push("origin", "refs/heads/main:refs/heads/main")
    git(other, "tag", "-a", "v2.0.0", "-m", "theirs")
    git(other, "push", "-q", "origin", "v2.0.0")
    git(repo, "tag", "-a", "v2.0.0", "-m", "ours")
    with pytest.raises(GitError, match="already exists"):
        await service.push("origin", "refs/tags/v2.0.0:refs/tags/v2.0.0")


def test_not_a_repository_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="not a git repository"):
        GitService(tmp_path)


@pytest.mark.parametrize("name", ["release/v1.4.0", "v1.4.0", "hotfix/v1.3.3"])
def test_valid_ref_names(name: str) -> None:
    assert check_ref_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "a..b", "-x", "a b", "a~1", "a^", "a:b", "x.lock", "a//b", "a/.b", "end/", "$(id)"]
)
def test_invalid_ref_names(name: str) -> None:
    if name == "$(id)":
        # `$`, `(` and `)` are legal in git ref names; it is shell quoting that makes them inert.
        assert check_ref_name(name) == name
        return
    with pytest.raises(GitError):
        check_ref_name(name)


async def test_shallow_clone_and_remote_tags(repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    assert await GitService(repo).is_shallow() is False
    (repo / "b").write_text("b")
    git(repo, "add", "b")
    git(repo, "commit", "-qm", "feat: b")
    git(repo, "tag", "-a", "v1.1.0", "-m", "annotated")
    git(repo, "push", "-q", "origin", "main", "v1.1.0")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-tags", origin.as_uri(), str(shallow))
    service = GitService(shallow)
    assert await service.is_shallow() is True
    assert await service.tags() == []
    # peeled `^{}` lines of annotated tags are not counted twice
    assert sorted(await service.remote_tags("origin")) == ["v1.0.0", "v1.1.0"]


async def test_fetch_without_tags_leaves_local_tags_alone(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    (other / "c").write_text("c")
    git(other, "add", "c")
    git(other, "commit", "-qm", "feat: c")
    git(other, "tag", "v1.2.0")
    git(other, "push", "-q", "origin", "main", "v1.2.0")
    service = GitService(repo)
    await service.fetch("origin", tags=False)
    assert await service.tags() == ["v1.0.0"]
    assert git(repo, "rev-parse", "origin/main") == git(other, "rev-parse", "HEAD")
    await service.fetch("origin")
    assert sorted(await service.tags()) == ["v1.0.0", "v1.2.0"]


async def test_check_reachable_names_the_url_and_gits_reason(repo: Path, tmp_path: Path) -> None:
    service = GitService(repo)
    assert await service.check_reachable("origin") == str(tmp_path / "origin.git")
    git(repo, "remote", "set-url", "origin", "/nonexistent/x.git")
    with pytest.raises(GitError) as caught:
        await service.check_reachable("origin")
    what = caught.value.what
    assert what.startswith("cannot reach remote origin (/nonexistent/x.git): ")
    assert "does not appear to be a git repository" in what and "fatal:" not in what
    assert "git remote set-url origin URL" in caught.value.fix
    with pytest.raises(GitError, match=r"no remote named 'upstream' \(it has: origin\)") as missing:
        await service.check_reachable("upstream")
    assert "git remote add upstream URL" in missing.value.fix


async def test_concurrent_reads_never_deadlock_on_the_shared_repo(repo: Path) -> None:
    """The checklist reads concurrently; GitPython's persistent ``cat-file`` pipes are not
    thread-safe, so every call must have the Repo to itself (a trial deadlocked 1 run in 20)."""
    for n in range(3):
        (repo / f"f{n}").write_text(str(n))
        git(repo, "add", ".")
        git(repo, "commit", "-qm", f"feat: change {n}")
    git(repo, "push", "-q", "origin", "main")
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n- edited\n")
    (repo / "new").write_text("untracked")
    head, parent, tagged = (git(repo, "rev-parse", ref) for ref in ("HEAD", "HEAD~1", "v1.0.0"))
    service = GitService(repo, timeout=60)

    async def subjects_since(tag: str) -> list[str]:
        return [c.subject for c in await service.commits_since(tag, "CHANGELOG.md")]

    async def expect(call: Awaitable[object], expected: object) -> None:
        assert await call == expected

    def round_() -> list[Awaitable[None]]:
        return [
            check
            for _ in range(3)
            for check in (
                expect(service.tags(), ["v1.0.0"]),
                expect(service.rev("HEAD"), head),
                expect(service.rev("v1.0.0"), tagged),
                expect(service.current_branch(), "main"),
                expect(service.dirty_files(), (["CHANGELOG.md"], ["new"])),
                expect(service.ahead_behind("main", "origin"), AheadBehind(0, 0)),
                expect(subjects_since("v1.0.0"), ["feat: change 0", "feat: change 1", "feat: change 2"]),
                expect(service.head_subject(), "feat: change 2"),
                expect(service.log_grep("HEAD", "feat: change 1"), parent),
                expect(service.is_ancestor("v1.0.0", "HEAD"), True),
            )
        ]

    try:
        for _ in range(40):
            await asyncio.wait_for(asyncio.gather(*round_()), 90)
    finally:
        service.close()


async def test_a_hung_git_call_reports_at_once_and_frees_the_repo(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An "ssh" that never answers: git ls-remote hangs like it would on a dead network.
    hang = tmp_path / "hang-ssh"
    hang.write_text("#!/bin/sh\nexec sleep 60\n")
    hang.chmod(0o755)
    monkeypatch.setenv("GIT_SSH_COMMAND", str(hang))
    git(repo, "remote", "add", "slow", "ssh://example.invalid/x.git")
    service = GitService(repo, timeout=1)
    with pytest.raises(GitError, match=r"cannot reach remote slow .*no answer within 1 s"):
        await asyncio.wait_for(service.check_reachable("slow"), 10)
    # The hung git is killed, so its thread ends and gives the Repo back (a thread
    # blocked for ever would also keep the process from exiting).
    service.timeout = 30
    assert await asyncio.wait_for(service.tags(), 10) == ["v1.0.0"]


async def test_added_and_listed_paths_match_a_glob_on_any_git(tmp_path: Path) -> None:
    """git 2.39's ls-tree refuses ':(glob)' pathspecs: the matching is done here."""
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for name in ("core/migrations/0001_initial.py", "core/migrations/__init__.py", "web/app.py"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("# x\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "one"], cwd=repo, check=True)
    subprocess.run(["git", "tag", "v1"], cwd=repo, check=True)
    for name in ("core/migrations/0002_more.py", "shop/migrations/0001_initial.py", "docs/migrations.md"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("# y\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "two"], cwd=repo, check=True)
    git = GitService(repo)
    assert await git.added_paths("v1", "HEAD", "**/migrations/[0-9]*.py") == [
        "core/migrations/0002_more.py",
        "shop/migrations/0001_initial.py",
    ]
    assert await git.list_paths("v1", "core/migrations/[0-9]*.py") == ["core/migrations/0001_initial.py"]


async def test_delete_merged_branch_refuses_a_branch_with_work_on_it(repo: Path) -> None:
    service = GitService(repo)
    git(repo, "branch", "hotfix/v1.0.1")
    git(repo, "checkout", "-q", "-b", "hotfix/v1.0.2")
    (repo / "fix").write_text("fix")
    git(repo, "add", "fix")
    git(repo, "commit", "-qm", "fix: not merged anywhere")
    git(repo, "checkout", "-q", "main")
    await service.delete_merged_branch("hotfix/v1.0.1")
    with pytest.raises(GitError, match="not fully merged"):
        await service.delete_merged_branch("hotfix/v1.0.2")
    assert git(repo, "branch", "--list", "hotfix/*").split() == ["hotfix/v1.0.2"]
    with pytest.raises(GitError):
        await service.delete_merged_branch("bad..name")


async def test_update_branch_from_remote_fast_forwards_it_checked_out_or_not(repo: Path, tmp_path: Path) -> None:
    """After a hotfix's backport pushed to main, the operator's main follows: checked out
    (merge --ff-only) or not (fetch main:main); a branch that diverged is refused."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))

    def push_one(name: str) -> str:
        (other / name).write_text(name)
        git(other, "add", name)
        git(other, "commit", "-qm", f"fix: {name}")
        git(other, "push", "-q", "origin", "main")
        return git(other, "rev-parse", "HEAD")

    service = GitService(repo)
    head = push_one("d")
    await service.update_branch_from_remote("origin", "main")  # main is checked out
    assert git(repo, "rev-parse", "main") == head and (repo / "d").is_file()
    git(repo, "checkout", "-q", "-b", "hotfix/v1.0.1")
    head = push_one("e")
    await service.update_branch_from_remote("origin", "main")  # not checked out
    assert git(repo, "rev-parse", "main") == head
    git(repo, "checkout", "-q", "main")
    (repo / "f").write_text("f")
    git(repo, "add", "f")
    git(repo, "commit", "-qm", "feat: local")
    push_one("g")
    with pytest.raises(GitError):
        await service.update_branch_from_remote("origin", "main")  # diverged: not a fast-forward
