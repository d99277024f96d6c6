"""SemVer from tags: precedence, prefixes, bumps, pre-releases, hotfix patches and the typed-version refusals."""

from __future__ import annotations

import pytest
import semver
from hypothesis import given
from hypothesis import strategies as st

from iact_tui.errors import VersionError
from iact_tui.services.versioning import (
    TagVersion,
    VersionInfo,
    bump,
    bump_level,
    next_free_patch,
    parse_tags,
    prerelease_candidates,
    tag_name,
    validate_new_version,
)

V = semver.Version.parse


def tv(tag: str, prefix: str = "v") -> TagVersion:
    return TagVersion(tag, V(tag[len(prefix) :]))


@pytest.mark.parametrize(
    ("tags", "prefix", "expected"),
    [
        pytest.param(
            ["v1.9.3", "v1.10.0", "v1.2.0"],
            "v",
            VersionInfo(
                current=tv("v1.10.0"),
                releases=[tv("v1.10.0"), tv("v1.9.3"), tv("v1.2.0")],
                prereleases=[],
                ignored=[],
                all_tags=["v1.10.0", "v1.2.0", "v1.9.3"],
            ),
            id="numeric-not-lexical",
        ),
        pytest.param(
            ["v2.0.0-rc.1", "v2.0.0-alpha", "v2.0.0-rc.10", "v1.3.2", "v2.0.0-rc.2"],
            "v",
            VersionInfo(
                current=tv("v1.3.2"),
                releases=[tv("v1.3.2")],
                prereleases=[
                    tv("v2.0.0-rc.10"),
                    tv("v2.0.0-rc.2"),
                    tv("v2.0.0-rc.1"),
                    tv("v2.0.0-alpha"),
                ],
                ignored=[],
                all_tags=["v1.3.2", "v2.0.0-alpha", "v2.0.0-rc.1", "v2.0.0-rc.10", "v2.0.0-rc.2"],
            ),
            id="prerelease-below-release-and-not-current",
        ),
        pytest.param(
            ["v1.0.0+build.9", "v1.0.0", "v1.0.0+build.1", "v0.9.0+exp"],
            "v",
            VersionInfo(
                current=tv("v1.0.0"),
                releases=[
                    tv("v1.0.0"),
                    tv("v1.0.0+build.1"),
                    tv("v1.0.0+build.9"),
                    tv("v0.9.0+exp"),
                ],
                prereleases=[],
                ignored=[],
                all_tags=["v0.9.0+exp", "v1.0.0", "v1.0.0+build.1", "v1.0.0+build.9"],
            ),
            id="build-metadata-ignored-for-precedence",
        ),
        pytest.param(
            ["v1.2.0", "1.3.0", "release-1", "v1.2", "v01.2.3", "latest", "v1.4.0-", "V1.5.0"],
            "v",
            VersionInfo(
                current=tv("v1.2.0"),
                releases=[tv("v1.2.0")],
                prereleases=[],
                ignored=sorted(["1.3.0", "release-1", "v1.2", "v01.2.3", "latest", "v1.4.0-", "V1.5.0"]),
                all_tags=sorted(
                    [
                        "v1.2.0",
                        "1.3.0",
                        "release-1",
                        "v1.2",
                        "v01.2.3",
                        "latest",
                        "v1.4.0-",
                        "V1.5.0",
                    ]
                ),
            ),
            id="other-prefix-and-non-semver-ignored",
        ),
        pytest.param(
            ["1.2.0", "v1.3.0", "1.10.0-beta.1", "0.9.9"],
            "",
            VersionInfo(
                current=tv("1.2.0", ""),
                releases=[tv("1.2.0", ""), tv("0.9.9", "")],
                prereleases=[tv("1.10.0-beta.1", "")],
                ignored=["v1.3.0"],
                all_tags=["0.9.9", "1.10.0-beta.1", "1.2.0", "v1.3.0"],
            ),
            id="bare-prefix",
        ),
        pytest.param(
            ["release-2.0.0", "v3.0.0", "release-10.0.0"],
            "release-",
            VersionInfo(
                current=tv("release-10.0.0", "release-"),
                releases=[tv("release-10.0.0", "release-"), tv("release-2.0.0", "release-")],
                prereleases=[],
                ignored=["v3.0.0"],
                all_tags=["release-10.0.0", "release-2.0.0", "v3.0.0"],
            ),
            id="long-prefix",
        ),
        pytest.param(
            ["v1.0.0-rc.1", "notes"],
            "v",
            VersionInfo(
                current=None,
                releases=[],
                prereleases=[tv("v1.0.0-rc.1")],
                ignored=["notes"],
                all_tags=["notes", "v1.0.0-rc.1"],
            ),
            id="no-stable-release",
        ),
        pytest.param([], "v", VersionInfo(None, [], [], [], []), id="no-tags"),
        pytest.param(
            ["v1.0.0", "v1.0.0"],
            "v",
            VersionInfo(tv("v1.0.0"), [tv("v1.0.0")], [], [], ["v1.0.0"]),
            id="duplicates-collapsed",
        ),
    ],
)
def test_parse_tags(tags: list[str], prefix: str, expected: VersionInfo) -> None:
    assert parse_tags(tags, prefix) == expected
    # Dataclass equality on semver.Version ignores build metadata: check the tags too.
    got = parse_tags(reversed(tags), prefix)
    assert [t.tag for t in got.releases] == [t.tag for t in expected.releases]
    assert [t.tag for t in got.prereleases] == [t.tag for t in expected.prereleases]


@pytest.mark.parametrize(
    ("current", "part", "expected"),
    [
        (None, "major", "1.0.0"),
        (None, "minor", "0.1.0"),
        (None, "patch", "0.0.1"),
        ("1.3.2", "major", "2.0.0"),
        ("1.3.2", "minor", "1.4.0"),
        ("1.3.2", "patch", "1.3.3"),
        ("0.9.9", "minor", "0.10.0"),
        ("1.3.2+build.7", "patch", "1.3.3"),
        ("1.9.9", "major", "2.0.0"),
    ],
)
def test_bump(current: str | None, part: str, expected: str) -> None:
    result = bump(V(current) if current else None, part)
    assert str(result) == expected
    assert result.prerelease is None and result.build is None


def test_bump_refuses_unknown_part() -> None:
    with pytest.raises(VersionError) as err:
        bump(V("1.0.0"), "micro")
    assert err.value.what == "unknown bump 'micro'"
    assert err.value.fix == "choose major, minor or patch"


@pytest.mark.parametrize(
    ("version", "prefix", "expected"),
    [
        (V("1.4.0"), "v", "v1.4.0"),
        (V("1.4.0-rc.1+b.2"), "v", "v1.4.0-rc.1+b.2"),
        ("1.4.0", "", "1.4.0"),
        ("1.4.0", "release-", "release-1.4.0"),
        ("v1.4.0", "v", "v1.4.0"),
        (" 2.0.0 ", "v", "v2.0.0"),
    ],
)
def test_tag_name(version: semver.Version | str, prefix: str, expected: str) -> None:
    assert tag_name(version, prefix) == expected


def test_tag_name_refuses_non_semver() -> None:
    with pytest.raises(VersionError, match=r"'1\.4' is not a SemVer version"):
        tag_name("1.4", "v")


@pytest.mark.parametrize(
    ("text", "current", "prefix", "expected"),
    [
        ("1.4.0", "1.3.2", "v", "1.4.0"),
        ("v1.4.0", "1.3.2", "v", "1.4.0"),
        ("  v1.4.0\n", "1.3.2", "v", "1.4.0"),
        ("1.4.0-rc.1", "1.3.2", "v", "1.4.0-rc.1"),
        ("1.3.3+build.5", "1.3.2", "v", "1.3.3+build.5"),
        ("1.10.0", "1.9.3", "v", "1.10.0"),
        ("0.0.1", None, "v", "0.0.1"),
        ("release-2.0.0", "1.0.0", "release-", "2.0.0"),
        ("v2.0.0", "1.0.0", "", "2.0.0"),
    ],
)
def test_validate_new_version_accepts(text: str, current: str | None, prefix: str, expected: str) -> None:
    result = validate_new_version(text, V(current) if current else None, {"v1.3.2", "v1.0.0"}, prefix)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("text", "current", "taken", "what", "fix"),
    [
        pytest.param(
            "1.4",
            "1.3.2",
            set(),
            "'1.4' is not a SemVer version",
            "type MAJOR.MINOR.PATCH, optionally with -prerelease or +build, e.g. 1.4.0",
            id="not-semver",
        ),
        pytest.param(
            "latest",
            None,
            set(),
            "'latest' is not a SemVer version",
            "type MAJOR.MINOR.PATCH, optionally with -prerelease or +build, e.g. 1.0.0",
            id="not-semver-no-release",
        ),
        pytest.param(
            "1.3.2",
            "1.3.2",
            {"v1.3.2"},
            "1.3.2 is not greater than the current version 1.3.2",
            "type a version above 1.3.2, e.g. 1.3.3",
            id="equal",
        ),
        pytest.param(
            "1.3.2-rc.1",
            "1.3.2",
            set(),
            "1.3.2-rc.1 is not greater than the current version 1.3.2",
            "type a version above 1.3.2, e.g. 1.3.3",
            id="prerelease-of-current",
        ),
        pytest.param(
            "1.3.2+build.2",
            "1.3.2",
            set(),
            "1.3.2+build.2 is not greater than the current version 1.3.2",
            "type a version above 1.3.2, e.g. 1.3.3",
            id="build-metadata-only",
        ),
        pytest.param(
            "1.9.3",
            "1.10.0",
            set(),
            "1.9.3 is not greater than the current version 1.10.0",
            "type a version above 1.10.0, e.g. 1.10.1",
            id="lower",
        ),
        pytest.param(
            "v1.4.0-rc.1",
            "1.3.2",
            {"v1.3.2", "v1.4.0-rc.1"},
            "tag v1.4.0-rc.1 already exists",
            "choose another version, or delete the stale tag",
            id="tag-exists",
        ),
        pytest.param(
            "1.4.0+ci.2",
            "1.3.2",
            {"v1.3.2", "v1.4.0+ci.1"},
            "tag v1.4.0+ci.1 already exists (same version as v1.4.0+ci.2)",
            "choose another version, or delete the stale tag",
            id="same-precedence-tag-exists",
        ),
    ],
)
def test_validate_new_version_refuses(text: str, current: str | None, taken: set[str], what: str, fix: str) -> None:
    with pytest.raises(VersionError) as err:
        validate_new_version(text, V(current) if current else None, taken, "v")
    assert (err.value.what, err.value.fix) == (what, fix)


_ident = st.from_regex(r"[0-9A-Za-z-]{1,8}", fullmatch=True).filter(
    lambda s: not (s.isdigit() and len(s) > 1 and s.startswith("0"))
)
_versions = st.builds(
    semver.Version,
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.none() | st.lists(_ident, min_size=1, max_size=3).map(".".join),
    st.none() | st.lists(st.from_regex(r"[0-9A-Za-z-]{1,8}", fullmatch=True), min_size=1, max_size=3).map(".".join),
)


@given(version=_versions, prefix=st.sampled_from(["", "v", "release-"]))
def test_tag_round_trip(version: semver.Version, prefix: str) -> None:
    """Formatting a version as a tag and parsing the tag gives the same version back."""
    tag = tag_name(version, prefix)
    info = parse_tags([tag], prefix)
    found = info.releases + info.prereleases
    assert [t.tag for t in found] == [tag]
    assert str(found[0].version) == str(version)
    assert info.ignored == []


@given(
    current=_versions.filter(lambda v: v.prerelease is None),
    part=st.sampled_from(["major", "minor", "patch"]),
)
def test_bump_is_greater_and_accepted(current: semver.Version, part: str) -> None:
    """A bump is always above the current version and passes validation."""
    new = bump(current, part)
    assert new > current
    assert validate_new_version(str(new), current, {tag_name(current, "v")}, "v") == new


@pytest.mark.parametrize(
    ("tags", "prefix", "identifier", "expected"),
    [
        pytest.param(
            ["v1.3.2"],
            "v",
            "rc",
            {"major-pre": "2.0.0-rc.1", "minor-pre": "1.4.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="start-for-each-bump",
        ),
        pytest.param(
            ["v1.3.2"],
            "v",
            "beta",
            {"major-pre": "2.0.0-beta.1", "minor-pre": "1.4.0-beta.1", "patch-pre": "1.3.3-beta.1"},
            id="start-other-identifier",
        ),
        pytest.param(
            ["v1.3.2", "v1.4.0-rc.1"],
            "v",
            "rc",
            {"next-pre": "1.4.0-rc.2", "promote": "1.4.0", "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="next-and-promote-minor-start-is-next",
        ),
        pytest.param(
            ["v1.3.2", "v1.4.0-rc.1", "v1.4.0-rc.2", "v1.4.0-rc.10"],
            "v",
            "rc",
            {"next-pre": "1.4.0-rc.11", "promote": "1.4.0", "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="next-is-numeric-not-lexical",
        ),
        pytest.param(
            ["v1.3.2", "v1.4.0-beta.2"],
            "v",
            "rc",
            {"next-pre": "1.4.0-rc.1", "promote": "1.4.0", "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="next-switches-identifier-beta-to-rc",
        ),
        pytest.param(
            ["v1.3.2", "v1.4.0-beta.2"],
            "v",
            "alpha",
            {"promote": "1.4.0", "major-pre": "2.0.0-alpha.1", "patch-pre": "1.3.3-alpha.1"},
            id="no-next-when-identifier-ranks-below",
        ),
        pytest.param(
            ["v1.3.2", "v2.0.0-rc.1"],
            "v",
            "rc",
            {"next-pre": "2.0.0-rc.2", "promote": "2.0.0", "minor-pre": "1.4.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="major-prerelease-in-flight",
        ),
        pytest.param(
            ["v1.3.2", "v1.3.3-rc.1", "v1.3.3-rc.2", "v1.4.0-rc.1"],
            "v",
            "rc",
            {"next-pre": "1.4.0-rc.2", "promote": "1.4.0", "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.3"},
            id="taken-start-numbers-skipped",
        ),
        pytest.param(
            ["v1.3.2", "v1.4.0-rc.1", "v1.4.0-rc.2+build.7"],
            "v",
            "rc",
            {"next-pre": "1.4.0-rc.3", "promote": "1.4.0", "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="build-metadata-ignored-rc2-taken",
        ),
        pytest.param(
            ["v1.3.2", "v1.4.0-rc.1.5"],
            "v",
            "rc",
            {"next-pre": "1.4.0-rc.1.6", "promote": "1.4.0", "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="increments-last-identifier",
        ),
        pytest.param(
            ["v1.3.2", "v1.4.0-rc"],
            "v",
            "rc",
            {"next-pre": "1.4.0-rc.1", "promote": "1.4.0", "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="no-numeric-part-appends-1",
        ),
        pytest.param(
            ["v1.3.2", "v1.3.2-rc.4", "v1.3.0-rc.1"],
            "v",
            "rc",
            {"major-pre": "2.0.0-rc.1", "minor-pre": "1.4.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="old-prereleases-below-current-ignored",
        ),
        pytest.param(
            [],
            "v",
            "rc",
            {"major-pre": "1.0.0-rc.1", "minor-pre": "0.1.0-rc.1", "patch-pre": "0.0.1-rc.1"},
            id="no-tags-at-all",
        ),
        pytest.param(
            ["v1.0.0-rc.1", "nightly"],
            "v",
            "rc",
            {"next-pre": "1.0.0-rc.2", "promote": "1.0.0", "minor-pre": "0.1.0-rc.1", "patch-pre": "0.0.1-rc.1"},
            id="only-a-prerelease-no-stable-yet",
        ),
        pytest.param(
            ["1.3.2", "1.4.0-rc.1", "v9.0.0"],
            "",
            "rc",
            {"next-pre": "1.4.0-rc.2", "promote": "1.4.0", "major-pre": "2.0.0-rc.1", "patch-pre": "1.3.3-rc.1"},
            id="prefix-empty",
        ),
        pytest.param(
            ["v0.1.0", "v0.2.0-rc.1", "nightly"],
            "v",
            "rc",
            {"next-pre": "0.2.0-rc.2", "promote": "0.2.0", "major-pre": "1.0.0-rc.1", "patch-pre": "0.1.1-rc.1"},
            id="tiny-repo",
        ),
        pytest.param(
            ["v1.3.2", "v1.4.0-alpha.3"],
            "v",
            "beta",
            {"next-pre": "1.4.0-beta.1", "promote": "1.4.0", "major-pre": "2.0.0-beta.1", "patch-pre": "1.3.3-beta.1"},
            id="alpha-to-beta",
        ),
    ],
)
def test_prerelease_candidates(tags: list[str], prefix: str, identifier: str, expected: dict[str, str]) -> None:
    found = prerelease_candidates(parse_tags(tags, prefix), identifier)
    assert {k: str(v) for k, v in found.items()} == expected
    assert all(isinstance(v, semver.Version) and v.build is None for v in found.values())


def test_prerelease_candidates_order_is_next_promote_then_starts() -> None:
    found = prerelease_candidates(parse_tags(["v1.3.2", "v2.0.0-rc.1"], "v"), "rc")
    assert list(found) == ["next-pre", "promote", "minor-pre", "patch-pre"]


@pytest.mark.parametrize("identifier", ["", "r.c", "12", "rc+1", "é"])
def test_prerelease_candidates_refuse_bad_identifier(identifier: str) -> None:
    with pytest.raises(VersionError) as caught:
        prerelease_candidates(parse_tags(["v1.0.0"], "v"), identifier)
    assert "prerelease_id" in caught.value.fix


@given(
    current=_versions.filter(lambda v: v.prerelease is None),
    identifier=st.sampled_from(["rc", "beta", "alpha"]),
)
def test_prerelease_candidates_are_above_current_and_accepted(current: semver.Version, identifier: str) -> None:
    """Every start candidate ranks above the current release and passes validation."""
    taken = {tag_name(current, "v")}
    for version in prerelease_candidates(parse_tags(taken, "v"), identifier).values():
        assert version > current
        assert validate_new_version(str(version), current, taken, "v") == version


@pytest.mark.parametrize(
    ("base", "taken", "prefix", "expected"),
    [
        pytest.param("1.3.2", set(), "v", "1.3.3", id="free"),
        pytest.param("1.3.2", {"v1.3.2", "v1.3.3"}, "v", "1.3.4", id="next-taken"),
        pytest.param("1.3.2", {"v1.3.3", "v1.3.4", "v1.3.6"}, "v", "1.3.5", id="skips-to-first-gap"),
        pytest.param("1.3.2", {"v1.3.3-rc.1"}, "v", "1.3.3", id="prerelease-tag-does-not-take-it"),
        pytest.param("1.3.2", {"v1.3.3+build.2"}, "v", "1.3.4", id="build-metadata-ignored"),
        pytest.param("1.3.2", {"1.3.3"}, "v", "1.3.3", id="other-prefix-not-taken"),
        pytest.param("1.3.2", {"1.3.3", "nightly"}, "", "1.3.4", id="prefix-empty"),
        pytest.param("1.4.0-rc.2", set(), "v", "1.4.1", id="prerelease-base-dropped"),
    ],
)
def test_next_free_patch(base: str, taken: set[str], prefix: str, expected: str) -> None:
    assert str(next_free_patch(V(base), taken, prefix)) == expected


@pytest.mark.parametrize(
    ("previous", "new", "level"),
    [
        ("1.3.2", "2.0.0", "major"),
        ("1.3.2", "1.4.0", "minor"),
        ("1.3.2", "1.3.3", "patch"),
        ("1.3.2", "2.0.0-rc.1", "major"),
        ("1.3.2", "1.4.0-beta.2", "minor"),
        ("1.4.0-rc.1", "1.4.0", "patch"),
        ("0.9.9", "0.10.0", "minor"),
        ("1.9.0", "1.10.0+build.5", "minor"),
    ],
)
def test_bump_level(previous: str, new: str, level: str) -> None:
    assert bump_level(previous, new) == level


@pytest.mark.parametrize(
    ("text", "prefix", "what"),
    [
        ("1.4.0$(id)", "v", "'1.4.0$(id)' is not a SemVer version: “$”, “(” and “)” are not allowed"),
        ("v1.4.0 ", "v", None),  # surrounding blanks are ignored, not refused
        ("1.4.0 rc1", "v", "'1.4.0 rc1' is not a SemVer version: a space is not allowed"),
        ("01.5.0", "v", "'01.5.0' is not a SemVer version: leading zeros are not allowed (01 in 01.5.0; SemVer"),
        ("v1.05.0", "v", "'v1.05.0' is not a SemVer version: leading zeros are not allowed (05 in 1.05.0;"),
    ],
)
def test_a_refused_version_says_why_when_it_is_a_common_slip(text: str, prefix: str, what: str | None) -> None:
    if what is None:
        assert str(validate_new_version(text, None, set(), prefix)) == "1.4.0"
        return
    with pytest.raises(VersionError) as info:
        validate_new_version(text, None, set(), prefix)
    assert info.value.what.startswith(what)
