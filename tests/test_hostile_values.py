"""Hostile values never run: each is refused with a clear error or reaches the shell inert.

Values come through the config (prefixes, paths, the interpreter, log paths and units,
hosts, the lock path, backup names) and through what the operator types (the version,
a pre-release identifier, the rollback target). Where a value is accepted, the command
it ends up in is really run with ``/bin/sh`` on this machine, and the test checks that
no marker file appeared and that the value arrived as one untouched word.
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from pathlib import Path

import pytest

from iact_tui.config import CONFIG_NAME, load_config
from iact_tui.engine.commands import placeholder_values, render
from iact_tui.errors import IactError
from iact_tui.services import backup, deploy_lock, log_scan, monitor, rollback
from iact_tui.services.remote import LocalHost

#: Each holds ``MARK``, replaced by a marker file's path: if any of them runs, the file
#: appears.
HOSTILE = [
    ";touch MARK",
    "$(touch MARK)",
    "`touch MARK`",
    "x\ntouch MARK",
    "--upload-pack=touch MARK",
    "../../../../MARK",
    "a b;touch MARK",
    "'\";touch MARK;'",
    "x\x00;touch MARK",
    "x|touch MARK",
    "x&&touch MARK&",
]
IDS = ["semicolon", "subshell", "backticks", "newline", "option", "dotdot", "space", "quotes", "nul", "pipe", "and"]

BASE = """\
[project]
changelog = "CHANGELOG.md"

[checks]
tests = ""
coverage_report = ""

[environments.staging]
app_dir = "app"
health_url = "http://127.0.0.1:8001/api/health"
"""


def _toml(value: str) -> str:
    """``value`` as a TOML basic string (control characters escaped)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _marked(tmp_path: Path, value: str) -> tuple[str, Path]:
    mark = tmp_path / "PWNED"
    return value.replace("MARK", str(mark)), mark


def _sh(script: str, cwd: Path, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


#: (table, key, how the value is put in): the config values that reach command lines.
CONFIG_KEYS = [
    ("project", "tag_prefix", "{v}"),
    ("project", "release_branch_prefix", "{v}"),
    ("project", "remote", "{v}"),
    ("project", "main_branch", "{v}"),
    ("hotfix", "branch_prefix", "{v}"),
    ("environments.staging", "app_dir", "{v}"),
    ("environments.staging", "python", "{v}"),
]


def _config_with(tmp_path: Path, table: str, key: str, value: str) -> Path:
    line = f"{key} = {_toml(value)}\n"
    header = f"[{table}]\n"
    text = "".join(ln for ln in BASE.splitlines(keepends=True) if not ln.startswith(f"{key} = "))
    text = text.replace(header, header + line) if header in text else text + "\n" + header + line
    (tmp_path / "app").mkdir(exist_ok=True)
    path = tmp_path / CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
@pytest.mark.parametrize(("table", "key", "_"), CONFIG_KEYS, ids=[k for _, k, _ in CONFIG_KEYS])
def test_config_values_in_commands_are_refused_or_inert(
    tmp_path: Path, table: str, key: str, _: str, hostile: str
) -> None:
    value, mark = _marked(tmp_path, hostile)
    try:
        config = load_config(_config_with(tmp_path, table, key, value))
    except IactError as exc:  # refused when the file loads: the error names the key
        assert key in exc.what, exc.what
        return
    project = config.project
    tag = f"{project.tag_prefix}1.2.3"
    branch = (
        f"{project.release_branch_prefix}{tag}" if key != "branch_prefix" else f"{config.hotfix.branch_prefix}{tag}"
    )
    try:
        values = placeholder_values(config, "staging", "1.2.3", tag, branch)
    except IactError as exc:  # refused before any command is built
        assert exc.what and exc.fix
        return
    cmd = render(config, "staging", "printf '<%s>' {tag} {branch} {remote} {app_dir} {python}", "t", "", 10, values)
    done = _sh(cmd.run, tmp_path)
    assert not mark.exists(), f"{key}={value!r} ran: {cmd.run}"
    raw = [tag, branch, project.remote, str(config.env_app_dir("staging"))]
    assert done.stdout.startswith("".join(f"<{v}>" for v in raw)), (done.stdout, cmd.run)
    # a value that could be read as an option never starts a word in a git command
    for word in (tag, branch, project.remote):
        assert not word.startswith("-"), word


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_hostile_log_paths_units_hosts_and_lock_path_are_refused_at_load(tmp_path: Path, hostile: str) -> None:
    value, mark = _marked(tmp_path, hostile)
    for table, key, text in [
        ("environments.staging.logs", "paths", f"[{_toml(value)}]"),
        ("environments.staging.logs", "units", f"[{_toml(value)}]"),
        ("environments.staging", "lock_path", _toml(value)),
    ]:
        path = tmp_path / CONFIG_NAME
        extra = f"\n[{table}]\n{key} = {text}\n" if table.endswith("logs") else ""
        body = (
            BASE + extra
            if extra
            else BASE.replace("[environments.staging]\n", f"[environments.staging]\n{key} = {text}\n")
        )
        path.write_text(body, encoding="utf-8")
        try:
            load_config(path)
        except IactError as exc:
            assert key in exc.what, exc.what
            continue
        # accepted: an absolute path without control characters (odd characters are a
        # path's right); test_hostile_log_paths_are_inert... shows they stay inert
        assert key in ("paths", "lock_path"), f"{key}={value!r} was accepted"
        assert value.startswith("/") and not any(ord(c) < 32 for c in value), f"{key}={value!r} was accepted"
    ssh = BASE.replace('app_dir = "app"', f'transport = "ssh"\nhosts = [{_toml(value)}]\napp_dir = "/srv/app"')
    (tmp_path / CONFIG_NAME).write_text(ssh, encoding="utf-8")
    with pytest.raises(IactError, match="hosts"):
        load_config(tmp_path / CONFIG_NAME)
    assert not mark.exists()


async def test_hostile_log_paths_are_inert_in_the_scan_and_the_monitor(tmp_path: Path) -> None:
    mark = tmp_path / "PWNED"
    paths = [f"/{v.replace('MARK', str(mark)).lstrip('/')}" for v in HOSTILE if "\n" not in v and "\x00" not in v]
    host = LocalHost("staging")
    marks = await log_scan.record_offsets(host, paths, timeout=10)
    assert sorted(marks.missing) == sorted(paths)
    script = monitor.files_command("n0nce", paths)
    done = _sh(f"timeout 2 sh -c {shlex.quote(script)}", tmp_path)
    for path in paths:  # each path arrives whole, as one file to follow
        assert f"n0nce file {path}\n" in done.stdout, (path, done.stdout)
    units = monitor.units_command("n0nce", ["iact.service"])
    assert "-u iact.service" in units
    assert not mark.exists()


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
async def test_a_hostile_lock_path_is_refused_or_inert(tmp_path: Path, hostile: str) -> None:
    value, mark = _marked(tmp_path, hostile)
    path = str(tmp_path / "locks" / value.lstrip("/"))
    (tmp_path / "locks").mkdir()
    try:
        lock = await deploy_lock.acquire(LocalHost("staging"), path, "me@here", "1.2.3", "deploy", timeout=10)
    except IactError as exc:
        assert "lock" in exc.what, exc.what
    else:
        await deploy_lock.release(lock, timeout=10)
    assert not mark.exists()


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_hostile_backup_values_are_refused(tmp_path: Path, hostile: str) -> None:
    value, mark = _marked(tmp_path, hostile)
    good = {"database": "iact", "directory": "/var/backups/iact", "host": "db1", "user": "iact"}
    for field in ("database", "host", "user", "pg_dump", "pg_restore", "directory"):
        spec = backup.BackupSpec(**{**good, field: value})  # type: ignore[arg-type]
        try:
            spec.validate()
        except IactError as exc:
            assert exc.what and exc.fix
            continue
        # accepted: a program path the config names (``../bin/pg_dump``) stays one word
        assert field in ("pg_dump", "pg_restore") and not value.startswith("-"), (field, value)
        words = shlex.split(backup.dump_command(spec))
        assert field == "pg_restore" or words[0] == value
    assert not mark.exists()


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_hostile_app_labels_and_migration_names_are_refused(hostile: str) -> None:
    with pytest.raises(IactError, match="app label"):
        rollback.migrate_command("python", hostile, "0001_initial")
    with pytest.raises(IactError, match="migration name"):
        rollback.migrate_command("python", "core", hostile)


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_hostile_operator_versions_are_refused_by_semver(tmp_path: Path, hostile: str) -> None:
    from iact_tui.services import versioning

    value, _ = _marked(tmp_path, hostile)
    for text in (value, f"1.2.3{value}", f"1.2.3-{value}", f"v{value}"):
        with pytest.raises(IactError):
            versioning.validate_new_version(text, None, set(), "v")


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_hostile_prerelease_ids_are_refused(tmp_path: Path, hostile: str) -> None:
    value, _ = _marked(tmp_path, hostile)
    with pytest.raises(IactError, match="prerelease_id"):
        load_config(_config_with(tmp_path, "project", "prerelease_id", value))


async def test_hostile_rollback_targets_are_refused(quiet_sandbox: object, tmp_path: Path) -> None:
    from iact_tui.engine.rollback import RollbackRun

    box = quiet_sandbox
    run = RollbackRun(load_config(box.config_path), state_dir=tmp_path / "state", env="staging")  # type: ignore[attr-defined]
    for hostile in HOSTILE:
        value, mark = _marked(tmp_path, hostile)
        with pytest.raises(IactError):
            run.choose_target(value)
        with pytest.raises(IactError):
            run.choose_target("v1.0.0" + value)
        assert not mark.exists()
    await asyncio.sleep(0)
