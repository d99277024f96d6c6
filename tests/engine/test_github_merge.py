"""The merge step with ``forge.kind = "github"``: release PR, its body, live status, checks,
merge, main at the merge commit.

A real repository with a bare origin on disk, and the GitHub stand-in on loopback; when the
stand-in merges, the merge is made for real in the bare origin (as GitHub merges on its
side), so the tag step tags the very commit GitHub reported. The body tests build a real
history after v1.0.0: a merge commit, a squash merge, a rebase merge, a direct commit, and
two Django migrations.

After the merge, the staging smoke tests comment their results on the release pull
request (the stand-in records the comment); a failure to comment (GitHub answering 502,
no token) is an output line and leaves the smoke step's result as it was; with the local
forge nothing is posted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.github_fake import TOKEN, GitHubFake, add_django_app, github_history, merge_for_real
from test_verify import PASSWORD, Site, serving

from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.run import ReleaseRun
from iact_tui.services.secrets import REDACTED

CONFIG = """[project]
main_branch = "main"
version_files = ["VERSION"]

[checks]
tests = ""
coverage_report = ""

[forge]
kind = "github"
repository = "acme/shop"
api_url = "{api_url}"
labels = ["deploy"]
checks_deadline = 10
poll_interval = 0.05
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def make_repo(
    tmp_path: Path, api_url: str, *, history: bool = False, checks: bool = False, extra_config: str = ""
) -> Path:
    """A repository released as v1.0.0 and one commit since (``history``: the GitHub-like
    history of :func:`~support.github_fake.github_history` instead), with a bare origin;
    ``checks``: the checklist runs a tests command and reads a coverage report."""
    origin, repo = tmp_path / "origin.git", tmp_path / "repo"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    config = CONFIG.format(api_url=api_url) + extra_config
    if checks:
        config = config.replace('tests = ""', 'tests = "true"').replace(
            'coverage_report = ""', 'coverage_report = "coverage.xml"'
        )
    (repo / "iact-release.toml").write_text(config)
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2026-01-05\n\n- First.\n")
    (repo / "VERSION").write_text("1.0.0\n")
    (repo / "coverage.xml").write_text(
        '<?xml version="1.0" ?>\n<coverage line-rate="0.912" version="7.4"></coverage>\n'
    )
    if history:
        add_django_app(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feat: first release")
    git(repo, "tag", "-a", "v1.0.0", "-m", "Release v1.0.0")
    if history:
        github_history(repo)
    else:
        git(repo, "commit", "-q", "--allow-empty", "-m", "feat: export to CSV")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main", "--tags")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main", "main")
    return repo


async def ready_to_merge(
    tmp_path: Path, github: GitHubFake, monkeypatch: pytest.MonkeyPatch, **repo_options: Any
) -> tuple[ReleaseRun, Path, str]:
    """A run whose release branch is pushed (and known to the stand-in), merge next."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    repo = make_repo(tmp_path, github.api_url, **repo_options)
    merge_for_real(github, tmp_path / "origin.git", tmp_path)
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    async for event in run.run_until("push"):
        if isinstance(event, StepFinished):
            assert event.status == "ok", event
    head = git(repo, "rev-parse", "release/v1.1.0")
    github.add_branch("release/v1.1.0", head)
    return run, repo, head


def merged_prs(github: GitHubFake, repo: Path) -> None:
    """The stand-in's record of the history's pull requests: #12, #13, issue #14, #15 (rebased)."""
    github._next_number = 12
    github.add_pr("feature/export", title="Export orders to CSV files", author="alice", state="closed", merged=True)
    github.add_pr("fix/totals", title="Fix totals rounding", author="bob", state="closed", merged=True)
    github.add_issue("Search is slow")
    github.add_pr("perf/search", title="Faster search", author="carol", state="closed", merged=True)
    for subject in ("perf: index the search", "perf: cache search results"):
        github.associate(git(repo, "log", "-1", "--format=%H", f"--grep=^{subject}$", "main"), 15)


async def run_merge(run: ReleaseRun) -> tuple[list[Event], StepFinished]:
    events = [e async for e in run.run_step("merge")]
    last = events[-1]
    assert isinstance(last, StepFinished)
    return events, last


def rows(events: list[Event]) -> list[tuple[str, str, str]]:
    """The live PR rows as sent: ``(check_id, status, detail)``."""
    return [(e.check_id, e.status, e.detail) for e in events if isinstance(e, CheckUpdate)]


async def test_release_merged_through_a_pull_request(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, repo, head = await ready_to_merge(tmp_path, github, monkeypatch)
    github.add_check_run(head, "ci / test", status="in_progress")
    lines: list[str] = []
    finished: StepFinished | None = None
    async for event in run.run_step("merge"):
        if isinstance(event, OutputLine):
            lines.append(event.text)
            if "waiting for" in event.text:
                github.set_check_run(head, "ci / test", "completed", "success")
        elif isinstance(event, StepFinished):
            finished = event
    assert finished is not None and finished.status == "ok", (finished, lines)
    [create] = github.requests_to("POST", "/pulls")
    assert create.authorization == f"Bearer {TOKEN}"
    assert create.json is not None and create.json["title"] == "Release v1.1.0"
    assert (create.json["head"], create.json["base"]) == ("release/v1.1.0", "main")
    assert "## Changelog" in create.json["body"] and "## Rollback plan" in create.json["body"]
    [labels] = github.requests_to("POST", "/issues/1/labels")
    assert labels.json == {"labels": ["release", "deploy"]}
    [merge] = github.requests_to("PUT", "/pulls/1/merge")
    assert merge.json == {"merge_method": "merge", "sha": head}
    assert any(line.startswith("PR #1: waiting for") for line in lines)
    origin_main = git(tmp_path / "origin.git", "rev-parse", "main")
    assert finished.data["commit"] == origin_main == git(repo, "rev-parse", "main")
    # The tag goes on GitHub's merge commit.
    async for event in run.run_step("tag"):
        if isinstance(event, StepFinished):
            assert event.status == "ok", event
    assert git(tmp_path / "origin.git", "rev-parse", "v1.1.0^{commit}") == origin_main
    assert TOKEN not in run.journal_path.read_text()


async def test_checklist_asks_github_about_prs_issues_and_ci(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    repo = make_repo(tmp_path, github.api_url)
    config = repo / "iact-release.toml"
    config.write_text(config.read_text() + 'blocking_pr_label = "release-1.1"\n')
    git(repo, "commit", "-qam", "chore: block on labelled PRs")
    git(repo, "push", "-q", "origin", "main")
    pr = github.add_pr("feature/export", title="Export to CSV", labels=["release-1.1"])
    issue = github.add_issue("Login broken on Safari", labels=["critical"])
    main_sha = github.branches["main"]
    github.add_check_run(main_sha, "ci / test", status="completed", conclusion="failure")
    run = ReleaseRun(load_config(config), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    assert [c for c, _ in run.manual_checks()] == ["docs-updated"]  # GitHub answers the other two
    run.tick("docs-updated", True)
    from iact_tui.engine.events import CheckUpdate

    found: dict[str, CheckUpdate] = {}
    async for event in run.run_step("preflight"):
        if isinstance(event, CheckUpdate):
            found[event.check_id] = event
    assert found["forge-prs"].status == "failed"
    assert found["forge-prs"].detail.startswith("1 open pull request(s) labelled 'release-1.1': ")
    assert f"#{pr.number} Export to CSV" in found["forge-prs"].detail
    assert found["forge-issues"].status == "failed" and "Login broken on Safari" in found["forge-issues"].detail
    assert found["forge-ci"].status == "failed" and "ci / test" in found["forge-ci"].detail
    assert not run.checklist_complete()
    pr.state, issue.state = "closed", "closed"
    github.set_check_run(main_sha, "ci / test", "completed", "success")
    async for event in run.run_step("preflight"):
        if isinstance(event, CheckUpdate):
            found[event.check_id] = event
    assert {found[c].status for c in ("forge-prs", "forge-issues", "forge-ci")} == {"passed"}
    assert run.checklist_complete()
    assert all(r.authorization == f"Bearer {TOKEN}" for r in github.requests)


async def test_the_body_lists_changes_testing_migrations_and_rollback(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, repo, _head = await ready_to_merge(tmp_path, github, monkeypatch, history=True, checks=True)
    merged_prs(github, repo)
    events, finished = await run_merge(run)
    assert finished.status == "ok", finished

    [create] = github.requests_to("POST", "/pulls")
    body = create.json["body"]
    assert create.json["title"] == "Release v1.1.0"
    sections = [line for line in body.splitlines() if line.startswith("## ")]
    assert sections == [
        "## Summary",
        "## Changes included",
        "## Testing",
        "## Migration notes",
        "## Rollback plan",
        "## Changelog",
    ]
    assert (
        "Release **v1.1.0** (1.0.0 → 1.1.0, minor): 3 pull requests and 1 other commit since v1.0.0; 2 new migrations."
        in body
    )
    assert "**3 pull requests** merged since v1.0.0:" in body
    assert f"- [#12]({github.html('pull', 12)}) Export orders to CSV files (@alice)" in body
    assert f"- [#13]({github.html('pull', 13)}) Fix totals rounding (@bob)" in body
    assert f"- [#15]({github.html('pull', 15)}) Faster search (@carol) — rebase merge" in body
    assert "**1 commit** without a pull request:" in body and "docs: fix a typo in the README" in body
    assert "chore: prepare release" not in body
    assert (
        "This run's pre-release checklist (v1.1.0):\n\n- Working tree is clean: **passed** — no uncommitted changes"
        in body
    )
    assert "- Tests pass: **passed** — passed in " in body
    assert "- Coverage meets the threshold: **passed** — line coverage 91.2% (minimum 80%)\n" in body
    assert "- Confirmed by the operator: Documentation is updated" in body
    assert "Smoke tests: no `staging` environment is configured." in body
    assert (
        "**2 new Django migrations** since v1.0.0:\n\n- `accounts`: 0001_initial\n- `shop`: 0002_order_export" in body
    )
    assert "New environment variables: none <!--" in body
    assert (
        "1. Reverse the new migrations with v1.1.0's code still deployed: `manage.py migrate accounts zero`, "
        "`manage.py migrate shop 0001_initial`." in body
    )
    assert "2. Deploy **v1.0.0** again" in body
    assert "## Changelog\n\n### Added\n\n- Export orders to CSV\n" in body
    # Headless has no preview: the body is printed before the pull request is opened.
    lines = [e.text for e in events if isinstance(e, OutputLine)]
    printed = lines.index("pull request body:")
    assert printed < next(i for i, line in enumerate(lines) if line.startswith("opened pull request #16"))
    assert lines[printed + 1 : printed + 1 + len(body.splitlines())] == [f"  | {line}" for line in body.splitlines()]
    assert "changes: 3 pull requests and 1 other commit since v1.0.0" in lines


async def test_an_api_error_while_listing_changes_still_merges_with_the_git_list(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, repo, _head = await ready_to_merge(tmp_path, github, monkeypatch, history=True)
    merged_prs(github, repo)
    github.fail_next(500, method="GET", path=r"/pulls/12$", times=2)
    _events, finished = await run_merge(run)
    assert finished.status == "ok", finished
    body = github.requests_to("POST", "/pulls")[0].json["body"]
    assert "**2 pull requests** merged since v1.0.0:" in body
    assert "- #12 Export orders to CSV (from acme/feature/export)" in body
    assert "- #13 Fix totals rounding (Test Operator)" in body
    assert "> GitHub could not be asked about every change (could not read pull request #12" in body
    assert github.items[16].merged


async def test_the_preview_edit_is_what_github_receives(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _repo, _head = await ready_to_merge(tmp_path, github, monkeypatch)
    preview = await run.pr_preview()
    assert (preview.title, preview.head, preview.base, preview.repository) == (
        "Release v1.1.0",
        "release/v1.1.0",
        "main",
        "acme/shop",
    )
    assert preview.body == preview.rendered and not preview.edited and not preview.existing
    assert not preview.notes
    edited = preview.body.replace("New environment variables: none", "New environment variables: `EXPORT_DIR`")
    run.set_pr_body(edited)
    events, finished = await run_merge(run)
    assert finished.status == "ok", finished
    [create] = github.requests_to("POST", "/pulls")
    assert create.json["body"] == edited and "`EXPORT_DIR`" in edited
    lines = [e.text for e in events if isinstance(e, OutputLine)]
    assert f"pull request body: as shown in the preview ({len(edited.splitlines())} lines)" in lines
    assert "pull request body:" not in lines
    assert (await run.pr_preview()).edited


async def test_a_reused_pull_request_keeps_its_description(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _repo, head = await ready_to_merge(tmp_path, github, monkeypatch)
    github.add_pr("release/v1.1.0", title="Release v1.1.0", body="Reviewed on GitHub: ship it.", head_sha=head)
    preview = await run.pr_preview()
    assert preview.existing == f"#1 {github.html('pull', 1)}" and preview.body == "Reviewed on GitHub: ship it."
    events, finished = await run_merge(run)
    assert finished.status == "ok", finished
    assert github.requests_to("POST", "/pulls") == [] and github.requests_to("PATCH", r"/pulls/\d+") == []
    assert github.items[1].body == "Reviewed on GitHub: ship it." and github.items[1].merged
    assert ("pr", "passed", f"#1 reused as it is on GitHub: {github.html('pull', 1)}") in rows(events)
    lines = [e.text for e in events if isinstance(e, OutputLine)]
    assert "#1 keeps its title and description as they are on GitHub (not overwritten)" in lines


async def test_a_failing_check_is_shown_then_passes_after_a_retry(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, repo, head = await ready_to_merge(tmp_path, github, monkeypatch)
    github.add_check_run(head, "ci / test", status="queued")
    lint = github.add_check_run(head, "ci / lint", conclusion="failure")
    events, finished = await run_merge(run)
    assert finished.status == "failed"
    assert finished.message == f"check 'ci / lint' failed on pull request #1 (failure): {lint['html_url']}"
    assert rows(events) == [
        ("pr", "running", "Release v1.1.0: release/v1.1.0 → main"),
        ("pr", "passed", f"#1 opened: {github.html('pull', 1)}"),
        ("check:ci / test", "running", "queued — " + str(github.check_runs[head][0]["html_url"])),
        ("check:ci / lint", "failed", f"failure — {lint['html_url']}"),
        ("mergeable", "passed", "clean"),
    ]
    assert github.requests_to("PUT", r"/pulls/\d+/merge") == []  # nothing merged
    assert git(tmp_path / "origin.git", "rev-parse", "main") == git(repo, "rev-parse", "origin/main")

    github.set_check_run(head, "ci / lint", "completed", "success")
    github.set_check_run(head, "ci / test", "completed", "success")
    events, finished = await run_merge(run)
    assert finished.status == "ok", finished
    shown = rows(events)
    assert ("check:ci / lint", "passed", f"success — {lint['html_url']}") in shown
    assert shown[-1][:2] == ("merged", "passed")
    assert len(github.requests_to("POST", "/pulls")) == 1  # the retry reused #1


async def test_a_template_places_the_sections_and_keeps_literal_braces(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, repo, _head = await ready_to_merge(
        tmp_path, github, monkeypatch, history=True, extra_config='pr_template = ".github/release.md"\n'
    )
    (repo / ".github").mkdir()
    (repo / ".github" / "release.md").write_text(
        '# {{release}}\n\n{summary}\n\n```json\n{"ok": true}\n```\n\n### What changed\n\n{changes}\n\n'
        "### Database\n\n{migrations}\n"
    )
    preview = await run.pr_preview()
    assert preview.body.startswith("# {release}\n\nRelease **v1.1.0**")
    assert '```json\n{"ok": true}\n```' in preview.body
    assert "### What changed\n\n**2 pull requests** merged since v1.0.0:" in preview.body  # no PRs on GitHub
    assert "- `shop`: 0002_order_export" in preview.body and "## Testing" not in preview.body


@pytest.mark.parametrize("missing", [False, True])
async def test_a_bad_template_fails_the_merge_before_anything_is_opened(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: bool
) -> None:
    run, repo, _head = await ready_to_merge(tmp_path, github, monkeypatch, extra_config='pr_template = "pr.md"\n')
    path = repo / "pr.md"
    if not missing:
        path.write_text("## Summary\n\n{summary}\n\n## Tests\n\n{tests}\n")
    github.requests.clear()
    _events, finished = await run_merge(run)
    assert finished.status == "failed"
    if missing:
        assert (
            finished.message == f"[forge] pr_template: {path} does not exist (paths are relative to iact-release.toml)"
        )
        assert finished.fix.startswith("create it, fix the path in iact-release.toml")
    else:
        assert finished.message == (
            f"{path}:7: unknown placeholder {{tests}} in the pull request template; did you mean {{testing}}?"
        )
        assert finished.fix == (
            "use {summary}, {changes}, {testing}, {migrations}, {rollback}, {changelog}; "
            "write a literal brace as {{ or }} ([forge] pr_template)"
        )
    assert github.requests == []  # nothing asked, nothing opened
    path.write_text("## Everything\n\n{summary}\n")
    run.reload_config()
    _events, finished = await run_merge(run)
    assert finished.status == "ok", finished
    assert github.requests_to("POST", "/pulls")[0].json["body"].startswith("## Everything\n\nRelease **v1.1.0**")


async def test_the_preview_without_a_token_lists_changes_from_git(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _repo, _head = await ready_to_merge(tmp_path, github, monkeypatch, history=True)
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    bin_dir = tmp_path / "bin-without-gh"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(str(shutil.which("git")))
    monkeypatch.setenv("PATH", str(bin_dir))
    github.requests.clear()
    preview = await run.pr_preview()
    assert preview.notes and preview.notes[0].startswith("GitHub cannot be asked (no GitHub token")
    assert "**2 pull requests** merged since v1.0.0:" in preview.body
    assert github.requests == []


async def test_headless_prints_the_body_before_opening_the_pull_request(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from iact_tui.headless import run_release

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    repo = make_repo(tmp_path, github.api_url, history=True)
    merge_for_real(github, tmp_path / "origin.git", tmp_path)
    github.add_branch("release/v1.1.0")  # GitHub knows the branch once the push step pushed it
    out = io.StringIO()
    code = await run_release(
        load_config(repo / "iact-release.toml"), bump="minor", version_text=None, until="merge", out=out
    )
    text = out.getvalue()
    assert code == 0, text
    body = github.requests_to("POST", "/pulls")[0].json["body"]
    # Each body line is an output line ("  | …"), printed indented like any step output.
    printed = "\n".join(f"          | {line}" for line in body.splitlines())
    assert text.index(f"        pull request body:\n{printed}\n") < text.index("opened pull request #1")
    assert "      ✔ Pull request: #1 opened: https://github.test/acme/shop/pull/1" in text
    assert "      ✔ Merged: #1 merge: " in text


API_TOKEN = "api-t0ken-for-the-search-check"


def staging(base: str, *, failing_command: bool) -> str:
    """A ``staging`` environment on the loopback site: health, login, one HTTP check sending
    ``$env:IACT_TEST_API_TOKEN``, and a command (failing: it prints that token first)."""
    command = 'echo "export failed for token $IACT_TEST_API_TOKEN" >&2; exit 2' if failing_command else "echo ok"
    return (
        f'\n[environments.staging]\napp_dir = "."\nhealth_url = "{base}/health"\n'
        f'\n[environments.staging.smoke]\ncommands = [{{ name = "export", run = {json.dumps(command)} }}]\n'
        f'\n[environments.staging.smoke.login]\nurl = "{base}/login"\nusername = "smoke"\n'
        'password_env = "IACT_TEST_SMOKE_PASSWORD"\n'
        f'\n[[environments.staging.smoke.checks]]\nname = "search"\nurl = "{base}/api/search"\n'
        'headers = { Authorization = "Bearer $env:IACT_TEST_API_TOKEN" }\n'
        'expect_json = { "items[0].name" = "Export" }\n'
    )


async def merged(
    tmp_path: Path, github: GitHubFake, monkeypatch: pytest.MonkeyPatch, site: Site, *, failing_command: bool
) -> ReleaseRun:
    """A run whose release PR is merged on the stand-in, with staging on the loopback site."""
    monkeypatch.setenv("IACT_TEST_SMOKE_PASSWORD", PASSWORD)
    monkeypatch.setenv("IACT_TEST_API_TOKEN", API_TOKEN)
    base = f"http://127.0.0.1:{site.port}"
    run, _repo, _head = await ready_to_merge(
        tmp_path, github, monkeypatch, extra_config=staging(base, failing_command=failing_command)
    )
    _, last = await run_merge(run)
    assert last.status == "ok", last
    assert run.state.results["merge"]["pr"] == {"number": 1, "url": github.html("pull", 1)}
    return run


async def smoke(run: ReleaseRun) -> tuple[list[str], StepFinished]:
    """Run the staging smoke tests: the output lines and the end."""
    events = [e async for e in run.run_step("smoke-staging")]
    last = events[-1]
    assert isinstance(last, StepFinished)
    return [e.text for e in events if isinstance(e, OutputLine)], last


async def test_staging_smoke_results_are_commented_on_the_release_pull_request(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(Site()) as httpd:
        site = Site(port=httpd.server_address[1])
        run = await merged(tmp_path, github, monkeypatch, site, failing_command=True)
        lines, last = await smoke(run)
    assert last.status == "failed" and last.message == "smoke tests failed on staging: cmd:export"

    [request] = github.requests_to("POST", "/issues/1/comments")
    assert request.authorization == f"Bearer {TOKEN}"
    [comment] = github.comments[1]
    body = request.json["body"]
    assert comment["body"] == body
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    assert [row.split(" | ")[0].split("`")[1] for row in rows] == ["health", "login", "http:search", "cmd:export"]
    assert [row.split(" | ")[1] for row in rows] == ["✅ passed", "✅ passed", "✅ passed", "❌ failed"]
    figures = last.data["figures"]
    assert f"HTTP 200, {figures['health']['elapsed_ms']:g} ms, version 1.1.0" in rows[0]
    assert f"HTTP 200, {figures['http:search']['elapsed_ms']:g} ms" in rows[2]
    assert "exit 2" in rows[3] and "export failed for token" in rows[3]
    assert body.startswith("### Smoke tests on staging: failed (1 of 4 checks failed)\n")
    assert "`v1.1.0` on staging" in body
    # Masked: the API token the command printed, the login password.
    assert API_TOKEN not in body and PASSWORD not in body
    assert rows[3].endswith(f"exited 2: export failed for token {REDACTED} |")
    assert f"smoke results posted on pull request #1 ({github.html('pull', 1)}): {comment['html_url']}" in lines
    assert last.data["pr_comment"] == {"number": 1, "url": comment["html_url"], "id": comment["id"]}
    assert API_TOKEN not in run.journal_path.read_text() and TOKEN not in run.journal_path.read_text()

    # The local forge posts nothing, even with the release pull request known.
    config = run.config.path
    config.write_text(config.read_text().replace('kind = "github"', 'kind = "local"'))
    run.reload_config()
    before = len(github.requests)
    with serving(Site(), site.port):
        lines, last = await smoke(run)
    assert last.status == "failed" and "pr_comment" not in last.data
    assert len(github.requests) == before and not any("pull request" in line for line in lines)


async def test_a_comment_github_refuses_leaves_the_smoke_result_as_it_was(
    github: GitHubFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(Site()) as httpd:
        site = Site(port=httpd.server_address[1])
        run = await merged(tmp_path, github, monkeypatch, site, failing_command=False)
        github.fail_next(502, method="POST", path=r"/issues/\d+/comments", times=2)  # the request and its one retry
        refused_lines, refused = await smoke(run)
        assert github.comments == {} and len(github.requests_to("POST", "/issues/1/comments")) == 2
        _, posted = await smoke(run)  # GitHub is well again
        assert len(github.comments[1]) == 1
        monkeypatch.delenv("GITHUB_TOKEN")
        monkeypatch.setenv("PATH", str(tmp_path / "no-gh"))  # no gh CLI to ask either
        no_token_lines, no_token = await smoke(run)

    for result in (refused, no_token):
        assert (result.status, result.message, result.fix) == (posted.status, posted.message, posted.fix)
        assert result.status == "ok" and result.message == "every smoke test passed on staging"
        assert result.data["figures"].keys() == posted.data["figures"].keys()
    [warning] = [line for line in refused_lines if "not posted" in line]
    assert warning.startswith(
        f"⚠ the smoke results were not posted on pull request #1 ({github.html('pull', 1)}): "
        "could not comment on #1 on acme/shop: GitHub answered 502 (POST /api/v3/repos/acme/shop/issues/1/comments, "
        "2 attempts). check that "
    )
    assert warning.endswith("the smoke tests' own result stands; copy the results to the pull request by hand")
    assert refused.data["pr_comment"]["error"].startswith("could not comment on #1")
    [warning] = [line for line in no_token_lines if "not posted" in line]
    assert "no GitHub token: GITHUB_TOKEN and GH_TOKEN are unset" in warning and "export GITHUB_TOKEN" in warning
