"""A real OpenSSH ``sshd`` on 127.0.0.1 for the SSH transport's tests (pytest plugin).

The session-scoped :func:`sshd` fixture starts ``/usr/sbin/sshd`` on a free loopback port
with its own ed25519 host key, logging in a non-root test user (``iact-ssh-test``,
created with ``useradd`` when missing) with a generated client key. Everything lives in
a directory ``/tmp/iact-sshd-<random>`` (mode 0755, so the test user can read what it
must), removed at the end. Without sshd, root or ``useradd`` the tests are skipped, and
they fail when the ``CI`` environment variable is set.

The same code starts the benchmark's sshd: ``benchmarks/ssh_commands.py`` imports
:func:`start_sshd` and :func:`unavailable` from here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
TEST_USER = "iact-ssh-test"
HOST = "127.0.0.1"
_READY_TIMEOUT = 10.0  # seconds to wait for sshd to accept connections


def unavailable(user: str = TEST_USER) -> str | None:
    """Why a real sshd cannot be started here, or ``None`` when it can.

    Args:
        user: The non-root login user the server needs (created when missing, as root).

    Returns:
        A sentence naming what is missing, or ``None``.
    """
    if not SSHD.exists():
        return f"{SSHD} is not installed (apt-get install openssh-server)"
    for tool in ("ssh-keygen", "ssh"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install openssh-client)"
    if os.geteuid() != 0:
        return "the sshd fixture needs root (to run sshd and log in a separate non-root user)"
    try:
        ensure_user(user)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"cannot create the test user {user}: {exc}"
    return None


def ensure_user(name: str) -> pwd.struct_passwd:
    """Create the non-root login user ``name`` (home dir, ``/bin/bash``) unless it exists.

    The password field is set to ``*`` (no password, but not "locked"): sshd without PAM
    refuses public-key logins to accounts whose password field starts with ``!``.

    Returns:
        The user's passwd entry.

    Raises:
        subprocess.CalledProcessError: ``useradd`` or ``usermod`` failed.
    """
    # pytest-xdist workers start their sshd at once: one creates the user, the others wait
    # (useradd and usermod also refuse while another holds /etc/passwd's lock).
    with open(f"/tmp/.{name}.lock", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            shell = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
            subprocess.run(["useradd", "--create-home", "--shell", shell, name], check=True, capture_output=True)
            entry = pwd.getpwnam(name)
        subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    return entry


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


@dataclass
class Sshd:
    """A running OpenSSH server on loopback and the client-side files to reach it.

    Attributes:
        host: Always ``127.0.0.1``.
        port: The TCP port it listens on.
        user: The non-root login user.
        root: The directory holding every file below (removed by :meth:`cleanup`).
        client_key: Private key accepted for ``user`` (``client_key.pub`` beside it).
        wrong_key: A private key the server does not accept.
        known_hosts: ``[127.0.0.1]:PORT`` with the server's real host key.
        wrong_known_hosts: The same line with a different key (a "changed" host key).
        host_key: The server's private host key (``.pub`` beside it).
        server_dir: A directory owned by ``user``, where tests deploy things over SSH.
        log: sshd's log (``-e`` output).
    """

    port: int
    user: str
    root: Path
    host: str = HOST
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def client_key(self) -> Path:
        return self.root / "client_key"

    @property
    def wrong_key(self) -> Path:
        return self.root / "wrong_key"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def wrong_known_hosts(self) -> Path:
        return self.root / "wrong_known_hosts"

    @property
    def host_key(self) -> Path:
        return self.root / "host_key"

    @property
    def server_dir(self) -> Path:
        return self.root / "srv"

    @property
    def log(self) -> Path:
        return self.root / "sshd.log"

    @property
    def config(self) -> Path:
        return self.root / "sshd_config"

    def fingerprint(self) -> str:
        """The host key's SHA256 fingerprint as ``ssh-keygen -lf`` prints it (``SHA256:...``)."""
        out = subprocess.run(
            ["ssh-keygen", "-lf", str(self.host_key) + ".pub"], check=True, capture_output=True, text=True
        ).stdout
        return out.split()[1]

    def accepted(self) -> int:
        """How many logins sshd has accepted so far (one per SSH connection)."""
        try:
            return self.log.read_text(errors="replace").count("Accepted publickey for")
        except FileNotFoundError:
            return 0

    def start(self) -> None:
        """Start sshd (again) on :attr:`port` and wait until it accepts connections.

        Raises:
            RuntimeError: sshd exited or did not listen within 10 seconds.
        """
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        log = self.log.open("ab")
        try:
            self.process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited with status {self.process.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                return
            time.sleep(0.01)
        raise RuntimeError(f"sshd did not listen on {self.host}:{self.port} within {_READY_TIMEOUT} s")

    def stop(self, *, drop_connections: bool = True) -> None:
        """Stop the listening sshd and, by default, kill every connection's sshd process.

        Args:
            drop_connections: Also SIGKILL the per-connection sshd processes, as when the
                server dies; the commands they ran are left orphaned (not killed).
        """
        if self.process is None:
            return
        main = self.process.pid
        children = _sshd_descendants(main) if drop_connections else []
        with contextlib.suppress(ProcessLookupError):
            os.kill(main, signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process = None

    def restart(self) -> None:
        """Stop (dropping connections) and start again on the same port with the same keys."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop sshd and remove :attr:`root`."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _sshd_descendants(pid: int) -> list[int]:
    """Pids of the sshd processes below ``pid`` (the per-connection ones)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        names[int(entry.name)] = comm
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and names.get(child, "").startswith("sshd"):
                found.append(child)
                frontier.append(child)
    return found


def start_sshd(user: str = TEST_USER) -> Sshd:
    """Create keys, config and directories under a fresh ``/tmp/iact-sshd-<random>`` and start sshd.

    Args:
        user: The non-root login user (created when missing; needs root).

    Returns:
        The running :class:`Sshd`; call :meth:`Sshd.cleanup` when done.

    Raises:
        RuntimeError: sshd could not be started.
        subprocess.CalledProcessError: a key or the user could not be made.
    """
    entry = ensure_user(user)
    root = Path(f"/tmp/iact-sshd-{secrets.token_hex(4)}")
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    try:
        server = Sshd(port=free_port(), user=user, root=root)
        _keygen(server.host_key, "iact-test-host")
        _keygen(server.client_key, "iact-test-client")
        _keygen(server.wrong_key, "iact-test-wrong-client")
        _keygen(root / "other_host_key", "iact-test-other-host")
        authorized = root / "authorized_keys"
        authorized.write_text(server.client_key.with_suffix(".pub").read_text())
        authorized.chmod(0o644)  # sshd reads it as the target user
        host_pub = server.host_key.with_suffix(".pub").read_text().split()
        other_pub = (root / "other_host_key.pub").read_text().split()
        server.known_hosts.write_text(f"[{HOST}]:{server.port} {host_pub[0]} {host_pub[1]}\n")
        server.wrong_known_hosts.write_text(f"[{HOST}]:{server.port} {other_pub[0]} {other_pub[1]}\n")
        server.server_dir.mkdir()
        os.chown(server.server_dir, entry.pw_uid, entry.pw_gid)
        server.config.write_text(
            "\n".join(
                [
                    f"Port {server.port}",
                    f"ListenAddress {HOST}",
                    f"HostKey {server.host_key}",
                    f"PidFile {root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    f"AllowUsers {user}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "StrictModes no",
                    "UsePAM no",
                    "X11Forwarding no",
                    "AllowTcpForwarding yes",  # for the ProxyJump test (jumps through itself)
                    "PrintMotd no",
                    "LogLevel INFO",
                    "",
                ]
            )
        )
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    """A real OpenSSH sshd on 127.0.0.1 for the whole test session (see :class:`Sshd`).

    Skipped when sshd, root or the test user are unavailable; fails instead under ``CI``.
    """
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"sshd fixture: {reason}")
        pytest.skip(reason)
    server = start_sshd()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def running_sshd(sshd: Sshd) -> Sshd:
    """The session's sshd, restarted first if an earlier test left it stopped."""
    if sshd.process is None or sshd.process.poll() is not None:
        sshd.process = None
        sshd.start()
    return sshd
