"""The command line: --version, --help, python -m, init."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import pytest

from iact_tui import __version__, cli, demo
from iact_tui.config import load_config
from iact_tui.engine.run import ReleaseRun


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iact_tui", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_version_and_console_script() -> None:
    assert run("--version").stdout.strip() == f"iact-tui {__version__}"
    script = Path(sys.executable).parent / "iact-tui"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"iact-tui {__version__}"


def test_help_lists_every_command() -> None:
    out = run("--help").stdout
    for command in ("run release", "plan release", "init", "demo DIR", "--demo", "--config"):
        assert command in out
    assert "--until" in run("run", "--help").stdout


def test_bad_usage_exits_2() -> None:
    done = run("run", "release", "--bump", "huge", "--yes")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_the_wizard_alone_is_parsed_without_building_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """``iact-tui`` alone (the wizard) gets what the parser gives for no arguments, without
    building the parser (startup); any argument goes through the parser."""
    parser = cli.build_parser
    expected = vars(parser().parse_args([]))

    def refused() -> None:
        raise AssertionError("the parser was built for the bare command")

    monkeypatch.setattr(cli, "build_parser", refused)
    assert vars(cli.parse_args([])) == expected
    monkeypatch.setattr(sys, "argv", ["iact-tui"])
    assert vars(cli.parse_args()) == expected
    monkeypatch.setattr(cli, "build_parser", parser)
    assert cli.parse_args(["--demo"]).demo is True


def test_init_detects_the_repository_and_never_overwrites(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "shop").mkdir(parents=True)
    (repo / "frontend").mkdir()
    (repo / "shop" / "__init__.py").write_text('__version__ = "2.1.0"\n')
    (repo / "pyproject.toml").write_text('[project]\nname = "shop"\nversion = "2.1.0"\n')
    (repo / "frontend" / "package.json").write_text('{"name": "shop", "version": "2.1.0"}\n')
    (repo / "CHANGES.md").write_text("# Changes\n")
    for args in (["init", "-q", "-b", "trunk"], ["add", "."], ["commit", "-qm", "feat: start"], ["tag", "2.1.0"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    done = run("init", cwd=repo)
    assert done.returncode == 0, done.stderr
    text = (repo / "iact-release.toml").read_text()
    data = tomllib.loads(text)
    assert data["project"]["main_branch"] == "trunk"
    assert data["project"]["tag_prefix"] == ""
    assert data["project"]["changelog"] == "CHANGES.md"
    assert data["project"]["version_files"] == ["frontend/package.json", "pyproject.toml", "shop/__init__.py"]
    assert "#" in text  # commented
    load_config(repo / "iact-release.toml")
    again = run("init", cwd=repo)
    assert again.returncode == 1 and "already exists" in again.stderr
    assert (repo / "iact-release.toml").read_text() == text


def _wizard_run(tmp_path: Path) -> ReleaseRun:
    repo = tmp_path / "wizard-repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "iact-release.toml").write_text('[project]\nmain_branch = "main"\n')
    run = ReleaseRun(load_config(repo / "iact-release.toml"), state_dir=tmp_path / "state")
    run.state.version = "1.4.0"
    return run


def test_after_the_wizard_a_quit_before_the_end_is_not_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _wizard_run(tmp_path)
    for step_id in ("preflight", "branch", "bump", "changelog", "commit", "push", "merge", "tag", "deploy-staging",
                    "smoke-staging", "prep-production"):  # fmt: skip
        run.records[step_id].status = "ok"
    run.records["prep-production"].message = "production is ready to deploy"
    assert cli._after_wizard(run) == 1
    out = capsys.readouterr().out
    assert "stopped at prep-production: ok — production is ready to deploy" in out
    assert "v1.4.0 is tagged on origin; not done yet: deploy-production, verify, announce." in out
    assert "stopped part-way" not in out  # no deploy had started


def test_after_the_wizard_a_cancelled_deploy_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _wizard_run(tmp_path)
    for step_id in ("preflight", "branch", "bump", "changelog", "commit", "push", "merge", "tag"):
        run.records[step_id].status = "ok"
    run.records["deploy-staging"].status = "cancelled"
    run.records["deploy-staging"].message = "Deploy to staging: cancelled by the operator"
    assert cli._after_wizard(run) == 130
    out = capsys.readouterr().out
    assert "stopped at deploy-staging: cancelled — Deploy to staging: cancelled by the operator" in out
    assert "deploy-staging stopped part-way" in out


# -- monitor -------------------------------------------------------------------------


def _monitor_config(tmp_path: Path, envs: str) -> Path:
    path = tmp_path / "iact-release.toml"
    path.write_text(envs + "\n[monitor]\nhealth_interval_seconds = 1\nhost_interval_seconds = 1\n")
    return path


ENV = '[environments.{name}]\napp_dir = "."\nhealth_url = "http://127.0.0.1:9/health"\n'


def test_monitor_is_listed_and_explains_its_options() -> None:
    assert "monitor" in run("--help").stdout
    out = run("monitor", "--help").stdout
    for option in ("--env NAME", "--config PATH", "--demo", "production"):
        assert option in out


def test_monitor_watches_production_by_default_else_the_first_environment(tmp_path: Path) -> None:
    both = load_config(_monitor_config(tmp_path, ENV.format(name="staging") + ENV.format(name="production")))
    assert cli.monitor_env(both, None) == "production"
    assert cli.monitor_env(both, "staging") == "staging"
    (tmp_path / "one").mkdir()
    only = load_config(_monitor_config(tmp_path / "one", ENV.format(name="qa")))
    assert cli.monitor_env(only, None) == "qa"


def test_monitor_of_an_unknown_environment_names_the_known_ones(tmp_path: Path) -> None:
    config = _monitor_config(tmp_path, ENV.format(name="staging") + ENV.format(name="production"))
    done = run("monitor", "--config", str(config), "--env", "prod")
    assert done.returncode == 2
    assert "no environment 'prod'" in done.stderr and "staging, production" in done.stderr


def test_monitor_in_a_real_terminal_shows_lines_and_leaves_nothing_running(tmp_path: Path) -> None:
    """``iact-tui monitor`` in tmux: the screen as a person sees it, then q."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is required (apt-get install tmux)") if os.environ.get("CI") else pytest.skip("no tmux")
    log = tmp_path / "app.log"
    log.touch()
    config = _monitor_config(
        tmp_path, ENV.format(name="production") + f'[environments.production.logs]\npaths = ["{log}"]\n'
    )
    out = tmp_path / "out.txt"
    socket = f"iact-monitor-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES", "TMUX"}}
    script = Path(sys.executable).parent / "iact-tui"
    command = f"{shlex.quote(str(script))} monitor --config {shlex.quote(str(config))} > {shlex.quote(str(out))}"

    def tmux(*args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", socket, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=30, env=env
        )
        return done.stdout

    def wait_for(text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", "main")
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} did not appear; the screen shows:\n{screen}")

    # The shell stays after iact-tui exits, so its output can be read.
    tmux("new-session", "-d", "-s", "main", "-x", "100", "-y", "30", f"{command}; echo EXITED $?; sleep 60")
    try:
        wait_for("following app.log")
        with log.open("a") as fh:
            fh.write("ERROR the database is locked\n")
        screen = wait_for("the database is locked")
        assert "Monitor · production · 1 host" in screen and "1 line · 1 error" in wait_for("1 error ")
        tmux("send-keys", "-t", "main", "q")
        wait_for("EXITED 0")
    finally:
        tmux("kill-server")
    assert "monitored production for" in out.read_text()
    assert not subprocess.run(["pgrep", "-f", f"tail -F -v -n 0 -- {log}"], capture_output=True).stdout


def test_resume_of_a_hotfix_or_rollback_takes_nothing_the_run_decided(
    quiet_sandbox: demo.Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--resume`` takes the version or target from the run it resumes; without an
    unfinished run there is nothing to resume (the resumes themselves:
    tests/e2e/test_kill_hotfix_rollback.py)."""
    from iact_tui import cli

    config = ["--config", str(quiet_sandbox.config_path)]
    assert cli.main(["run", "rollback", "--resume", "--yes", "--to", "1.3.1", *config]) == 2
    assert "leave out --bump, --to" in capsys.readouterr().err
    assert cli.main(["run", "rollback", "--resume", "--yes", "--until", "verify", *config]) == 2
    assert "--until with --resume takes a hotfix step" in capsys.readouterr().err
    for flow in ("hotfix", "rollback"):
        assert cli.main(["run", flow, "--resume", "--yes", *config]) == 2
        assert f"there is no unfinished {flow}" in capsys.readouterr().out


# -- the wizard's start ---------------------------------------------------------------


def test_the_wizard_reports_a_bad_or_missing_config_after_its_first_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from textual.app import App

    from iact_tui.app import IactApp

    ran: list[IactApp] = []
    original = App.run

    def headless(self: App[None], *args: object, **kwargs: object) -> object:
        assert isinstance(self, IactApp)
        ran.append(self)
        return original(self, headless=True, size=(100, 30))  # the app ends itself on the error

    monkeypatch.setattr(App, "run", headless)
    bad = tmp_path / "iact-release.toml"
    bad.write_text("[project]\nmain_brnch = 'main'\n", encoding="utf-8")
    assert cli.main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid configuration") and "did you mean 'main_branch'" in err
    assert "Traceback" not in err and len(ran) == 1  # Welcome was up first

    monkeypatch.chdir(tmp_path / "..")  # no iact-release.toml here or above (the tmp root)
    assert cli.main([]) == 2
    assert "error: no iact-release.toml found" in capsys.readouterr().err


def test_the_cli_config_name_is_the_config_modules() -> None:
    from iact_tui import config

    assert cli.CONFIG_NAME == config.CONFIG_NAME
