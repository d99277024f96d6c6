"""Stage 1: choose what to do: a release, a hotfix, a rollback or the monitor.

Started by the CLI (:func:`iact_tui.app.make_lazy_app`), Welcome is drawn before the
config is read: it says "Reading iact-release.toml…", moves and quits at once, keeps a
choice made meanwhile (started once the run is loaded), and fills in when the app calls
:meth:`WelcomeScreen.show_run`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from iact_tui.widgets.literal import escape

#: ``(id, title, description, available)`` of each run kind.
CHOICES: tuple[tuple[str, str, str, bool], ...] = (
    ("release", "Release", "Cut a new version from {main}: bump, changelog, tag, deploy, verify.", True),
    ("hotfix", "Hotfix", "Patch what production runs from its tag, deploy it, bring the fix into {main}.", True),
    ("rollback", "Rollback", "Return production's code and database to an earlier release.", True),
    ("monitor", "Monitor", "Follow production's logs, health and hosts live.", True),
)

from iact_tui.screens.base import WizardScreen  # noqa: E402
from iact_tui.screens.stages import stage_states  # noqa: E402
from iact_tui.widgets import StepList  # noqa: E402

if TYPE_CHECKING:
    from iact_tui.engine.resume import UnfinishedRun


class WelcomeScreen(WizardScreen):
    """Choose Release, Hotfix, Rollback or Monitor; shows the repository and config."""

    STAGE = "welcome"
    TITLE_TEXT = "What are we doing today?"
    ALLOW_BACK = False

    BINDINGS: ClassVar = [Binding("p", "plan", "Plan")]

    #: What the operator chose while the run was loading (a run kind or ``plan``; started once it is).
    pending: str | None = None

    def compose_body(self) -> Iterable[Widget]:
        loaded = self.iact.loaded
        yield Static(self._info_text(), id="welcome-info", classes="" if loaded else "-loading")
        main = self.run.config.project.main_branch if loaded else "the main branch"
        options = [Option(self._choice_prompt(key, main), id=key, disabled=not ok) for key, _, _, ok in CHOICES]
        yield OptionList(*options, id="flow-choice")
        yield Static("↑/↓ choose · ⏎ start · p plan · ctrl+p commands · q quit", id="welcome-hint")

    def _info_text(self) -> str:
        """The repository box; while the config is read, the same three lines saying so."""
        if not self.iact.loaded:
            return f"[b]Repository[/b]  …\n[b]Config[/b]      Reading {escape(self.iact.config_name)}…\n[b]Main branch[/b] …"
        config = self.run.config
        return (
            f"[b]Repository[/b]  {self.display_path(config.root)}\n"
            f"[b]Config[/b]      {self.display_path(config.path)}\n"
            f"[b]Main branch[/b] {config.project.main_branch} on {config.project.remote}"
            f"    [b]Environments[/b] {', '.join(config.environments) or 'none configured'}"
        )

    @staticmethod
    def _choice_prompt(key: str, main: str) -> str:
        """The option text of the run kind ``key``, naming the main branch ``main``."""
        _, title, text, ok = next(c for c in CHOICES if c[0] == key)
        if not ok:
            return f"[dim]{title}  (in a later version)\n{text}[/dim]"
        return f"[b]{title}[/b]\n[dim]{text.format(main=main)}[/dim]"

    def _version_text(self) -> str:
        return super()._version_text() if self.iact.loaded else " release · version not chosen "

    def refresh_frame(self) -> None:
        """The sidebar and the version badge; while loading, as for a fresh run."""
        if self.iact.loaded:
            super().refresh_frame()
            return
        self.query_one(StepList).set_states(stage_states(self.stage, {}))
        self.query_one("#release-badge", Label).add_class("-unset")

    def show_run(self) -> None:
        """The run is loaded (called by the app): fill in the repository box and the main
        branch, refresh the frame, then look for an unfinished release to offer."""
        self.query_one("#welcome-info", Static).update(self._info_text())
        self.query_one("#welcome-info", Static).remove_class("-loading")
        choice = self.query_one("#flow-choice", OptionList)
        main = self.run.config.project.main_branch
        for key, _, _, _ in CHOICES:
            choice.replace_option_prompt(key, self._choice_prompt(key, main))
        self.refresh_frame()
        if not self.iact.resumed:
            self.look_for_unfinished()  # then starts what was chosen meanwhile
        else:
            self._start_pending()

    def _still_loading(self, kind: str) -> bool:
        """Whether the run is not there yet; then ``kind`` (a run kind or ``plan``) is kept
        and started once it is (:meth:`_start_pending`), and the operator is told so."""
        if self.iact.loaded:
            return False
        self.pending = kind
        title = "The plan" if kind == "plan" else next((t for k, t, _, _ in CHOICES if k == kind), kind)
        self.notify(f"{title} starts once {self.iact.config_name} is read…", title="Loading", timeout=3)
        return True

    def _start_pending(self) -> None:
        """Start what was chosen while the run was loading, now that Welcome has looked
        for an unfinished release: a new release is not started over one found (that
        would leave it for good); the operator chooses again between the two."""
        kind, self.pending = self.pending, None
        if kind is None:
            return
        if kind == "release" and self.unfinished is not None and self.unfinished.flow == "release":
            self.notify(
                f"An unfinished release was found: resume {self.unfinished.tag} or start a new one.",
                title="Choose again",
                timeout=6,
            )
        elif kind == "plan":
            self.action_plan()
        else:
            self.choose(kind)

    def on_mount(self) -> None:
        super().on_mount()
        #: The unfinished release run offered first (``None``: none found, or not looked yet).
        self.unfinished: UnfinishedRun | None = None
        choice = self.query_one("#flow-choice", OptionList)
        choice.highlighted = 0
        choice.focus()
        # Once this screen is painted and taking keys: the collector runs again and (the
        # CLI's app) the config and the run load.
        self.call_after_refresh(self.iact.first_frame_drawn)
        if self.iact.loaded and not self.iact.resumed:
            self.look_for_unfinished()

    def on_screen_resume(self) -> None:
        """Back on Welcome (from a hotfix, a rollback, the monitor, the plan): highlight the
        first option again, so that one ``enter`` does not start the flow just left (a
        hotfix would cut a new branch at once). WizardScreen's own handler runs too."""
        choice = self.query_one("#flow-choice", OptionList)
        if choice.option_count:
            choice.highlighted = 0
        if self.iact.loaded and not self.iact.resumed:
            # A hotfix or rollback left half done from here is offered at once (choosing
            # Hotfix or Rollback again then asks to leave it first); one resumed and
            # finished is offered no more.
            self.look_for_unfinished()

    @work(exclusive=True, group="welcome", exit_on_error=False)
    async def look_for_unfinished(self) -> None:
        """Offer the newest unfinished run first: ``Resume release v1.4.0 (stopped at
        Deploy to staging, 12 min ago)``, then ``Start a new release`` (a hotfix or a
        rollback: its ``Resume`` option only); take back an offer no longer true."""
        found = await self.iact.find_unfinished()
        if found is not None:
            if self.unfinished is None or found.journal != self.unfinished.journal:
                self._offer(found)
        elif self.unfinished is not None:
            self.iact._offer_no_more(self.unfinished)
        self._start_pending()

    def _offer(self, found: UnfinishedRun) -> None:
        """Put ``Resume …`` first in the options; for a release, ``Start a new release``
        next (a hotfix or a rollback is resumed or left from its own option)."""
        self.unfinished = found
        choice = self.query_one("#flow-choice", OptionList)
        status = {"interrupted": "interrupted", "failed": "failed", "cancelled": "cancelled"}.get(found.stopped_status)
        detail = f"{found.stopped_title} {status}" if status else f"next: {found.stopped_title}"
        options = [
            Option(f"[b]{escape(found.offer())}[/b]\n[dim]Every input is kept; {escape(detail)}.[/dim]", id="resume")
        ]
        if found.flow == "release":
            options.append(
                Option(
                    f"[b]Start a new release[/b]\n[dim]Leave {escape(found.tag)} unfinished for good and cut a new "
                    f"version from {self.run.config.project.main_branch}.[/dim]",
                    id="release",
                )
            )
        replaced = {o.id for o in options}
        kept = [
            option for i in range(choice.option_count) if (option := choice.get_option_at_index(i)).id not in replaced
        ]
        choice.clear_options()
        choice.add_options([*options, *kept])
        choice.highlighted = 0

    def action_plan(self) -> None:
        """Open the plan view: every step of a release with its actions, then the
        read-only probes (SSH, health, ``migrate --plan``) as they come; changes nothing."""
        if self._still_loading("plan"):
            return
        from iact_tui.screens.plan import PlanScreen

        self.app.push_screen(PlanScreen(self.run.config))

    @on(OptionList.OptionSelected, "#flow-choice")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.choose(event.option.id or "")

    def choose(self, kind: str) -> None:
        """Start the chosen kind of run: ``release`` goes on through the wizard;
        ``hotfix``, ``rollback`` and ``monitor`` open their screen on production (``esc`` comes back).
        While the run is loading, the choice is kept and started once it is loaded."""
        if self._still_loading(kind):
            return
        unfinished = self.unfinished
        if kind == "resume" and unfinished is not None:
            self.iact.resume_release(unfinished)
        elif kind == "release":
            if unfinished is None or unfinished.flow != "release":
                self.go_next()
            else:
                self.iact.start_new_release(unfinished)
        elif kind in {"hotfix", "rollback"} and unfinished is not None and unfinished.flow == kind:
            self.iact.start_new_release(unfinished, then=kind)
        elif kind == "hotfix":
            self.iact.start_hotfix()
        elif kind == "rollback":
            self.iact.start_rollback()
        elif kind == "monitor":
            self.iact.start_monitor()
        else:
            title = next((t for k, t, _, _ in CHOICES if k == kind), kind)
            self.notify(f"{title} comes in a later version.", severity="warning")
