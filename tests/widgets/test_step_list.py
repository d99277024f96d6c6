"""StepList: every stage with its state icon and style, drawn by one widget."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.content import Content

from iact_tui.widgets import StepList

STAGES = [("a", "First"), ("b", "Second"), ("c", "Third"), ("d", "A stage with a very long name indeed")]


class ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StepList(STAGES, {"a": "done", "b": "current"})


def _drawn(steps: StepList) -> list[Content]:
    rendered = steps.render()
    assert isinstance(rendered, Content)
    return rendered.split("\n")


async def test_states_show_as_icons_and_styles() -> None:
    app = ListApp()
    async with app.run_test(size=(80, 20)) as pilot:
        steps = app.query_one(StepList)
        await pilot.pause()
        lines = _drawn(steps)
        assert lines[0].plain == "RELEASE"
        assert lines[1].plain == ""
        assert [line.plain.strip()[:6] for line in lines[2:]] == ["✔  1  ", "▶  2  ", "·  3  ", "·  4  "]
        steps.set_states({"b": "failed", "c": "pending"})
        await pilot.pause()
        lines = _drawn(steps)
        assert lines[3].plain.startswith(" ✘  2  Second")
        failed = steps.get_visual_style("step-list--item", "step-list--failed")
        assert any(span.style == failed for span in lines[3].spans)
        assert steps.states == {"a": "done", "b": "failed", "c": "pending", "d": "pending"}


async def test_each_line_spans_the_sidebar_and_a_long_name_is_cropped() -> None:
    app = ListApp()
    async with app.run_test(size=(80, 20)) as pilot:
        steps = app.query_one(StepList)
        await pilot.pause()
        width = steps.content_size.width
        for line in _drawn(steps)[2:]:
            assert line.cell_length == width  # the current stage's background reaches the border
        assert _drawn(steps)[-1].plain == " " + "·  4  A stage with a very long name indeed"[: width - 2] + " "


async def test_the_list_is_one_node() -> None:
    # The sidebar is on every stage screen: one label per stage was 13 nodes to compose,
    # style and lay out on every screen switch.
    app = ListApp()
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        assert list(app.query_one(StepList).children) == []


async def test_unchanged_states_do_not_repaint() -> None:
    # The screens call set_states on every engine event, mostly with no change.
    app = ListApp()
    async with app.run_test(size=(80, 20)) as pilot:
        steps = app.query_one(StepList)
        await pilot.pause()
        refreshed: list[bool] = []
        original = steps.refresh

        def spy(*args: object, **kwargs: object) -> StepList:
            refreshed.append(bool(kwargs.get("layout")))
            return original(*args, **kwargs)  # type: ignore[arg-type]

        steps.refresh = spy  # type: ignore[method-assign]
        steps.set_states({"a": "done", "b": "current"})
        assert refreshed == []
        steps.set_states({"b": "done", "c": "current"})
        assert refreshed == [False]  # a repaint, no layout of the screen
