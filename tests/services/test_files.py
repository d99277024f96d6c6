"""Writing files whole: old or new content, never a mix; mode kept; symlinks followed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from iact_tui.services.files import write_atomic


def test_replaces_the_content_keeping_the_mode_and_leaving_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "CHANGELOG.md"
    target.write_text("old\n")
    target.chmod(0o640)
    inode = target.stat().st_ino

    write_atomic(target, "new ✓\r\n")

    assert target.read_bytes() == "new ✓\r\n".encode()  # byte for byte, no newline translation
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CHANGELOG.md"]


def test_a_new_file_gets_the_umask_mode_and_a_symlink_is_followed(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "state.json", b"{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o644
    (tmp_path / "link.json").symlink_to(tmp_path / "state.json")
    write_atomic(tmp_path / "link.json", "[]\n")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "state.json").read_text() == "[]\n"


def test_a_failed_write_leaves_the_target_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "announcement.md"
    target.mkdir()  # rename over a folder fails after the temp file was written
    with pytest.raises(OSError):
        write_atomic(target, "text")
    assert [p.name for p in tmp_path.iterdir()] == ["announcement.md"] and target.is_dir()
