"""The release screen with the GitHub forge: the pull request preview before the merge, what
GitHub receives, the live "Release PR" table; against the GitHub stand-in on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.github_fake import TOKEN, GitHubFake, merge_for_real
from textual.widgets import TextArea
from ui_helpers import build_tiny_repo, git, settle, walk_to_release

from iact_tui.app import IactApp, make_app
from iact_tui.config import load_config
from iact_tui.screens import ReleaseScreen
from iact_tui.widgets import CheckTable

SIZE = (120, 40)
FORGE = """
[forge]
kind = "github"
repository = "acme/shop"
api_url = "{api_url}"
checks_deadline = 10
poll_interval = 0.05
"""


def github_config(root: Path, github: GitHubFake) -> Path:
    """The tiny repository with ``[forge] kind = "github"`` (committed and pushed) and the
    stand-in's merges made for real in its origin."""
    path = build_tiny_repo(root)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(FORGE.format(api_url=github.api_url))
    git(path.parent, "commit", "-q", "-am", "chore: merge through GitHub")
    git(path.parent, "push", "-q", "origin", "main")
    merge_for_real(github, root / "origin.git", root)
    return path


@pytest.fixture
def github_app(tmp_path: Path, github: GitHubFake, monkeypatch: pytest.MonkeyPatch) -> IactApp:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    path = github_config(tmp_path / "tiny", github)
    return make_app(load_config(path), state_dir=tmp_path / "state", snapshot_mode=True)


def pushed(app: IactApp, github: GitHubFake) -> str:
    """Tell the stand-in the release branch arrived (the push step pushed it to origin)."""
    run = app.release_run
    sha = git(run.config.root, "rev-parse", run.ctx.release_branch).strip()
    github.add_branch(run.ctx.release_branch, sha)
    return sha


async def test_the_edited_preview_is_what_github_receives(github_app: IactApp, github: GitHubFake) -> None:
    async with github_app.run_test(size=SIZE) as pilot:
        await walk_to_release(github_app, pilot)
        screen = github_app.screen
        assert isinstance(screen, ReleaseScreen)
        run = github_app.release_run
        # Everything up to the push ran; the merge waits for the operator.
        assert {sid: run.records[sid].status for sid in ("push", "merge")} == {"push": "ok", "merge": "pending"}
        assert screen.awaiting_pr and screen.preview is not None
        assert screen.query_one("#pr-preview").display
        area = screen.query_one("#pr-body", TextArea)
        assert area.has_focus and area.text == screen.preview.rendered
        assert area.text.startswith("## Summary\n\nRelease **v0.2.0**")
        assert "**3 commits** without a pull request:" in area.text
        assert "- `" in area.text and "feat: greet the operator (Test Operator)" in area.text
        assert github.requests_to("POST", "/pulls") == []  # nothing opened before ctrl+s
        bindings = {b.binding.key for b in github_app.active_bindings.values() if b.enabled}
        assert {"ctrl+s", "ctrl+r"} <= bindings

        # The operator fills in the environment variables line, then sends it.
        row = next(i for i, line in enumerate(area.text.splitlines()) if line.startswith("New environment variables"))
        area.move_cursor((row, 0))
        area.select_line(row)
        area.replace("New environment variables: `GREETING_STYLE` (optional, default `plain`)", *area.selection)
        edited = area.text
        pushed(github_app, github)
        await pilot.press("ctrl+s")
        await settle(github_app, pilot)

        [create] = github.requests_to("POST", "/pulls")
        assert create.json["body"] == edited == run.state.pr_body
        assert "`GREETING_STYLE`" in create.json["body"]
        assert run.records["merge"].status == "ok" and run.records["tag"].status == "ok"
        table = screen.query_one("#release-pr", CheckTable)
        assert table.statuses == {"pr": "passed", "mergeable": "passed", "merged": "passed"}
        assert screen.is_ready() and area.read_only


async def test_reset_to_the_template_drops_the_edit(github_app: IactApp, github: GitHubFake) -> None:
    async with github_app.run_test(size=SIZE) as pilot:
        await walk_to_release(github_app, pilot)
        screen = github_app.screen
        assert isinstance(screen, ReleaseScreen) and screen.preview is not None
        area = screen.query_one("#pr-body", TextArea)
        area.insert("Hand-written note.\n\n", (0, 0))
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert area.text == screen.preview.rendered and github_app.release_run.state.pr_body is None
        pushed(github_app, github)
        await pilot.click("#pr-create")
        await settle(github_app, pilot)
        assert github.requests_to("POST", "/pulls")[0].json["body"] == screen.preview.rendered


async def test_a_failing_check_shows_in_the_table_then_passes_after_a_retry(
    github_app: IactApp, github: GitHubFake
) -> None:
    async with github_app.run_test(size=SIZE) as pilot:
        await walk_to_release(github_app, pilot)
        screen = github_app.screen
        assert isinstance(screen, ReleaseScreen)
        head = pushed(github_app, github)
        lint = github.add_check_run(head, "ci / lint", conclusion="failure")
        await pilot.press("ctrl+s")
        await settle(github_app, pilot)

        table = screen.query_one("#release-pr", CheckTable)
        assert table.statuses == {"pr": "passed", "check:ci / lint": "failed", "mergeable": "passed"}
        assert screen.failure is not None and "ci / lint" in screen.failure[0]
        assert str(lint["html_url"]) in screen.failure[0]
        assert github_app.release_run.records["merge"].status == "failed"

        github.set_check_run(head, "ci / lint", "completed", "success")
        await pilot.press("r")
        await settle(github_app, pilot)
        assert table.status_of("check:ci / lint") == "passed" and table.status_of("merged") == "passed"
        assert len(github.requests_to("POST", "/pulls")) == 1  # the retry reused it
        assert screen.is_ready()


async def test_an_open_pull_request_is_reused_as_it_is(github_app: IactApp, github: GitHubFake) -> None:
    async with github_app.run_test(size=SIZE) as pilot:
        run = github_app.release_run
        await settle(github_app, pilot)
        # Someone opened the release PR by hand before the run (the branch is pushed below).
        github.add_pr("release/v0.2.0", title="Release v0.2.0", body="Reviewed by Dana.")
        await walk_to_release(github_app, pilot)
        screen = github_app.screen
        assert isinstance(screen, ReleaseScreen) and screen.preview is not None
        assert screen.preview.existing == f"#1 {github.html('pull', 1)}"
        area = screen.query_one("#pr-body", TextArea)
        assert area.read_only and area.text == "Reviewed by Dana."
        github.push("release/v0.2.0", pushed(github_app, github))
        await pilot.press("ctrl+s")
        await settle(github_app, pilot)
        assert run.records["merge"].status == "ok"
        assert github.requests_to("POST", "/pulls") == [] and github.requests_to("PATCH", r"/pulls/1") == []
        assert github.items[1].body == "Reviewed by Dana." and run.state.pr_body is None


async def test_the_local_forge_has_no_preview(tiny_app: IactApp) -> None:
    async with tiny_app.run_test(size=SIZE) as pilot:
        await walk_to_release(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ReleaseScreen)
        assert not screen.query("#pr-preview") and not screen.query("#release-pr")
        assert tiny_app.release_run.records["merge"].status == "ok" and screen.is_ready()
