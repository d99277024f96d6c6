"""The release announcement: template, notes, edits, and sends to a real webhook on 127.0.0.1.

A small real repository (bare origin on disk) whose checklist really passed; the section
has a feature with a link, a breaking change, a removal and a fix, and the release adds a
Django migration. The webhook receiver (``support.webhook``) checks each payload the way
Slack, Mattermost and a Teams workflow would, answers 500 when told to, and has its
secret token in the URL's path: the token must never reach the journal, the file or a
message.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.webhook import WebhookReceiver, slack_problems, teams_problems
from test_deploy_and_checks import released, run_step
from test_release_guards import git, make_repo

from iact_tui import demo, headless
from iact_tui.config import load_config
from iact_tui.engine import templates
from iact_tui.engine.events import Event, OutputLine, StepFinished
from iact_tui.engine.run import ReleaseRun
from iact_tui.engine.steps.announce import _production_history, deployed_at, render_announcement

HOOK_ENV = "IACT_TEST_ANNOUNCE_URL"

SECTION = """\
### Added

- Export projects to CSV ([docs](https://docs.example/export?format=csv&all=1)).

### Changed

- **BREAKING:** Drop the v1 API — the `/api/v1` endpoints are gone.
- Faster search.

### Removed

- The legacy importer.

### Fixed

- Spell the greeting.
"""


@pytest.fixture(autouse=True)
def _restore_timezone() -> Iterator[None]:
    yield
    time.tzset()  # after monkeypatch put TZ back


def _repo(tmp_path: Path, config: str = "") -> Path:
    """The small repository, a migration added since v1.0.0, ``config`` appended; pushed."""
    repo = make_repo(tmp_path)
    migrations = repo / "shop" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "__init__.py").write_text("")
    (migrations / "0001_initial.py").write_text("# a Django migration\n")
    path = repo / "iact-release.toml"
    path.write_text(path.read_text() + config)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feat: shop models")
    git(repo, "push", "-q", "origin", "main")
    return repo


async def _cleared(repo: Path, tmp_path: Path) -> ReleaseRun:
    """Version 1.1.0 chosen, the checklist passed, the section edited to :data:`SECTION`."""
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    assert (await _step(run, "preflight")).status == "ok"
    run.set_changelog(SECTION)
    return run


async def _step(run: ReleaseRun, step_id: str) -> StepFinished:
    events = [e async for e in run.run_step(step_id)]
    last = events[-1]
    assert isinstance(last, StepFinished)
    return last


async def announced(tmp_path: Path, config: str = "") -> ReleaseRun:
    """A run whose ``announce`` step has passed (verification skipped: no production)."""
    run = await _cleared(_repo(tmp_path, config), tmp_path)
    assert (await _step(run, "verify")).status == "skipped"
    done = await _step(run, "announce")
    assert done.status == "ok", done
    return run


def hook_config(fmt: str) -> str:
    return f'\n[announce]\nwebhook_env = "{HOOK_ENV}"\nformat = "{fmt}"\nteam = "The shop team"\n'


def journal(run: ReleaseRun) -> list[dict[str, object]]:
    return [json.loads(line) for line in run.journal_path.read_text().splitlines()]


# -- rendering -------------------------------------------------------------------------


async def test_the_built_in_template_has_every_part(tmp_path: Path) -> None:
    run = await announced(tmp_path)
    data = run.state.results["announce"]
    text = str(data["markdown"])
    assert Path(str(data["path"])).read_text() == text == data["rendered"] and data["edited"] is False
    assert text.startswith("# Release v1.1.0\n\n**v1.1.0** was released on ")
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Release v1.1.0",
        "## What's new",
        "## Bug fixes",
        "## Other changes",
        "### Changed",
        "### Removed",
        "## Notes",
        "## Verification",
        "## Rollback",
    ]
    assert (
        "## What's new\n\n- Export projects to CSV ([docs](https://docs.example/export?format=csv&all=1)).\n\n"
        "## Bug fixes\n\n- Spell the greeting.\n\n"
        "## Other changes\n\n### Changed\n\n- **BREAKING:** Drop the v1 API — the `/api/v1` endpoints are gone.\n"
        "- Faster search.\n\n### Removed\n\n- The legacy importer.\n"
    ) in text
    notes = text.split("## Notes\n\n")[1].split("\n\n")[0]
    assert notes == (
        "- **User action needed:**\n"
        "  - Drop the v1 API — the `/api/v1` endpoints are gone.\n"
        "  - The legacy importer.\n"
        "- Data migrated: yes — 1 new database migration (shop: 0001_initial), applied when it is deployed."
    )
    assert "## Verification\n\n- Production verification did not run in this release.\n" in text
    # v1.0.0 is the previous tag in git, but no deploy of production is recorded anywhere.
    assert (
        "## Rollback\n\n- What production ran before this release is not known (no deploy of it is recorded): "
        "no earlier release to roll back to is known.\n"
    ) in text
    assert text.endswith("\n— The release team\n")


async def test_deployed_time_local_and_utc_backup_and_no_user_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await _cleared(_repo(tmp_path), tmp_path)
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    # What the deploy recorded on the host before changing it (DeployedState.to_json()).
    previous = {"host": "production", "commit": "ab" * 20, "tag": "v0.9.0", "branch": None}
    run.state.results["deploy-production"] = {"env": "production", "hosts": {"production": {"previous": previous}}}
    run.state.results["prep-production"] = {"items": {"backup": "passed"}, "backup": {"host": "web1"}}
    template = "{deployed}\n{deployed_local} | {deployed_utc}\n\n{notes}\n\n{rollback}\n"
    now = dt.datetime(2026, 11, 29, 6, 51, tzinfo=dt.UTC)
    text = render_announcement(run.ctx, "### Fixed\n\n- Spell the greeting.\n", now, template=template)
    assert text == (
        "**v1.1.0** was deployed to production on 2026-11-29 07:51 CET (06:51 UTC).\n"
        "2026-11-29 07:51 CET | 2026-11-29 06:51 UTC\n\n"
        "- No user action needed.\n\n"
        "- If needed, production can be rolled back to v0.9.0, the release it ran before this deploy.\n"
        "- A database backup was taken before the deploy (on web1).\n"
    )
    # The deploy's time is read from the run's journal (its step_finished record).
    assert deployed_at(run.ctx) is None
    before = time.time()
    run.journal.write("step_finished", step_id="deploy-production", status="ok", message="", fix="", data={})
    found = deployed_at(run.ctx)
    assert found is not None and before - 1 <= found.timestamp() <= time.time() + 1


async def test_a_configured_template_and_its_errors(tmp_path: Path) -> None:
    run = await _cleared(_repo(tmp_path, '\n[announce]\ntemplate = "docs/announce.md"\n'), tmp_path)
    assert (await _step(run, "verify")).status == "skipped"
    missing = await _step(run, "announce")
    path = run.config.root / "docs" / "announce.md"
    assert missing.status == "failed"
    assert missing.message == f"[announce] template: {path} does not exist (paths are relative to iact-release.toml)"

    path.parent.mkdir()
    path.write_text("{tag} for {team}\n\n## What we fixed\n\n{fixes}\n\n## New\n\n{feature}\n")
    bad = await _step(run, "announce")
    assert bad.status == "failed"
    assert (
        bad.message
        == f"{path}:9: unknown placeholder {{feature}} in the announcement template; did you mean {{features}}?"
    )
    assert bad.fix.startswith("use {version}, {tag}, {previous_tag}, {deployed}") and "([announce] template)" in bad.fix

    path.write_text('Release {tag} {{literal}} {"json": 1}\n\n## What we fixed\n\n{fixes}\n\n## New\n\n{features}\n')
    run.set_changelog("### Added\n\n- Only a feature.\n")
    done = await _step(run, "announce")
    assert done.status == "ok", done
    # The "What we fixed" heading had nothing under it: it is left out.
    assert done.data["markdown"] == 'Release v1.1.0 {literal} {"json": 1}\n\n## New\n\n- Only a feature.\n'
    assert done.data["template"] == str(path)


def test_headings_left_empty_are_dropped_innermost_first() -> None:
    text = "# T\n\n## A\n\n### A1\n\n\n## B\n\nb\n\n```\n## not a heading\n```\n\n## C\n"
    assert templates.drop_empty_sections(text) == "# T\n\n## B\n\nb\n\n```\n## not a heading\n```\n"


# -- edits and saving ------------------------------------------------------------------


async def test_the_edit_is_what_is_saved_sent_and_kept_on_a_rerun(
    tmp_path: Path, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_ENV, webhook.url)
    webhook.expect = "mattermost"
    run = await announced(tmp_path, hook_config("mattermost"))
    rendered = run.announcement
    assert rendered is not None
    edited = rendered.replace("- No user action needed.", "- Users must log in again.")
    edited = edited.replace("# Release v1.1.0", "# Release v1.1.0: CSV export")
    run.set_announcement_text(edited)
    assert run.announcement == edited and run.state.results["announce"]["edited"] is True
    path = await run.save_announcement()
    assert path.read_text() == edited
    outcome = await run.send_announcement()
    assert outcome.ok, outcome
    assert webhook.received[0]["json"] == {"text": edited} and webhook.problems == [[]]

    done = await _step(run, "announce")  # a re-run keeps the operator's text
    assert done.data["markdown"] == edited and done.data["edited"] is True
    run.set_announcement_text(None)
    assert run.announcement == rendered and run.state.results["announce"]["edited"] is False
    kinds = [r["kind"] for r in journal(run) if str(r["kind"]).startswith("announcement_")]
    assert kinds == ["announcement_edited", "announcement_saved", "announcement_sent", "announcement_edited"]
    [first_edit] = [r for r in journal(run) if r["kind"] == "announcement_edited"][:1]
    assert first_edit["text"] == edited and first_edit["edited"] is True


# -- sending ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["slack", "mattermost", "teams"])
async def test_each_format_is_what_its_service_takes(
    tmp_path: Path, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setenv(HOOK_ENV, webhook.url)
    webhook.expect = fmt
    if fmt == "teams":
        webhook.status, webhook.body = 202, b""  # Teams workflows accept with 202 and no body
    run = await announced(tmp_path, hook_config(fmt))
    outcome = await run.send_announcement()
    assert outcome.ok, outcome
    assert webhook.problems == [[]], webhook.problems
    payload = webhook.received[0]["json"]
    assert isinstance(payload, dict)
    markdown = run.announcement
    assert markdown is not None
    if fmt == "slack":
        assert payload["blocks"][0] == {
            "type": "header",
            "text": {"type": "plain_text", "text": "Release v1.1.0", "emoji": True},
        }
        text = payload["text"]
        assert "*What's new*" in text and "*User action needed:*" in text
        assert "• Export projects to CSV (<https://docs.example/export?format=csv&amp;all=1|docs>)." in text
        assert "`/api/v1`" in text and "— The shop team" in text
        # The receiver does refuse Markdown as it is: the conversion is what makes it pass.
        raw = {"text": markdown, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": markdown}}]}
        assert slack_problems(raw)
    elif fmt == "mattermost":
        assert payload == {"text": markdown}
    else:
        [attachment] = payload["attachments"]
        body = attachment["content"]["body"]
        assert body[0] == {
            "type": "TextBlock",
            "text": "Release v1.1.0",
            "weight": "Bolder",
            "wrap": True,
            "size": "Large",
        }
        texts = [element["text"] for element in body]
        assert "What's new" in texts and "Notes" in texts
        assert "- Export projects to CSV ([docs](https://docs.example/export?format=csv&all=1))." in texts
        heading = {"type": "message", "attachments": [{**attachment, "content": {**attachment["content"]}}]}
        heading["attachments"][0]["content"]["body"] = [{"type": "TextBlock", "text": "# Release", "wrap": True}]
        assert teams_problems(heading)
    label = {"slack": "Slack", "mattermost": "Mattermost", "teams": "Microsoft Teams"}[fmt]
    assert outcome.message == f"sent to {label} at {outcome.webhook} (HTTP {outcome.status})"


async def test_a_500_once_is_shown_with_the_answer_then_the_retry_is_sent(
    tmp_path: Path, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_ENV, webhook.url)
    webhook.expect, webhook.fail_next = "slack", 1
    webhook.fail_body = b"upstream error: token T0KEN-s3cret rejected for now"
    run = await announced(tmp_path, hook_config("slack"))
    port = webhook.url.split(":")[2].split("/")[0]

    first = await run.send_announcement()
    assert not first.ok and first.status == 500
    assert first.message == (
        f"the webhook at http://127.0.0.1:{port} answered 500: upstream error: token •••••• rejected for now"
    )
    assert first.answer == "upstream error: token •••••• rejected for now"
    assert first.webhook == f"http://127.0.0.1:{port}/••••••"
    second = await run.send_announcement()
    assert second.ok and second.status == 200, second
    assert len(webhook.received) == 2 and webhook.received[0]["json"] == webhook.received[1]["json"]
    assert run.state.results["announce"]["send"]["ok"] is True

    sends = [r for r in journal(run) if r["kind"] in ("announcement_sent", "announcement_send_failed")]
    assert [(r["kind"], r["status"], r["format"], r["webhook"]) for r in sends] == [
        ("announcement_send_failed", 500, "slack", f"http://127.0.0.1:{port}/••••••"),
        ("announcement_sent", 200, "slack", f"http://127.0.0.1:{port}/••••••"),
    ]
    assert sends[1]["text"] == run.announcement
    written = [run.journal_path.read_text(), Path(str(run.announcement_path)).read_text(), repr(first), repr(second)]
    for token in ("T0KEN", "s3cret", "/hooks/"):
        assert all(token not in text for text in written), token


async def test_an_unset_variable_or_a_closed_port_is_a_failed_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(HOOK_ENV, raising=False)
    run = await announced(tmp_path, hook_config("teams"))
    unset = await run.send_announcement()
    assert not unset.ok and unset.status is None and unset.webhook == ""
    assert unset.message == f"${HOOK_ENV} is not set"
    assert unset.fix == f"export {HOOK_ENV} with the Microsoft Teams webhook URL, then retry"
    monkeypatch.setenv(HOOK_ENV, "http://127.0.0.1:9/workflows/T0KEN-s3cret")  # the discard port: nobody listens
    closed = await run.send_announcement()
    assert not closed.ok and closed.status is None
    assert closed.message.startswith("cannot reach the webhook at http://127.0.0.1:9: ")
    assert "T0KEN" not in run.journal_path.read_text()


# -- unattended (headless) ---------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(200, 0), (500, 1)])
async def test_headless_sends_once_and_a_failed_send_exits_1_with_the_release_done(
    tmp_path: Path, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, status: int, code: int
) -> None:
    monkeypatch.setenv(HOOK_ENV, webhook.url)
    webhook.expect, webhook.status = "mattermost", status
    webhook.body = b"ok" if status == 200 else b"no_service"
    repo = _repo(tmp_path, hook_config("mattermost"))
    out = io.StringIO()
    exit_code = await headless.run_release(
        load_config(repo / "iact-release.toml"), bump="minor", version_text=None, until=None, out=out
    )
    printed = out.getvalue()
    assert exit_code == code, printed
    assert len(webhook.received) == 1 and webhook.problems == [[]]
    port = webhook.url.split(":")[2].split("/")[0]
    where = f"http://127.0.0.1:{port}/••••••"
    assert f"sending to the Mattermost webhook {where} (${HOOK_ENV})" in printed
    assert git(repo, "ls-remote", "--tags", "origin", "v1.1.0")  # released either way
    if status == 200:
        assert f"sent to Mattermost at {where} (HTTP 200)" in printed
    else:
        assert "✘ announce: failed — saved to " in printed
        assert f"but not sent: the webhook at http://127.0.0.1:{port} answered 500: no_service" in printed
        assert "failed at announce: saved to " in printed
        assert "✔ tag " in printed  # the summary still shows every release step done
    assert "T0KEN" not in printed


async def test_run_until_marks_announce_failed_when_the_send_fails(
    tmp_path: Path, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_ENV, webhook.url)
    webhook.status, webhook.body = 403, b"invalid_token"
    run = await _cleared(_repo(tmp_path, hook_config("slack")), tmp_path)
    events: list[Event] = [e async for e in run.run_until()]
    last = events[-1]
    assert isinstance(last, StepFinished) and last.step_id == "announce" and last.status == "failed"
    assert last.message.startswith(f"saved to {run.announcement_path} but not sent: the webhook at http://127.0.0.1:")
    assert last.message.endswith("answered 403: invalid_token") and last.fix.endswith("or post the saved file by hand")
    assert run.records["announce"].status == "failed" and run.records["tag"].status == "ok"
    assert Path(str(run.announcement_path)).read_text() == run.announcement
    sending = [e for e in events if isinstance(e, OutputLine) and e.step_id == "announce"]
    assert sending[-1].text.startswith("sending to the Slack webhook http://127.0.0.1:")


# -- rollback: what production really ran ------------------------------------------------


def _rollback_part(text: str) -> str:
    return text.split("## Rollback\n\n")[1].split("\n\n")[0]


async def test_the_rollback_names_what_production_ran_before_the_deploy_not_the_previous_git_tag(
    sandbox: demo.Sandbox, tmp_path: Path
) -> None:
    # Production was put back to v1.3.1 by hand: the previous tag in git (v1.3.2) is not
    # what it runs.
    git(sandbox.root / "production", "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", "v1.3.1")
    run = await released(sandbox, tmp_path)
    assert (run.state.previous_tag, run.state.version) == ("v1.3.2", "1.4.0")
    run.confirm("deploy-production", "1.4.0")
    _, done = await run_step(run, "deploy-production")
    assert done.status == "ok", done
    assert done.data["hosts"]["production"]["previous"]["tag"] == "v1.3.1"
    _, done = await run_step(run, "verify")
    assert done.status == "ok", done
    for check_id, _ in run.verify_manual_checks():
        run.tick_verify(check_id, True, "looked")
    _, done = await run_step(run, "announce")
    assert done.status == "ok", done
    rollback = _rollback_part(str(run.state.results["announce"]["markdown"]))
    assert rollback.startswith(
        "- If needed, production can be rolled back to v1.3.1, the release it ran before this deploy."
    ), rollback
    assert "v1.3.2" not in rollback

    # A later run that announces before deploying: the journals say production runs v1.4.0.
    later = ReleaseRun(load_config(sandbox.config_path), state_dir=tmp_path / "state")
    await later.load_versions()
    later.choose_bump("minor")
    text = render_announcement(later.ctx, "", dt.datetime.now(dt.UTC), history=_production_history(later.ctx))
    assert _rollback_part(text) == "- If needed, production can be rolled back to v1.4.0, its last recorded release."
