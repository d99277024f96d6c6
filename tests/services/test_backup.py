"""pg_dump backups against a real PostgreSQL (``postgres_server``), run through LocalHost.

Every test checks an outcome on disk or in the database: the file, its rows after a
restore, or that no file that looks like a backup is left after a failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.postgres import ITEMS, PostgresServer

from iact_tui.errors import BackupError
from iact_tui.services.backup import (
    BackupResult,
    BackupSpec,
    backup_path,
    dump_command,
    format_size,
    list_entries,
    take_backup,
)
from iact_tui.services.remote import CommandResult, Line, LocalHost
from iact_tui.services.secrets import Secret

NOW = datetime(2026, 11, 29, 9, 30, 5, tzinfo=UTC)
LABEL = "1.4.0"
PASSWORD_ENV = "IACT_TEST_DB_PASSWORD"


class RecordingHost(LocalHost):
    """LocalHost that records every command (the ``sh -c`` argv) and the env names it was given."""

    def __init__(self) -> None:
        super().__init__("db-host")
        self.commands: list[str] = []
        self.env_values: list[str] = []

    async def stream(
        self, command: str, *, cwd: str | None = None, timeout: float = 600.0, env: Mapping[str, str] | None = None
    ) -> AsyncIterator[Line | CommandResult]:
        self.commands.append(command)
        self.env_values.extend((env or {}).values())
        async for item in super().stream(command, cwd=cwd, timeout=timeout, env=env):
            yield item


@pytest.fixture(autouse=True)
def _no_pgpass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No password from a ~/.pgpass or the ambient environment: only what a test passes."""
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))
    for name in ("PGPASSWORD", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def pg(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> PostgresServer:
    """The server, with its role's password in the environment variable the specs name."""
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    return postgres_server


def make_spec(pg: PostgresServer, where: Path, **changes: object) -> BackupSpec:
    spec = BackupSpec(
        database=pg.database,
        directory=str(where),
        host=pg.host,
        port=pg.port,
        user=pg.role,
        pg_dump=str(pg.pg_dump),
        pg_restore=str(pg.pg_restore),
        password_env=PASSWORD_ENV,
    )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


async def run_backup(
    host: LocalHost, spec: BackupSpec, *, timeout: float = 60.0, **kw: object
) -> tuple[list[Line], BackupResult]:
    lines: list[Line] = []
    result: BackupResult | None = None
    async for item in take_backup(host, spec, label=LABEL, now=NOW, timeout=timeout, **kw):  # type: ignore[arg-type]
        if isinstance(item, BackupResult):
            assert result is None, "more than one result"
            result = item
        else:
            lines.append(item)
    assert result is not None
    return lines, result


async def failed_backup(host: LocalHost, spec: BackupSpec, *, timeout: float = 60.0) -> tuple[list[Line], BackupError]:
    """Run a backup that must fail; returns the streamed lines and the error (no result may appear)."""
    lines: list[Line] = []
    with pytest.raises(BackupError) as caught:
        async for item in take_backup(host, spec, label=LABEL, now=NOW, timeout=timeout):
            assert not isinstance(item, BackupResult), f"a failing backup reported a result: {item}"
            lines.append(item)
    return lines, caught.value


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def wrapper(tmp_path: Path, name: str, body: str) -> Path:
    """An executable ``/bin/sh`` script standing in for pg_dump."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def expected_name(pg: PostgresServer) -> str:
    return f"{pg.database}-{LABEL}-20261129T093005Z.dump"


# -- a good backup --------------------------------------------------------------------


async def test_backup_with_password_from_env_restores_to_the_same_rows(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "backups" / "nested"
    host = RecordingHost()
    lines, result = await run_backup(host, make_spec(pg, directory))

    assert result.path == str(directory / expected_name(pg))
    dump = Path(result.path)
    assert files_in(directory) == [expected_name(pg)]  # no .partial left over
    assert result.size_bytes == dump.stat().st_size and result.size_bytes > 0
    assert dump.read_bytes()[:5] == b"PGDMP"  # custom format's magic
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert result.host == "db-host" and result.database == pg.database
    assert result.duration_s > 0

    # The entry count is pg_restore's own, counted independently here.
    listing = subprocess.run([pg.pg_restore, "--list", dump], capture_output=True, text=True, check=True).stdout
    toc = [ln for ln in listing.splitlines() if ln.strip() and not ln.startswith(";")]
    assert result.entries == len(toc) > 0
    assert any(" TABLE DATA public items " in ln for ln in toc)
    assert await list_entries(host, result.path, pg_restore=str(pg.pg_restore)) == result.entries

    # pg_dump's --verbose progress reached the caller live.
    assert any(ln.stream == "stderr" and 'dumping contents of table "public.items"' in ln.text for ln in lines)

    restored = "iact_restored"
    pg.drop_database(restored)
    pg.create_database(restored)
    try:
        subprocess.run(
            [
                pg.pg_restore,
                "--no-owner",
                f"--host={pg.socket_dir}",
                f"--port={pg.port}",
                f"--username={pg.superuser}",
                f"--dbname={restored}",
                "--exit-on-error",
                dump,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        query = "SELECT id, name, price FROM items ORDER BY id"
        original = pg.sql(query, database=pg.database)
        assert pg.sql(query, database=restored) == original
        assert original.splitlines() == [f"{i}|{name}|{price}" for i, name, price in ITEMS]
    finally:
        pg.drop_database(restored)


async def test_password_is_in_no_line_result_command_or_argv(pg: PostgresServer, tmp_path: Path) -> None:
    argv_log = tmp_path / "argv.log"
    env_log = tmp_path / "env.log"
    # Record pg_dump's argv and whether PGPASSWORD reached it, then run the real one.
    spy = wrapper(
        tmp_path,
        "pg_dump",
        f'printf "%s\\n" "$0" "$@" > {argv_log}\n[ -n "$PGPASSWORD" ] && echo set > {env_log}\nexec {pg.pg_dump} "$@"',
    )
    host = RecordingHost()
    lines, result = await run_backup(host, make_spec(pg, tmp_path / "b", pg_dump=str(spy)))

    secret = pg.password
    assert env_log.read_text() == "set\n"  # the password went by the environment...
    argv = argv_log.read_text()
    assert "--no-password" in argv and "--format=custom" in argv
    assert secret not in argv  # ...and not by pg_dump's argv
    assert host.commands and not any(secret in cmd for cmd in host.commands)  # nor any sh -c argv
    assert host.env_values == [secret]  # given once, to the pg_dump command only
    assert not any(secret in ln.text for ln in lines)
    assert secret not in repr(dataclasses.asdict(result))
    assert result.command.startswith(f"{spy} --format=custom --no-password --verbose --dbname={pg.database}")
    assert result.command.endswith(f"> {result.path}")


async def test_a_secret_passed_in_overrides_password_env(pg: PostgresServer, tmp_path: Path) -> None:
    spec = make_spec(pg, tmp_path / "b", password_env="IACT_UNSET_VARIABLE")
    _, result = await run_backup(LocalHost("db"), spec, password=Secret(pg.password, "test"))
    assert Path(result.path).stat().st_size == result.size_bytes > 0


# -- failures leave no backup-looking file ------------------------------------------------


async def test_wrong_password_names_authentication_and_leaves_no_file(
    pg: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    directory = tmp_path / "b"
    lines, err = await failed_backup(LocalHost("db"), make_spec(pg, directory))
    assert "authentication failed" in err.what
    assert f'password authentication failed for user "{pg.role}"' in err.what  # pg_dump's own line
    assert "no backup was kept" in err.what
    assert PASSWORD_ENV in err.fix
    assert files_in(directory) == []
    assert "not-the-password" not in str(err) and not any("not-the-password" in ln.text for ln in lines)


async def test_no_password_anywhere_fails_fast_instead_of_prompting(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    _, err = await failed_backup(LocalHost("db"), make_spec(pg, directory, password_env=""), timeout=20)
    assert "no password was available" in err.what
    assert "~/.pgpass" in err.fix
    assert files_in(directory) == []


async def test_unset_password_variable_is_refused_before_anything_runs(
    pg: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    host = RecordingHost()
    _, err = await failed_backup(host, make_spec(pg, tmp_path / "b"))
    assert err.what == f"the database password variable {PASSWORD_ENV} is unset or empty"
    assert host.commands == []


async def test_missing_database_is_named(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    _, err = await failed_backup(LocalHost("db"), make_spec(pg, directory, database="iact_no_such_db"))
    assert "the database does not exist" in err.what
    assert 'database "iact_no_such_db" does not exist' in err.what
    assert "database name" in err.fix
    assert files_in(directory) == []


async def test_missing_pg_dump_is_named(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    _, err = await failed_backup(LocalHost("db"), make_spec(pg, directory, pg_dump="/nonexistent/bin/pg_dump"))
    assert err.what == "pg_dump not found on db: /nonexistent/bin/pg_dump"
    assert "install the PostgreSQL client tools" in err.fix
    assert files_in(directory) == []


async def test_missing_pg_restore_is_named_before_dumping(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    host = RecordingHost()
    _, err = await failed_backup(host, make_spec(pg, directory, pg_restore="iact-no-such-pg_restore"))
    assert err.what.startswith("pg_restore not found on db-host: iact-no-such-pg_restore")
    assert len(host.commands) == 1  # the prepare script only: pg_dump never ran
    assert files_in(directory) == []


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """Make ``directory`` unwritable even for root (immutable attribute), restored afterwards."""
    directory.mkdir()
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a directory unwritable")
    done = subprocess.run(["chattr", "+i", directory], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"running as root and chattr +i is not supported here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", directory], check=True)


async def test_unwritable_directory_is_named(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "readonly"
    with unwritable(directory):
        _, err = await failed_backup(LocalHost("db"), make_spec(pg, directory))
    assert err.what == f"the backup directory {directory} is not writable on db"
    assert files_in(directory) == []


async def test_directory_that_cannot_be_created_is_named(pg: PostgresServer, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    _, err = await failed_backup(LocalHost("db"), make_spec(pg, blocker / "backups"))
    assert err.what.startswith(f"the backup directory {blocker / 'backups'} could not be created on db: ")
    assert blocker.read_text() == "not a directory"


async def test_existing_file_is_never_overwritten(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    directory.mkdir()
    existing = directory / expected_name(pg)
    existing.write_bytes(b"an older backup")
    host = RecordingHost()
    _, err = await failed_backup(host, make_spec(pg, directory))
    assert err.what == f"the backup file {existing} already exists on db-host; it is left untouched"
    assert existing.read_bytes() == b"an older backup"
    assert files_in(directory) == [existing.name]
    assert len(host.commands) == 1  # pg_dump never ran


async def test_file_appearing_during_the_dump_is_not_replaced(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    final = directory / expected_name(pg)
    # Someone else takes the final name while pg_dump runs: the publish step must not replace it.
    racer = wrapper(tmp_path, "pg_dump", f"echo 'their file' > {final}\nexec {pg.pg_dump} \"$@\"")
    _, err = await failed_backup(LocalHost("db"), make_spec(pg, directory, pg_dump=str(racer)))
    assert err.what.startswith(f"the verified dump could not be named db:{final}")
    assert final.read_text() == "their file\n"
    assert files_in(directory) == [final.name]  # and the partial file is gone


async def test_stale_partial_file_is_reported_not_reused(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    directory.mkdir()
    partial = directory / f"{expected_name(pg)}.partial"
    partial.write_bytes(b"PGDMP half")
    _, err = await failed_backup(LocalHost("db"), make_spec(pg, directory))
    assert err.what == f"a partial file from an interrupted backup exists on db: {partial}"
    assert partial.read_bytes() == b"PGDMP half"


async def test_pg_dump_failing_midway_leaves_no_file(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    # Half a real dump, then a failure.
    half = wrapper(
        tmp_path,
        "pg_dump",
        f'{pg.pg_dump} "$@" | head -c 200\necho "pg_dump: error: query failed: server closed the connection" >&2\nexit 1',
    )
    lines, err = await failed_backup(LocalHost("db"), make_spec(pg, directory, pg_dump=str(half)))
    assert "(pg_dump exit 1)" in err.what
    assert "pg_dump: error: query failed: server closed the connection" in err.what
    assert "no backup was kept" in err.what
    assert any("server closed the connection" in ln.text for ln in lines)  # streamed as it happened
    assert files_in(directory) == []


async def test_pg_dump_killed_midway_leaves_no_file(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    killed = wrapper(tmp_path, "pg_dump", f'{pg.pg_dump} "$@" | head -c 300\nkill -9 $$')
    _, err = await failed_backup(LocalHost("db"), make_spec(pg, directory, pg_dump=str(killed)))
    assert "(pg_dump exit 137)" in err.what
    assert files_in(directory) == []


async def test_truncated_dump_with_exit_0_fails_verification(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    liar = wrapper(tmp_path, "pg_dump", f'{pg.pg_dump} "$@" | head -c 400\nexit 0')
    _, err = await failed_backup(LocalHost("db"), make_spec(pg, directory, pg_dump=str(liar)))
    assert "is not readable by pg_restore --list" in err.what
    assert "pg_restore: error:" in err.what
    assert files_in(directory) == []


async def test_empty_dump_with_exit_0_fails_verification(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    silent = wrapper(tmp_path, "pg_dump", "exit 0")
    _, err = await failed_backup(LocalHost("db"), make_spec(pg, directory, pg_dump=str(silent)))
    assert err.what == f"the dump file db:{directory / expected_name(pg)}.partial is missing or empty"
    assert files_in(directory) == []


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def test_timeout_stops_pg_dump_and_leaves_no_file(pg: PostgresServer, tmp_path: Path) -> None:
    directory = tmp_path / "b"
    pid_file = tmp_path / "slow.pid"
    slow = wrapper(tmp_path, "pg_dump", f"echo $$ > {pid_file}\necho 'pg_dump: reading schemas' >&2\nexec sleep 30")
    started = datetime.now(UTC)
    lines, err = await failed_backup(LocalHost("db"), make_spec(pg, directory, pg_dump=str(slow)), timeout=1.0)
    assert datetime.now(UTC) - started < timedelta(seconds=15)
    assert err.what == f"pg_dump of {pg.database} on db was stopped after 1 s"
    assert "timeout" in err.fix
    assert [ln.text for ln in lines] == ["pg_dump: reading schemas"]
    assert not alive(int(pid_file.read_text()))
    assert files_in(directory) == []


async def test_closing_the_stream_early_stops_pg_dump_and_removes_the_partial_file(
    pg: PostgresServer, tmp_path: Path
) -> None:
    directory = tmp_path / "b"
    pid_file = tmp_path / "slow.pid"
    slow = wrapper(tmp_path, "pg_dump", f"echo $$ > {pid_file}\necho PGDMP-partial\necho started >&2\nexec sleep 30")
    backup = take_backup(LocalHost("db"), make_spec(pg, directory, pg_dump=str(slow)), label=LABEL, now=NOW, timeout=60)
    first = await anext(backup)
    assert isinstance(first, Line) and first.text == "started"
    assert files_in(directory) == [f"{expected_name(pg)}.partial"]  # it was really being written
    await backup.aclose()  # type: ignore[attr-defined]
    assert not alive(int(pid_file.read_text()))
    assert files_in(directory) == []


# -- values that reach the shell -----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("database", "shop; touch /tmp/iact-pwned"),
        ("database", "-Fp"),
        ("database", "host=evil dbname=x"),
        ("database", "postgresql://evil/x"),
        ("user", "$(touch /tmp/iact-pwned)"),
        ("host", "--help"),
        ("directory", "relative/dir"),
        ("directory", "/srv/../etc"),
        ("directory", "/srv/back\nups"),
        ("pg_dump", "pg_dump --file=/etc/passwd"),
        ("port", 70000),
        ("password_env", "NOT-A-NAME"),
    ],
)
async def test_unsafe_values_are_refused_before_anything_runs(
    pg: PostgresServer, tmp_path: Path, field: str, value: object
) -> None:
    host = RecordingHost()
    _, err = await failed_backup(host, make_spec(pg, tmp_path / "b", **{field: value}))
    assert repr(value) in err.what
    assert host.commands == []


@pytest.mark.parametrize("label", ["", "1.4.0; rm -rf /", "../1.4.0", "-rc"])
def test_unsafe_labels_are_refused(tmp_path: Path, label: str) -> None:
    spec = BackupSpec(database="shop", directory=str(tmp_path))
    with pytest.raises(BackupError, match="backup label"):
        backup_path(spec, label=label, now=NOW)


def test_file_name_is_dated_in_utc(tmp_path: Path) -> None:
    spec = BackupSpec(database="shop", directory="/var/backups/pg")
    paris = datetime(2026, 3, 1, 1, 2, 3, tzinfo=timezone(timedelta(hours=1)))
    assert (
        backup_path(spec, label="1.4.0+build.7", now=paris)
        == "/var/backups/pg/shop-1.4.0+build.7-20260301T000203Z.dump"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        backup_path(spec, label="1.4.0", now=datetime(2026, 3, 1))


def test_dump_command_quotes_and_never_prompts() -> None:
    spec = BackupSpec(database="shop", directory="/b", host="/run/pg sockets", port=5433, user="backup")
    assert dump_command(spec) == (
        "pg_dump --format=custom --no-password --verbose --dbname=shop "
        "'--host=/run/pg sockets' --port=5433 --username=backup"
    )


def test_sizes_read_well() -> None:
    assert [format_size(n) for n in (0, 1023, 1024, 5 * 1024**2 + 1, 3 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3.0 GiB",
    ]


async def test_list_entries_refuses_a_file_that_is_not_a_dump(pg: PostgresServer, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.dump"
    bogus.write_text("hello")
    with pytest.raises(BackupError, match=r"is not readable by pg_restore --list \(exit 1\)"):
        await list_entries(LocalHost("db"), str(bogus), pg_restore=str(pg.pg_restore))
    assert re.fullmatch(r"hello", bogus.read_text())  # a check changes nothing
