"""A throwaway PostgreSQL cluster for the tests: the ``postgres_server`` fixture.

One cluster per test session, built from Debian's packages (the highest version under
``/usr/lib/postgresql/*/bin``), in a fresh directory under ``/tmp`` and listening on a
free TCP port on 127.0.0.1 only (its Unix socket lives in that directory). PostgreSQL
refuses to run as root, so when the tests run as root the server runs as the
``postgres`` system user through ``runuser``.

Authentication is real: TCP connections need a password (``scram-sha-256``) for every
role; only the Unix socket trusts, and only the fixture's own setup and the helpers
below use it. The cluster holds a database (:attr:`PostgresServer.database`) owned by a
test role with a password, with one table ``items`` of three rows.

When PostgreSQL is missing the tests that use the fixture are skipped, unless the ``CI``
environment variable is set: then they fail (``.ci/run`` installs ``postgresql``).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

_PG_ROOT = Path("/usr/lib/postgresql")
_SERVER_USER = "postgres"  # the Debian package's system user, used when the tests run as root
_START_TIMEOUT = 30  # seconds pg_ctl waits for the server to accept connections

ITEMS: tuple[tuple[int, str, str], ...] = (
    (1, "anvil", "19.99"),
    (2, "café crème", "3.50"),
    (3, "rope; 10 m", "7.25"),
)
"""The rows of the test database's ``items`` table: (id, name, price as text)."""


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway cluster.

    Attributes:
        host: The address it listens on (always ``127.0.0.1``).
        port: Its TCP port.
        superuser: The bootstrap superuser's name (trusted on the Unix socket only).
        database: A database owned by :attr:`role`, with the table ``items`` (:data:`ITEMS`).
        role: A login role that needs :attr:`password` over TCP.
        password: :attr:`role`'s password.
        bin_dir: The directory of PostgreSQL's programs.
        pg_dump: Path of ``pg_dump``.
        pg_restore: Path of ``pg_restore``.
        psql: Path of ``psql``.
        socket_dir: The directory of its Unix socket.
    """

    host: str
    port: int
    superuser: str
    database: str
    role: str
    password: str
    bin_dir: Path
    pg_dump: Path
    pg_restore: Path
    psql: Path
    socket_dir: Path

    def sql(self, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket; returns psql's unaligned output.

        Args:
            sql: One or more SQL statements.
            database: The database to connect to.

        Returns:
            The output rows, ``|``-separated, without headers or footer.

        Raises:
            subprocess.CalledProcessError: psql failed (its stderr is in the exception).
        """
        done = subprocess.run(
            [
                str(self.psql),
                "--no-psqlrc",
                "--quiet",
                "--tuples-only",
                "--no-align",
                "--set=ON_ERROR_STOP=1",
                f"--host={self.socket_dir}",
                f"--port={self.port}",
                f"--username={self.superuser}",
                f"--dbname={database}",
                "--command",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    def create_database(self, name: str) -> None:
        """Create an empty database owned by :attr:`role`."""
        self.sql(f'CREATE DATABASE "{name}" OWNER "{self.role}"')

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists."""
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _unavailable(reason: str) -> NoReturn:
    """Fail under CI (PostgreSQL must be there), skip elsewhere."""
    message = f"PostgreSQL is not available: {reason} (apt-get install postgresql)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _bin_dir() -> Path:
    """The ``bin`` directory of the highest PostgreSQL version installed."""
    candidates = []
    for path in _PG_ROOT.glob("*/bin"):
        version = path.parent.name
        if version.replace(".", "").isdigit() and (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            candidates.append((tuple(int(p) for p in version.split(".")), path))
    if not candidates:
        _unavailable(f"no {_PG_ROOT}/<version>/bin with initdb and pg_ctl")
    return max(candidates)[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user(argv: list[str]) -> list[str]:
    """``argv`` run as the server's user when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", _SERVER_USER, "--", *argv]


def _run(argv: list[str], *, timeout: float = 60, log: Path | None = None) -> None:
    """Run a setup command; on failure raise with its output and the server log's tail."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = ""
        if log is not None and log.is_file():
            tail = "\nserver log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}{tail}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL cluster on 127.0.0.1 for the whole session, stopped at its end.

    Yields:
        The :class:`PostgresServer`.
    """
    bin_dir = _bin_dir()
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam(_SERVER_USER)
        except KeyError:
            _unavailable(f"running as root and there is no {_SERVER_USER!r} user to run the server")
    # Not under pytest's tmp dirs: those are mode 0700 and owned by root.
    root = Path(tempfile.mkdtemp(prefix="iact-pg-", dir="/tmp"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (root, sockets):
            os.chown(path, server_user.pw_uid, server_user.pw_gid)
    superuser, role, database = "iact_super", "iact_backup", "iact_shop"
    password = secrets.token_urlsafe(18)
    port = _free_port()
    server = PostgresServer(
        host="127.0.0.1",
        port=port,
        superuser=superuser,
        database=database,
        role=role,
        password=password,
        bin_dir=bin_dir,
        pg_dump=bin_dir / "pg_dump",
        pg_restore=bin_dir / "pg_restore",
        psql=bin_dir / "psql",
        socket_dir=sockets,
    )
    started = False
    try:
        _run(
            _as_server_user(
                [
                    str(bin_dir / "initdb"),
                    f"--pgdata={data}",
                    f"--username={superuser}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",  # a throwaway cluster: skip the fsyncs, start in about a second
                ]
            )
        )
        (data / "pg_hba.conf").write_text(
            "# iact-tui test cluster: trust on the socket (setup only), passwords over TCP\n"
            "local all all trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        _run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    f"--pgdata={data}",
                    f"--log={root / 'server.log'}",
                    "--wait",
                    f"--timeout={_START_TIMEOUT}",
                    "--options",
                    f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets}"
                    " -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                    "start",
                ]
            ),
            timeout=_START_TIMEOUT + 10,
            log=root / "server.log",
        )
        started = True
        server.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        server.sql(f"CREATE DATABASE {database} OWNER {role}")
        rows = ", ".join(f"({i}, '{name}', {price})" for i, name, price in ITEMS)
        server.sql(
            f"SET ROLE {role};"
            " CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric(10, 2) NOT NULL);"
            f" INSERT INTO items VALUES {rows};",
            database=database,
        )
        yield server
    finally:
        if started:
            subprocess.run(
                _as_server_user([str(bin_dir / "pg_ctl"), f"--pgdata={data}", "--mode=immediate", "--wait", "stop"]),
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
