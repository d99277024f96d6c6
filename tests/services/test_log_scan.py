"""Log scans on LocalHost against real temp log files: offsets, rotation, truncation, missing files."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from support.sshd import Sshd

from iact_tui.errors import ConfigError, SshError
from iact_tui.services.log_scan import DEFAULT_PATTERNS, LogMarks, record_offsets, scan_hosts, scan_logs
from iact_tui.services.remote import CommandResult, Line, LocalHost
from iact_tui.services.secrets import REDACTED, Secret
from iact_tui.services.ssh import SshHost

ACCESS_OK = '127.0.0.1 - - [01/Jan/2025:10:00:00 +0000] "GET /health HTTP/1.1" 200 32 "-" "curl/8"\n'
ACCESS_502 = '127.0.0.1 - - [01/Jan/2025:10:00:01 +0000] "GET /api/x HTTP/1.1" 502 157 "-" "curl/8"\n'


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


@pytest.fixture
def host() -> LocalHost:
    return LocalHost("web1")


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "log"
    folder.mkdir()
    (folder / "app.log").write_text("INFO boot\nERROR from last week\nTraceback (most recent call last):\n")
    (folder / "access.log").write_text(ACCESS_OK + ACCESS_502)
    return folder


def test_default_patterns() -> None:
    rx = [re.compile(p) for p in DEFAULT_PATTERNS]

    def hit(line: str) -> bool:
        return any(r.search(line) for r in rx)

    assert hit("2025-01-01 10:00:00 ERROR django.request: Internal Server Error: /api/x")
    assert hit("[CRITICAL] worker timeout") and hit("Traceback (most recent call last):")
    assert hit(ACCESS_502) and not hit(ACCESS_OK)
    assert not hit("INFO 0 ERRORS found") and not hit('{"status": 500}')


async def test_only_lines_after_the_mark_count(host: LocalHost, logs: Path) -> None:
    paths = [str(logs / "*.log")]
    marks = await record_offsets(host, paths)
    assert set(marks.files) == {str(logs / "app.log"), str(logs / "access.log")}
    assert marks.files[str(logs / "access.log")].size == len(ACCESS_OK + ACCESS_502)
    assert marks.taken_at > 1_600_000_000

    _append(logs / "app.log", "INFO deployed 1.4.0\nERROR django.request: boom\nINFO ok\n")
    _append(logs / "access.log", ACCESS_OK * 3 + ACCESS_502 + ACCESS_OK)

    result = await scan_logs(host, paths, marks)
    assert not result.ok and result.total_matches == 2
    by_file = {(m.path.rsplit("/", 1)[1], m.line_no, m.pattern) for m in result.matches}
    assert by_file == {("app.log", 2, r"\bERROR\b"), ("access.log", 4, r'" 5\d\d ')}
    assert all(m.host == "web1" for m in result.matches)
    app = next(f for f in result.files if f.path.endswith("app.log"))
    assert app.status == "scanned" and app.from_offset == marks.files[app.path].size
    assert app.bytes_read == len("INFO deployed 1.4.0\nERROR django.request: boom\nINFO ok\n") and app.matches == 1
    assert result.detail.startswith("web1: 2 matching line(s) (limit 0) in 2 file(s)")

    assert (await scan_logs(host, paths, marks, max_matches=2)).ok
    quiet = await scan_logs(host, paths, marks, patterns=[r"CRITICAL"])
    assert quiet.ok and quiet.total_matches == 0


async def test_nothing_appended_passes(host: LocalHost, logs: Path) -> None:
    marks = await record_offsets(host, [str(logs / "app.log")])
    result = await scan_logs(host, [str(logs / "app.log")], marks)
    assert result.ok and result.total_matches == 0 and result.files[0].bytes_read == 0


async def test_truncated_file_is_read_from_its_start(host: LocalHost, logs: Path) -> None:
    marks = await record_offsets(host, [str(logs / "app.log")])
    (logs / "app.log").write_text("CRITICAL after copytruncate\n")  # same inode, shorter
    result = await scan_logs(host, [str(logs / "app.log")], marks)
    assert result.total_matches == 1 and result.matches[0].text == "CRITICAL after copytruncate"
    assert result.files[0].from_offset == 0 and "truncated since the mark" in result.files[0].note


async def test_rotated_file_reads_the_old_tail_and_the_new_file(host: LocalHost, logs: Path) -> None:
    app = logs / "app.log"
    marks = await record_offsets(host, [str(app)])
    _append(app, "ERROR before the rotation\n")
    app.rename(logs / "app.log.1")
    app.write_text("INFO reopened\nCRITICAL after the rotation\n")
    result = await scan_logs(host, [str(app)], marks)
    assert [m.text for m in result.matches] == ["ERROR before the rotation", "CRITICAL after the rotation"]
    assert [m.path for m in result.matches] == [str(logs / "app.log.1"), str(app)]
    notes = [f.note for f in result.files]
    assert "rotated: its old file's tail" in notes[0] and "the new file from its start" in notes[1]

    # Rotated away without a .1 to find: the new file whole, and a note saying what is lost.
    marks = await record_offsets(host, [str(app)])
    app.rename(logs / "elsewhere")
    app.write_text("ERROR new\n")
    lost = await scan_logs(host, [str(app)], marks)
    assert lost.total_matches == 1 and "lines written before the rotation are not scanned" in lost.files[0].note


async def test_missing_files_are_reported_clearly(host: LocalHost, logs: Path) -> None:
    paths = [str(logs / "app.log"), str(logs / "nope.log"), str(logs / "gunicorn" / "*.log")]
    marks = await record_offsets(host, paths)
    assert marks.missing == (str(logs / "nope.log"), str(logs / "gunicorn" / "*.log"))
    result = await scan_logs(host, paths, marks)
    assert result.ok and result.missing == [str(logs / "nope.log"), str(logs / "gunicorn" / "*.log")]
    assert f"missing: {logs / 'nope.log'}" in result.detail
    strict = await scan_logs(host, paths, marks, require_files=True)
    assert not strict.ok and strict.total_matches == 0

    # A file marked before the deploy and gone after it.
    (logs / "app.log").unlink()
    gone = await scan_logs(host, paths, marks)
    app = next(f for f in gone.files if f.path == str(logs / "app.log"))
    assert app.status == "missing" and app.note == "it was there before the deploy"


async def test_unreadable_and_directory(host: LocalHost, logs: Path) -> None:
    (logs / "dir.log").mkdir()
    secret = logs / "secret.log"
    secret.write_text("ERROR\n")
    secret.chmod(0)
    try:
        result = await scan_logs(host, [str(logs / "dir.log"), str(secret)], None)
    finally:
        secret.chmod(0o600)
    statuses = {f.path.rsplit("/", 1)[1]: f.status for f in result.files}
    assert statuses["dir.log"] == "not-a-file"
    if os.geteuid() != 0:  # root reads anything
        assert statuses["secret.log"] == "unreadable"


async def test_files_without_marks_use_the_reference_time(host: LocalHost, logs: Path) -> None:
    paths = [str(logs / "*.log")]
    marks = await record_offsets(host, paths)
    for name in ("app.log", "access.log"):  # written long before the deploy
        os.utime(logs / name, (marks.taken_at - 7200, marks.taken_at - 7200))
    (logs / "worker.log").write_text("ERROR in a new worker log\n")  # created after the mark
    old = logs / "old.log"
    old.write_text("ERROR long ago\n")
    os.utime(old, (marks.taken_at - 3600, marks.taken_at - 3600))  # created unseen, untouched since
    result = await scan_logs(host, paths, marks)
    assert [m.text for m in result.matches] == ["ERROR in a new worker log"]
    notes = {f.path.rsplit("/", 1)[1]: (f.status, f.note) for f in result.files}
    assert notes["worker.log"] == ("scanned", "not there before the deploy: read from its start")
    assert notes["old.log"] == ("unchanged", "not modified since the deploy started")

    # No marks: `since` decides; without it, every file is read whole.
    assert (await scan_logs(host, paths, None, since=marks.taken_at)).total_matches == 1
    assert (await scan_logs(host, paths, None)).total_matches == 5


async def test_paths_are_quoted(host: LocalHost, tmp_path: Path) -> None:
    folder = tmp_path / "it's $(touch PWNED) dir"
    folder.mkdir()
    log = folder / "app;rm -rf x.log"
    log.write_text("")
    paths = [str(folder / "*.log")]
    marks = await record_offsets(host, paths)
    assert list(marks.files) == [str(log)]
    _append(log, "ERROR quoted\n")
    result = await scan_logs(host, paths, marks)
    assert result.total_matches == 1 and result.matches[0].path == str(log)
    assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()


async def test_output_is_bounded(host: LocalHost, logs: Path) -> None:
    marks = await record_offsets(host, [str(logs / "app.log")])
    _append(logs / "app.log", "ERROR " + "x" * 2000 + "\n" + "ERROR short\n" * 9 + "INFO filler\n" * 200)
    result = await scan_logs(host, [str(logs / "app.log")], marks, keep=3, max_bytes=2100)
    # 2100 bytes: the 2007-byte line, 7 short ones and "ERROR s" of the 8th (a cut line still counts)
    assert result.total_matches == 9
    assert len(result.matches) == 3
    assert len(result.matches[0].text) == 500 and result.matches[0].text.endswith("…")
    f = result.files[0]
    assert f.bytes_read == 2100 and f.unread_bytes > 2000
    assert "only the first part read of" in result.detail


async def test_redaction_and_marks_round_trip(host: LocalHost, logs: Path) -> None:
    marks = await record_offsets(host, [str(logs / "app.log")])
    again = LogMarks.from_json(json.loads(json.dumps(marks.to_json())))
    assert again == marks
    _append(logs / "app.log", "ERROR login failed for demo with password hunter22\n")
    secret = Secret("hunter22", "env IACT_SMOKE_PASSWORD")
    result = await scan_logs(host, [str(logs / "app.log")], again, redact=secret.redact)
    assert result.matches[0].text == f"ERROR login failed for demo with password {REDACTED}"
    assert "hunter22" not in json.dumps(result.figures())


async def test_bad_config_raises() -> None:
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        await scan_logs(LocalHost("x"), ["/tmp/x.log"], patterns=["(unclosed"])
    with pytest.raises(ConfigError, match="newline"):
        await record_offsets(LocalHost("x"), ["/tmp/a\nb.log"])


class _DownHost:
    name = "web2"

    async def stream(
        self, command: str, *, cwd: str | None = None, timeout: float = 600.0, env: Mapping[str, str] | None = None
    ) -> AsyncIterator[Line | CommandResult]:
        raise SshError("web2: connection refused", "check that sshd runs")
        yield  # pragma: no cover

    async def close(self) -> None:
        pass


async def test_many_hosts_keep_partial_results(host: LocalHost, logs: Path) -> None:
    paths = [str(logs / "app.log")]
    marks = {"web1": await record_offsets(host, paths)}
    _append(logs / "app.log", "ERROR one\n")
    results = await scan_hosts([host, _DownHost()], paths, marks, max_matches=1)
    web1, web2 = results["web1"], results["web2"]
    assert not isinstance(web1, Exception) and web1.ok and web1.total_matches == 1
    assert isinstance(web2, SshError) and "refused" in web2.what


async def test_over_a_real_ssh_host(running_sshd: Sshd) -> None:
    """The scan relies on the Host protocol only: marks, appended lines and rotation over SshHost."""
    folder = running_sshd.server_dir / f"logs {os.getpid()}"
    folder.mkdir(mode=0o755)
    try:
        app = folder / "app.log"
        app.write_text("ERROR old\n")
        app.chmod(0o644)
        ssh = SshHost(
            running_sshd.host,
            port=running_sshd.port,
            user=running_sshd.user,
            identity_file=running_sshd.client_key,
            known_hosts=running_sshd.known_hosts,
            connect_timeout=5.0,
        )
        try:
            paths = [str(folder / "*.log"), str(folder / "missing.log")]
            marks = await record_offsets(ssh, paths)
            assert marks.host == ssh.name and marks.files[str(app)].size == len("ERROR old\n")
            _append(app, "INFO up\nTraceback (most recent call last):\n")
            result = await scan_logs(ssh, paths, marks)
            assert [(m.host, m.path, m.line_no, m.text) for m in result.matches] == [
                (ssh.name, str(app), 2, "Traceback (most recent call last):")
            ]
            assert result.missing == [str(folder / "missing.log")]
        finally:
            await ssh.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
