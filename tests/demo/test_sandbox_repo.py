"""The sandbox's repositories, history and configuration (no servers needed)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from iact_tui.config import DEFAULT_LOG_PATTERNS, load_config
from iact_tui.demo import Sandbox, build_sandbox, describe
from iact_tui.demo.history import CONFIG_COMMIT, HISTORY, trees
from iact_tui.errors import IactError

from ._support import child_env

RELEASE_TAGS = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.2.1", "v1.3.0-rc.1", "v1.3.0", "v1.3.1", "v1.3.2"]
CONVENTIONAL = re.compile(r"^(feat|fix|perf|refactor|docs|test|chore|ci|build|style)(\([a-z-]+\))?: \S")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


def test_origin_is_bare_on_main_with_annotated_tags(offline_sandbox: Sandbox) -> None:
    origin = offline_sandbox.origin
    assert git(origin, "rev-parse", "--is-bare-repository") == "true"
    assert git(origin, "symbolic-ref", "HEAD") == "refs/heads/main"
    tags = git(origin, "tag", "--list").split()
    assert set(RELEASE_TAGS) <= set(tags)
    assert "deploy-2024-05-17" in tags
    for tag in tags:
        assert git(origin, "cat-file", "-t", tag) == "tag", f"{tag} is not annotated"
    assert git(origin, "branch", "--list", "--format=%(refname:short)").split() == ["main"]


def test_repo_is_a_clean_clone_tracking_origin_main(offline_sandbox: Sandbox) -> None:
    repo = offline_sandbox.repo
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(repo, "rev-parse", "--abbrev-ref", "main@{upstream}") == "origin/main"
    assert git(repo, "remote", "get-url", "origin") == str(offline_sandbox.origin)
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(repo, "rev-parse", "HEAD") == git(offline_sandbox.origin, "rev-parse", "main")
    assert git(repo, "config", "user.email")  # the operator can commit without a global identity


def test_config_loads_and_matches_the_sandbox(offline_sandbox: Sandbox) -> None:
    config = load_config(offline_sandbox.config_path)
    assert offline_sandbox.config_path == offline_sandbox.repo / "iact-release.toml"
    assert config.project.version_files == ["iact/__init__.py", "pyproject.toml", "frontend/package.json"]
    assert (config.project.main_branch, config.project.remote, config.project.tag_prefix) == (
        "main",
        "origin",
        "v",
    )
    assert config.checks.coverage_min == 80 and config.checks.coverage_report == "coverage.xml"
    assert config.forge.kind == "local"
    assert list(config.environments) == ["staging", "production"]
    verify = config.verify
    assert (verify.requests, verify.interval_seconds, verify.max_p95_ms) == (20, 0.05, 1000)
    assert (verify.max_response_ms, verify.max_error_rate) == (2000, 0.0)
    assert config.announce.team == "The IACT team"
    ports = set()
    for name, env in config.environments.items():
        assert config.env_app_dir(name) == offline_sandbox.root / name
        assert env.python == sys.executable
        assert env.health_url == offline_sandbox.environments[name]
        ports.add(env.health_url.split(":")[2].split("/")[0])
        assert [c.name for c in env.pre] == ["maintenance mode on"]
        assert [c.name for c in env.post] == ["maintenance mode off"]
        assert "migrate --noinput" in env.steps[2].run
        assert "iact_tui.demo.appctl restart" in env.steps[-1].run
        assert env.smoke.login is not None and env.smoke.login.username == "demo"
        assert env.smoke.login.password_command.startswith("cat ")
        # The server's own log (appctl writes runserver's output there), scanned after the deploy.
        assert env.logs.paths == [str(offline_sandbox.run_dir / f"{name}.log")]
        assert env.logs.max_matches == 0 and env.logs.patterns == list(DEFAULT_LOG_PATTERNS)
    assert len(ports) == 2
    assert config.needs_confirmation("production")
    # The committed file is the one on disk, with its comments.
    text = offline_sandbox.config_path.read_text()
    assert text.count("# ") > 10
    assert git(offline_sandbox.repo, "show", "HEAD:iact-release.toml") + "\n" == text


def test_password_is_a_private_file_never_in_the_repo(offline_sandbox: Sandbox) -> None:
    secret = offline_sandbox.root / "secrets" / "smoke-password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    password = secret.read_text()
    assert len(password) >= 24
    assert password not in offline_sandbox.config_path.read_text()
    config = load_config(offline_sandbox.config_path)
    login = config.environments["staging"].smoke.login
    assert login is not None
    shown = subprocess.run(
        login.password_command, shell=True, capture_output=True, text=True, cwd=offline_sandbox.repo, check=True
    )
    assert shown.stdout.strip() == password


def test_history_has_several_authors_and_conventional_commits(offline_sandbox: Sandbox) -> None:
    repo = offline_sandbox.repo
    authors = set(git(repo, "log", "--format=%an <%ae>").splitlines())
    assert len(authors) >= 4
    subjects = git(repo, "log", "--format=%s").splitlines()
    assert all(CONVENTIONAL.match(s) for s in subjects), [s for s in subjects if not CONVENTIONAL.match(s)]
    releases = [s for s in subjects if s.startswith("chore: prepare release v")]
    assert len(releases) == len(RELEASE_TAGS)
    for tag in RELEASE_TAGS:
        assert git(repo, "log", "-1", "--format=%s", tag) == f"chore: prepare release {tag}"
    unreleased = git(repo, "log", "--format=%s", "v1.3.2..main").splitlines()
    assert 6 <= len(unreleased) <= 10
    kinds = {CONVENTIONAL.match(s).group(1) for s in unreleased}  # type: ignore[union-attr]
    assert {"feat", "fix", "perf", "docs", "chore"} <= kinds
    assert any(s.startswith("feat(") for s in unreleased)
    body = git(repo, "log", "--format=%B", "v1.3.2..main")
    assert "BREAKING CHANGE" not in body and not any("!:" in s for s in unreleased)
    new_files = git(repo, "diff", "--name-only", "--diff-filter=A", "v1.3.2", "main").splitlines()
    assert "core/migrations/0003_project_archived.py" in new_files
    # Dates span months and are fixed.
    first, last = (
        git(repo, "log", "--reverse", "--format=%as", "main").splitlines()[0],
        git(repo, "log", "-1", "--format=%as", "main"),
    )
    assert (first, last) == ("2024-01-08", "2024-07-08")


def test_release_commits_bump_every_version_file(offline_sandbox: Sandbox) -> None:
    repo = offline_sandbox.repo
    for tag in RELEASE_TAGS:
        changed = set(git(repo, "diff", "--name-only", f"{tag}^", tag).splitlines())
        assert changed == {"iact/__init__.py", "pyproject.toml", "frontend/package.json", "CHANGELOG.md"}
        version = tag[1:]
        assert f'__version__ = "{version}"' in git(repo, "show", f"{tag}:iact/__init__.py")
        assert tomllib.loads(git(repo, "show", f"{tag}:pyproject.toml"))["project"]["version"] == version
        assert json.loads(git(repo, "show", f"{tag}:frontend/package.json"))["version"] == version
        assert f"## [{version}] - " in git(repo, "show", f"{tag}:CHANGELOG.md")
    # HEAD still carries the last release's version, and the decoy pin is another version.
    package = json.loads((repo / "frontend" / "package.json").read_text())
    assert package["version"] == "1.3.2"
    assert all(v != "1.3.2" for v in package["dependencies"].values())
    assert tomllib.loads((repo / "pyproject.toml").read_text())["project"]["version"] == "1.3.2"


def test_changelog_follows_keep_a_changelog(offline_sandbox: Sandbox) -> None:
    text = (offline_sandbox.repo / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings == ["Unreleased", "1.3.2", "1.3.1", "1.3.0", "1.3.0-rc.1", "1.2.1", "1.2.0", "1.1.0", "1.0.0"]
    assert "keepachangelog.com/en/1.1.0" in text
    unreleased = text.split("## [Unreleased]")[1].split("\n## [")[0]
    assert "### Added" in unreleased
    assert 1 <= unreleased.count("\n- ") <= 2
    assert re.search(r"^## \[1\.3\.2\] - 2024-06-04$", text, re.M)


def test_non_semver_tag_points_at_a_release(offline_sandbox: Sandbox) -> None:
    repo = offline_sandbox.repo
    assert git(repo, "rev-parse", "deploy-2024-05-17^{commit}") == git(repo, "rev-parse", "v1.3.1^{commit}")


def test_history_is_deterministic_up_to_the_config_commit(offline_sandbox: Sandbox, tmp_path: Path) -> None:
    other = build_sandbox(tmp_path / "again", start_servers=False)
    for tag in RELEASE_TAGS:
        assert git(other.origin, "rev-parse", tag) == git(offline_sandbox.origin, "rev-parse", tag)
    assert git(other.origin, "rev-parse", "main^") == git(offline_sandbox.origin, "rev-parse", "main^")


def test_every_commit_holds_valid_python() -> None:
    for commit, tree in trees({"iact-release.toml": ""}):
        for path, text in tree.items():
            if path.endswith(".py"):
                compile(text, f"{commit.when} {path}", "exec")
    assert len(HISTORY) + 1 == len(list(trees({}))) and CONFIG_COMMIT.message.startswith("chore:")


def test_checks_command_runs_the_django_tests_under_coverage(offline_sandbox: Sandbox) -> None:
    config = load_config(offline_sandbox.config_path)
    repo = offline_sandbox.repo
    done = subprocess.run(
        config.checks.tests, shell=True, cwd=repo, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^Ran \d+ tests", done.stderr, re.M) and "OK" in done.stderr
    report = ET.parse(repo / config.checks.coverage_report).getroot()
    assert float(report.attrib["line-rate"]) * 100 >= config.checks.coverage_min
    # Running the checks leaves the tree clean (reports, caches and databases are ignored).
    assert git(repo, "status", "--porcelain") == ""


def test_deploy_targets_are_prepared_at_the_latest_release(offline_sandbox: Sandbox) -> None:
    for env in ("staging", "production"):
        app = offline_sandbox.root / env
        assert git(app, "rev-parse", "HEAD") == git(app, "rev-parse", "v1.3.2^{commit}")
        assert git(app, "remote", "get-url", "origin") == str(offline_sandbox.origin)
        assert (app / "db.sqlite3").is_file()
        assert (app / "staticfiles" / "core" / "site.css").is_file()
        assert git(app, "status", "--porcelain") == ""
        assert not (app / "core" / "migrations" / "0003_project_archived.py").exists()


def test_describe_tells_how_to_start_and_stop(offline_sandbox: Sandbox) -> None:
    text = describe(offline_sandbox)
    for url in offline_sandbox.environments.values():
        assert url in text
    assert f"cd {offline_sandbox.repo} && iact-tui" in text
    assert f"iact-tui demo {offline_sandbox.root} --stop" in text
    assert "stopped" in text  # no server was started


def test_building_into_a_non_empty_directory_fails(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    with pytest.raises(IactError) as info:
        build_sandbox(tmp_path, start_servers=False)
    assert "not empty" in info.value.what and info.value.fix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["something"]
    with pytest.raises(IactError, match="not a directory"):
        build_sandbox(tmp_path / "something", start_servers=False)


def test_building_into_an_existing_empty_directory_works(tmp_path: Path) -> None:
    sandbox = build_sandbox(tmp_path, start_servers=False)
    assert sandbox.root == tmp_path and sandbox.repo.is_dir()


def test_demo_package_imports_no_textual() -> None:
    code = "import sys, iact_tui.demo, iact_tui.demo.appctl; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), check=True)
    assert out.stdout.strip() == "False"
