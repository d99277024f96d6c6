"""SshHost against a real OpenSSH sshd on 127.0.0.1 (the ``sshd`` fixture in tests/support/sshd.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from support.sshd import Sshd, free_port

from iact_tui.config import EnvironmentConfig
from iact_tui.errors import CommandError, SshError
from iact_tui.services.remote import CommandResult, Line, LocalHost, make_host, make_hosts, run_capture
from iact_tui.services.ssh import SshHost


def ssh_host(server: Sshd, **kw: object) -> SshHost:
    """An SshHost for the fixture's server, using only the fixture's files (no ~/.ssh)."""
    options: dict[str, object] = {
        "port": server.port,
        "user": server.user,
        "identity_file": server.client_key,
        "known_hosts": server.known_hosts,
        "connect_timeout": 5.0,
    }
    options.update(kw)
    return SshHost(server.host, **options)  # type: ignore[arg-type]


async def collect(host: SshHost, command: str, **kw: object) -> tuple[list[Line], CommandResult]:
    lines: list[Line] = []
    result: CommandResult | None = None
    async for item in host.stream(command, **kw):  # type: ignore[arg-type]
        if isinstance(item, CommandResult):
            result = item
        else:
            lines.append(item)
    assert result is not None
    return lines, result


def alive(pid: int) -> bool:
    """True if ``pid`` runs on the (loopback) server; a zombie counts as ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def read_pids(path: Path) -> list[int]:
    return [int(word) for word in path.read_text().split()]


async def wait_for_file(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} was not written"
        await asyncio.sleep(0.02)


async def test_echo_exit_status_and_streams_apart_in_order(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd, name="web1")
    try:
        lines, result = await collect(host, "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 3")
    finally:
        await host.close()
    assert [ln.text for ln in lines if ln.stream == "stdout"] == ["out1", "out2"]
    assert [ln.text for ln in lines if ln.stream == "stderr"] == ["err1", "err2"]
    assert result.exit_status == 3 and not result.ok and not result.timed_out
    assert result.host == "web1" and result.command.endswith("exit 3")
    assert result.stdout_tail == ("out1", "out2") and result.stderr_tail == ("err1", "err2")


async def test_lines_are_streamed_as_they_come_with_timestamps(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    before = time.time()
    try:
        lines, result = await collect(host, "echo a; sleep 0.4; echo b")
    finally:
        await host.close()
    assert result.ok
    a, b = lines
    assert (a.text, b.text) == ("a", "b")
    assert before <= a.at and b.at - a.at >= 0.3  # "a" arrived before "b" was printed


async def test_twenty_commands_reuse_one_connection(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    logins = running_sshd.accepted()
    try:
        results = [await run_capture(host, f"echo {i}") for i in range(20)]
    finally:
        await host.close()
    assert [r.stdout_tail for r in results] == [(str(i),) for i in range(20)]
    assert host.connections_opened == 1
    assert running_sshd.accepted() - logins == 1


async def test_concurrent_first_commands_open_one_connection_and_respect_max_sessions(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    logins = running_sshd.accepted()
    try:
        # 15 at once: more than OpenSSH's MaxSessions 10, so channels must be bounded.
        results = await asyncio.gather(*(run_capture(host, f"sleep 0.2; echo {i}") for i in range(15)))
    finally:
        await host.close()
    assert sorted(int(r.stdout_tail[0]) for r in results) == list(range(15))
    assert all(r.ok for r in results)
    assert host.connections_opened == 1
    assert running_sshd.accepted() - logins == 1


async def test_close_then_use_again_opens_a_new_connection(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    try:
        assert (await run_capture(host, "echo one")).stdout_tail == ("one",)
        await host.close()
        assert (await run_capture(host, "echo two")).stdout_tail == ("two",)
    finally:
        await host.close()
    assert host.connections_opened == 2


async def test_unknown_host_key_names_the_fingerprint_and_how_to_add_it(running_sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host = ssh_host(running_sshd, known_hosts=empty)
    with pytest.raises(SshError) as info:
        await run_capture(host, "true")
    err = info.value
    assert "unknown host key" in err.what
    assert f"127.0.0.1:{running_sshd.port}" in err.what
    assert running_sshd.fingerprint() in err.what
    assert f"ssh-keyscan -p {running_sshd.port} 127.0.0.1 >> {empty}" in err.fix
    assert "Traceback" not in str(err)
    assert host.connections_opened == 0


async def test_missing_known_hosts_file_trusts_nothing(running_sshd: Sshd, tmp_path: Path) -> None:
    host = ssh_host(running_sshd, known_hosts=tmp_path / "absent")
    with pytest.raises(SshError, match="unknown host key") as info:
        await run_capture(host, "true")
    assert running_sshd.fingerprint() in info.value.what


async def test_changed_host_key_is_refused_loudly(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd, known_hosts=running_sshd.wrong_known_hosts)
    with pytest.raises(SshError) as info:
        await run_capture(host, "true")
    err = info.value
    assert "does NOT match" in err.what and running_sshd.fingerprint() in err.what
    assert f"ssh-keygen -R '[127.0.0.1]:{running_sshd.port}'" in err.fix


async def test_connection_refused_names_host_and_port() -> None:
    port = free_port()
    host = SshHost("127.0.0.1", port=port, known_hosts=Path("/dev/null"), connect_timeout=5)
    with pytest.raises(SshError) as info:
        await run_capture(host, "true")
    assert info.value.what == f"127.0.0.1: 127.0.0.1:{port} refused the connection"
    assert "sshd" in info.value.fix


async def test_wrong_client_key_is_an_auth_failure(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd, identity_file=running_sshd.wrong_key)
    with pytest.raises(SshError) as info:
        await run_capture(host, "true")
    assert f"127.0.0.1:{running_sshd.port} refused to log in {running_sshd.user} with our keys" in info.value.what
    assert "authorized_keys" in info.value.fix


async def test_missing_identity_file_is_named(running_sshd: Sshd, tmp_path: Path) -> None:
    host = ssh_host(running_sshd, identity_file=tmp_path / "no_such_key")
    with pytest.raises(SshError, match="cannot read the SSH key") as info:
        await run_capture(host, "true")
    assert "no_such_key" in info.value.what


async def test_silent_server_is_a_connect_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never says a word (no SSH banner)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        host = SshHost("127.0.0.1", port=port, known_hosts=Path("/dev/null"), connect_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(SshError) as info:
            await run_capture(host, "true")
        assert time.monotonic() - started < 3
        assert info.value.what == f"127.0.0.1: 127.0.0.1:{port} did not answer within 0.5 s"
    finally:
        server.close()


async def test_timeout_ends_the_remote_command_and_its_children(running_sshd: Sshd) -> None:
    pids = running_sshd.server_dir / "timeout.pids"
    host = ssh_host(running_sshd)
    try:
        started = time.monotonic()
        _, result = await collect(host, f"sleep 60 & echo $$ $! > {pids}; wait", timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        await host.close()
    assert result.timed_out and result.exit_status is None and not result.ok
    assert elapsed < 4
    shell, child = read_pids(pids)
    assert not alive(shell) and not alive(child)


async def test_a_command_ignoring_sigterm_is_killed_after_the_grace(running_sshd: Sshd) -> None:
    pids = running_sshd.server_dir / "stubborn.pids"
    host = ssh_host(running_sshd, kill_grace=0.5)
    try:
        command = f"trap '' TERM; sh -c 'trap \"\" TERM; sleep 60' & echo $$ $! > {pids}; wait; wait"
        _, result = await collect(host, command, timeout=0.5)
    finally:
        await host.close()
    assert result.timed_out
    shell, child = read_pids(pids)
    assert not alive(shell) and not alive(child)


async def test_cancelling_the_consumer_ends_the_remote_command(running_sshd: Sshd) -> None:
    pids = running_sshd.server_dir / "cancel.pids"
    host = ssh_host(running_sshd)
    first_line = asyncio.Event()

    async def consume() -> None:
        async for item in host.stream(f"sleep 60 & echo $$ $! > {pids}; echo started; wait", timeout=60):
            if isinstance(item, Line):
                first_line.set()

    task = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(first_line.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        shell, child = read_pids(pids)
        assert not alive(shell) and not alive(child)
        # The connection is still good for the next command.
        assert (await run_capture(host, "echo after")).stdout_tail == ("after",)
    finally:
        await host.close()
    assert host.connections_opened == 1


async def test_sudo_needing_a_password_fails_fast_and_clearly(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    try:
        started = time.monotonic()
        with pytest.raises(CommandError) as info:
            await run_capture(host, "sudo systemctl restart iact", timeout=60)
        elapsed = time.monotonic() - started
    finally:
        await host.close()
    assert elapsed < 10
    what = info.value.what
    assert what.startswith("127.0.0.1: sudo wants a password for 'sudo -n systemctl restart iact'")
    assert "a password is required" in what
    assert "NOPASSWD" in info.value.fix


async def test_sudo_further_in_a_command_cannot_hang_either(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    try:
        with pytest.raises(CommandError, match="sudo wants a password") as info:
            await run_capture(host, "true && sudo true", timeout=60)
    finally:
        await host.close()
    assert "a terminal is required" in info.value.what or "a password is required" in info.value.what


async def test_sshd_dying_mid_command_is_a_lost_connection_not_ok(running_sshd: Sshd) -> None:
    pidfile = running_sshd.server_dir / "lost.pid"
    host = ssh_host(running_sshd)
    seen: list[str] = []
    try:
        with pytest.raises(SshError) as info:
            async for item in host.stream(f"echo $$ > {pidfile}; echo started; sleep 30", timeout=60):
                if isinstance(item, Line):
                    seen.append(item.text)
                    running_sshd.stop(drop_connections=True)
        assert seen == ["started"]
        assert info.value.what == (
            f"127.0.0.1: connection to {running_sshd.user}@127.0.0.1:{running_sshd.port} lost while running "
            f"'echo $$ > {pidfile}; echo started; sleep 30'"
        )
        running_sshd.start()
        # The host notices and reconnects for the next command.
        assert (await run_capture(host, "echo back")).stdout_tail == ("back",)
        assert host.connections_opened == 2
    finally:
        await host.close()
        if running_sshd.process is None:
            running_sshd.start()
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.killpg(read_pids(pidfile)[0], signal.SIGKILL)  # the orphan sshd left behind


async def test_missing_cwd_is_a_clear_error(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    try:
        with pytest.raises(CommandError) as info:
            await run_capture(host, "pwd", cwd="/srv/no such dir")
        lines, result = await collect(host, "pwd", cwd=str(running_sshd.server_dir))
    finally:
        await host.close()
    assert "working directory /srv/no such dir does not exist" in info.value.what
    assert [ln.text for ln in lines] == [str(running_sshd.server_dir)] and result.ok


async def test_env_reaches_the_command_but_not_its_command_line(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    secret = "s3cr3t 'quoted' $HOME"
    try:
        lines, result = await collect(
            host, "printf '%s\\n' \"$IACT_SECRET\"; tr '\\0' ' ' < /proc/$$/cmdline; echo", env={"IACT_SECRET": secret}
        )
        with pytest.raises(CommandError, match="not a valid environment variable name"):
            await collect(host, "true", env={"BAD-NAME": "x"})
    finally:
        await host.close()
    assert result.ok
    assert lines[0].text == secret
    assert "IACT_SECRET" in lines[1].text and "s3cr3t" not in lines[1].text


async def test_non_utf8_output_is_replaced_not_fatal(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    try:
        lines, result = await collect(host, "printf 'caf\\303\\251 \\377 end\\r\\nlast'")
    finally:
        await host.close()
    assert result.ok
    assert [ln.text for ln in lines] == ["café \ufffd end", "last"]


async def test_200k_lines_arrive_complete_and_in_order(running_sshd: Sshd) -> None:
    host = ssh_host(running_sshd)
    try:
        lines, result = await collect(host, "seq 1 200000; echo done >&2", timeout=60)
    finally:
        await host.close()
    assert result.ok
    out = [ln.text for ln in lines if ln.stream == "stdout"]
    assert len(out) == 200000 and out[0] == "1" and out[-1] == "200000"
    assert out == [str(i) for i in range(1, 200001)]
    assert [ln.text for ln in lines if ln.stream == "stderr"] == ["done"]


async def test_ssh_config_alias_alone_is_enough(running_sshd: Sshd, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host web-alias\n"
        "  HostName 127.0.0.1\n"
        f"  Port {running_sshd.port}\n"
        f"  User {running_sshd.user}\n"
        f"  IdentityFile {running_sshd.client_key}\n"
    )
    host = SshHost("web-alias", ssh_config=config, known_hosts=running_sshd.known_hosts, connect_timeout=5)
    try:
        result = await run_capture(host, "whoami")
    finally:
        await host.close()
    assert result.ok and result.stdout_tail == (running_sshd.user,)
    assert result.host == "web-alias"


async def test_options_override_the_ssh_config(running_sshd: Sshd, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host web-alias\n  HostName 127.0.0.1\n  Port {free_port()}\n  User nobody\n")
    host = SshHost(
        "web-alias",
        ssh_config=config,
        port=running_sshd.port,
        user=running_sshd.user,
        identity_file=running_sshd.client_key,
        known_hosts=running_sshd.known_hosts,
    )
    try:
        assert (await run_capture(host, "whoami")).stdout_tail == (running_sshd.user,)
    finally:
        await host.close()


async def test_proxy_jump_goes_through_the_jump_host(running_sshd: Sshd) -> None:
    logins = running_sshd.accepted()
    host = ssh_host(running_sshd, proxy_jump=f"{running_sshd.user}@127.0.0.1:{running_sshd.port}")
    try:
        result = await run_capture(host, "echo $SSH_CONNECTION")
    finally:
        await host.close()
    assert result.ok
    assert running_sshd.accepted() - logins == 2  # the jump, then the target through it
    assert host.connections_opened == 1


async def test_make_hosts_builds_one_ssh_host_per_configured_host(tmp_path: Path) -> None:
    env = EnvironmentConfig(
        transport="ssh",
        app_dir="/srv/app",
        health_url="http://127.0.0.1:8001/api/health",
        hosts=["web1", "web2"],
        user="deploy",
        port=2222,
        identity_file="keys/deploy",
        known_hosts="~/kh",
        ssh_config="ssh/config",
        connect_timeout=3.0,
    )
    hosts = make_hosts("production", env, root=tmp_path)
    assert [h.name for h in hosts] == ["web1", "web2"]
    first = hosts[0]
    assert isinstance(first, SshHost)
    assert (first.user, first.port, first.connect_timeout) == ("deploy", 2222, 3.0)
    assert first.identity_file == tmp_path / "keys/deploy"
    assert first.known_hosts == Path("~/kh").expanduser()
    assert first.ssh_config == tmp_path / "ssh/config"
    with pytest.raises(CommandError, match="has 2 hosts"):
        make_host("production", env)
    local = EnvironmentConfig(app_dir="app", health_url="http://127.0.0.1:8001/")
    assert isinstance(make_host("staging", local), LocalHost)
    assert isinstance(make_host("staging", "local"), LocalHost)
