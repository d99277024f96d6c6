"""Start, stop and restart a sandbox environment's Django server.

Run as ``python -m iact_tui.demo.appctl {start,stop,restart,status} --name NAME --port
PORT --run-dir RUNDIR`` with the app's checkout as the working directory. It plays the
part ``systemctl restart`` plays on a real host: the server
(``manage.py runserver 127.0.0.1:PORT --noreload --insecure``) runs detached in its own
session, its output goes to ``RUNDIR/NAME.log``, its pid to ``RUNDIR/NAME.pid``, and
``RUNDIR/NAME.json`` remembers the checkout and port so the sandbox can be stopped.
Only loopback is ever used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from iact_tui.services.files import write_atomic

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
"""Seconds a (re)started server has to answer HTTP."""
STOP_TIMEOUT = 5.0
"""Seconds between SIGTERM and SIGKILL."""
LOG_TAIL = 20
"""Log lines shown when a server does not come up."""
SERVER_NICENESS = 5
"""The servers' ``nice`` value: below the wizard's (see :func:`start`)."""


class AppctlError(Exception):
    """The server could not be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class Server:
    """Where one environment's server keeps its state.

    Attributes:
        name: Environment name (``staging``); names the pid, log and state files.
        port: Loopback TCP port the server listens on.
        run_dir: Directory holding ``NAME.pid``, ``NAME.log`` and ``NAME.json``.
        cwd: The app's checkout (where ``manage.py`` is).
        python: Interpreter that runs ``manage.py``.
    """

    name: str
    port: int
    run_dir: Path
    cwd: Path
    python: str = sys.executable

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    @property
    def state_file(self) -> Path:
        return self.run_dir / f"{self.name}.json"

    @property
    def health_url(self) -> str:
        return f"http://{HOST}:{self.port}/api/health"

    @property
    def probe_url(self) -> str:
        """What :func:`wait_until_up` requests: a static file, served (``--insecure``)
        before the maintenance middleware, so a restart during maintenance logs a 200, not
        the 503 every other URL answers then (which the verification's log scan counts).
        A real ``systemctl restart`` sends no request at all."""
        return f"http://{HOST}:{self.port}/static/core/site.css"

    @classmethod
    def from_state(cls, state_file: Path) -> Server:
        """Read a server's ``NAME.json`` written by :meth:`save_state`."""
        data = json.loads(state_file.read_text(encoding="utf-8"))
        return cls(
            name=str(data["name"]),
            port=int(data["port"]),
            run_dir=state_file.parent,
            cwd=Path(data["cwd"]),
            python=str(data.get("python", sys.executable)),
        )

    def save_state(self) -> None:
        """Write ``NAME.json`` (checkout, port, interpreter)."""
        data = {"name": self.name, "port": self.port, "cwd": str(self.cwd), "python": self.python}
        write_atomic(self.state_file, json.dumps(data, indent=2) + "\n")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _alive(pid: int) -> bool:
    # Reap it if it is our own child, so an ended server does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_our_server(pid: int, port: int) -> bool:
    """Whether ``pid`` is a runserver on ``port`` (guards against a reused pid)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _alive(pid)  # no /proc: trust the pid file
    return b"runserver" in args and f"{HOST}:{port}".encode() in args


def running_pid(server: Server) -> int | None:
    """The pid of the server if it is running; a stale pid file is removed.

    Args:
        server: The server.

    Returns:
        Its pid, or None when no server of ours runs.
    """
    try:
        pid = int(server.pid_file.read_text().strip())
    except (OSError, ValueError):
        server.pid_file.unlink(missing_ok=True)
        return None
    if _alive(pid) and _is_our_server(pid, server.port):
        return pid
    server.pid_file.unlink(missing_ok=True)
    return None


def started_pid(server: Server, timeout: float = 10.0) -> int | None:
    """The pid of a server :func:`start` just launched, once it runs ``runserver``.

    Right after the fork, ``/proc/PID/cmdline`` still shows the parent until the child
    has exec'd (slow on a loaded machine), so :func:`running_pid` would call it gone.
    This waits for the exec, or for the process to end.

    Args:
        server: The server.
        timeout: Seconds to wait for the exec.

    Returns:
        Its pid, or None when it ended (or there is no pid file).
    """
    try:
        pid = int(server.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if _is_our_server(pid, server.port) or time.monotonic() > deadline:
            return pid
        time.sleep(0.02)
    server.pid_file.unlink(missing_ok=True)
    return None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer counts, 503 in maintenance mode too
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def wait_until_up(server: Server, pid: int, timeout: float = START_TIMEOUT) -> None:
    """Wait until the server answers HTTP on its port.

    Args:
        server: The server.
        pid: Its process id; if it ends, waiting stops at once.
        timeout: Seconds to wait.

    Raises:
        AppctlError: It ended or did not answer in time; the message holds the log's tail.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = _alive(pid)
        if alive and _answers(server.probe_url):
            return
        if not alive:
            server.pid_file.unlink(missing_ok=True)
            raise AppctlError(
                f"{server.name}: the server (pid {pid}) exited before answering on port "
                f"{server.port}; last lines of {server.log_file}:\n{_tail(server.log_file)}"
            )
        time.sleep(0.1)
    raise AppctlError(
        f"{server.name}: no HTTP answer from {server.probe_url} within {timeout:.0f} s; "
        f"last lines of {server.log_file}:\n{_tail(server.log_file)}"
    )


def start(server: Server, say: Callable[[str], None] = print, wait: bool = True) -> int:
    """Start the server unless it runs already.

    Args:
        server: The server.
        say: Receives progress lines.
        wait: Wait until it answers HTTP.

    Returns:
        The server's pid.

    Raises:
        AppctlError: ``manage.py`` is missing, or the server did not come up.
    """
    if not (server.cwd / "manage.py").is_file():
        raise AppctlError(f"{server.name}: no manage.py in {server.cwd}; run appctl from the app's checkout")
    server.run_dir.mkdir(parents=True, exist_ok=True)
    server.save_state()
    pid = running_pid(server)
    if pid is not None:
        say(f"{server.name}: already running (pid {pid}) on {HOST}:{server.port}")
        return pid
    say(f"{server.name}: starting runserver on {HOST}:{server.port} (log: {server.log_file})")
    args = [
        # Below the wizard's priority: these stand in for servers that are not on the
        # operator's machine, and on a small one the timed requests of the verification
        # took the CPU from the wizard's UI loop (stalls of 50-60 ms on 2 cores).
        *(["nice", "-n", str(SERVER_NICENESS)] if shutil.which("nice") else []),
        server.python,
        "manage.py",
        "runserver",
        f"{HOST}:{server.port}",
        "--noreload",
        "--insecure",
    ]
    with server.log_file.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(args)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            args,
            cwd=server.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    write_atomic(server.pid_file, f"{proc.pid}\n")
    if wait:
        say(f"{server.name}: waiting for {server.health_url} (up to {START_TIMEOUT:.0f} s)")
        wait_until_up(server, proc.pid)
        say(f"{server.name}: up (pid {proc.pid})")
    return proc.pid


def stop(server: Server, say: Callable[[str], None] = print) -> int | None:
    """Stop the server's process group: SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`.

    Args:
        server: The server.
        say: Receives progress lines.

    Returns:
        The pid that was stopped, or None when nothing was running.
    """
    pid = running_pid(server)
    if pid is None:
        say(f"{server.name}: not running")
        return None
    say(f"{server.name}: stopping pid {pid}")
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            break
    server.pid_file.unlink(missing_ok=True)
    say(f"{server.name}: stopped")
    return pid


def _name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", value):
        raise argparse.ArgumentTypeError(f"{value!r}: use lowercase letters, digits, - or _")
    return value


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value}: a TCP port is 1-65535")
    return port


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m iact_tui.demo.appctl",
        description="Control a sandbox environment's Django server; run it in the app's checkout.",
    )
    parser.add_argument("action", choices=["start", "stop", "restart", "status"])
    parser.add_argument("--name", required=True, type=_name, help="environment name, e.g. staging")
    parser.add_argument("--port", required=True, type=_port, help="loopback port to serve on")
    parser.add_argument("--run-dir", required=True, type=Path, help="where pid, log and state files live")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Returns:
        0 on success; 1 when the server could not be started; for ``status``, 3 when
        it is not running.
    """
    args = _parse(argv)
    server = Server(args.name, args.port, args.run_dir.resolve(), Path.cwd())
    try:
        if args.action == "status":
            pid = running_pid(server)
            print(f"{server.name}: running (pid {pid})" if pid else f"{server.name}: not running")
            return 0 if pid else 3
        if args.action in ("stop", "restart"):
            stop(server)
        if args.action in ("start", "restart"):
            start(server)
    except AppctlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
