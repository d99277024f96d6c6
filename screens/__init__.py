"""The wizard's screens, one per stage (installed as ``iact_tui.screens``).

The names below are loaded on first use (PEP 562 ``__getattr__``): importing one screen
module (the app starts with Welcome only) does not import every screen, their widgets
and what they pull in (Markdown, the monitor...), which kept the first screen waiting.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iact_tui.screens.announcement import AnnouncementScreen
    from iact_tui.screens.base import EngineEvent, StepScreen, WizardScreen
    from iact_tui.screens.changelog import ChangelogScreen
    from iact_tui.screens.checklist import ChecklistScreen
    from iact_tui.screens.deploy import DeployScreen
    from iact_tui.screens.monitor import MonitorScreen
    from iact_tui.screens.prep import PrepScreen
    from iact_tui.screens.release import ReleaseScreen
    from iact_tui.screens.smoke import SmokeScreen
    from iact_tui.screens.stages import STAGES, make_stage_screen, next_stage
    from iact_tui.screens.verify import VerifyScreen
    from iact_tui.screens.version import VersionScreen
    from iact_tui.screens.welcome import WelcomeScreen

#: Exported name → the module (under ``iact_tui.screens``) that defines it.
_WHERE: dict[str, str] = {
    "STAGES": "stages",
    "AnnouncementScreen": "announcement",
    "ChangelogScreen": "changelog",
    "ChecklistScreen": "checklist",
    "DeployScreen": "deploy",
    "EngineEvent": "base",
    "MonitorScreen": "monitor",
    "PrepScreen": "prep",
    "ReleaseScreen": "release",
    "SmokeScreen": "smoke",
    "StepScreen": "base",
    "VerifyScreen": "verify",
    "VersionScreen": "version",
    "WelcomeScreen": "welcome",
    "WizardScreen": "base",
    "make_stage_screen": "stages",
    "next_stage": "stages",
}

__all__ = [
    "STAGES",
    "AnnouncementScreen",
    "ChangelogScreen",
    "ChecklistScreen",
    "DeployScreen",
    "EngineEvent",
    "MonitorScreen",
    "PrepScreen",
    "ReleaseScreen",
    "SmokeScreen",
    "StepScreen",
    "VerifyScreen",
    "VersionScreen",
    "WelcomeScreen",
    "WizardScreen",
    "make_stage_screen",
    "next_stage",
]


def __getattr__(name: str) -> Any:
    """Import the module defining ``name`` on first use.

    Raises:
        AttributeError: ``name`` is not one of :data:`__all__`.
    """
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
