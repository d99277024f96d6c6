"""Deploys over a real OpenSSH sshd on 127.0.0.1 to the sample Django site, and their faults.

Each test builds a fresh sandbox, copies its staging checkout into the sshd's server
folder (owned by the unprivileged SSH test user) and releases to it with the engine:
lock, record, maintenance on, fetch, checkout, migrate, collectstatic, restart,
maintenance off, unlock. The faults each end the step with a clear message, report
nothing as done that did not happen, leave maintenance mode off, and can be retried.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from support.sshd import free_port
from support.sshsite import SshSite, as_test_user

from iact_tui.config import load_config
from iact_tui.engine.events import CommandUpdate, Event, OutputLine, StepFinished
from iact_tui.engine.run import ReleaseRun
from iact_tui.errors import ConfirmationError
from iact_tui.services import deploy_lock
from iact_tui.services.deploy_state import DeployedState, migrations_to_reverse
from iact_tui.services.ssh import SshHost

pytestmark = pytest.mark.e2e


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


async def cleared(config: Path, state: Path, bump: str = "minor") -> ReleaseRun:
    """A run with the version chosen, the checklist passed and ticked."""
    run = ReleaseRun(load_config(config), state_dir=state)
    await run.load_versions()
    run.choose_bump(bump)
    for check_id, _ in run.manual_checks():
        run.tick(check_id, True)
    events = [e async for e in run.run_step("preflight")]
    assert isinstance(events[-1], StepFinished) and events[-1].status == "ok", events[-1]
    return run


async def run_steps(run: ReleaseRun, until: str) -> list[Event]:
    return [e async for e in run.run_until(until)]


async def deploy(run: ReleaseRun) -> tuple[list[Event], StepFinished]:
    events = [e async for e in run.run_step("deploy-staging")]
    last = events[-1]
    assert isinstance(last, StepFinished)
    return events, last


def statuses(events: list[Event]) -> dict[str, str]:
    """Command name → its last status (one host)."""
    found: dict[str, str] = {}
    for event in events:
        if isinstance(event, CommandUpdate):
            found[event.name] = event.status
    return found


def recorded_states(run: ReleaseRun) -> list[DeployedState]:
    records = [json.loads(line) for line in run.journal_path.read_text().splitlines()]
    return [DeployedState.from_json(r["state"]) for r in records if r["kind"] == "deployed_state"]


def add_migration(repo: Path, name: str, operation: str) -> None:
    folder = repo / "core" / "migrations"
    latest = sorted(p.stem for p in folder.glob("0*.py"))[-1]
    (folder / f"{name}.py").write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f'    dependencies = [("core", "{latest}")]\n'
        f"    operations = [{operation}]\n",
        encoding="utf-8",
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"feat(core): migration {name}")
    git(repo, "push", "-q", "origin", "main")


async def test_two_releases_deployed_over_ssh_record_what_ran_before(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    config = site.write_config()
    before_first = site.applied_migrations()
    run = await cleared(config, tmp_path / "state1")
    events = await run_steps(run, "deploy-staging")
    assert run.records["deploy-staging"].status == "ok", run.records["deploy-staging"]
    assert site.health()["version"] == "1.4.0"
    assert not site.in_maintenance()
    assert set(statuses(events).values()) == {"ok"}
    [first] = recorded_states(run)
    assert (first.host, first.tag, first.app_dir) == ("127.0.0.1", "v1.3.2", str(site.app_dir))
    assert first.commit == git(site.box.origin, "rev-parse", "v1.3.2^{commit}")
    assert first.migrations == before_first  # the record matches the database before the deploy
    hosts = run.records["deploy-staging"].data["hosts"]
    assert hosts["127.0.0.1"]["status"] == "ok" and hosts["127.0.0.1"]["previous"]["tag"] == "v1.3.2"
    assert not (site.app_dir / deploy_lock.LOCK_NAME).exists()  # released

    # The second release adds a migration.
    after_first = site.applied_migrations()
    add_migration(
        site.box.repo,
        "0099_note",
        'migrations.RunSQL("CREATE TABLE core_note (id integer primary key)", "DROP TABLE core_note")',
    )
    run2 = await cleared(config, tmp_path / "state2")
    await run_steps(run2, "deploy-staging")
    assert run2.records["deploy-staging"].status == "ok", run2.records["deploy-staging"]
    assert site.health()["version"] == "1.5.0"
    [second] = recorded_states(run2)
    assert second.tag == "v1.4.0" and second.migrations == after_first
    now = site.applied_migrations()
    assert now["core"][-1] == "0099_note"
    assert migrations_to_reverse(second, now) == {"core": after_first["core"][-1]}


async def test_wrong_host_key_stops_before_anything_changes(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    config = site.write_config(known_hosts=site.sshd.wrong_known_hosts)
    run = await cleared(config, tmp_path / "state")
    events, last = await deploy(run)
    assert last.status == "failed"
    assert site.sshd.fingerprint() in last.message and "127.0.0.1" in last.message
    assert "ssh-keyscan" in last.fix or "known_hosts" in last.fix
    assert statuses(events)["take the deploy lock"] == "failed"
    assert {s for n, s in statuses(events).items() if n != "take the deploy lock"} == {"skipped"}
    assert not site.in_maintenance() and not (site.app_dir / deploy_lock.LOCK_NAME).exists()
    assert recorded_states(run) == []


async def test_connection_refused_names_the_host_and_port(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    port = free_port()
    config = site.write_config(port=port)
    run = await cleared(config, tmp_path / "state")
    _, last = await deploy(run)
    assert last.status == "failed"
    assert f"127.0.0.1:{port}" in last.message and "refused" in last.message
    assert "Traceback" not in last.message + last.fix


async def test_a_command_over_its_timeout_is_stopped_and_maintenance_goes_off(
    ssh_site: SshSite, tmp_path: Path
) -> None:
    site = ssh_site
    pid_file = site.app_dir / "slow.pid"
    config = site.write_config(steps=[("slow step", f"echo $$ > {pid_file}; sleep 30", 1.0)])
    run = await cleared(config, tmp_path / "state")
    events, last = await deploy(run)
    assert last.status == "failed"
    assert last.message.startswith("staging: 'slow step' timed out after 1 s on 127.0.0.1")
    assert statuses(events) == {
        "take the deploy lock": "ok",
        "record what runs now": "ok",
        "maintenance mode on": "ok",
        "slow step": "timed-out",
        "maintenance mode off": "ok",
        "release the deploy lock": "ok",
    }
    assert not site.in_maintenance()
    pid = pid_file.read_text().strip()
    assert not Path(f"/proc/{pid}").exists()  # the remote command really ended
    # Retry after the cause is fixed.
    site.write_config(steps=[("quick step", "true", 10.0)])
    run.reload_config()
    _, again = await deploy(run)
    assert again.status == "ok", again


async def test_sudo_that_wants_a_password_fails_fast_and_clearly(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    config = site.write_config(steps=[("restart the app service", "sudo systemctl restart iact", 20.0)])
    run = await cleared(config, tmp_path / "state")
    events, last = await deploy(run)
    assert last.status == "failed"
    assert "restart the app service" in last.message and "127.0.0.1" in last.message
    assert "password" in last.message
    assert statuses(events)["maintenance mode off"] == "ok" and not site.in_maintenance()


async def test_a_failing_migration_stops_the_deploy_and_the_retry_passes(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    flag = site.app_dir / "BLOCK_MIGRATION"
    as_test_user("touch", str(flag))
    add_migration(
        site.box.repo,
        "0099_guarded",
        "migrations.RunPython(lambda apps, schema: (_ for _ in ()).throw(RuntimeError('column clash')) "
        f"if __import__('os').path.exists({str(flag)!r}) else None, migrations.RunPython.noop)",
    )
    config = site.write_config()
    run = await cleared(config, tmp_path / "state")
    events = await run_steps(run, "deploy-staging")
    record = run.records["deploy-staging"]
    assert record.status == "failed"
    assert record.message.startswith("staging: 'run migrations' exited 1 on 127.0.0.1")
    assert "column clash" in record.message
    found = statuses([e for e in events if isinstance(e, CommandUpdate)])
    assert found["run migrations"] == "failed"
    assert found["collect static files"] == found["restart the app server"] == "skipped"
    assert found["maintenance mode off"] == "ok" and not site.in_maintenance()
    assert "0099_guarded" not in site.applied_migrations()["core"]
    flag.unlink()
    _, again = await deploy(run)
    assert again.status == "ok", again
    assert site.applied_migrations()["core"][-1] == "0099_guarded"
    assert site.health()["version"] == "1.4.0"


async def test_a_lock_held_by_someone_else_stops_the_deploy_until_broken(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    config = site.write_config(steps=[("quick step", "true", 10.0)])
    host = SshHost(
        "127.0.0.1",
        user=site.sshd.user,
        port=site.sshd.port,
        identity_file=site.sshd.client_key,
        known_hosts=site.sshd.known_hosts,
    )
    path = deploy_lock.lock_path(str(site.app_dir))
    try:
        theirs = await deploy_lock.acquire(host, path, "alice@laptop", "1.3.9", "hotfix for the login page")
        run = await cleared(config, tmp_path / "state")
        events, last = await deploy(run)
        assert last.status == "failed"
        assert (
            "alice@laptop" in last.message and "1.3.9" in last.message and "hotfix for the login page" in last.message
        )
        assert set(statuses(events).values()) == {"failed", "skipped"}
        assert not site.in_maintenance()
        assert run.held_locks("staging") == {
            "127.0.0.1": {
                "path": path,
                "owner": "alice@laptop",
                "since": theirs.info.since_text,
                "token": theirs.info.token,
            }
        }
        with pytest.raises(ConfirmationError):
            await run.break_deploy_lock("staging", "127.0.0.1", "web1")  # the wrong host name: refused
        assert (site.app_dir / deploy_lock.LOCK_NAME).exists()
        message = await run.break_deploy_lock("staging", "127.0.0.1", "127.0.0.1")
        assert message == "127.0.0.1: the deploy lock of alice@laptop was removed; retry the deploy"
        assert '"kind": "deploy_lock_broken"' in run.journal_path.read_text()
        _, again = await deploy(run)
        assert again.status == "ok", again
    finally:
        await host.close()


async def test_sshd_stopped_mid_command_fails_clearly_and_the_retry_passes(ssh_site: SshSite, tmp_path: Path) -> None:
    site = ssh_site
    config = site.write_config(steps=[("long step", "echo started; sleep 5", 30.0)])
    run = await cleared(config, tmp_path / "state")
    events: list[Event] = []
    stopper: threading.Thread | None = None
    async for event in run.run_step("deploy-staging"):
        events.append(event)
        if isinstance(event, OutputLine) and event.text == "started" and stopper is None:
            stopper = threading.Thread(target=site.sshd.stop)
            stopper.start()
    assert stopper is not None
    stopper.join()
    last = events[-1]
    assert isinstance(last, StepFinished) and last.status == "failed"
    assert "lost" in last.message and "long step" in last.message
    found = statuses(events)
    assert found["long step"] == "failed"
    assert found["maintenance mode off"] in {"failed", "ok"}
    if found["maintenance mode off"] == "failed":
        # The site may still be in maintenance: the operator is told how to finish by hand.
        assert any("maintenance" in e.text for e in events if isinstance(e, OutputLine) and e.stream == "stderr")
    site.sshd.start()
    _, again = await deploy(run)
    assert again.status == "ok", again
    assert not site.in_maintenance()


async def test_cancel_during_a_remote_command_stops_it_and_runs_the_post_commands(
    ssh_site: SshSite, tmp_path: Path
) -> None:
    site = ssh_site
    pid_file = site.app_dir / "cancel.pid"
    config = site.write_config(steps=[("long step", f"echo $$ > {pid_file}; echo started; sleep 30", 60.0)])
    run = await cleared(config, tmp_path / "state")
    events: list[Any] = []

    async def consume() -> None:
        async for event in run.run_step("deploy-staging"):
            events.append(event)

    task = asyncio.create_task(consume())
    while not any(isinstance(e, OutputLine) and e.text == "started" for e in events):
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.records["deploy-staging"].status == "cancelled"
    found = statuses(events)
    assert found["long step"] == "cancelled" and found["maintenance mode off"] == "ok"
    assert found["release the deploy lock"] == "ok"
    assert not site.in_maintenance() and not (site.app_dir / deploy_lock.LOCK_NAME).exists()
    assert not Path(f"/proc/{pid_file.read_text().strip()}").exists()


async def test_keeping_maintenance_on_after_a_failure_is_the_operators_recorded_choice(
    ssh_site: SshSite, tmp_path: Path
) -> None:
    site = ssh_site
    config = site.write_config(steps=[("run migrations", "echo 'relation exists' >&2; exit 1", 10.0)])
    run = await cleared(config, tmp_path / "state")
    assert run.keeps_maintenance("staging") is False
    run.set_keep_maintenance("staging", True)
    events, last = await deploy(run)
    assert last.status == "failed"
    found = statuses(events)
    assert found["run migrations"] == "failed" and found["maintenance mode off"] == "skipped"
    assert found["release the deploy lock"] == "ok"
    assert site.in_maintenance()  # as chosen: the site stays in maintenance for the operator to look
    assert any("maintenance mode is left ON on 127.0.0.1" in e.text for e in events if isinstance(e, OutputLine))
    kinds = [json.loads(line)["kind"] for line in run.journal_path.read_text().splitlines()]
    assert "maintenance_choice" in kinds and "maintenance_kept" in kinds
    assert run.records["deploy-staging"].data["hosts"]["127.0.0.1"]["maintenance_kept"] is True


async def test_hosts_one_after_another_keep_partial_results_and_stop_at_a_failure(
    ssh_site: SshSite, tmp_path: Path
) -> None:
    """Three ssh config aliases of the one sshd; the recipe fails the second time it runs."""
    site = ssh_site
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        "".join(
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {site.sshd.port}\n  User {site.sshd.user}\n"
            f"  IdentityFile {site.sshd.client_key}\n"
            for alias in ("web1", "web2", "web3")
        )
    )
    marker = site.app_dir / "ran-once"
    config = site.write_config(
        hosts=("web1", "web2", "web3"),
        steps=[("deploy step", f"if [ -f {marker} ]; then echo 'disk full' >&2; exit 1; fi; touch {marker}", 10.0)],
        extra=f"ssh_config = {json.dumps(str(ssh_config))}",
    )
    run = await cleared(config, tmp_path / "state")
    events, last = await deploy(run)
    assert last.status == "failed"
    assert last.message == ("staging: 'deploy step' exited 1 on web2: disk full (deployed: web1; not started: web3)")
    per_host: dict[str, dict[str, str]] = {}
    for event in events:
        if isinstance(event, CommandUpdate):
            per_host.setdefault(event.host, {})[event.name] = event.status
    assert per_host["web1"] == {
        "take the deploy lock": "ok",
        "record what runs now": "ok",
        "maintenance mode on": "ok",
        "deploy step": "ok",
        "maintenance mode off": "ok",
        "release the deploy lock": "ok",
    }
    assert per_host["web2"]["deploy step"] == "failed" and per_host["web2"]["maintenance mode off"] == "ok"
    assert set(per_host["web3"].values()) == {"skipped"}
    hosts = last.data["hosts"]
    assert {name: h["status"] for name, h in hosts.items()} == {"web1": "ok", "web2": "failed", "web3": "skipped"}
    assert [s.host for s in recorded_states(run)] == ["web1", "web2"]
    assert not site.in_maintenance()
