"""The wizard's stages in order, the engine steps each one runs, and their screens."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iact_tui.screens.base import WizardScreen

#: ``(key, label)`` of every stage, in wizard order (the sidebar shows these).
STAGES: tuple[tuple[str, str], ...] = (
    ("welcome", "Release type"),
    ("version", "Version"),
    ("checklist", "Checklist"),
    ("changelog", "Changelog"),
    ("release", "Branch & tag"),
    ("deploy-staging", "Deploy staging"),
    ("smoke-staging", "Smoke tests"),
    ("prep-production", "Production prep"),
    ("deploy-production", "Deploy production"),
    ("verify", "Verify production"),
    ("announce", "Announcement"),
)

#: Stage key → the engine step ids it runs (stages without steps only collect input).
STAGE_STEPS: dict[str, tuple[str, ...]] = {
    "checklist": ("preflight",),
    "release": ("branch", "bump", "changelog", "commit", "push", "merge", "tag"),
    "deploy-staging": ("deploy-staging",),
    "smoke-staging": ("smoke-staging",),
    "prep-production": ("prep-production",),
    "deploy-production": ("deploy-production",),
    "verify": ("verify",),
    "announce": ("announce",),
}

_KEYS = [key for key, _ in STAGES]


def resume_stage(step_statuses: Mapping[str, str]) -> str:
    """The stage a resumed run opens on: the one holding the first step not ``ok`` or
    ``skipped``; before any release step ran, the changelog when the checklist passed,
    else the checklist.

    Args:
        step_statuses: Engine step id → status, in flow order.
    """
    ran = any(status != "pending" for sid, status in step_statuses.items() if sid != "preflight")
    if not ran:
        return "changelog" if step_statuses.get("preflight") == "ok" else "checklist"
    first = next((sid for sid, status in step_statuses.items() if status not in ("ok", "skipped")), None)
    for key, steps in STAGE_STEPS.items():
        if first in steps:
            return key
    return "announce"


def stage_number(key: str) -> int:
    """1-based position of the stage."""
    return _KEYS.index(key) + 1


def next_stage(key: str) -> str | None:
    """The stage after ``key``, or ``None`` after the last."""
    i = _KEYS.index(key)
    return _KEYS[i + 1] if i + 1 < len(_KEYS) else None


def stage_states(current: str, step_statuses: Mapping[str, str]) -> dict[str, str]:
    """Sidebar state of every stage while the operator is on ``current``.

    Args:
        current: The stage on screen.
        step_statuses: Engine step id → status (``pending``/``running``/``ok``/...).

    Returns:
        Stage key → ``done``/``current``/``failed``/``skipped``/``pending``.
    """
    here = _KEYS.index(current)
    states: dict[str, str] = {}
    for i, key in enumerate(_KEYS):
        steps = [step_statuses.get(s, "pending") for s in STAGE_STEPS.get(key, ())]
        if any(s in ("failed", "interrupted") for s in steps):
            states[key] = "failed"
        elif i == here:
            states[key] = "current"
        elif i < here:
            states[key] = "skipped" if steps and all(s == "skipped" for s in steps) else "done"
        else:
            states[key] = "pending"
    return states


#: Stage key → ``(module under iact_tui.screens, class)`` of its screen.
_SCREENS: dict[str, tuple[str, str]] = {
    "welcome": ("welcome", "WelcomeScreen"),
    "version": ("version", "VersionScreen"),
    "checklist": ("checklist", "ChecklistScreen"),
    "changelog": ("changelog", "ChangelogScreen"),
    "release": ("release", "ReleaseScreen"),
    "smoke-staging": ("smoke", "SmokeScreen"),
    "prep-production": ("prep", "PrepScreen"),
    "verify": ("verify", "VerifyScreen"),
    "announce": ("announcement", "AnnouncementScreen"),
}


def make_stage_screen(key: str) -> WizardScreen:
    """A new screen for the stage ``key``.

    Only that screen's module is imported (on first use): the app starts with Welcome
    without loading every other screen and what they pull in.

    Raises:
        KeyError: ``key`` is not a stage.
    """
    if key in ("deploy-staging", "deploy-production"):
        from iact_tui.screens.deploy import DeployScreen

        return DeployScreen(env=key.removeprefix("deploy-"))
    module, name = _SCREENS[key]
    factory: type[WizardScreen] = getattr(importlib.import_module(f"iact_tui.screens.{module}"), name)
    return factory()
