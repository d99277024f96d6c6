"""The sample Django site on the real sshd: a deploy target reached over SSH (pytest plugin).

:func:`ssh_site` builds a demo sandbox in a folder the SSH test user can read (pytest's
temp dirs are private to root), copies its prepared staging checkout (database, static
files) into the sshd fixture's server folder as ``app-<n>`` owned by the test user, and
gives the test user a Python with Django (a ``--without-pip`` venv of the system Python
3 with Django, asgiref and sqlparse copied in: the suite's own venv lives under
``/root``, which the test user cannot enter). :meth:`SshSite.write_config` writes an
``iact-release.toml`` whose ``staging`` environment deploys over SSH to that copy, with a
``restart`` command that (re)starts ``manage.py runserver`` on a free loopback port.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from iact_tui import demo
from support.sshd import TEST_USER, Sshd, free_port

_PACKAGES = ("django", "asgiref", "sqlparse")
_SYSTEM_PYTHON = Path("/usr/bin/python3")


def as_test_user(*args: str, cwd: Path | None = None) -> str:
    """Run a command as the SSH test user; its stdout."""
    done = subprocess.run(
        ["runuser", "-u", TEST_USER, "--", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{args} as {TEST_USER} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@pytest.fixture(scope="session")
def remote_python(sshd: Sshd) -> Path:
    """A Python with Django that the SSH test user can run (session-wide)."""
    if not _SYSTEM_PYTHON.exists():
        message = f"{_SYSTEM_PYTHON} is missing: the SSH test user needs a system Python 3"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    venv = sshd.server_dir / "venv"
    if not venv.exists():
        subprocess.run([str(_SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True)
        site = next((venv / "lib").glob("python3*/site-packages"))
        ours = Path(next(p for p in sys.path if p.endswith("site-packages") and (Path(p) / "django").is_dir()))
        for name in _PACKAGES:
            shutil.copytree(ours / name, site / name, symlinks=True)
        subprocess.run(["chown", "-R", f"{TEST_USER}:", str(venv)], check=True)
    # Git refuses repositories owned by someone else ("dubious ownership"); the sandbox's
    # origin belongs to root, so the test user trusts every path (its own tests only).
    as_test_user("git", "config", "--global", "--replace-all", "safe.directory", "*")
    return venv / "bin" / "python"


@dataclass
class SshSite:
    """A demo sandbox whose ``staging`` deploys over SSH into ``app_dir`` on the sshd.

    Attributes:
        box: The sandbox (repo, origin, config...) built in a folder the test user can read.
        sshd: The running sshd.
        python: The test user's Python with Django.
        app_dir: The deploy target: a checkout of the sandbox's origin, owned by the test user.
        port: Loopback port the site is served on after a restart.
    """

    box: demo.Sandbox
    sshd: Sshd
    python: Path
    app_dir: Path
    port: int

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/health"

    @property
    def pid_file(self) -> Path:
        return self.app_dir.parent / f"{self.app_dir.name}.pid"

    def restart_command(self) -> str:
        """A shell command (re)starting runserver detached, then waiting until it answers."""
        log = self.app_dir.parent / f"{self.app_dir.name}.log"
        pid = shlex.quote(str(self.pid_file))
        wait = (
            "import sys, time, urllib.error, urllib.request\n"
            "for _ in range(150):\n"
            "    try:\n"
            f"        urllib.request.urlopen('{self.health_url}', timeout=1); sys.exit(0)\n"
            "    except urllib.error.HTTPError: sys.exit(0)  # it answers (503 in maintenance)\n"
            "    except OSError: time.sleep(0.1)\n"
            "sys.exit('the site did not answer')\n"
        )
        return (
            f"if [ -f {pid} ]; then kill $(cat {pid}) 2>/dev/null; sleep 0.3; fi; "
            f"setsid {{python}} manage.py runserver 127.0.0.1:{self.port} --noreload --insecure "
            f"> {shlex.quote(str(log))} 2>&1 < /dev/null & echo $! > {pid}; "
            f"{{python}} -c {shlex.quote(wait)}"
        )

    def write_config(
        self,
        *,
        pre: list[tuple[str, str]] | None = None,
        steps: list[tuple[str, str, float]] | None = None,
        post: list[tuple[str, str]] | None = None,
        known_hosts: Path | None = None,
        port: int | None = None,
        extra: str = "",
        env: str = "staging",
        top: str = "",
        hosts: tuple[str, ...] = ("127.0.0.1",),
    ) -> Path:
        """Write the repo's ``iact-release.toml``: staging over SSH, no production, no tests.

        Args:
            pre: ``(name, run)`` pairs; default: maintenance mode on.
            steps: ``(name, run, timeout)``; default: the procedure's Django steps and a restart.
            post: ``(name, run)`` pairs; default: maintenance mode off.
            known_hosts: Default: the fixture's good known_hosts.
            port: Default: the sshd's port.
            extra: More TOML lines for the environment's table.
            env: The environment's name (``production`` needs the typed confirmation).
            top: More top-level TOML tables, after the environment (e.g. ``[notify]``).
            hosts: The environment's hosts (aliases need ``ssh_config = ...`` in ``extra``).

        Returns:
            The config's path.
        """
        pre = pre if pre is not None else [("maintenance mode on", "{python} manage.py maintenance on")]
        steps = (
            steps
            if steps is not None
            else [
                ("fetch tags", "git fetch --tags --force {remote}", 60),
                ("check out the release tag", "git -c advice.detachedHead=false checkout --detach {tag}", 60),
                ("run migrations", "{python} manage.py migrate --noinput", 120),
                ("collect static files", "{python} manage.py collectstatic --noinput", 120),
                ("restart the app server", self.restart_command(), 60),
            ]
        )
        post = post if post is not None else [("maintenance mode off", "{python} manage.py maintenance off")]

        def toml(value: str) -> str:
            return json.dumps(value)  # a JSON string is a valid TOML basic string

        def cmds(items: list[tuple[str, str]] | list[tuple[str, str, float]]) -> str:
            rows = []
            for item in items:
                timeout = f", timeout = {float(item[2])}" if len(item) == 3 else ""
                rows.append(f"    {{ name = {toml(item[0])}, run = {toml(item[1])}{timeout} }},")
            return "[\n" + "\n".join(rows) + "\n]"

        text = f"""[project]
main_branch = "main"
remote = "origin"
tag_prefix = "v"
changelog = "CHANGELOG.md"
version_files = ["iact/__init__.py", "pyproject.toml", "frontend/package.json"]

[checks]
tests = ""
coverage_report = ""

[environments.{env}]
transport = "ssh"
hosts = {json.dumps(list(hosts))}
user = "{self.sshd.user}"
port = {port or self.sshd.port}
identity_file = {toml(str(self.sshd.client_key))}
known_hosts = {toml(str(known_hosts or self.sshd.known_hosts))}
connect_timeout = 5
app_dir = {toml(str(self.app_dir))}
python = {toml(str(self.python))}
health_url = {toml(self.health_url)}
pre = {cmds(pre)}
steps = {cmds(steps)}
post = {cmds(post)}
{extra}

{top}
"""
        path = self.box.config_path
        path.write_text(text, encoding="utf-8")
        subprocess.run(["git", "add", "iact-release.toml"], cwd=self.box.repo, check=True, capture_output=True)
        subprocess.run(
            ["git", "commit", "-qm", "chore: deploy staging over ssh"],
            cwd=self.box.repo,
            check=True,
            capture_output=True,
        )
        subprocess.run(["git", "push", "-q", "origin", "main"], cwd=self.box.repo, check=True, capture_output=True)
        return path

    def health(self) -> dict[str, object]:
        with urllib.request.urlopen(self.health_url, timeout=5) as response:  # loopback only
            return dict(json.loads(response.read()))

    def in_maintenance(self) -> bool:
        return (self.app_dir / "MAINTENANCE").exists()

    def applied_migrations(self) -> dict[str, list[str]]:
        """App label → applied migration names, read from the site's database (sqlite)."""
        import sqlite3

        with contextlib.closing(sqlite3.connect(f"file:{self.app_dir / 'db.sqlite3'}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
        found: dict[str, list[str]] = {}
        for app, name in rows:
            found.setdefault(app, []).append(name)
        return found

    def stop_server(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(self.pid_file.read_text().strip()), signal.SIGTERM)


@pytest.fixture
def ssh_site(running_sshd: Sshd, remote_python: Path) -> Iterator[SshSite]:
    """A fresh sandbox with staging deployed over the real sshd (per test)."""
    base = Path(tempfile.mkdtemp(prefix="iact-ssh-site-"))
    base.chmod(0o755)
    app_dir = running_sshd.server_dir / f"app-{base.name}"
    site: SshSite | None = None
    try:
        box = demo.build_sandbox(base / "sandbox", start_servers=False)
        for folder in (box.root, box.origin):
            folder.chmod(0o755)
        subprocess.run(["cp", "-a", str(box.root / "staging"), str(app_dir)], check=True)
        subprocess.run(["chown", "-R", f"{TEST_USER}:", str(app_dir)], check=True)
        site = SshSite(box, running_sshd, remote_python, app_dir, free_port())
        yield site
    finally:
        if site is not None:
            site.stop_server()
        shutil.rmtree(app_dir, ignore_errors=True)
        for leftover in running_sshd.server_dir.glob(f"{app_dir.name}.*"):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)
