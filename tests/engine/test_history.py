"""The release history read from journals: only this repository's runs count."""

from __future__ import annotations

import json
from pathlib import Path

from iact_tui.engine.history import read_history


def write_run(state: Path, name: str, repo: Path, tag: str) -> None:
    run = state / "runs" / name
    run.mkdir(parents=True)
    records = [
        {"ts": 1.0, "kind": "run_started", "flow": "release", "repo": str(repo), "config": str(repo / "x.toml")},
        {"ts": 2.0, "kind": "step_finished", "step_id": "deploy-production", "status": "ok", "data": {"tag": tag}},
        {"ts": 3.0, "kind": "release_marked_bad", "env": "production", "version": tag[1:], "reason": "r"},
    ]
    (run / "journal.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_another_repositorys_runs_are_not_this_ones_history(tmp_path: Path) -> None:
    """The state dir holds every project's runs: a deploy of another project's production
    must never be offered as a rollback target here, nor its bad releases hidden."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    (tmp_path / "link").symlink_to(ours)
    state = tmp_path / "state"
    write_run(state, "20261129T000001Z-aaaaaa", ours, "v1.3.1")
    write_run(state, "20261129T000002Z-bbbbbb", theirs, "v1.3.4")

    mine = read_history("production", "v", state, repo=tmp_path / "link")  # the same repository by another path
    assert [d.tag for d in mine.deployments] == ["v1.3.1"]
    assert set(mine.bad) == {"1.3.1"}
    everyone = read_history("production", "v", state)
    assert [d.tag for d in everyone.deployments] == ["v1.3.1", "v1.3.4"]
