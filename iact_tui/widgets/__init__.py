"""Reusable Textual widgets: StepList, CommandLog, CheckTable, DeployTable, TickBox, TimingPanel,
VerifyTicks, LogMatchesPanel, WrappedCheckTable and the modals."""

from iact_tui.widgets.check_table import CheckTable
from iact_tui.widgets.command_log import CommandLog, format_output
from iact_tui.widgets.confirm import ConfirmModal, QuitModal
from iact_tui.widgets.deploy_table import DeployTable
from iact_tui.widgets.log_matches import LogMatchesPanel
from iact_tui.widgets.step_list import StepList
from iact_tui.widgets.tail_log import TailLog
from iact_tui.widgets.tick_box import TickBox
from iact_tui.widgets.timing_panel import TimingPanel
from iact_tui.widgets.verify_ticks import VerifyTicks
from iact_tui.widgets.wrapped_check_table import WrappedCheckTable

__all__ = [
    "CheckTable",
    "CommandLog",
    "ConfirmModal",
    "DeployTable",
    "LogMatchesPanel",
    "QuitModal",
    "StepList",
    "TailLog",
    "TickBox",
    "TimingPanel",
    "VerifyTicks",
    "WrappedCheckTable",
    "format_output",
]
