"""The sandbox's running environments: health, login, maintenance, restart, stop."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from iact_tui.config import load_config
from iact_tui.demo import Sandbox, build_sandbox, describe, start_sandbox, stop_sandbox
from iact_tui.errors import IactError

from ._support import child_env, http, manage


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def appctl(sandbox: Sandbox, env: str, action: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    port = port or port_of(sandbox.environments[env])
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "iact_tui.demo.appctl",
            action,
            "--name",
            env,
            "--port",
            str(port),
            "--run-dir",
            str(sandbox.run_dir),
        ],
        cwd=sandbox.root / env,
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )


def login_url(sandbox: Sandbox, env: str) -> str:
    return sandbox.environments[env].replace("/api/health", "/api/auth/login")


def test_each_environment_serves_the_latest_release(served_sandbox: Sandbox) -> None:
    assert list(served_sandbox.environments) == ["staging", "production"]
    for url in served_sandbox.environments.values():
        assert url.startswith("http://127.0.0.1:")
        status, body = http(url)
        assert (status, body) == (200, {"status": "ok", "version": "1.3.2", "database": "ok"})
    assert "serving v1.3.2" in describe(served_sandbox)


def test_login_with_the_smoke_password(served_sandbox: Sandbox) -> None:
    password = (served_sandbox.root / "secrets" / "smoke-password").read_text()
    for env in served_sandbox.environments:
        url = login_url(served_sandbox, env)
        assert http(url, {"username": "demo", "password": password}) == (200, {"ok": True, "user": "demo"})
        status, body = http(url, {"username": "demo", "password": password + "x"})
        assert status == 401 and body["ok"] is False
        assert http(url, b"{not json")[0] == 400


def test_password_never_reaches_logs_or_state(served_sandbox: Sandbox) -> None:
    password = (served_sandbox.root / "secrets" / "smoke-password").read_text()
    for path in served_sandbox.run_dir.iterdir():
        assert password not in path.read_text(errors="replace"), path


def test_static_files_are_served(served_sandbox: Sandbox) -> None:
    base = served_sandbox.environments["staging"].replace("/api/health", "")
    with urllib.request.urlopen(f"{base}/static/core/site.css", timeout=10) as response:
        assert response.status == 200 and b"body" in response.read()


def test_appctl_status(served_sandbox: Sandbox) -> None:
    done = appctl(served_sandbox, "staging", "status")
    assert done.returncode == 0 and "running" in done.stdout


def test_maintenance_then_restart_then_deploy_head(own_sandbox: Sandbox) -> None:
    """Play the configured deploy on staging by hand: the next release's migration runs."""
    config = load_config(own_sandbox.config_path)
    env = config.environments["staging"]
    app = own_sandbox.root / "staging"
    health = own_sandbox.environments["staging"]
    pid_file = own_sandbox.run_dir / "staging.pid"
    old_pid = pid_file.read_text().strip()

    values = {"python": shlex.quote(env.python), "remote": "origin", "tag": "origin/main"}

    def run(template: str) -> str:
        done = subprocess.run(
            template.format(**values),
            shell=True,
            cwd=app,
            capture_output=True,
            text=True,
            timeout=120,
            env=child_env(),
            check=False,
        )
        assert done.returncode == 0, f"{template}\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    run(env.pre[0].run)
    assert http(health) == (503, {"status": "maintenance"})
    assert (app / "MAINTENANCE").is_file()
    outputs = [run(step.run) for step in env.steps]
    assert "Applying core.0003_project_archived... OK" in outputs[2]
    assert "staging: up" in outputs[-1]
    assert pid_file.read_text().strip() != old_pid
    assert http(health)[0] == 503  # still in maintenance after the restart
    run(env.post[0].run)
    status, body = http(health)
    assert status == 200 and body["version"] == "1.3.2"  # the unreleased HEAD still says 1.3.2
    assert "System check identified no issues" in run(env.smoke.commands[0].run)
    assert http(health.replace("/api/health", "/api/projects")) == (200, {"projects": []})
    assert (
        subprocess.run(["git", "status", "--porcelain"], cwd=app, capture_output=True, text=True, check=True).stdout
        == ""
    )


def test_manage_maintenance_command_and_restart_via_appctl(own_sandbox: Sandbox) -> None:
    app = own_sandbox.root / "production"
    health = own_sandbox.environments["production"]
    assert "maintenance mode is on" in manage(app, "maintenance", "on").stdout
    assert http(health)[0] == 503
    assert manage(app, "maintenance", "off").returncode == 0
    assert http(health)[0] == 200
    done = appctl(own_sandbox, "production", "restart")
    assert done.returncode == 0, done.stderr
    assert "stopping pid" in done.stdout and "production: up" in done.stdout
    assert http(health)[0] == 200
    # start is idempotent
    again = appctl(own_sandbox, "production", "start")
    assert again.returncode == 0 and "already running" in again.stdout


def test_ensure_demo_user_needs_its_password(offline_sandbox: Sandbox) -> None:
    done = manage(offline_sandbox.root / "staging", "ensure_demo_user", IACT_DEMO_PASSWORD="")
    assert done.returncode != 0 and "IACT_DEMO_PASSWORD" in done.stderr


def test_stop_sandbox_leaves_no_server(own_sandbox: Sandbox) -> None:
    pids = {env: int((own_sandbox.run_dir / f"{env}.pid").read_text()) for env in own_sandbox.environments}
    stopped = stop_sandbox(own_sandbox.root)
    assert sorted(s.split()[0] for s in stopped) == ["production", "staging"]
    for env, url in own_sandbox.environments.items():
        assert refuses(port_of(url))
        assert not (own_sandbox.run_dir / f"{env}.pid").exists()
        assert not Path(f"/proc/{pids[env]}").exists() or _zombie(pids[env])
        assert appctl(own_sandbox, env, "status").returncode == 3
    assert stop_sandbox(own_sandbox.root) == []
    assert "stopped" in describe(own_sandbox)
    # Building in it again is refused with the way to go on; starting it again works.
    with pytest.raises(IactError) as refused:
        build_sandbox(own_sandbox.root)
    assert f"iact-tui --demo --dir {own_sandbox.root}" in refused.value.fix
    again = start_sandbox(own_sandbox.root)
    assert again.environments == own_sandbox.environments and again.config_path == own_sandbox.config_path
    for url in again.environments.values():
        status, body = http(url)
        assert status == 200 and body["version"] == "1.3.2", body
    assert "running" in describe(again, fresh=False)
    assert [s.split()[0] for s in stop_sandbox(own_sandbox.root)] == ["production", "staging"]
    with pytest.raises(IactError, match="holds no demo sandbox"):
        start_sandbox(own_sandbox.root / "repo")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_appctl_handles_a_stale_pid_file(offline_sandbox: Sandbox) -> None:
    pid_file = offline_sandbox.run_dir / "staging.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a server of ours
    assert appctl(offline_sandbox, "staging", "status").returncode == 3
    assert not pid_file.exists()
    pid_file.write_text("garbage\n")
    done = appctl(offline_sandbox, "staging", "stop")
    assert done.returncode == 0 and "not running" in done.stdout and not pid_file.exists()


def test_appctl_explains_a_server_that_does_not_come_up(offline_sandbox: Sandbox) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = appctl(offline_sandbox, "production", "restart", port=port)
    assert done.returncode == 1
    assert "error: production:" in done.stderr and "last lines of" in done.stderr
    assert "already in use" in done.stderr
    assert not (offline_sandbox.run_dir / "production.pid").exists()


def test_no_server_answers_without_start(offline_sandbox: Sandbox) -> None:
    for url in offline_sandbox.environments.values():
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(url, timeout=2)


def test_describe_names_the_newest_tag_of_the_origin_when_started_again(quiet_sandbox: Sandbox) -> None:
    # A release made v1.4.0 since the sandbox was built: starting it again says so.
    origin = quiet_sandbox.origin
    subprocess.run(["git", "tag", "-a", "v1.4.0", "-m", "Release v1.4.0", "main"], cwd=origin, check=True)
    again = describe(quiet_sandbox, fresh=False)
    assert "tags v1.0.0 … v1.4.0" in again, again
    assert "v1.3.2" not in again, again
    assert "tags v1.0.0 … v1.3.2" in describe(quiet_sandbox)  # just built: the history's latest


def test_the_demo_servers_run_below_the_wizards_priority(served_sandbox: Sandbox) -> None:
    """They stand in for servers that are not on the operator's machine: the verification's
    timed requests must not take the CPU from the wizard's UI loop."""
    from iact_tui.demo import appctl as control

    pids = [int(p.read_text()) for p in sorted((served_sandbox.root / "run").glob("*.pid"))]
    assert len(pids) == 2, pids
    for pid in pids:
        niceness = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
        assert niceness == min(19, os.nice(0) + control.SERVER_NICENESS), (pid, niceness)
