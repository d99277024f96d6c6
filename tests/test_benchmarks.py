"""benchmarks/run_all.py keeps working: cheap measurements run end to end with tiny sizes.

No timing is asserted here (the benchmarks judge their own targets); these only make sure
the code that measures cannot rot.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import run_all

TINY = run_all.Sizes(reps=1, commits=120, lines=2_000, rss_early=1_000, baseline_lines=100)


def test_the_changelog_benchmark_drafts_from_a_fast_imported_history() -> None:
    rows = run_all.measure("changelog", TINY)
    assert [row.error for row in rows] == [""]
    (row,) = rows
    assert row.benchmark == "changelog: draft from 120 commits since the tag"
    assert row.figure.endswith("ms (median of 1)") and row.baseline.endswith("git log --format=%s")
    assert row.ratio.endswith("x") and row.met is not None
    table = run_all.render(rows)
    assert table.splitlines()[0] == "| benchmark | figure | baseline | ratio | target | met? |"
    assert ("| met |" in table) != ("| MISSED |" in table)


def test_a_failed_measurement_is_an_error_row_and_a_non_zero_exit(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)

    def broken(sizes: run_all.Sizes, work: Path) -> list[run_all.Row]:
        raise RuntimeError("no sandbox")

    monkeypatch.setitem(run_all.BENCHMARKS, "changelog", broken)
    rows = run_all.measure("changelog", TINY)
    assert rows[0].error == "RuntimeError: no sandbox"
    assert "NOT MEASURED: RuntimeError: no sandbox | | | | ERROR |" in run_all.render(rows)
    assert run_all.main(["--only", "changelog"]) == 1


def test_the_floor_app_reports_ready(tmp_path: Path) -> None:
    import os

    start = run_all.time_to_ready(run_all.FLOOR_MAIN, tmp_path, dict(os.environ))
    assert 0 < start.run_to_ready < start.ready
    assert 0 < start.painted <= start.ready and 0 <= start.key < start.ready
