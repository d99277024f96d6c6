"""The wizard's screens, one per stage (installed as ``iact_tui.screens``)."""

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
