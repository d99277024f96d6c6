"""The plan's read-only probes: SSH reachability (real sshd), health URLs and production's
``migrate --plan`` (the demo sandbox's loopback servers), timeouts and cancelling."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.sshd import Sshd

from iact_tui import demo
from iact_tui.config import CONFIG_NAME, load_config
from iact_tui.engine import probes
from iact_tui.engine.run import ReleaseRun


async def _all(run: ReleaseRun, timeout: float = 10.0) -> list[probes.ProbeResult]:
    return [r async for r in probes.run_probes(run.config, probes.target_of(run), timeout=timeout)]


def _refs(box: demo.Sandbox) -> str:
    return subprocess.run(["git", "show-ref"], cwd=box.origin, capture_output=True, text=True, check=True).stdout


async def test_health_and_migrate_plan_on_the_sandbox_change_nothing(sandbox: demo.Sandbox) -> None:
    run = ReleaseRun(load_config(sandbox.config_path), record=False)
    await run.load_versions()
    run.choose_bump("minor")
    before = (_refs(sandbox), (sandbox.root / "production" / "db.sqlite3").stat().st_mtime_ns)
    results = await _all(run)
    by = {(r.kind, r.env): r for r in results}
    assert set(by) == {("health", "staging"), ("health", "production"), ("migrate", "production")}
    assert len(results) == probes.probe_count(run.config)
    for env in ("staging", "production"):
        health = by["health", env]
        assert health.status == "ok" and health.detail == "200, version 1.3.2", health
        assert health.changes == (f"{env}: 1.3.2 → 1.4.0",)
    migrate = by["migrate", "production"]
    assert migrate.status == "ok", migrate
    assert migrate.detail == "0 pending on the running code, 1 added by the release"
    assert migrate.changes == ("production: the release's migrations would be applied: core.0003_project_archived",)
    changes = probes.planned_changes(run, results)
    assert changes[0].startswith("git: branch release/v1.4.0") and "tag v1.4.0 pushed" in changes[0]
    assert changes[1:] == [
        "staging: 1.3.2 → 1.4.0",
        "production: 1.3.2 → 1.4.0",
        "production: the release's migrations would be applied: core.0003_project_archived",
    ]
    assert (_refs(sandbox), (sandbox.root / "production" / "db.sqlite3").stat().st_mtime_ns) == before


def test_migrate_plan_output_is_parsed() -> None:
    out = [
        "Planned operations:",
        "core.0003_project_archived",
        "    Add field archived to project",
        "shop.0001_initial",
        "    Create model Item",
    ]
    assert probes.parse_migrate_plan(out) == ["core.0003_project_archived", "shop.0001_initial"]
    assert probes.parse_migrate_plan(["Planned operations:", "  No planned migration operations."]) == []


#: A release with no git to read its migrations from (no production here anyway).
TARGET = probes.ProbeTarget(version="1.0.0", tag="v1.0.0")


def _ssh_config(tmp_path: Path, sshd: Sshd, known_hosts: Path, health: str) -> Path:
    path = tmp_path / CONFIG_NAME
    path.write_text(
        f"""[environments.staging]
transport = "ssh"
hosts = ["{sshd.host}"]
port = {sshd.port}
user = "{sshd.user}"
identity_file = "{sshd.client_key}"
known_hosts = "{known_hosts}"
app_dir = "{sshd.server_dir}"
health_url = "{health}"
connect_timeout = 5
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A loopback HTTP server that accepts connections and never answers."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/api/health"
    finally:
        server.close()


async def test_ssh_probe_connects_and_verifies_the_host_key(
    running_sshd: Sshd, tmp_path: Path, silent_server: str
) -> None:
    config = load_config(_ssh_config(tmp_path, running_sshd, running_sshd.known_hosts, silent_server))
    before = running_sshd.accepted()
    started = time.perf_counter()
    results = {r.kind: r async for r in probes.run_probes(config, TARGET, timeout=1.0)}
    assert time.perf_counter() - started < 5  # the silent health URL is given up after its timeout
    ssh = results["ssh"]
    assert (ssh.status, ssh.env, ssh.target) == ("ok", "staging", running_sshd.host), ssh
    assert ssh.detail == "reachable, host key verified, `true` ran"
    assert running_sshd.accepted() == before + 1
    health = results["health"]
    assert health.status == "warning" and "timed out" in health.detail, health
    # a changed host key is refused: nothing is run on that host
    config = load_config(_ssh_config(tmp_path, running_sshd, running_sshd.wrong_known_hosts, silent_server))
    (ssh,) = [r async for r in probes.run_probes(config, TARGET, timeout=1.0) if r.kind == "ssh"]
    assert ssh.status == "failed" and "host key" in ssh.detail, ssh
    assert running_sshd.accepted() == before + 1


async def test_closing_the_probes_early_cancels_the_rest(tmp_path: Path, silent_server: str) -> None:
    path = tmp_path / CONFIG_NAME
    envs = "".join(
        f'[environments.e{i}]\napp_dir = "."\nhealth_url = "{silent_server}"\n' for i in range(3)
    )  # three requests that would each wait their whole timeout
    path.write_text(envs + '[environments.e9]\napp_dir = "."\nhealth_url = "http://127.0.0.1:9/"\n', encoding="utf-8")
    started = time.perf_counter()
    stream = probes.run_probes(load_config(path), TARGET, timeout=30.0)
    first = await anext(stream)  # the closed port answers at once
    assert first.env == "e9" and first.status == "warning", first
    await stream.aclose()
    assert time.perf_counter() - started < 5
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not [t for t in pending if "_timed" in repr(t.get_coro())]
