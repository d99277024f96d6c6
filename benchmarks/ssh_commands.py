"""Benchmark: 50 short commands on one host through SshHost, a fresh ``ssh`` per command, and
OpenSSH ControlMaster multiplexing, against the same real sshd on 127.0.0.1, in one run.

Targets: SshHost at least 5x faster than a fresh ``ssh`` per command, and within 1.5x of
ControlMaster. Each way's time includes opening its connection (SshHost's first command,
the ControlMaster's master).

Run (as root, with openssh-server installed; starts and stops its own sshd)::

    .venv/bin/python benchmarks/ssh_commands.py [--commands 50]

Exit status 0 when both targets are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.sshd import Sshd, start_sshd, unavailable

from iact_tui.services.remote import run_capture
from iact_tui.services.ssh import SshHost

COMMAND = "echo ok"


def ssh_base(server: Sshd) -> list[str]:
    """The ``ssh`` command line for the fixture's server, ignoring the operator's ~/.ssh."""
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        str(server.client_key),
        "-o",
        f"UserKnownHostsFile={server.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-p",
        str(server.port),
        "-l",
        server.user,
    ]


def check(out: subprocess.CompletedProcess[str]) -> None:
    if out.returncode != 0 or out.stdout.strip() != "ok":
        raise SystemExit(f"ssh failed ({out.returncode}): {out.stderr.strip()}")


async def via_ssh_host(server: Sshd, n: int) -> float:
    host = SshHost(
        server.host, port=server.port, user=server.user, identity_file=server.client_key, known_hosts=server.known_hosts
    )
    started = time.perf_counter()
    try:
        for _ in range(n):
            result = await run_capture(host, COMMAND)
            if result.stdout_tail != ("ok",):
                raise SystemExit(f"SshHost: unexpected result {result}")
        elapsed = time.perf_counter() - started
    finally:
        await host.close()
    assert host.connections_opened == 1
    return elapsed


def via_fresh_ssh(server: Sshd, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        check(subprocess.run([*ssh_base(server), server.host, COMMAND], capture_output=True, text=True, timeout=30))
    return time.perf_counter() - started


def via_control_master(server: Sshd, n: int) -> float:
    with tempfile.TemporaryDirectory(prefix="iact-bench-") as folder:
        sock = str(Path(folder) / "mux")
        mux = [*ssh_base(server), "-o", f"ControlPath={sock}"]
        started = time.perf_counter()
        subprocess.run([*mux, "-o", "ControlMaster=yes", "-o", "ControlPersist=60", "-fN", server.host], check=True)
        try:
            for _ in range(n):
                check(subprocess.run([*mux, server.host, COMMAND], capture_output=True, text=True, timeout=30))
            elapsed = time.perf_counter() - started
        finally:
            subprocess.run([*mux, "-O", "exit", server.host], capture_output=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=50, help="commands per way (default 50)")
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    server = start_sshd()
    try:
        n = args.commands
        ours = asyncio.run(via_ssh_host(server, n))
        fresh = via_fresh_ssh(server, n)
        master = via_control_master(server, n)
    finally:
        server.cleanup()
    print(f"{n} commands ({COMMAND!r}) on one host, sshd on 127.0.0.1, times include connecting:")
    for label, seconds in (
        ("SshHost (one connection)", ours),
        ("fresh ssh per command", fresh),
        ("ControlMaster", master),
    ):
        print(f"  {label:<26} {seconds:7.3f} s  {seconds / n * 1000:7.1f} ms/command")
    vs_fresh, vs_master = fresh / ours, ours / master
    print(f"  fresh ssh / SshHost      = {vs_fresh:5.1f}x  (target ≥ 5x)")
    print(f"  SshHost / ControlMaster  = {vs_master:5.2f}x  (target ≤ 1.5x)")
    return 0 if vs_fresh >= 5 and vs_master <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
