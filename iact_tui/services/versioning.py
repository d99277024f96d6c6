"""SemVer versions from git tags: the current release, the bump and pre-release candidates, a typed version.

This module owns the rules that turn tag names into versions and choose the next one.
Ordering is SemVer 2.0.0 §11 precedence as implemented by python-semver 3
(``semver.Version``): numeric MAJOR.MINOR.PATCH, a pre-release ranks below its release,
and build metadata is ignored (SemVer 2.0.0 §10). Nothing here touches git or the UI:
the caller passes tag names in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import semver

from iact_tui.errors import VersionError

BUMP_PARTS: tuple[str, ...] = ("major", "minor", "patch")
"""The parts :func:`bump` accepts (SemVer 2.0.0 §8, §7, §6)."""


@dataclass(frozen=True)
class TagVersion:
    """A tag whose name, minus the configured prefix, is a SemVer 2.0.0 version.

    Attributes:
        tag: The tag name exactly as in the repository, e.g. ``"v1.3.2"``.
        version: The parsed version, e.g. ``Version(1, 3, 2)``.
    """

    tag: str
    version: semver.Version


@dataclass(frozen=True)
class VersionInfo:
    """What the repository's tags say about its versions.

    Attributes:
        current: The highest stable (non pre-release) version by SemVer 2.0.0 §11
            precedence; ``None`` when there is no stable release yet.
        releases: Stable versions, highest first.
        prereleases: Pre-release versions (SemVer 2.0.0 §9), highest first.
        ignored: Tags that do not carry the prefix or are not SemVer after it, sorted.
        all_tags: Every tag name given, sorted (for "is this tag taken?").
    """

    current: TagVersion | None
    releases: list[TagVersion]
    prereleases: list[TagVersion]
    ignored: list[str]
    all_tags: list[str]


def _strip_prefix(tag: str, prefix: str) -> str | None:
    """The version text of ``tag`` without ``prefix``, or ``None`` if it lacks the prefix."""
    if not tag.startswith(prefix):
        return None
    return tag[len(prefix) :]


def _parse(text: str) -> semver.Version | None:
    """``text`` as a strict SemVer 2.0.0 version, or ``None`` (no ``v``, no missing parts)."""
    try:
        return semver.Version.parse(text)
    except (ValueError, TypeError):
        return None


def _order_key(tv: TagVersion) -> tuple[semver.Version, bool]:
    """Sort key: precedence, then "has no build metadata" (see :func:`parse_tags`).

    Versions that differ only in build metadata have equal precedence (SemVer 2.0.0
    §10); with ``reverse=True`` the one without build metadata comes first, and the
    stable sort keeps the remaining ties in tag-name order.
    """
    return (tv.version, tv.version.build is None)


def parse_tags(tags: Iterable[str], prefix: str) -> VersionInfo:
    """Split tag names into stable releases, pre-releases and ignored tags.

    A tag counts only if it starts with ``prefix`` and the rest is a strict SemVer 2.0.0
    version (``"v1.2.0"`` with prefix ``"v"``; ``"1.2.0"`` with prefix ``""``). So with
    prefix ``"v"`` the tags ``"1.2.0"`` and ``"release-1"`` are ignored, and with prefix
    ``""`` the tag ``"v1.2.0"`` is ignored.

    Ordering is SemVer 2.0.0 §11 precedence (``v1.10.0`` > ``v1.9.3``; ``1.0.0-rc.1`` <
    ``1.0.0``); build metadata is ignored for precedence (§10). Among tags of equal
    precedence (``v1.0.0`` and ``v1.0.0+build.5``) the one without build metadata comes
    first, then the smallest tag name, so the result is deterministic.

    Args:
        tags: Tag names, in any order; duplicates are collapsed.
        prefix: The configured tag prefix (``"v"`` or ``""``, or e.g. ``"release-"``).

    Returns:
        The :class:`VersionInfo`; ``current`` is the highest stable release or ``None``.
    """
    names = sorted(set(tags))
    releases: list[TagVersion] = []
    prereleases: list[TagVersion] = []
    ignored: list[str] = []
    for name in names:
        text = _strip_prefix(name, prefix)
        version = _parse(text) if text is not None else None
        if version is None:
            ignored.append(name)
        elif version.prerelease is None:
            releases.append(TagVersion(name, version))
        else:
            prereleases.append(TagVersion(name, version))
    releases.sort(key=_order_key, reverse=True)
    prereleases.sort(key=_order_key, reverse=True)
    return VersionInfo(
        current=releases[0] if releases else None,
        releases=releases,
        prereleases=prereleases,
        ignored=ignored,
        all_tags=names,
    )


def bump(current: semver.Version | None, part: str) -> semver.Version:
    """The next version after ``current`` for a MAJOR, MINOR or PATCH bump.

    SemVer 2.0.0 §6-§8: a PATCH bump increments PATCH; MINOR increments MINOR and resets
    PATCH; MAJOR increments MAJOR and resets MINOR and PATCH. The result never carries
    pre-release or build metadata. ``current`` is expected to be a stable release (the
    :attr:`VersionInfo.current`); its pre-release/build parts, if any, are dropped first.
    With no release yet, the first version is ``1.0.0`` (major), ``0.1.0`` (minor) or
    ``0.0.1`` (patch).

    Args:
        current: The current stable version, or ``None`` when nothing is released.
        part: ``"major"``, ``"minor"`` or ``"patch"``.

    Returns:
        The bumped version.

    Raises:
        VersionError: ``part`` is not one of the three.
    """
    if part not in BUMP_PARTS:
        raise VersionError(f"unknown bump {part!r}", "choose major, minor or patch")
    major, minor, patch = (current.major, current.minor, current.patch) if current else (0, 0, 0)
    if part == "major":
        return semver.Version(major + 1, 0, 0)
    if part == "minor":
        return semver.Version(major, minor + 1, 0)
    return semver.Version(major, minor, patch + 1)


def tag_name(version: semver.Version | str, prefix: str) -> str:
    """The tag for ``version``: ``prefix`` followed by the SemVer 2.0.0 string.

    Args:
        version: A version, or its text (``"1.4.0"``; ``"v1.4.0"`` when ``prefix`` is
            ``"v"`` is accepted too and not prefixed twice).
        prefix: The configured tag prefix.

    Returns:
        The tag name, e.g. ``"v1.4.0"``.

    Raises:
        VersionError: ``version`` is text that is not SemVer 2.0.0.
    """
    if isinstance(version, str):
        text = version.strip()
        stripped = _strip_prefix(text, prefix) if prefix else None
        parsed = _parse(text)
        if parsed is None and stripped is not None:
            parsed = _parse(stripped)
        if parsed is None:
            raise VersionError(
                f"{version!r} is not a SemVer version",
                "use MAJOR.MINOR.PATCH, e.g. 1.4.0 (SemVer 2.0.0)",
            )
        version = parsed
    return f"{prefix}{version}"


def validate_new_version(
    text: str, current: semver.Version | None, taken_tags: set[str], prefix: str
) -> semver.Version:
    """Check a version the operator typed and return it parsed.

    Accepted forms: ``"1.4.0"``, or with the tag prefix (``"v1.4.0"`` for prefix ``"v"``);
    a leading ``v``/``V`` is also accepted when the prefix is something else (including
    ``""``). Surrounding whitespace is ignored. Pre-release and build metadata are allowed.

    Refusals, checked in this order:

    1. not SemVer 2.0.0 (§2, §9, §10);
    2. not greater than ``current`` by SemVer 2.0.0 §11 precedence;
    3. its tag already exists, or a taken tag has the same precedence (it differs only by
       build metadata, which §10 says does not count).

    Args:
        text: What the operator typed.
        current: The current stable version, ``None`` when nothing is released yet.
        taken_tags: Every existing tag name.
        prefix: The configured tag prefix.

    Returns:
        The new version (without prefix).

    Raises:
        VersionError: Naming the reason, the input and what to type instead.
    """
    raw = text.strip()
    candidates = [raw]
    if prefix and raw.startswith(prefix):
        candidates.append(raw[len(prefix) :])
    if raw[:1] in ("v", "V"):
        candidates.append(raw[1:])
    version = next((v for v in map(_parse, candidates) if v is not None), None)
    if version is None:
        example = f"{bump(current, 'minor')}" if current else "1.0.0"
        raise VersionError(
            f"{text!r} is not a SemVer version{_why_not_semver(candidates[-1])}",
            f"type MAJOR.MINOR.PATCH, optionally with -prerelease or +build, e.g. {example}",
        )
    if current is not None and version.compare(current) <= 0:
        raise VersionError(
            f"{version} is not greater than the current version {current}",
            f"type a version above {current}, e.g. {bump(current, 'patch')}",
        )
    tag = tag_name(version, prefix)
    clash = tag if tag in taken_tags else None
    if clash is None:
        for other in sorted(taken_tags):
            rest = _strip_prefix(other, prefix)
            parsed = _parse(rest) if rest is not None else None
            if parsed is not None and parsed.compare(version) == 0:
                clash = other
                break
    if clash is not None:
        raise VersionError(
            f"tag {clash} already exists" + ("" if clash == tag else f" (same version as {tag})"),
            "choose another version, or delete the stale tag",
        )
    return version


PRERELEASE_KINDS: tuple[str, ...] = ("next-pre", "promote", "major-pre", "minor-pre", "patch-pre")
"""The keys :func:`prerelease_candidates` may return, in the order a front end lists them."""

_START_KINDS: dict[str, str] = {"major-pre": "major", "minor-pre": "minor", "patch-pre": "patch"}
_IDENTIFIER = re.compile(r"^[0-9A-Za-z-]+$")
_ALLOWED = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-+")
_LEADING_ZERO = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


def _why_not_semver(text: str) -> str:
    """Why ``text`` (without its prefix) is not SemVer, when it is a common slip: ``":
    “$”, “(”, a space and “/” are not allowed (only digits, letters, ., - and +; ...)"``, or
    ``": leading zeros are not allowed (01 in 01.5.0; SemVer 2.0.0 §2)"``; ``""`` otherwise."""
    bad = [c for c in dict.fromkeys(text) if c not in _ALLOWED]
    if bad:
        names = ["a space" if c == " " else f"“{c}”" for c in bad]
        shown = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        verb = "is" if len(bad) == 1 else "are"
        return f": {shown} {verb} not allowed (only digits, letters, ., - and +; SemVer 2.0.0 §9, §10)"
    core = _LEADING_ZERO.match(text)
    if core is not None:
        zeros = [part for part in core.groups() if len(part) > 1 and part.startswith("0")]
        if zeros:
            fixed = ".".join(str(int(part)) for part in core.groups())
            return f": leading zeros are not allowed ({zeros[0]} in {core.group(0)}; SemVer 2.0.0 §2), e.g. {fixed}"
    return ""


def _core(version: semver.Version) -> tuple[int, int, int]:
    """MAJOR, MINOR and PATCH of ``version`` (its "base", without pre-release or build)."""
    return (version.major, version.minor, version.patch)


def _increment_last(prerelease: str) -> str:
    """``prerelease`` with its last dot-separated identifier incremented if numeric.

    ``"rc.1"`` → ``"rc.2"``, ``"rc.1.5"`` → ``"rc.1.6"``; with no numeric last identifier
    a ``.1`` is appended (``"rc"`` → ``"rc.1"``), which ranks above it (SemVer 2.0.0 §11.4.4:
    a larger set of pre-release fields has higher precedence when the preceding ones are equal).
    """
    parts = prerelease.split(".")
    if parts[-1].isdigit():
        return ".".join([*parts[:-1], str(int(parts[-1]) + 1)])
    return f"{prerelease}.1"


def _next_prerelease_of(
    base: tuple[int, int, int], identifier: str, existing: list[semver.Version]
) -> semver.Version | None:
    """The next ``identifier`` pre-release of ``base`` that is free and above all of ``base``'s.

    With no existing version of ``base`` it is ``base-identifier.1``. When the highest one
    already uses ``identifier`` (``1.4.0-rc.1``), its last numeric identifier is incremented
    (``1.4.0-rc.2``). When it uses another identifier (``1.4.0-beta.2`` while ``identifier``
    is ``rc``) the line restarts at ``1.4.0-rc.1``, if that ranks above it (SemVer 2.0.0
    §11.4: ``rc`` > ``beta`` compares ASCII lexically); ``None`` when it would not
    (``alpha`` after ``beta``), since a pre-release must not go backwards. Any candidate
    whose precedence equals an existing version (same tag, or differing only by build
    metadata, §10) is skipped for the next number.

    Args:
        base: MAJOR, MINOR, PATCH of the release the pre-releases lead to.
        identifier: The pre-release identifier (``rc``, ``beta``...).
        existing: Every version that has a tag.

    Returns:
        The pre-release, or ``None`` when none with ``identifier`` can follow.
    """
    same = [v for v in existing if _core(v) == base]
    top = max(same, default=None)
    major, minor, patch = base
    if top is not None and top.prerelease is not None and top.prerelease.split(".")[0] == identifier:
        prerelease = _increment_last(top.prerelease)
    else:
        prerelease = f"{identifier}.1"
    candidate = semver.Version(major, minor, patch, prerelease=prerelease)
    if top is not None and candidate.compare(top) <= 0:
        return None
    while any(v.compare(candidate) == 0 for v in existing):
        prerelease = _increment_last(prerelease)
        candidate = semver.Version(major, minor, patch, prerelease=prerelease)
    return candidate


def prerelease_candidates(info: VersionInfo, identifier: str) -> dict[str, semver.Version]:
    """The pre-release versions the operator can choose next (SemVer 2.0.0 §9, §11).

    A pre-release is ``MAJOR.MINOR.PATCH-identifier.N`` (§9) and ranks below the release it
    leads to (§11.3). The keys, only those that apply:

    - ``"major-pre"``, ``"minor-pre"``, ``"patch-pre"``: start pre-releases of the MAJOR,
      MINOR or PATCH bump of the current stable version (:func:`bump`):
      ``1.3.2`` → ``2.0.0-rc.1``, ``1.4.0-rc.1``, ``1.3.3-rc.1``.
    - ``"next-pre"``: when the highest pre-release ranks above the current stable version
      (``v1.4.0-rc.1`` over ``v1.3.2``), the next one for the same release: the numeric
      part of its last identifier plus one (``1.4.0-rc.2``), or ``1.4.0-rc.1`` when it used
      another identifier (``beta.2``) that ranks below ``identifier``.
    - ``"promote"``: in that same case, the release of that pre-release (``1.4.0``).

    A candidate whose version already has a tag (by §11 precedence, so build metadata is
    ignored, §10) moves on to the next free number; a pre-release that would rank at or
    below an existing pre-release of the same release is left out, and a start option
    equal to ``"next-pre"`` is left out (it is the same choice).

    Args:
        info: The repository's versions (:func:`parse_tags`).
        identifier: The configured pre-release identifier, e.g. ``"rc"``, ``"beta"``.

    Returns:
        Key → version (without prefix or build metadata).

    Raises:
        VersionError: ``identifier`` is not a valid non-numeric SemVer identifier (§9).
    """
    if not _IDENTIFIER.match(identifier) or identifier.isdigit():
        raise VersionError(
            f"pre-release identifier {identifier!r} is not valid",
            "set [project] prerelease_id to letters, digits and hyphens, e.g. rc, beta or alpha (SemVer 2.0.0 §9)",
        )
    current = info.current.version if info.current else None
    existing = [tv.version for tv in (*info.releases, *info.prereleases)]
    result: dict[str, semver.Version] = {}
    top = info.prereleases[0].version if info.prereleases else None
    if top is not None and (current is None or top.compare(current) > 0):
        following = _next_prerelease_of(_core(top), identifier, existing)
        if following is not None:
            result["next-pre"] = following
        final = top.finalize_version()
        if not any(v.compare(final) == 0 for v in existing):
            result["promote"] = final
    for key, part in _START_KINDS.items():
        started = _next_prerelease_of(_core(bump(current, part)), identifier, existing)
        if started is not None and started != result.get("next-pre"):
            result[key] = started
    return {k: result[k] for k in PRERELEASE_KINDS if k in result}


def next_free_patch(base: semver.Version, taken_tags: set[str], prefix: str) -> semver.Version:
    """The PATCH bump of ``base``, skipping patches whose tag already exists (hotfix rule).

    SemVer 2.0.0 §6: a backwards compatible bug fix increments PATCH. ``base`` is the
    version in production; its pre-release and build parts are dropped first (as in
    :func:`bump`). If the tag of ``base`` + 1 patch exists — or a tag of the same
    precedence, differing only by build metadata (§10) — the next patch is tried, and so
    on. A pre-release tag of that patch (``v1.3.3-rc.1``) does not take it: it ranks below
    the release (§11.3).

    Args:
        base: The production version, e.g. ``1.3.2``.
        taken_tags: Every existing tag name.
        prefix: The configured tag prefix.

    Returns:
        The first free patch release, e.g. ``1.3.3`` (``1.3.4`` when ``v1.3.3`` exists).
    """
    taken: list[semver.Version] = []
    for name in taken_tags:
        rest = _strip_prefix(name, prefix)
        parsed = _parse(rest) if rest is not None else None
        if parsed is not None:
            taken.append(parsed)
    candidate = bump(base, "patch")
    while any(v.compare(candidate) == 0 for v in taken):
        candidate = candidate.bump_patch()
    return candidate


def bump_level(previous: str, new: str) -> str:
    """Which part a version change bumps: ``"major"``, ``"minor"`` or ``"patch"``.

    Pre-release and build parts are ignored: ``1.3.2`` → ``2.0.0-rc.1`` is ``"major"``,
    ``1.4.0-rc.1`` → ``1.4.0`` is ``"patch"`` (the same release, promoted).

    Args:
        previous: The current version, SemVer 2.0.0.
        new: The new version, SemVer 2.0.0.

    Returns:
        The highest of MAJOR, MINOR, PATCH whose number grew; ``"patch"`` when none did.

    Raises:
        ValueError: Either version is not SemVer 2.0.0.
    """
    old, now = semver.Version.parse(previous), semver.Version.parse(new)
    if now.major > old.major:
        return "major"
    if now.major == old.major and now.minor > old.minor:
        return "minor"
    return "patch"


def is_lower(version: str, other: str) -> bool:
    """Whether ``version`` has lower SemVer 2.0.0 precedence than ``other`` (§11).

    Args:
        version: A version; a leading ``v`` is allowed.
        other: Another; a text that is not SemVer gives ``False`` (nothing to compare).

    Returns:
        ``True`` only when both parse and ``version < other``.
    """
    try:
        return semver.Version.parse(version.removeprefix("v")) < semver.Version.parse(other.removeprefix("v"))
    except ValueError:
        return False
