"""Reusable Textual widgets: StepList, CommandLog, CheckTable, DeployTable, TickBox, TimingPanel,
VerifyTicks, LogMatchesPanel, WrappedCheckTable, MarkdownPreview and the modals.

The names are read lazily (PEP 562): ``from iact_tui.widgets import StepList`` imports
``step_list`` alone, not every widget (and the Textual widgets they use: ``TextArea``,
``ProgressBar``, ``DataTable``…), which cost 40-55 ms before the first screen.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iact_tui.widgets.check_table import CheckTable
    from iact_tui.widgets.command_log import CommandLog, format_output
    from iact_tui.widgets.confirm import ConfirmModal, QuitModal
    from iact_tui.widgets.deploy_table import DeployTable
    from iact_tui.widgets.log_matches import LogMatchesPanel
    from iact_tui.widgets.markdown_preview import MarkdownPreview
    from iact_tui.widgets.step_list import StepList
    from iact_tui.widgets.tail_log import TailLog
    from iact_tui.widgets.tick_box import TickBox
    from iact_tui.widgets.timing_panel import TimingPanel
    from iact_tui.widgets.verify_ticks import VerifyTicks
    from iact_tui.widgets.wrapped_check_table import WrappedCheckTable

#: Public name → the module (under ``iact_tui.widgets``) that defines it.
_MODULES: dict[str, str] = {
    "CheckTable": "check_table",
    "CommandLog": "command_log",
    "ConfirmModal": "confirm",
    "DeployTable": "deploy_table",
    "LogMatchesPanel": "log_matches",
    "MarkdownPreview": "markdown_preview",
    "QuitModal": "confirm",
    "StepList": "step_list",
    "TailLog": "tail_log",
    "TickBox": "tick_box",
    "TimingPanel": "timing_panel",
    "VerifyTicks": "verify_ticks",
    "WrappedCheckTable": "wrapped_check_table",
    "format_output": "command_log",
}

__all__ = [
    "CheckTable",
    "CommandLog",
    "ConfirmModal",
    "DeployTable",
    "LogMatchesPanel",
    "MarkdownPreview",
    "QuitModal",
    "StepList",
    "TailLog",
    "TickBox",
    "TimingPanel",
    "VerifyTicks",
    "WrappedCheckTable",
    "format_output",
]


def __getattr__(name: str) -> Any:
    """Import the module defining ``name`` on first use and keep the name here.

    Raises:
        AttributeError: ``name`` is not one of :data:`__all__`.
    """
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
