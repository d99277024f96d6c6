"""Log scans on LocalHost against real temp log files: offsets, rotation, truncation, missing
files, and the maintenance window (503 lines between two marks not counted)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from pydantic import ValidationError
from support.sshd import Sshd

from iact_tui.config import LogScanConfig
from iact_tui.errors import ConfigError, SshError
from iact_tui.services.log_scan import DEFAULT_PATTERNS, LogMarks, Window, record_offsets, scan_hosts, scan_logs
from iact_tui.services.remote import CommandResult, Line, LocalHost
from iact_tui.services.secrets import REDACTED, Secret
from iact_tui.services.ssh import SshHost

ACCESS_OK = '127.0.0.1 - - [01/Jan/2025:10:00:00 +0000] "GET /health HTTP/1.1" 200 32 "-" "curl/8"\n'
ACCESS_502 = '127.0.0.1 - - [01/Jan/2025:10:00:01 +0000] "GET /api/x HTTP/1.1" 502 157 "-" "curl/8"\n'
ACCESS_503 = '127.0.0.1 - - [01/Jan/2025:10:00:02 +0000] "GET /api/y HTTP/1.1" 503 19 "-" "curl/8"\n'
MAINTENANCE = ['" 503 ']


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


# --------------------------------------------------------------------------- maintenance window


async def test_503_lines_inside_the_window_are_not_counted_other_lines_are(host: LocalHost, logs: Path) -> None:
    paths = [str(logs / "*.log")]
    access, app = logs / "access.log", logs / "app.log"
    before = await record_offsets(host, paths)  # before the pre commands: maintenance on
    _append(access, ACCESS_503 * 3 + ACCESS_502)
    _append(app, "ERROR migration 0042 failed halfway\n")
    after = await record_offsets(host, paths)  # the post commands succeeded: maintenance off
    _append(access, ACCESS_OK + ACCESS_503)
    windows = [Window(before, after)]

    result = await scan_logs(host, paths, before, windows=windows, window_ignore=MAINTENANCE)
    assert result.total_matches == 3 and result.ignored == 3 and result.windows == 1
    assert sorted((m.path.rsplit("/", 1)[1], m.line_no, m.pattern) for m in result.matches) == [
        ("access.log", 4, r'" 5\d\d '),  # the 502 inside the window: not what maintenance answers
        ("access.log", 6, r'" 5\d\d '),  # the 503 after the window
        ("app.log", 1, r"\bERROR\b"),  # an error inside the window
    ]
    by_name = {f.path.rsplit("/", 1)[1]: f for f in result.files}
    assert (by_name["access.log"].ignored, by_name["access.log"].matches) == (3, 2)
    assert (by_name["app.log"].ignored, by_name["app.log"].window_note) == (0, "")
    figures = result.figures()
    assert figures["ignored"] == 3 and figures["windows"] == 1
    assert {f["path"].rsplit("/", 1)[1]: f["ignored"] for f in figures["files"]} == {"access.log": 3, "app.log": 0}

    # An empty ignore list, or no window: every line is judged.
    for options in ({"windows": windows, "window_ignore": []}, {"window_ignore": MAINTENANCE}):
        plain = await scan_logs(host, paths, before, **options)
        assert (plain.total_matches, plain.ignored) == (6, 0), options


async def test_the_window_edge_is_exact_in_bytes_even_mid_line(host: LocalHost, logs: Path) -> None:
    """CRLF lines and invalid UTF-8 change a line's length once decoded; the edge is still
    exact because the read command splits the file there. A line cut by the edge belongs
    to the window (it started in it)."""
    access = logs / "access.log"
    before = await record_offsets(host, [str(access)])
    with access.open("ab") as f:
        f.write(b"GET /caf\xe9 \xff\xfe\r\n" * 40)  # shorter once \r is dropped, longer once replaced
        f.write(ACCESS_503.encode().replace(b"\n", b"\r\n"))
        f.write(ACCESS_503.encode()[:30])  # half a line when maintenance ends
    after = await record_offsets(host, [str(access)])
    with access.open("ab") as f:
        f.write(ACCESS_503.encode()[30:])  # ...its end, written after
        f.write(ACCESS_503.encode())  # right after the edge: counted
    result = await scan_logs(host, [str(access)], before, windows=[Window(before, after)], window_ignore=MAINTENANCE)
    assert (result.ignored, result.total_matches) == (2, 1)
    [late] = result.matches
    assert late.line_no == 43 and late.text == ACCESS_503.strip()


async def test_a_file_not_there_when_the_window_began_has_nothing_ignored(host: LocalHost, logs: Path) -> None:
    """Created during the window, or the log paths changed since: its first bytes may be
    older than the window, so nothing is assumed."""
    paths = [str(logs / "*.log")]
    before = await record_offsets(host, paths)
    (logs / "nginx-maint.log").write_text(ACCESS_503 * 2)
    after = await record_offsets(host, paths)
    _append(logs / "nginx-maint.log", ACCESS_503)
    (logs / "later.log").write_text(ACCESS_503)  # created after the window: nothing to say
    result = await scan_logs(host, paths, before, windows=[Window(before, after)], window_ignore=MAINTENANCE)
    by_name = {f.path.rsplit("/", 1)[1]: f for f in result.files}
    new = by_name["nginx-maint.log"]
    assert (new.ignored, new.matches) == (0, 3)
    assert new.window_note == (
        "nothing ignored: not marked when the window began (created during it, or the log paths changed)"
    )
    assert (by_name["later.log"].matches, by_name["later.log"].window_note) == (1, "")


async def test_a_file_rotated_during_the_window_has_nothing_ignored_and_says_so(host: LocalHost, logs: Path) -> None:
    access = logs / "access.log"
    before = await record_offsets(host, [str(access)])
    _append(access, ACCESS_503)
    access.rename(logs / "access.log.1")
    access.write_text(ACCESS_503)
    after = await record_offsets(host, [str(access)])
    result = await scan_logs(host, [str(access)], before, windows=[Window(before, after)], window_ignore=MAINTENANCE)
    assert (result.ignored, result.total_matches) == (0, 2)
    old, new = result.files
    assert old.path == str(logs / "access.log.1")
    assert old.window_note == "nothing ignored: rotated during the window (another file at its end)"
    assert new.window_note == "nothing ignored: replaced during the window (another file at its start)"


async def test_a_file_rotated_after_the_window_keeps_its_window(host: LocalHost, logs: Path) -> None:
    access = logs / "access.log"
    before = await record_offsets(host, [str(access)])
    _append(access, ACCESS_503 * 2)
    after = await record_offsets(host, [str(access)])
    _append(access, ACCESS_503)
    access.rename(logs / "access.log.1")
    access.write_text(ACCESS_503)
    result = await scan_logs(host, [str(access)], before, windows=[Window(before, after)], window_ignore=MAINTENANCE)
    assert (result.ignored, result.total_matches) == (2, 2)
    assert [(f.ignored, f.matches, f.window_note) for f in result.files] == [(2, 1, ""), (0, 1, "")]


async def test_a_file_truncated_since_the_window_has_nothing_ignored(host: LocalHost, logs: Path) -> None:
    access = logs / "access.log"
    before = await record_offsets(host, [str(access)])
    _append(access, ACCESS_503 * 2)
    after = await record_offsets(host, [str(access)])
    access.write_text(ACCESS_503)  # copytruncate, then one more line: shorter than both marks
    result = await scan_logs(host, [str(access)], before, windows=[Window(before, after)], window_ignore=MAINTENANCE)
    assert (result.ignored, result.total_matches) == (0, 1)
    assert result.files[0].window_note == "nothing ignored: truncated since the marks"

    # Truncated between the marks and grown past the first mark since: offsets mean nothing.
    before = await record_offsets(host, [str(access)])
    access.write_text("")
    after = await record_offsets(host, [str(access)])
    _append(access, ACCESS_503 * 3)
    result = await scan_logs(host, [str(access)], before, windows=[Window(before, after)], window_ignore=MAINTENANCE)
    assert result.ignored == 0 and result.files[0].window_note.startswith("nothing ignored: ")


async def test_a_bad_maintenance_pattern_is_a_config_error(host: LocalHost, logs: Path) -> None:
    with pytest.raises(ConfigError, match="maintenance_ignore"):
        await scan_logs(host, [str(logs / "app.log")], window_ignore=["(unclosed"])


def test_maintenance_ignore_defaults_to_503_accepts_empty_and_refuses_a_bad_regex() -> None:
    assert LogScanConfig().maintenance_ignore == ['" 503 ']
    assert LogScanConfig(maintenance_ignore=[]).maintenance_ignore == []
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        LogScanConfig(maintenance_ignore=['" 50[3 '])
