"""iact_tui.widgets reads a widget's module only when the widget is asked for."""

from __future__ import annotations

import subprocess
import sys

import iact_tui.widgets


def _modules_after(code: str) -> set[str]:
    """The modules loaded by a fresh interpreter after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(out.split())


def test_the_first_screen_reads_only_the_sidebar() -> None:
    # Welcome is drawn before the config is read; the other widgets (and TextArea,
    # DataTable, ProgressBar under them) cost 40-55 ms before its first frame.
    loaded = _modules_after("import iact_tui.app, iact_tui.screens.welcome")
    assert "iact_tui.widgets.step_list" in loaded
    heavy = {
        "iact_tui.widgets.command_log",
        "iact_tui.widgets.check_table",
        "iact_tui.widgets.timing_panel",
        "textual.widgets._text_area",
        "textual.widgets._data_table",
        "textual.widgets._progress_bar",
    }
    assert not heavy & loaded


def test_every_public_name_resolves() -> None:
    for name in iact_tui.widgets.__all__:
        value = getattr(iact_tui.widgets, name)
        assert value.__name__ == name
        assert name in dir(iact_tui.widgets)
    try:
        iact_tui.widgets.NoSuchWidget  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchWidget" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")
