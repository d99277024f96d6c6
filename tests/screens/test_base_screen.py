"""The stage screens' frame spares the event loop Textual's avoidable whole-screen work
(``screens/base.py``, ``LeanScreen``): the footer rebuilt only when its keys change, no
whole-screen restyle on a new screen's first ``Resize`` or ``ScreenResume``, the screen's
objects out of the collector's generations."""

from __future__ import annotations

import gc

import pytest
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey
from ui_helpers import settle, walk_to_checklist

from iact_tui.app import IactApp
from iact_tui.screens import ChecklistScreen


async def test_the_footer_is_rebuilt_only_when_its_keys_change(
    tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebuilds: list[str] = []
    recompose = Footer.recompose

    async def counted(self: Footer) -> None:
        rebuilds.append(type(self.screen).__name__)
        await recompose(self)

    monkeypatch.setattr(Footer, "recompose", counted)
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await walk_to_checklist(tiny_app, pilot)
        screen = tiny_app.screen
        assert isinstance(screen, ChecklistScreen)
        # The preflight's steps each sent several events, each refreshing the screen's state.
        assert rebuilds.count("ChecklistScreen") <= 3, rebuilds
        assert rebuilds.count("VersionScreen") <= 3, rebuilds
        # ... and the footer still shows what the screen allows now.
        shown = {key.key for key in screen.query(FooterKey)} - {tiny_app.COMMAND_PALETTE_BINDING}
        expected = {key for key, (_, binding, _, _) in screen.active_bindings.items() if binding.show}
        assert shown == expected


async def test_a_new_screen_is_styled_once_and_frozen(tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    restyled: list[tuple[str, int]] = []
    update_styles = type(tiny_app).update_styles

    def spy(self: IactApp, node: DOMNode, animate: bool = True) -> None:
        if isinstance(node, Screen):
            restyled.append((type(node).__name__, len(list(node.walk_children()))))
        update_styles(self, node, animate)

    monkeypatch.setattr(type(tiny_app), "update_styles", spy)
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await settle(tiny_app, pilot)
        frozen = gc.get_freeze_count()
        await walk_to_checklist(tiny_app, pilot)
        assert isinstance(tiny_app.screen, ChecklistScreen)
        # Styled when its widgets mounted; never again as a whole (first Resize, first resume).
        assert [count for name, count in restyled if name in {"VersionScreen", "ChecklistScreen"} and count] == []
        assert gc.get_freeze_count() > frozen
