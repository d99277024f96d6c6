"""StepList: every stage with its state icon and class."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Label

from iact_tui.widgets import StepList

STAGES = [("a", "First"), ("b", "Second"), ("c", "Third"), ("d", "Fourth")]


class ListApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StepList(STAGES, {"a": "done", "b": "current"})


async def test_states_show_as_icons_and_classes() -> None:
    app = ListApp()
    async with app.run_test(size=(80, 20)) as pilot:
        steps = app.query_one(StepList)
        await pilot.pause()
        assert str(steps.query_one("#stage-a", Label).render()).startswith("✔")
        assert str(steps.query_one("#stage-b", Label).render()).startswith("▶")
        assert str(steps.query_one("#stage-c", Label).render()).startswith("·")
        steps.set_states({"b": "failed", "c": "pending"})
        await pilot.pause()
        item = steps.query_one("#stage-b", Label)
        assert item.has_class("-failed")
        assert str(item.render()).startswith("✘")
        assert steps.states == {"a": "done", "b": "failed", "c": "pending", "d": "pending"}


async def test_unchanged_states_leave_the_items_alone() -> None:
    # The screens call set_states on every engine event; an item given the same text again
    # would schedule a layout of the whole screen each time.
    app = ListApp()
    async with app.run_test(size=(80, 20)) as pilot:
        steps = app.query_one(StepList)
        await pilot.pause()
        updated: list[str] = []
        for item in steps.query(".step-list--item").results(Label):
            original = item.update

            def spy(*args: object, _item: Label = item, _original: object = original, **kwargs: object) -> None:
                updated.append(str(_item.id))
                _original(*args, **kwargs)  # type: ignore[operator]

            item.update = spy  # type: ignore[method-assign]
        steps.set_states({"a": "done", "b": "current"})
        assert updated == []
        steps.set_states({"b": "done", "c": "current"})
        assert updated == ["stage-b", "stage-c"]
