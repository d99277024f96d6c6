"""The changelog draft end to end: ``GitService.commits_since`` on a real repository, then
``changelog.draft_section_body`` and ``suggest_bump``, pinned byte for byte.

The repository holds every kind of commit the draft treats specially (scopes, breaking
markers and footers, internal types, release and merge commits, reverts, prose, odd bytes,
commits that wrote their own changelog entry), so a faster reading or classification that
changes one entry fails here.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iact_tui.errors import GitError
from iact_tui.services.changelog import Commit, CommitLog, classify, draft_section_body, suggest_bump
from iact_tui.services.git import GitService

CHANGELOG_START = "# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2024-01-02\n\n- Fixd a typo.\n"
CHANGELOG_END = (
    "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- Projects can be archived.\n- Add the search box\n\n"
    "### Internal\n\n- Faster CI\n\n## [1.0.0] - 2024-01-02\n\n- Fixed a typo.\n"
)

# (message bytes, changelog text written with it or None). Committed in this order on
# main, each at its own fixed time, so the ids and the log's order never vary.
MESSAGES: list[tuple[bytes, str | None]] = [
    (b"feat: add the search box", None),
    (b"fix(api): stop 500s on empty input", None),
    (
        b"feat(ui)!: new navigation\n\nBREAKING CHANGE: the old menu is gone\nand so are its\n  shortcuts\n\nRefs: #12\n",
        None,
    ),
    (b"refactor: drop legacy API\n\nSome explanation.\n\nBREAKING-CHANGE: drop legacy API.\n", None),
    (b"chore!: require Python 3.11", None),
    (b"docs: explain the config", None),
    (b"chore(release): 1.2.0", None),
    (b"Release v1.2.0", None),
    (b"Bump version to 1.2.1", None),
    (b"chore: prepare release 1.2.2-rc.1", None),
    (b"perf: cache slug lookups.", None),
    (b"FEAT: Upper-case type", None),
    (b"api: unknown type goes to Changed", None),
    (b"Rework the login page", None),
    (b"revert: undo the export", None),
    (b"security(auth): escape titles", None),
    (b"deprecate: the v1 endpoint", None),
    (b"deprecated(api): the v2 endpoint", None),
    (b"remove: old importer", None),
    (b"fix: caf\xc3\xa9 \xc3\xbcn\xc3\xafcode", None),
    (b"fix: caf\xe9 \xff latin-1", None),
    (b"fix: odd \x1f byte\n\nbody \x1f too\n", None),
    (b"feat: first line\nsecond line of the subject\n\nthe body\n", None),
    (b"fix:no space", None),
    (b"feat(): empty scope", None),
    (b"fix( a b ): spaced scope", None),
    (b"fix(a)(b): two scopes", None),
    (b"feat:\ttab after the colon", None),
    (b"feat: add LOGIN   page", None),
    (b"feat: add login page.", None),
    (b"   fix: leading spaces kept verbatim", None),
    (b"\xc3\xa9: lower-case unicode prose", None),
    (
        b"feat: let projects be archived",
        "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- Projects can be archived.\n\n## [1.0.0] - 2024-01-02\n\n- Fixd a typo.\n",
    ),
    (b"fix: typo in the 1.0.0 notes", "@typo"),
    (b"Merge pull request #5 from someone/branch", None),
    (b"fix: token lifetime\n\nBREAKING CHANGE: tokens expire after 1 h\nReviewed-by: Z\n", None),
    (b"fix: crlf body\r\n\r\nBREAKING CHANGE: crlf note\r\nmore\r\n", None),
    (b"fix: not breaking\n\nThis is not BREAKING CHANGE: inline\n", None),
    (b"fix(release): a release-scoped fix", None),
    (b"feat: *markdown* `chars` [x]", None),
    (b"wip", None),
    (b"test(e2e)!: breaking test change\n\nBREAKING CHANGE:\n", None),
    (b"ci: cache", None),
    (b"hotfix(db): pool size", None),
    (b"sec: rotate keys", None),
    (b'Revert "feat: something"\n\nThis reverts commit 0000000000000000000000000000000000000000.\n', None),
    (b"", None),
]


def _git(cwd: Path, *args: str, data: bytes | None = None, when: int = 0) -> str:
    env = dict(os.environ)
    if when:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{1_700_000_000 + when} +0000"
    done = subprocess.run(["git", *args], cwd=cwd, input=data, check=True, capture_output=True, env=env)
    return done.stdout.decode("utf-8", "replace").strip()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with tag v1.0.0, then every message above on main, a side branch
    merged with ``--no-ff``, and the changelog ending as ``CHANGELOG_END``."""
    root = tmp_path_factory.mktemp("draft") / "repo"
    _git(root.parent, "init", "-q", "-b", "main", str(root))
    for key, value in (("user.name", "Test Operator"), ("user.email", "operator@example.invalid")):
        _git(root, "config", key, value)
    (root / "CHANGELOG.md").write_text(CHANGELOG_START)
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "chore: start", when=1)
    _git(root, "tag", "v1.0.0")
    when = 10
    for n, (message, text) in enumerate(MESSAGES):
        if text == "@typo":
            text = (root / "CHANGELOG.md").read_text().replace("- Fixd a typo.", "- Fixed a typo.")
        if text is not None:
            (root / "CHANGELOG.md").write_text(text)
        (root / "counter").write_text(str(n))
        _git(root, "add", ".")
        _git(root, "commit", "-q", "--allow-empty-message", "--cleanup=verbatim", "-F", "-", data=message, when=when)
        when += 1
        if n == 20:
            _git(root, "checkout", "-qb", "side")
            (root / "side").write_text("side")
            _git(root, "add", ".")
            _git(root, "commit", "-qm", "feat(side): on a branch", when=when)
            _git(root, "checkout", "-q", "main")
            _git(root, "merge", "-q", "--no-ff", "-m", "Merge branch 'side'", "side", when=when + 1)
            when += 2
    (root / "CHANGELOG.md").write_text(CHANGELOG_END)  # edited, not committed: the draft reads the file
    return root


EXPECTED_BODY = """\
### Added

- Projects can be archived.
- Add the search box
- **BREAKING:** **ui:** New navigation — the old menu is gone and so are its shortcuts
- Upper-case type
- **side:** On a branch
- First line second line of the subject
- Empty scope
- Tab after the colon
- Add LOGIN   page
- *markdown* `chars` [x]

### Changed

- **BREAKING:** Drop legacy API
- **BREAKING:** Require Python 3.11
- Cache slug lookups.
- Api: unknown type goes to Changed
- Rework the login page
- Fix:no space
- Fix(a)(b): two scopes
- É: lower-case unicode prose
- Wip
- **BREAKING:** **e2e:** Breaking test change

### Deprecated

- The v1 endpoint
- **api:** The v2 endpoint

### Removed

- Undo the export
- Old importer
- Revert "feat: something"

### Fixed

- **api:** Stop 500s on empty input
- Café ünïcode
- Café ÿ latin-1
- Odd \x1f byte
- **a b:** Spaced scope
- Leading spaces kept verbatim
- Typo in the 1.0.0 notes
- **BREAKING:** Token lifetime — tokens expire after 1 h
- **BREAKING:** Crlf body — crlf note more
- Not breaking
- **db:** Pool size

### Security

- **auth:** Escape titles
- Rotate keys

### Internal

- Faster CI
"""


async def test_the_draft_from_a_real_history_is_pinned(history: Path) -> None:
    commits = await GitService(history).commits_since("v1.0.0", "CHANGELOG.md")
    body = draft_section_body((history / "CHANGELOG.md").read_text(), commits)
    assert body == EXPECTED_BODY
    bump = suggest_bump(commits, 1)
    assert (bump.level, bump.features, bump.others) == ("major", 10, 23)
    assert bump.breaking == (
        "feat(ui)!: new navigation",
        "refactor: drop legacy API",
        "chore!: require Python 3.11",
        "fix: token lifetime",
        "fix: crlf body",
        "test(e2e)!: breaking test change",
    )


async def test_commits_since_reads_every_field_as_git_has_it(history: Path) -> None:
    commits = await GitService(history).commits_since("v1.0.0", "CHANGELOG.md")
    shas = _git(history, "log", "--reverse", "--format=%H", "v1.0.0..HEAD").split()
    assert [c.sha for c in commits] == shas
    assert [c.parents for c in commits] == [2 if c.subject == "Merge branch 'side'" else 1 for c in commits]
    assert {c.author for c in commits} == {"Test Operator"}
    assert [c.changelog_added for c in commits if c.changelog_added] == [
        ("Projects can be archived.",),
        ("Fixed a typo.",),
    ]
    by_subject = {c.subject: c for c in commits}
    assert by_subject["feat: first line second line of the subject"].body == "the body"
    assert by_subject["fix: odd \x1f byte"].body == "body \x1f too"
    assert by_subject["fix: crlf body"].body == "BREAKING CHANGE: crlf note\r\nmore"


async def test_commits_since_gives_columns_that_act_as_a_list_of_commits(history: Path) -> None:
    commits = await GitService(history).commits_since("v1.0.0", "CHANGELOG.md")
    assert isinstance(commits, CommitLog)
    listed = list(commits)
    assert len(commits) == len(listed) == len(MESSAGES) + 2  # the side branch's commit and its merge
    assert all(type(c) is Commit for c in listed)
    assert commits[0] == listed[0] and commits[-1] == listed[-1]
    assert commits[2:5] == listed[2:5] and isinstance(commits[2:5], CommitLog)
    assert commits == listed and commits == CommitLog.of(listed) and commits != listed[1:]
    # The columns are what the draft reads; a list of the same commits drafts the same.
    text = (history / "CHANGELOG.md").read_text()
    assert draft_section_body(text, listed) == draft_section_body(text, commits) == EXPECTED_BODY
    with pytest.raises(ValueError, match="one length"):
        CommitLog(["a"], [], [], [], [], [])


async def test_commits_since_in_a_repository_without_commits_or_an_empty_range_is_empty(
    history: Path, tmp_path: Path
) -> None:
    _git(tmp_path, "init", "-q", "-b", "main", str(tmp_path / "empty"))
    service = GitService(tmp_path / "empty")
    assert list(await service.commits_since(None, "CHANGELOG.md")) == []
    assert list(await service.commits_since(None)) == []
    assert list(await GitService(history).commits_since("HEAD", "CHANGELOG.md")) == []


async def test_a_hung_changelog_walk_times_out_and_frees_the_repo(history: Path, tmp_path: Path) -> None:
    """The walk runs under the call's timeout: here git hangs in a textconv filter for the
    changelog's diffs; the caller hears so after the timeout, git is killed, and the
    service answers the next call."""
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(history), str(clone))
    (clone / ".git" / "info" / "attributes").write_text("CHANGELOG.md diff=slow\n")
    _git(clone, "config", "diff.slow.textconv", "sleep 60; cat")
    service = GitService(clone, timeout=1)
    started = time.monotonic()
    with pytest.raises(GitError, match="took longer than 1 s"):
        await asyncio.wait_for(service.commits_since("v1.0.0", "CHANGELOG.md"), 10)
    assert time.monotonic() - started < 5
    service.timeout = 30
    assert await asyncio.wait_for(service.tags(), 10) == ["v1.0.0"]


async def test_commits_since_reads_the_same_without_a_temp_dir_or_through_two_logs(
    history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git writes the walk to a temp file; without a writable temp dir it comes through
    the pipe, and when the one walk's output is not of the expected shape two logs are
    read instead: the commits are the same each way."""
    expected = list(await GitService(history).commits_since("v1.0.0", "CHANGELOG.md"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    assert list(await GitService(history).commits_since("v1.0.0", "CHANGELOG.md")) == expected
    monkeypatch.undo()
    monkeypatch.setattr(GitService, "_log_with_bullets", lambda self, rev, changelog: None)
    assert list(await GitService(history).commits_since("v1.0.0", "CHANGELOG.md")) == expected


@pytest.mark.parametrize("size", [1, 5])
async def test_the_walk_read_in_small_pieces_gives_the_same_commits_and_classes(
    history: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """The walk is read and classified while git writes it: pieces cut anywhere (inside
    a field, a NUL pair, a UTF-8 character) give the same commits, each classified as
    :func:`classify` does."""
    expected = await GitService(history).commits_since("v1.0.0", "CHANGELOG.md")
    assert expected.entries == [classify(c) for c in expected]
    whole = GitService._log_chunks

    def in_pieces(self: GitService, *args: str) -> Iterator[bytes]:
        data = b"".join(whole(self, *args))
        assert "é".encode() in data  # a two-byte character: pieces of one byte cut it
        for n in range(0, len(data), size):
            yield data[n : n + size]

    monkeypatch.setattr(GitService, "_log_chunks", in_pieces)
    commits = await GitService(history).commits_since("v1.0.0", "CHANGELOG.md")
    assert commits == expected and commits.entries == expected.entries
    assert draft_section_body((history / "CHANGELOG.md").read_text(), commits) == EXPECTED_BODY
