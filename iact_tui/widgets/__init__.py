"""Reusable Textual widgets: StepList, CommandLog, CheckTable, DeployTable, TickBox and the modals."""

from iact_tui.widgets.check_table import CheckTable
from iact_tui.widgets.command_log import CommandLog, format_output
from iact_tui.widgets.confirm import ConfirmModal, QuitModal
from iact_tui.widgets.deploy_table import DeployTable
from iact_tui.widgets.step_list import StepList
from iact_tui.widgets.tick_box import TickBox

__all__ = [
    "CheckTable",
    "CommandLog",
    "ConfirmModal",
    "DeployTable",
    "QuitModal",
    "StepList",
    "TickBox",
    "format_output",
]
