"""Hotfix end to end over a real OpenSSH sshd on 127.0.0.1 to the sample Django site.

A release (1.4.0) goes to ``production`` over SSH through the release flow; the headless
hotfix then reads what production runs on the host over SSH, cuts ``hotfix/v1.4.1`` from
v1.4.0, and (after the test commits a ``fix:`` to the home page on that branch) tags
v1.4.1 on origin, deploys it straight to production over SSH, verifies it and merges the
fix and its changelog section back into main.
"""

from __future__ import annotations

import io
import subprocess
import urllib.request
from pathlib import Path

import pytest
from support.sshsite import SshSite
from test_ssh_rollback import production_config, release_to_production

from iact_tui.config import load_config
from iact_tui.engine.journal import read_journal
from iact_tui.headless import run_hotfix
from iact_tui.services import deploy_lock

pytestmark = pytest.mark.e2e

VIEWS = "core/views.py"
BEFORE, AFTER = '"<!doctype html><html><head>', '"<!doctype html><html lang=\\"en\\"><head>'
SUBJECT = "fix(core): declare the home page's language"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def over_ssh(site: SshSite, command: str) -> str:
    """Run a command on the host with the system's OpenSSH client (not the product's code)."""
    sshd = site.sshd
    done = subprocess.run(
        [
            "ssh",
            "-p",
            str(sshd.port),
            "-i",
            str(sshd.client_key),
            "-o",
            f"UserKnownHostsFile={sshd.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            f"{sshd.user}@127.0.0.1",
            command,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def home_page(site: SshSite) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{site.port}/", timeout=5) as response:  # loopback only
        return str(response.read().decode())


async def test_hotfix_over_ssh_reaches_production_and_main(ssh_site: SshSite, tmp_path: Path) -> None:
    site, state = ssh_site, tmp_path / "state"
    repo, origin = site.box.repo, site.box.origin
    config_path = production_config(site)
    await release_to_production(config_path, state)
    assert site.health()["version"] == "1.4.0"
    assert '<html lang="en">' not in home_page(site)
    config = load_config(config_path)

    # 1. --until hotfix-branch: production's release read on the host over SSH.
    out = io.StringIO()
    code = await run_hotfix(config, out=out, until="hotfix-branch", state_dir=state)
    assert code == 0, out.getvalue()
    assert "production runs v1.4.0 (read from the host); hotfix v1.4.1 on hotfix/v1.4.1" in out.getvalue()
    assert git(repo, "branch", "--show-current") == "hotfix/v1.4.1"
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "v1.4.0^{commit}")

    # 2. The fix, committed on the hotfix branch: the home page declares its language.
    views = repo / VIEWS
    text = views.read_text()
    assert text.count(BEFORE) == 1
    views.write_text(text.replace(BEFORE, AFTER))
    git(repo, "commit", "-q", "-m", SUBJECT, "--", VIEWS)
    fix = git(repo, "rev-parse", "HEAD")

    # 3. The rest of the hotfix, headless (the SSH site has no backup configured).
    out = io.StringIO()
    code = await run_hotfix(
        config,
        out=out,
        skip={"backup": "sqlite test site: no backup configured", "notice": "nobody to tell"},
        state_dir=state,
    )
    text = out.getvalue()
    assert code == 0, text
    assert "deploy-staging     skipped" in text

    # origin: an annotated v1.4.1 on the hotfix branch's head, which holds the fix
    assert git(origin, "cat-file", "-t", "v1.4.1") == "tag"
    tagged = git(origin, "rev-parse", "v1.4.1^{commit}")
    assert tagged == git(origin, "rev-parse", "refs/heads/hotfix/v1.4.1")
    assert git(origin, "log", "-1", "--format=%s", "v1.4.1") == "chore: prepare hotfix v1.4.1"
    git(origin, "merge-base", "--is-ancestor", fix, "v1.4.1")

    # production: its health over loopback reports the hotfix, the fix is served
    assert site.health()["version"] == "1.4.1"
    assert '<html lang="en">' in home_page(site)
    assert not site.in_maintenance() and not (site.app_dir / deploy_lock.LOCK_NAME).exists()
    # the host's checkout is at the tag, read over SSH
    app = str(site.app_dir)
    assert over_ssh(site, f"git -C {app} rev-parse HEAD") == tagged
    assert over_ssh(site, f"git -C {app} describe --tags --exact-match HEAD") == "v1.4.1"

    # main on origin: the fix and a [1.4.1] section with ### Fixed holding its entry
    git(origin, "merge-base", "--is-ancestor", fix, "main")
    assert AFTER in git(origin, "show", f"main:{VIEWS}")
    log = git(origin, "show", "main:CHANGELOG.md")
    headings = [line for line in log.splitlines() if line.startswith("## ")]
    new = next(h for h in headings if h.startswith("## [1.4.1] - "))
    assert headings.index(new) < headings.index(next(h for h in headings if h.startswith("## [1.4.0]")))
    section = log.split(new, 1)[1].split("\n## ", 1)[0]
    assert "### Fixed" in section
    fixed = section.split("### Fixed", 1)[1].split("\n### ", 1)[0]
    assert "- **core:** Declare the home page's language" in fixed  # the scope kept, as a release's draft does
    # the operator's clone is back on main, level with origin
    assert git(repo, "branch", "--show-current") == "main"
    assert git(repo, "rev-parse", "main") == git(origin, "rev-parse", "main")

    # the journal is a hotfix run's, production read from the host
    journal = Path(text.rsplit("journal: ", 1)[1].strip())
    records = read_journal(journal).records
    assert records[0]["kind"] == "run_started" and records[0]["flow"] == "hotfix"
    loaded = next(r for r in records if r["kind"] == "hotfix_loaded")
    assert (loaded["production"], loaded["version"], loaded["source"]) == ("v1.4.0", "1.4.1", "host")
    finished = {r["step_id"]: r["status"] for r in records if r["kind"] == "step_finished"}
    assert finished["deploy-production"] == "ok" and finished["backport"] == "ok", finished
