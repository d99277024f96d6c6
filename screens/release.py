"""Stage 5: the git part of the release: branch, bump, changelog, commit, push, merge, tag."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget

from iact_tui.engine.events import StepFinished
from iact_tui.screens.base import StepScreen
from iact_tui.widgets import CheckTable


class ReleaseScreen(StepScreen):
    """Runs the release's git steps in order; stops at the first failure; ``r`` resumes.

    There is no way back from here: once the branch exists, going back is not safe.
    """

    STAGE = "release"
    TITLE_TEXT = "Release branch, merge and tag"
    ALLOW_BACK = False

    def compose_step(self) -> Iterable[Widget]:
        yield CheckTable(id="release-steps", title="Steps", item_header="Step")

    def on_mount(self) -> None:
        table = self.query_one("#release-steps", CheckTable)
        for sid in self.step_ids:
            record = self.run.records[sid]
            table.update_check(sid, self._title(sid), record.status, self.iact.mask(record.message))
        super().on_mount()

    def _title(self, step_id: str) -> str:
        try:
            return self.run.step(step_id).title
        except KeyError:
            return step_id

    def step_updated(self, step_id: str) -> None:
        status = self.step_status.get(step_id, "pending")
        detail = ""
        if status not in ("running", "pending"):
            detail = self.run.records[step_id].message if step_id in self.run.records else ""
        table = self.query_one("#release-steps", CheckTable)
        table.update_check(step_id, self._title(step_id), status, self.iact.mask(detail))

    def on_step_finished(self, event: StepFinished) -> None:
        super().on_step_finished(event)
        self.query_one("#release-steps", CheckTable).update_check(
            event.step_id, self._title(event.step_id), event.status, self.iact.mask(event.message)
        )
