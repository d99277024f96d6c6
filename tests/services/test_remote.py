"""LocalHost: streaming, stdout/stderr apart, exit status, timeout and cancel really stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from iact_tui.errors import CommandError
from iact_tui.services.remote import MAX_LINE_BYTES, CommandResult, Line, LocalHost, run_capture


def alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie awaiting its reaper counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def collect(host: LocalHost, command: str, **kw: object) -> tuple[list[Line], CommandResult]:
    lines: list[Line] = []
    result: CommandResult | None = None
    async for item in host.stream(command, **kw):  # type: ignore[arg-type]
        if isinstance(item, CommandResult):
            result = item
        else:
            lines.append(item)
    assert result is not None
    return lines, result


async def test_streams_stdout_and_stderr_apart_with_exit_status(tmp_path: Path) -> None:
    lines, result = await collect(
        LocalHost("staging"), "echo out1; echo err1 >&2; echo out2; exit 3", cwd=str(tmp_path)
    )
    assert [ln.text for ln in lines if ln.stream == "stdout"] == ["out1", "out2"]
    assert [ln.text for ln in lines if ln.stream == "stderr"] == ["err1"]
    assert result.exit_status == 3 and not result.ok and not result.timed_out
    assert result.host == "staging"
    assert result.stdout_tail == ("out1", "out2") and result.stderr_tail == ("err1",)


async def test_many_lines_and_partial_last_line_and_bad_utf8(tmp_path: Path) -> None:
    lines, result = await collect(
        LocalHost("local"), "seq 1 20000; printf 'caf\\303\\251 \\377 end'", cwd=str(tmp_path)
    )
    assert result.ok
    texts = [ln.text for ln in lines]
    assert texts[:3] == ["1", "2", "3"] and texts[19999] == "20000"
    assert texts[-1] == "café \ufffd end"
    assert len(texts) == 20001


async def test_a_line_without_end_is_split_into_bounded_pieces(tmp_path: Path) -> None:
    """3.5 MiB without a newline (a minified file dumped to a log) never sits in memory whole."""
    size = 3 * MAX_LINE_BYTES + MAX_LINE_BYTES // 2
    lines, result = await collect(
        LocalHost("local"), f"head -c {size} /dev/zero | tr '\\0' x; echo; echo after", cwd=str(tmp_path)
    )
    assert result.ok
    lengths = [len(ln.text) for ln in lines]
    assert lengths == [MAX_LINE_BYTES] * 3 + [MAX_LINE_BYTES // 2, len("after")]
    assert lines[-1].text == "after"


async def test_timeout_stops_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    # A child that would outlive a naive kill of the shell.
    cmd = f"sleep 30 & echo $! > {marker}; wait"
    _, result = await collect(LocalHost("local"), cmd, cwd=str(tmp_path), timeout=0.5)
    assert result.timed_out and result.exit_status is None
    child = int(marker.read_text())
    for _ in range(100):
        if not alive(child):
            break
        await asyncio.sleep(0.02)
    assert not alive(child)


async def test_cancel_stops_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    host = LocalHost("local")

    async def consume() -> None:
        async for _ in host.stream(f"echo $$ > {marker}; echo started; sleep 30", cwd=str(tmp_path)):
            pass

    task = asyncio.create_task(consume())
    for _ in range(200):
        if marker.exists() and marker.read_text().strip():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(int(marker.read_text()))


async def test_missing_working_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        await run_capture(LocalHost("staging"), "true", cwd=str(tmp_path / "nope"))
