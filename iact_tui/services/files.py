"""Writing a file whole: a state file or a file in the operator's repository is never left
half-written by a crash (a killed process, a full disk, a lost machine).

The text goes to a temp file in the target's folder, is synced, and is renamed over the
target (``rename(2)`` replaces it in one step); the folder is synced so the rename itself
survives a power loss. Readers see the old file or the new one, never a mix.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace ``path``'s content with ``data`` in one step.

    A symlink is followed (the file it points to is replaced); an existing file keeps its
    mode; a new one gets ``0o666`` less the umask, as ``open()`` gives.

    Args:
        path: The file to write; its folder must exist.
        data: The content; text is written as UTF-8, byte for byte (no newline
            translation).

    Raises:
        OSError: The folder cannot be written (the target is then unchanged and no
            temp file is left).
    """
    target = path.resolve()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if target.exists():
            shutil.copymode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a folder that cannot be opened for reading (some platforms): the rename stands
    try:
        os.fsync(fd)
    except OSError:
        pass  # not every filesystem syncs a directory; the data itself is synced
    finally:
        os.close(fd)
