"""``iact-tui plan release`` on the demo sandbox: the read-only probes and what would change."""

from __future__ import annotations

import subprocess
import sys

from iact_tui import demo


def test_plan_probes_the_environments_and_prints_only_what_would_change(sandbox: demo.Sandbox) -> None:
    db = sandbox.root / "production" / "db.sqlite3"
    refs = ["git", "show-ref"]
    before = (subprocess.run(refs, cwd=sandbox.origin, capture_output=True, text=True).stdout, db.stat().st_mtime_ns)
    done = subprocess.run(
        [sys.executable, "-m", "iact_tui", "plan", "release", "--bump", "minor"],
        cwd=sandbox.repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    probes, _, rest = out.partition("probes (read-only, each at most 10 s):\n")[2].partition("\n\n")
    lines = sorted(line.split(" (")[0] for line in probes.splitlines())
    staging, production = (
        sandbox.config_path.read_text().split(f"[environments.{e}]")[1] for e in ("staging", "production")
    )
    assert [line.split(": ")[0] for line in lines] == [
        f"  ✔ health production {_url(production)}",
        f"  ✔ health staging {_url(staging)}",
        "  ✔ migrate production",
    ], probes
    assert all("200, version 1.3.2" in line for line in lines[:2]) and "1 added by the release" in lines[2]
    changes = rest.split("what would change:\n")[1].split("\nnothing was changed")[0].splitlines()
    assert changes == [
        "  - git: branch release/v1.4.0 with the version bump and the changelog, merged into main and pushed "
        "to origin; tag v1.4.0 pushed",
        "  - staging: 1.3.2 → 1.4.0",
        "  - production: 1.3.2 → 1.4.0",
        "  - production: the release's migrations would be applied: core.0003_project_archived",
    ]
    after = (subprocess.run(refs, cwd=sandbox.origin, capture_output=True, text=True).stdout, db.stat().st_mtime_ns)
    assert after == before


def _url(table: str) -> str:
    return table.split('health_url = "')[1].split('"')[0]
