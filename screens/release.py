"""Stage 5: the git part of the release: branch, bump, changelog, commit, push, merge, tag.

With ``[forge] kind = "github"`` the merge goes through a pull request: once the branch is
pushed the screen stops before ``merge`` and shows the pull request's title and body in an
editor (rendered once; the operator may edit it, or reset it to the template). ``ctrl+s``
keeps the text in the run (a retry sends the same) and runs the merge, whose live state
(the PR, each check, mergeability, the merge) fills the "Release PR" table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Label, Static, TextArea

from iact_tui.engine.events import CheckUpdate, StepFinished
from iact_tui.engine.steps.release_git import PR_ROWS, PrPreview
from iact_tui.errors import IactError
from iact_tui.screens.base import StepScreen
from iact_tui.widgets import CheckTable, CommandLog
from iact_tui.widgets.literal import escape

#: The step the preview comes before.
MERGE = "merge"


class ReleaseScreen(StepScreen):
    """Runs the release's git steps in order; stops at the first failure; ``r`` resumes.

    There is no way back from here: once the branch exists, going back is not safe.
    """

    STAGE = "release"
    TITLE_TEXT = "Release branch, merge and tag"
    ALLOW_BACK = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "create_pr", "Create PR & merge"),
        Binding("ctrl+r", "reset_pr", "Reset to template"),
    ]

    def __init__(self) -> None:
        super().__init__()
        #: The preview once rendered (it is rendered once; ``ctrl+r`` restores its text).
        self.preview: PrPreview | None = None
        #: The steps stopped before ``merge`` for the operator to read the pull request.
        self.awaiting_pr = False
        #: The operator sent the pull request on its way (``ctrl+s``); retries go straight on.
        self.pr_confirmed = False

    @property
    def github(self) -> bool:
        """Whether the merge goes through a GitHub pull request."""
        return self.run.config.forge.kind == "github"

    def compose_step(self) -> Iterable[Widget]:
        yield CheckTable(id="release-steps", title="Steps", item_header="Step")
        if not self.github:
            return
        with Vertical(id="pr-preview", classes="panel"):
            yield Label("Release pull request", id="pr-title", classes="panel--title")
            yield Static("", id="pr-meta")
            area = TextArea("", id="pr-body", soft_wrap=True, show_line_numbers=False, tab_behavior="indent")
            if "markdown" in area.available_languages:
                area.language = "markdown"
            area.border_title = "Body (Markdown, editable)"
            yield area
            with Horizontal(id="pr-actions"):
                yield Button("Reset to template", id="pr-reset")
                yield Button("Create pull request & merge", id="pr-create", variant="success")
        yield CheckTable(id="release-pr", title="Release PR", item_header="Item")

    def on_mount(self) -> None:
        table = self.query_one("#release-steps", CheckTable)
        for sid in self.step_ids:
            record = self.run.records[sid]
            table.update_check(sid, self._title(sid), record.status, self.iact.mask(record.message))
        if self.github:
            self.query_one("#pr-preview").display = False
            label = dict(PR_ROWS)["pr"]
            self.query_one("#release-pr", CheckTable).update_check(
                "pr", label, "pending", "opened after you have read it, before the merge"
            )
        super().on_mount()

    def _title(self, step_id: str) -> str:
        try:
            return self.run.step(step_id).title
        except KeyError:
            return step_id

    # -- running: stop before the merge for the preview --------------------------------

    def _needs_preview(self, step_id: str) -> bool:
        return (
            step_id == MERGE
            and self.github
            and not self.pr_confirmed
            and self.run.records[MERGE].status in ("pending", "cancelled")
        )

    def before_step(self, step_id: str) -> bool:
        # One stop: before the merge, for the pull request preview.
        if not self._needs_preview(step_id):
            return True
        self.awaiting_pr = True
        if self.preview is None:
            self.load_preview()
        return False

    @work(exclusive=True, exit_on_error=False, group="pr-preview")
    async def load_preview(self) -> None:
        """Render the pull request once (git and GitHub, off the UI) and show it."""
        self.refresh_state()
        try:
            preview = await self.run.pr_preview()
        except IactError as exc:
            self.failure = (exc.what, exc.fix)
            self.refresh_state()
            return
        self.preview = preview
        self.show_preview(preview)

    def show_preview(self, preview: PrPreview) -> None:
        """Fill the preview panel and give the editor the focus."""
        mask = self.iact.mask
        self.query_one("#pr-title", Label).update(f"Release pull request · {escape(preview.title)}")
        meta = [f"{escape(preview.head)} → {escape(preview.base)} on {escape(preview.repository)}"]
        if preview.existing:
            meta.append(
                f"[yellow]An open pull request {escape(preview.existing)} is reused as it is: "
                "its title and description on GitHub (below) are kept as they are.[/]"
            )
        meta += [f"[yellow]⚠ {escape(mask(note))}[/]" for note in preview.notes]
        self.query_one("#pr-meta", Static).update("\n".join(meta))
        area = self.query_one("#pr-body", TextArea)
        area.load_text(preview.body)
        area.read_only = bool(preview.existing)
        self.query_one("#pr-reset", Button).disabled = bool(preview.existing)
        self.query_one("#pr-create", Button).label = "Merge it" if preview.existing else "Create pull request & merge"
        panel = self.query_one("#pr-preview")
        panel.display = True
        for log in self.query(CommandLog):
            log.display = False  # the editor takes the room; the output is back after ctrl+s
        area.focus()
        self.call_after_refresh(panel.scroll_visible, top=True, animate=False)
        self.refresh_state()

    # -- the operator's actions ---------------------------------------------------------

    def can_send_pr(self) -> bool:
        """Whether ``ctrl+s`` sends the pull request on its way now."""
        return self.awaiting_pr and self.preview is not None and not self.running and self.failure is None

    def action_create_pr(self) -> None:
        """Keep the body (as shown, edited or not) in the run and run the merge."""
        if not self.can_send_pr():
            return
        area = self.query_one("#pr-body", TextArea)
        if not area.read_only:
            self.run.set_pr_body(area.text)
        self.awaiting_pr, self.pr_confirmed = False, True
        area.read_only = True
        area.add_class("-sent")
        self.query_one("#pr-actions").display = False
        area.border_title = (
            "Body (kept as it is on GitHub)" if self.preview and self.preview.existing else "Body (sent)"
        )
        for log in self.query(CommandLog):
            log.display = True
        self.start_steps()

    def action_reset_pr(self) -> None:
        """Put the template's text back in the editor (the edit is dropped)."""
        if not self.can_send_pr() or self.preview is None or self.preview.existing:
            return
        if self.run.state.pr_body is not None:
            self.run.set_pr_body(None)
        self.query_one("#pr-body", TextArea).load_text(self.preview.rendered)

    @on(Button.Pressed, "#pr-create")
    def _create_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_create_pr()

    @on(Button.Pressed, "#pr-reset")
    def _reset_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_reset_pr()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("create_pr", "reset_pr"):
            if not (self.github and self.awaiting_pr):
                return False
            if action == "reset_pr" and self.preview is not None and self.preview.existing:
                return None
            return True if self.can_send_pr() else None
        return super().check_action(action, parameters)

    # -- state -------------------------------------------------------------------------

    def status_text(self) -> tuple[str, str]:
        if self.awaiting_pr and self.failure is None and not self.running:
            if self.preview is None:
                return "◌ Preparing the release pull request (changes from git and GitHub)…", "-running"
            return "Read the pull request above and edit it if needed; ctrl+s opens it and merges.", ""
        return super().status_text()

    def refresh_state(self) -> None:
        super().refresh_state()
        if self.is_mounted and self.github:
            ready = self.can_send_pr()
            self.query_one("#pr-create", Button).disabled = not ready
            reset = self.query_one("#pr-reset", Button)
            reset.disabled = not ready or bool(self.preview and self.preview.existing)

    def step_updated(self, step_id: str) -> None:
        status = self.step_status.get(step_id, "pending")
        detail = ""
        if status not in ("running", "pending"):
            detail = self.run.records[step_id].message if step_id in self.run.records else ""
        table = self.query_one("#release-steps", CheckTable)
        table.update_check(step_id, self._title(step_id), status, self.iact.mask(detail))

    def on_check(self, event: CheckUpdate) -> None:
        """The release PR's live rows go to their own table (the steps table is the first)."""
        if event.step_id != MERGE or not self.github:
            super().on_check(event)
            return
        table = self.query_one("#release-pr", CheckTable)
        table.update_check(event.check_id, event.label, event.status, self.iact.mask(event.detail))
        if event.status == "failed":
            self.query_one(CommandLog).append_output(f"✘ {event.label}: {self.iact.mask(event.detail)}", "info")

    def on_step_finished(self, event: StepFinished) -> None:
        super().on_step_finished(event)
        self.query_one("#release-steps", CheckTable).update_check(
            event.step_id, self._title(event.step_id), event.status, self.iact.mask(event.message)
        )

    def describe(self) -> dict[str, Any]:
        pr: dict[str, str] = {}
        if self.github:
            pr = self.query_one("#release-pr", CheckTable).statuses
        return {**super().describe(), "awaiting_pr": self.awaiting_pr, "pr": pr}
