"""The stage screens' frame spares the event loop Textual's avoidable whole-screen work
(``screens/base.py``, ``LeanScreen``): the footer rebuilt only when its keys change, no
whole-screen restyle on a new screen's first ``Resize`` or ``ScreenResume``, the screen's
objects out of the collector's generations."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

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


async def test_a_new_screen_is_prepainted_in_slices_before_its_first_paint(
    tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first frame of a stage screen: its widgets' lines are rendered into their caches
    with the event loop getting turns in between, and the paint then draws few lines itself
    (Textual drew them all inside one callback, 20-55 ms on a stage screen)."""
    from textual._compositor import Compositor
    from textual._styles_cache import StylesCache

    from iact_tui.screens.base import LeanScreen

    monkeypatch.setattr(LeanScreen, "PREPAINT_SLICE", 0.0)  # a turn of the loop after each widget
    log: list[str] = []
    painting = False
    render_line = StylesCache.render_line
    render_update = Compositor.render_update

    def drawn(self: StylesCache, *args: Any, **kwargs: Any) -> Any:
        log.append("paint-line" if painting else "line")
        return render_line(self, *args, **kwargs)

    def paint(self: Compositor, *args: Any, **kwargs: Any) -> Any:
        nonlocal painting
        if isinstance(self.root, ChecklistScreen):
            log.append("paint")
            painting = True
        try:
            return render_update(self, *args, **kwargs)
        finally:
            painting = False

    async def ticker() -> None:
        while True:
            log.append("tick")
            await asyncio.sleep(0)

    async with tiny_app.run_test(size=(120, 40)) as pilot:
        await settle(tiny_app, pilot)
        await pilot.press("enter")  # Welcome → Version
        await settle(tiny_app, pilot)
        monkeypatch.setattr(StylesCache, "render_line", drawn)
        monkeypatch.setattr(Compositor, "render_update", paint)
        task = asyncio.create_task(ticker())
        try:
            await pilot.press("enter")  # Version (MINOR) → Checklist
            await settle(tiny_app, pilot)
        finally:
            task.cancel()
        assert isinstance(tiny_app.screen, ChecklistScreen)
    first_paint = log.index("paint")
    prepainted = log[:first_paint].count("line")
    assert prepainted >= 40, prepainted  # the visible lines of the checklist's widgets
    # The loop had turns while they were drawn.
    start = log.index("line")
    assert log[start:first_paint].count("tick") >= 10, log[start:first_paint]
    # The first paint found most lines drawn (some change meanwhile: the checks start).
    next_paint = log.index("paint", first_paint + 1) if "paint" in log[first_paint + 1 :] else len(log)
    assert log[first_paint:next_paint].count("paint-line") <= prepainted // 2, (
        log[first_paint:next_paint].count("paint-line"),
        prepainted,
    )
