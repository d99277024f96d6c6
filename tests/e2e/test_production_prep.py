"""Production prep on real parts: pg_dump over SSH into the sshd's host, a webhook on loopback, the rollback plan.

The production environment is the sample Django site on the real sshd; the database is
the throwaway PostgreSQL cluster (password over TCP, from an environment variable); the
stakeholders' webhook is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support.postgres import PostgresServer
from support.sshsite import SshSite
from support.webhook import WebhookReceiver

from iact_tui.config import load_config
from iact_tui.engine.events import CheckUpdate, StepFinished
from iact_tui.engine.run import ReleaseRun

pytestmark = pytest.mark.e2e


async def cleared(config: Path, state: Path) -> ReleaseRun:
    run = ReleaseRun(load_config(config), state_dir=state)
    await run.load_versions()
    run.choose_bump("minor")
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    events = [e async for e in run.run_step("preflight")]
    assert isinstance(events[-1], StepFinished) and events[-1].status == "ok", events[-1]
    return run


async def prep(run: ReleaseRun) -> tuple[dict[str, CheckUpdate], StepFinished]:
    checks: dict[str, CheckUpdate] = {}
    last: StepFinished | None = None
    async for event in run.run_step("prep-production"):
        if isinstance(event, CheckUpdate):
            checks[event.check_id] = event
        elif isinstance(event, StepFinished):
            last = event
    assert last is not None
    return checks, last


def backup_table(pg: PostgresServer, directory: Path, password_env: str) -> str:
    return f"""[environments.production.backup]
database = "{pg.database}"
directory = "{directory}"
db_host = "127.0.0.1"
db_port = {pg.port}
db_user = "{pg.role}"
password_env = "{password_env}"
pg_dump = "{pg.pg_dump}"
pg_restore = "{pg.pg_restore}"
timeout = 120.0
"""


def journal(run: ReleaseRun) -> list[dict[str, object]]:
    return [json.loads(line) for line in run.journal_path.read_text().splitlines()]


async def test_backup_over_ssh_notice_and_acknowledged_plan(
    ssh_site: SshSite,
    postgres_server: PostgresServer,
    webhook: WebhookReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site, pg = ssh_site, postgres_server
    backups = site.app_dir.parent / f"{site.app_dir.name}-backups"
    monkeypatch.setenv("IACT_TEST_DB_PASSWORD", pg.password)
    monkeypatch.setenv("IACT_TEST_WEBHOOK", webhook.url)
    config = site.write_config(
        env="production",
        top=backup_table(pg, backups, "IACT_TEST_DB_PASSWORD")
        + '\n[notify]\nwebhook_env = "IACT_TEST_WEBHOOK"\nwindow_minutes = 20\n',
    )
    run = await cleared(config, tmp_path / "state")
    plan = await run.rollback_plan("production")
    assert plan.running == "v1.3.2" and plan.back_to == "v1.3.2"
    assert plan.lines[0] == "1. production runs v1.3.2 now; this deploy replaces it with v1.4.0."
    assert plan.lines[1] == (
        "2. Reverse the new migrations (core.0003_project_archived) with v1.4.0's code: "
        "manage.py migrate core 0002_project_description."
    )
    assert plan.targets == {"core": "0002_project_description"} and plan.note == ""
    checks, last = await prep(run)
    assert last.status == "failed"  # the plan is not acknowledged yet
    assert checks["backup"].status == "passed", checks["backup"].detail
    assert checks["rollback-plan"].status == "failed"
    assert checks["backup"].status == checks["notice"].status == "passed"
    run.acknowledge_rollback_plan("production", plan.lines)
    checks, last = await prep(run)
    assert last.status == "ok", last
    dumps = sorted(backups.glob("*.dump"))
    assert len(dumps) == 1  # the retry reused the backup the first prep took
    assert dumps[-1].name.startswith(f"{pg.database}-1.4.0-")
    assert checks["backup"].detail == f"{dumps[-1]} on 127.0.0.1 (taken earlier in this run)"
    listing = subprocess.run([str(pg.pg_restore), "--list", str(dumps[-1])], capture_output=True, text=True)
    assert listing.returncode == 0 and "TABLE DATA public items" in listing.stdout
    texts = [r["json"]["text"] for r in webhook.received]  # type: ignore[index]
    assert len(texts) == 2 and texts[-1].startswith("v1.4.0 is being deployed to production. Maintenance window: ")
    assert "(20 min)" in texts[-1]
    records = journal(run)
    kinds = [r["kind"] for r in records]
    assert "backup_taken" in kinds and "notice_sent" in kinds and "rollback_plan_acknowledged" in kinds
    raw = run.journal_path.read_text()
    assert "T0KEN" not in raw and pg.password not in raw  # secrets never journaled


async def test_pg_dump_failing_fails_the_prep_clearly_and_the_retry_passes(
    ssh_site: SshSite, postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, pg = ssh_site, postgres_server
    backups = site.app_dir.parent / f"{site.app_dir.name}-backups"
    monkeypatch.setenv("IACT_TEST_DB_PASSWORD", "not-the-password")
    config = site.write_config(
        env="production",
        top=backup_table(pg, backups, "IACT_TEST_DB_PASSWORD") + '\n[notify]\nskip_reason = "tested elsewhere"\n',
    )
    run = await cleared(config, tmp_path / "state")
    run.acknowledge_rollback_plan("production", (await run.rollback_plan("production")).lines)
    checks, last = await prep(run)
    assert last.status == "failed"
    assert last.message == "production prep is not complete: backup"
    assert checks["backup"].status == "failed" and "authentication" in checks["backup"].detail
    assert "not-the-password" not in checks["backup"].detail
    assert not list(backups.glob("*.dump")) if backups.exists() else True
    assert checks["notice"].status == "skipped" and checks["notice"].detail == "tested elsewhere"
    monkeypatch.setenv("IACT_TEST_DB_PASSWORD", pg.password)
    checks, last = await prep(run)
    assert last.status == "ok", last
    assert len(list(backups.glob("*.dump"))) == 1


async def test_items_without_config_need_a_typed_reason(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    config = site.write_config(env="production")
    run = await cleared(config, tmp_path / "state")
    checks, last = await prep(run)
    assert last.status == "failed"
    assert last.message == "production prep is not complete: backup, notice, rollback-plan"
    assert checks["backup"].detail.startswith("no [environments.production.backup] configured")
    assert checks["notice"].detail.startswith("no [notify] webhook_env configured")
    with pytest.raises(Exception, match="needs a reason"):
        run.skip_prep_item("production", "backup", "   ")
    with pytest.raises(Exception, match="needs the version typed"):
        run.skip_prep_item("production", "backup", "nightly snapshot at 02:00 covers it")
    run.skip_prep_item("production", "backup", "nightly snapshot at 02:00 covers it", typed=run.ctx.tag)
    run.skip_prep_item("production", "notice", "announced in the weekly mail")
    run.acknowledge_rollback_plan("production", (await run.rollback_plan("production")).lines)
    checks, last = await prep(run)
    assert last.status == "ok", last
    assert checks["backup"].status == "skipped"
    assert "nightly snapshot at 02:00 covers it" in checks["backup"].detail
    reasons = {r["item"]: r["reason"] for r in journal(run) if r["kind"] == "prep_skipped"}
    assert reasons == {"backup": "nightly snapshot at 02:00 covers it", "notice": "announced in the weekly mail"}
