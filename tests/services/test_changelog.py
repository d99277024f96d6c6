"""Changelog: Conventional Commits classification, Unreleased parsing, section insertion."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iact_tui.errors import ChangelogError
from iact_tui.services import changelog
from iact_tui.services.changelog import (
    HEADER,
    SECTIONS,
    Commit,
    classify,
    draft_section_body,
    drop_empty_groups,
    group_commits,
    insert_release,
    layout_warning,
    release_section,
    render_groups,
    suggest_bump,
    unreleased_entries,
)


@pytest.mark.parametrize(
    ("subject", "body", "parents", "expected"),
    [
        ("feat: add login page", "", 1, ("Added", "Add login page")),
        ("feature: add x", "", 1, ("Added", "Add x")),
        ("fix: crash on empty tag list", "", 1, ("Fixed", "Crash on empty tag list")),
        ("perf: cache tags", "", 1, ("Changed", "Cache tags")),
        ("refactor: split engine", "", 1, ("Changed", "Split engine")),
        ("deprecate: old flag", "", 1, ("Deprecated", "Old flag")),
        ("deprecated: old flag", "", 1, ("Deprecated", "Old flag")),
        ("security: escape output", "", 1, ("Security", "Escape output")),
        ("sec: rotate key", "", 1, ("Security", "Rotate key")),
        ("remove: legacy API", "", 1, ("Removed", "Legacy API")),
        ("revert: add login page", "", 1, ("Removed", "Add login page")),
        ('Revert "feat: add login page"', "", 1, ("Removed", 'Revert "feat: add login page"')),
        ("FEAT: shout", "", 1, ("Added", "Shout")),
        ("feat(api): add /health", "", 1, ("Added", "**api:** Add /health")),
        ("fix(ui)!: drop old keys", "", 1, ("Fixed", "**BREAKING:** **ui:** Drop old keys")),
        ("feat!: new config format", "", 1, ("Added", "**BREAKING:** New config format")),
        (
            "feat: new config",
            "Details.\n\nBREAKING CHANGE: keys renamed",
            1,
            ("Added", "**BREAKING:** New config — keys renamed"),
        ),
        ("fix: x", "BREAKING-CHANGE: y", 1, ("Fixed", "**BREAKING:** X — y")),
        # the footer's text is kept, on one line, up to the next footer
        (
            "refactor: drop legacy API",
            "BREAKING CHANGE: the v1 endpoints are gone",
            1,
            ("Changed", "**BREAKING:** Drop legacy API — the v1 endpoints are gone"),
        ),
        (
            "feat(api)!: paginate lists",
            "Why.\n\nBREAKING CHANGE: list endpoints return\n  at most 100 items\nRefs: #12\nReviewed-by: Ann",
            1,
            ("Added", "**BREAKING:** **api:** Paginate lists — list endpoints return at most 100 items"),
        ),
        ("fix: drop v1", "BREAKING CHANGE: Drop v1.", 1, ("Fixed", "**BREAKING:** Drop v1")),
        ("feat: x", "BREAKING CHANGE:\nRefs #3", 1, ("Added", "**BREAKING:** X")),
        ("fix: x", "mentions breaking change: lowercase", 1, ("Fixed", "X")),
        ("docs: fix typo", "", 1, None),
        ("test: cover bumps", "", 1, None),
        ("chore: tidy", "", 1, None),
        ("chore(deps): bump httpx", "", 1, None),
        ("ci: cache venv", "", 1, None),
        ("build: wheel", "", 1, None),
        ("style: ruff format", "", 1, None),
        ("build!: require Python 3.11", "", 1, ("Changed", "**BREAKING:** Require Python 3.11")),
        ("chore(release): 1.3.2", "", 1, None),
        ("chore: prepare release 1.3.2", "", 1, None),
        ("chore: prepare release", "", 1, None),
        ("release: 1.3.2", "", 1, None),
        ("Release v1.3.2", "", 1, None),
        ("Bump version to 1.3.2", "", 1, None),
        ("Merge branch 'feature/x'", "", 1, None),
        ("Merge pull request #12 from o/x", "", 2, None),
        ("feat: merged via octopus", "", 3, None),
        ("update readme", "", 1, ("Changed", "Update readme")),
        ("Release notes are now shown", "", 1, ("Changed", "Release notes are now shown")),
        ("api: new endpoint", "", 1, ("Changed", "Api: new endpoint")),
        ("WIP", "", 1, ("Changed", "WIP")),
        ("feat: élan über alles", "", 1, ("Added", "Élan über alles")),
        ("fix(Übersetzung): ошибка в меню", "", 1, ("Fixed", "**Übersetzung:** Ошибка в меню")),
        ("修复\uff1a中文冒号", "", 1, ("Changed", "修复\uff1a中文冒号")),
        ("feat:no space", "", 1, ("Changed", "Feat:no space")),
        ("   ", "", 1, None),
    ],
)
def test_classify(subject: str, body: str, parents: int, expected: tuple[str, str] | None) -> None:
    assert classify(Commit("0" * 40, subject, body, "Ann", parents)) == expected


COMMITS = [
    Commit("1", "feat: add login page"),
    Commit("2", "fix: crash on start"),
    Commit("3", "Merge branch 'x'", parents=2),
    Commit("4", "docs: readme"),
    Commit("5", "tweak the colours"),
    Commit("6", "feat(api): add /health"),
    Commit("7", "chore(release): 1.3.2"),
]


def test_group_commits_keeps_commit_order_and_section_order() -> None:
    groups = group_commits(COMMITS)
    assert groups == {
        "Added": ["Add login page", "**api:** Add /health"],
        "Changed": ["Tweak the colours"],
        "Fixed": ["Crash on start"],
    }
    assert list(groups) == ["Added", "Changed", "Fixed"]


CHANGELOG = """# Changelog

All notable changes to this project will be documented in this file.

## [Unreleased]

### Fixed

- Crash on start.
* Wrong colour
  in dark mode,
  - nested detail

  still the same entry

Stray prose is not an entry.

### Added

- Add login page

### Internal

- Faster CI

## [1.3.2] - 2024-01-10

### Fixed

- Old fix

## [1.3.1] - 2024-01-01

- Older

[Unreleased]: https://example.com/o/r/compare/v1.3.2...HEAD
[1.3.2]: https://example.com/o/r/compare/v1.3.1...v1.3.2
[1.3.1]: https://example.com/o/r/releases/tag/v1.3.1
"""


def test_unreleased_entries() -> None:
    expected = {
        "Fixed": [
            "Crash on start.",
            "Wrong colour\n  in dark mode,\n  - nested detail\n\n  still the same entry",
        ],
        "Added": ["Add login page"],
        "Internal": ["Faster CI"],
    }
    assert unreleased_entries(CHANGELOG) == expected
    assert unreleased_entries(CHANGELOG.replace("\n", "\r\n")) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("# Changelog\n\n## [1.0.0] - 2024-01-01\n\n- a\n", {}),
        ("## Unreleased\n- loose bullet\n", {"Changed": ["loose bullet"]}),
        ("## [unreleased]\n\n### Added\n\n```\n## not a heading\n- not an entry\n```\n", {}),
        (
            "## [Unreleased]\n\n### Added\n\n- only one\n\n[Unreleased]: https://x/compare/v1...HEAD\n",
            {"Added": ["only one"]},
        ),
    ],
)
def test_unreleased_entries_edges(text: str, expected: dict[str, list[str]]) -> None:
    assert unreleased_entries(text) == expected


def test_render_groups() -> None:
    groups = {"Fixed": ["c"], "Custom": ["z"], "Added": ["a", "b\n  more"], "Removed": []}
    assert render_groups(groups) == "### Added\n\n- a\n- b\n  more\n\n### Fixed\n\n- c\n\n### Custom\n\n- z\n"
    assert render_groups({}) == ""
    assert SECTIONS == ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def test_draft_section_body_merges_and_dedupes() -> None:
    commits = [
        Commit("1", "feat: add LOGIN   page"),
        Commit("2", "fix: crash on start"),
        Commit("3", "fix: wrong colour"),
        Commit("4", "chore: tidy"),
        Commit("5", "security: escape titles"),
        Commit("6", "feat: add login page"),
    ]
    assert draft_section_body(CHANGELOG, commits) == (
        "### Added\n\n- Add login page\n\n"
        "### Fixed\n\n- Crash on start.\n- Wrong colour\n  in dark mode,\n  - nested detail\n\n"
        "  still the same entry\n- Wrong colour\n\n"
        "### Security\n\n- Escape titles\n\n"
        "### Internal\n\n- Faster CI\n"
    )
    assert draft_section_body("", []) == ""


BODY = "### Added\n\n- Add login page\n\n### Fixed\n\n- Crash on start\n"


def test_insert_release_moves_unreleased_and_updates_links(tmp_path: Path) -> None:
    path = tmp_path / "CHANGELOG.md"
    path.write_text(CHANGELOG, encoding="utf-8")
    new = insert_release(path.read_text(encoding="utf-8"), "1.4.0", "2024-05-01", BODY)
    assert new == (
        "# Changelog\n\n"
        "All notable changes to this project will be documented in this file.\n\n"
        "## [Unreleased]\n\n"
        "## [1.4.0] - 2024-05-01\n\n"
        "### Added\n\n- Add login page\n\n### Fixed\n\n- Crash on start\n\n"
        "## [1.3.2] - 2024-01-10\n\n### Fixed\n\n- Old fix\n\n"
        "## [1.3.1] - 2024-01-01\n\n- Older\n\n"
        "[Unreleased]: https://example.com/o/r/compare/v1.4.0...HEAD\n"
        "[1.4.0]: https://example.com/o/r/compare/v1.3.2...v1.4.0\n"
        "[1.3.2]: https://example.com/o/r/compare/v1.3.1...v1.3.2\n"
        "[1.3.1]: https://example.com/o/r/releases/tag/v1.3.1\n"
    )
    assert unreleased_entries(new) == {}
    assert release_section(new, "1.4.0") == BODY
    assert release_section(new, "1.3.1") == "- Older\n"
    assert release_section(new, "9.9.9") is None


def test_insert_release_crlf_and_bom() -> None:
    text = "\ufeff" + CHANGELOG.replace("\n", "\r\n")
    new = insert_release(text, "1.4.0", "2024-05-01", BODY.replace("\n", "\r\n"))
    expected = insert_release(CHANGELOG, "1.4.0", "2024-05-01", BODY)
    assert new == "\ufeff" + expected.replace("\n", "\r\n")
    assert "\n" not in new.replace("\r\n", "")


EMPTY_RESULT = HEADER + "\n## [Unreleased]\n\n## [1.0.0] - 2024-05-01\n\n### Added\n\n- First\n"


@pytest.mark.parametrize(
    ("text", "repo_url", "expected"),
    [
        pytest.param("", "", EMPTY_RESULT, id="empty"),
        pytest.param(" \n\n", "", EMPTY_RESULT, id="blank"),
        pytest.param(
            "",
            "https://github.com/o/r/",
            EMPTY_RESULT + "\n[Unreleased]: https://github.com/o/r/compare/v1.0.0...HEAD\n"
            "[1.0.0]: https://github.com/o/r/releases/tag/v1.0.0\n",
            id="empty-with-repo-url",
        ),
        pytest.param(
            "# Changelog\n\nNotes about this file.\n",
            "",
            "# Changelog\n\nNotes about this file.\n\n## [Unreleased]\n\n"
            "## [1.0.0] - 2024-05-01\n\n### Added\n\n- First\n",
            id="header-only",
        ),
    ],
)
def test_insert_release_into_new_changelog(text: str, repo_url: str, expected: str) -> None:
    assert insert_release(text, "1.0.0", "2024-05-01", "### Added\n\n- First\n", repo_url=repo_url) == expected


def test_insert_release_without_unreleased_heading_adds_one() -> None:
    text = "# Changelog\n\n## 1.3.2 - 2024-01-10\n\n- Old\n"
    assert insert_release(text, "1.4.0", "2024-05-01", BODY, repo_url="https://git.example/o/r") == (
        "# Changelog\n\n## [Unreleased]\n\n## [1.4.0] - 2024-05-01\n\n"
        "### Added\n\n- Add login page\n\n### Fixed\n\n- Crash on start\n\n"
        "## 1.3.2 - 2024-01-10\n\n- Old\n\n"
        "[Unreleased]: https://git.example/o/r/compare/v1.4.0...HEAD\n"
        "[1.4.0]: https://git.example/o/r/compare/v1.3.2...v1.4.0\n"
    )


def test_insert_release_no_links_without_url_or_existing_links() -> None:
    text = "# Changelog\n\n## [Unreleased]\n\n- pending\n\n## [1.3.2] - 2024-01-10\n\n- Old\n"
    assert insert_release(text, "1.4.0", "2024-05-01", "- Pending\n", tag_prefix="") == (
        "# Changelog\n\n## [Unreleased]\n\n## [1.4.0] - 2024-05-01\n\n- Pending\n\n## [1.3.2] - 2024-01-10\n\n- Old\n"
    )


def test_insert_release_links_from_existing_version_links_and_bare_prefix() -> None:
    text = (
        "## [Unreleased]\n\n## [1.3.2] - 2024-01-10\n\n- Old\n\n"
        "[1.3.2]: https://gitlab.example/o/r/-/compare/1.3.1...1.3.2\n"
    )
    assert insert_release(text, "1.4.0", "2024-05-01", "", tag_prefix="") == (
        "## [Unreleased]\n\n## [1.4.0] - 2024-05-01\n\n## [1.3.2] - 2024-01-10\n\n- Old\n\n"
        "[Unreleased]: https://gitlab.example/o/r/-/compare/1.4.0...HEAD\n"
        "[1.4.0]: https://gitlab.example/o/r/-/compare/1.3.2...1.4.0\n"
        "[1.3.2]: https://gitlab.example/o/r/-/compare/1.3.1...1.3.2\n"
    )


def test_insert_release_keeps_lowercase_link_label_and_section_as_last() -> None:
    text = "## [Unreleased]\n\n- x\n\n[unreleased]: https://h/o/r/compare/v0.9.0...HEAD\n"
    assert insert_release(text, "1.0.0", "2024-05-01", "- X\n") == (
        "## [Unreleased]\n\n## [1.0.0] - 2024-05-01\n\n- X\n\n"
        "[unreleased]: https://h/o/r/compare/v1.0.0...HEAD\n"
        "[1.0.0]: https://h/o/r/compare/v0.9.0...v1.0.0\n"
    )


@pytest.mark.parametrize(
    ("heading", "line"),
    [("## [1.3.2] - 2024-01-10", 7), ("## v1.3.2", 7), ("## [1.3.2]", 7)],
)
def test_insert_release_refuses_existing_version(heading: str, line: int) -> None:
    text = f"# Changelog\n\n## [Unreleased]\n\n- x\n\n{heading}\n\n- Old\n"
    with pytest.raises(ChangelogError) as err:
        insert_release(text, "1.3.2", "2024-05-01", BODY)
    assert err.value.what == f"the changelog already has a section for 1.3.2 (line {line}: {heading!r})"
    assert err.value.fix == "remove or rename that section, or release another version"


@pytest.mark.parametrize(
    ("version", "date", "what"),
    [
        ("1.4.0", "01/05/2024", "release date '01/05/2024' is not YYYY-MM-DD"),
        ("1.4 .0", "2024-05-01", "'1.4 .0' cannot be a changelog section name"),
    ],
)
def test_insert_release_refuses_bad_arguments(version: str, date: str, what: str) -> None:
    with pytest.raises(ChangelogError) as err:
        insert_release("", version, date, BODY)
    assert err.value.what == what


def test_insert_then_draft_next_release_round_trip() -> None:
    """After a release, the next draft starts empty apart from new commits."""
    new = insert_release(CHANGELOG, "1.4.0", "2024-05-01", draft_section_body(CHANGELOG, COMMITS))
    assert draft_section_body(new, [Commit("9", "fix: later")]) == "### Fixed\n\n- Later\n"


_entry = st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and not s.startswith(("#", "[", "-", "*", "+", "`", "~", " "))
)


@given(groups=st.dictionaries(st.sampled_from(SECTIONS), st.lists(_entry, min_size=1, max_size=4), max_size=6))
def test_render_insert_section_round_trip(groups: dict[str, list[str]]) -> None:
    """A rendered body inserted as a release comes back unchanged from release_section."""
    body = render_groups(groups)
    text = insert_release(CHANGELOG, "2.0.0", "2024-05-01", body)
    assert release_section(text, "2.0.0") == body
    assert release_section(text, "1.3.2") == "### Fixed\n\n- Old fix\n"


def test_commits_that_wrote_their_own_entry_draft_nothing_more() -> None:
    text = "# Changelog\n\n## [Unreleased]\n\n### Added\n\n- Projects can be archived.\n"
    commits = [
        Commit("a1", "feat(core): let projects be archived", changelog_added=("Projects can be archived.",)),
        Commit("c3", "feat: import from xlsx", changelog_added=("Fixed a typo in 1.0.0.",)),
        Commit("b2", "fix(auth): answer 400 on a bad body"),
    ]
    # a1 wrote the entry that stands under [Unreleased]; c3 only touched an old section.
    assert draft_section_body(text, commits) == (
        "### Added\n\n- Projects can be archived.\n- Import from xlsx\n\n### Fixed\n\n- **auth:** Answer 400 on a bad body\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2024-01-01\n", None),
        ("# Changelog\n\n## 1.0.0\n\n- first\n", "no '## [Unreleased]' heading"),
        ("Release notes\n\n* 1.0.0: first\n", "no '## ' release headings"),
    ],
)
def test_layout_warning_names_what_is_not_keep_a_changelog(text: str, expected: str | None) -> None:
    warning = layout_warning(text)
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and expected in warning


@pytest.mark.parametrize(
    ("subjects", "major", "level", "breaking", "counts"),
    [
        (["fix: crash", "docs: readme"], 1, "patch", (), "1 other change"),
        (["feat: login", "fix: crash", "perf: faster"], 1, "minor", (), "1 feature, 2 other changes"),
        (["feat(api)!: drop v1", "feat: login"], 1, "major", ("feat(api)!: drop v1",), "1 breaking, 1 feature"),
        (["refactor!: new config format"], 0, "minor", ("refactor!: new config format",), "1 breaking"),
        (["chore: bump deps", "ci: cache", "Merge branch 'x'"], 1, "", (), "no releasable changes"),
        (["Rework the login page"], 2, "patch", (), "1 other change"),
    ],
)
def test_suggest_bump_follows_conventional_commits(
    subjects: list[str], major: int, level: str, breaking: tuple[str, ...], counts: str
) -> None:
    commits = [Commit(str(i), s, parents=2 if s.startswith("Merge") else 1) for i, s in enumerate(subjects)]
    suggestion = suggest_bump(commits, major)
    assert (suggestion.level, suggestion.breaking, suggestion.counts()) == (level, breaking, counts)


def test_suggest_bump_sees_a_breaking_change_footer() -> None:
    commit = Commit("1", "fix: token lifetime", "BREAKING CHANGE: tokens expire after 1 h\n")
    assert suggest_bump([commit], 3).breaking == ("fix: token lifetime",)
    assert suggest_bump([commit], 3).level == "major"


def test_an_edited_section_loses_its_empty_groups() -> None:
    # Keep a Changelog 1.1.0 lists only the types of change a release has.
    edited = "### Added\n\n- Login page\n\n### Security\n\n### Fixed\n\n- Crash\n\n### Deprecated\n"
    text = insert_release("# Changelog\n\n## [Unreleased]\n", "1.1.0", "2024-05-01", edited)
    assert release_section(text, "1.1.0") == "### Added\n\n- Login page\n\n### Fixed\n\n- Crash\n"
    assert "### Security" not in text and "### Deprecated" not in text
    # prose is content; a heading inside a code fence is not a group
    kept = "### Changed\n\nSee the migration guide.\n\n### Added\n\n- X\n\n  ```\n  ### not a group\n  ```\n"
    assert drop_empty_groups(kept) == kept


def test_section_problems_refuse_level_one_and_two_headings_outside_code_fences() -> None:
    body = "## Added\n\n- a thing\n\n```\n## not a heading in a fence\n```\n\n# Notes\n### Fixed\n- b\n"
    assert changelog.section_problems(body) == [
        "line 1: '## Added' is a level-2 heading, which would end the release's section in the file; "
        "groups are level 3 (### Added)",
        "line 9: '# Notes' is a level-1 heading, which would end the release's section in the file; "
        "groups are level 3 (### Added, ### Fixed...)",
        "line 3: '- a thing' comes before the first ### group, so no group holds it (the announcement would "
        "drop it); put it under a group (### Added, ### Changed, ### Fixed...) or delete it",
    ]
    assert changelog.section_problems("### Fixed\n- b\n#### detail\n") == []
    assert changelog.section_problems("### Fixed\n") == [
        "the section has no entries: write at least one `- ` entry under a ### group"
    ]


def test_section_problems_refuse_text_before_the_first_group() -> None:
    # Found by the operator trial: the loose line was dropped from the announcement, and an
    # indented "### Added" is a paragraph line, not a group, so its entries went elsewhere.
    body = "Loose words first.\n  trailing  spaces   ### Added\n\n### Fixed\n\n- b\n"
    [problem] = changelog.section_problems(body)
    assert problem.startswith("line 1: 'Loose words first.' comes before the first ### group")
    assert changelog.section_problems("\n\n### Fixed\n\n- b\n\nafter the entries is fine\n") == []
    assert "comes before the first ### group" in changelog.section_problems("- an entry with no group\n")[0]


def test_release_date_is_today_or_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from iact_tui.services.changelog import release_date

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert release_date() == dt.date.today().isoformat()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1714979289")  # 2024-05-06 07:08:09 UTC
    assert release_date() == "2024-05-06"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "not a number")  # ignored, as the spec allows
    assert release_date() == dt.date.today().isoformat()
