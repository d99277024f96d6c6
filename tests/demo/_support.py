"""Helpers shared by the sandbox tests: loopback HTTP, subprocess environments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import iact_tui

#: Where ``iact_tui`` is importable from, for subprocesses running ``-m iact_tui.demo.appctl``.
SRC_ROOT = str(Path(iact_tui.__file__).resolve().parent.parent)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess that must import ``iact_tui``."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (SRC_ROOT, path) if p), **extra}


def http(url: str, body: object | None = None, timeout: float = 10.0) -> tuple[int, dict[str, object]]:
    """GET (or POST JSON when ``body`` is given) a loopback URL; returns status and JSON."""
    assert url.startswith("http://127.0.0.1:"), url
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def manage(app_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` in a checkout with this interpreter."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(**env),
        check=False,
    )
