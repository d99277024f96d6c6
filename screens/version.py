"""Stage 2: read the tags, show the current version, choose the bump, a pre-release or type a version."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import events, on, work
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from iact_tui.errors import IactError
from iact_tui.screens.base import WizardScreen
from iact_tui.widgets.literal import escape

BUMP_TEXT = {
    "major": ("MAJOR", "incompatible API changes"),
    "minor": ("MINOR", "new features, backwards compatible"),
    "patch": ("PATCH", "bug fixes only"),
}

PRERELEASE_NAMES = {
    "next-pre": "NEXT",
    "promote": "FINAL",
    "major-pre": "MAJOR",
    "minor-pre": "MINOR",
    "patch-pre": "PATCH",
}
"""Pre-release choices (the run's ``prerelease_candidates`` keys) in the order listed."""


def prerelease_meaning(key: str, version: str, identifier: str, pending_tag: str) -> str:
    """One line saying what a pre-release choice does, e.g. ``promote v1.4.0-rc.1 to 1.4.0``.

    Args:
        key: A ``prerelease_candidates`` key (``next-pre``, ``promote``, ``major-pre``...).
        version: The version the choice gives.
        identifier: The configured pre-release identifier (``rc``, ``beta``...).
        pending_tag: The tag of the highest pre-release (for ``next-pre`` and ``promote``).
    """
    kind = "release candidate" if identifier == "rc" else f"{identifier} pre-release"
    if key == "next-pre":
        return f"next {kind} after {pending_tag}"
    if key == "promote":
        return f"promote {pending_tag} to {version}"
    return f"start the {version.split('-', 1)[0]} {kind}s"


class VersionScreen(WizardScreen):
    """Shows the current version and tags; MAJOR/MINOR/PATCH or a typed version."""

    STAGE = "version"
    TITLE_TEXT = "Choose the new version"

    def __init__(self) -> None:
        super().__init__()
        self.loaded = False
        self.load_error: tuple[str, str] | None = None
        # Keys typed on the bump list are going to the version field, whose focus is pending.
        self._typing_version = False
        self.suggestion: Any = None
        self.warned_for = ""

    def compose_body(self) -> Iterable[Widget]:
        # Scrolls on a short terminal: the version field and its error come into view
        # when the field has the focus or an error is shown.
        with VerticalScroll(id="version-main", can_focus=False):
            yield from self._compose_version()

    def _compose_version(self) -> Iterable[Widget]:
        with Horizontal(id="version-top"):
            with Vertical(id="version-current", classes="panel"):
                yield Label("Current release", classes="panel--title")
                yield Static("Reading tags…", id="current-version")
            with Vertical(id="version-tags", classes="panel"):
                yield Label("Other tags", classes="panel--title")
                yield Static("", id="other-tags")
        yield Label("Bump, or a pre-release", classes="section-title")
        yield Static("", id="bump-advice")
        yield OptionList(id="bump-choice", disabled=True)
        yield Label("…or type a version (start typing it)", classes="section-title")
        yield Input(placeholder="e.g. 2.0.0-rc.1", id="custom-version", disabled=True, select_on_focus=False)
        yield Static("", id="version-error")

    def on_mount(self) -> None:
        super().on_mount()
        self.load()

    @work(exclusive=True, exit_on_error=False, group="versions")
    async def load(self) -> None:
        """Read the tags (off the event loop, in the run) and fill the screen."""
        try:
            info = await self.run.load_versions()
        except IactError as exc:
            self.load_error = (exc.what, exc.fix)
            self.query_one("#current-version", Static).update(f"[b red]✘ {escape(exc.what)}[/]\n  → {escape(exc.fix)}")
            return
        self.show_versions(info)
        try:
            self.suggestion = await self.run.bump_suggestion()
        except IactError:
            return  # the history cannot be read: no advice (the checklist reports git problems)
        self.show_advice(self.suggestion)

    def show_advice(self, suggestion: Any) -> None:
        """Say what the commits since the current release call for (Conventional Commits → SemVer)."""
        since = self.run.state.previous_tag or "the first commit"
        level = getattr(suggestion, "level", "")
        text = f"Commits since {escape(since)}: {escape(suggestion.counts())}"
        if level:
            colour = "yellow" if suggestion.breaking else "green"
            text += f" → SemVer suggests [b {colour}]{level.upper()}[/]"
        self.query_one("#bump-advice", Static).update(text)

    def show_versions(self, info: Any) -> None:
        """Fill the panels and the bump options from the run's version info."""
        self.loaded = True
        current = getattr(info, "current", None)
        if current is not None:
            text = f"[b]{current.version}[/b]  tag [b]{escape(current.tag)}[/b]"
        else:
            text = "[b]none[/b] — no SemVer tag yet; this is the first release"
        self.query_one("#current-version", Static).update(text)
        ignored = list(getattr(info, "ignored", []) or [])
        pre = [getattr(t, "tag", t) for t in getattr(info, "prereleases", []) or []]
        lines = []
        lines.append("[b]Pre-releases[/b]  " + (", ".join(escape(str(t)) for t in pre) or "[dim]none[/dim]"))
        lines.append(
            "[b]Ignored (not SemVer)[/b]  " + (", ".join(escape(str(t)) for t in ignored) or "[dim]none[/dim]")
        )
        self.query_one("#other-tags", Static).update("\n".join(lines))
        candidates = self.run.candidates()
        bump_list = self.query_one("#bump-choice", OptionList)
        bump_list.clear_options()
        for bump in ("major", "minor", "patch"):
            name, meaning = BUMP_TEXT[bump]
            bump_list.add_option(self._option(bump, name, candidates[bump], meaning))
        self._add_prereleases(bump_list, pre[0] if pre else "")
        bump_list.disabled = False
        chosen = self.run.state.bump
        ids = [bump_list.get_option_at_index(i).id for i in range(bump_list.option_count)]
        bump_list.highlighted = ids.index(chosen) if chosen and chosen in ids else 1
        field = self.query_one("#custom-version", Input)
        field.disabled = False
        if chosen == "custom":
            field.value = self.run.state.version
        bump_list.focus()
        self.refresh_frame()

    @staticmethod
    def _option(key: str, name: str, version: str, meaning: str) -> Option:
        return Option(f"[b]{name:<6}[/b] → [b]{escape(version):<12}[/b] [dim]{escape(meaning)}[/dim]", id=key)

    def _add_prereleases(self, bump_list: OptionList, pending_tag: str) -> None:
        """Add the pre-release choices under the bumps, after a separator and a heading."""
        identifier = self.run.config.project.prerelease_id
        try:
            found = self.run.prerelease_candidates()
        except IactError as exc:
            bump_list.add_options([None, Option(f"[red]Pre-release: {escape(exc.what)}[/]", disabled=True)])
            return
        if not found:
            return
        heading = f"[b]Pre-release[/b] [dim]({escape(identifier)}; SemVer 2.0.0 §9)[/dim]"
        bump_list.add_options([None, Option(heading, id="prerelease-heading", disabled=True)])
        for key, name in PRERELEASE_NAMES.items():
            if key in found:
                meaning = prerelease_meaning(key, found[key], identifier, pending_tag)
                bump_list.add_option(self._option(key, name, found[key], meaning))

    @on(OptionList.OptionSelected, "#bump-choice")
    def _bump_chosen(self, event: OptionList.OptionSelected) -> None:
        key = event.option.id or ""
        if key in PRERELEASE_NAMES:
            self.choose_prerelease(key)
        else:
            self.choose_bump(key)

    def choose_prerelease(self, key: str) -> None:
        """Take a pre-release choice (``next-pre``, ``promote``...) and go on; a refusal shows why."""
        try:
            self.run.choose_prerelease(key)
        except IactError as exc:
            self.show_error(exc)
            return
        self._go_on()

    def choose_bump(self, bump: str) -> None:
        """Take the bump and go on; a refused bump shows why."""
        try:
            self.run.choose_bump(bump)
        except IactError as exc:
            self.show_error(exc)
            return
        self._go_on()

    def _go_on(self) -> None:
        """Go to the checklist, unless the choice is a smaller bump than the commits call for.

        Then the warning is shown once, and choosing the same version again goes on.
        """
        version = self.run.state.version
        warning = self.run.bump_warning(self.suggestion) if self.suggestion is not None else None
        if warning and self.warned_for != version:
            self.warned_for = version
            self.query_one("#version-error", Static).update(
                f"[b yellow]⚠ {escape(warning)}[/]\n  → choose {escape(version)} again to release it anyway"
            )
            return
        self.go_next()

    @on(Input.Submitted, "#custom-version")
    def _typed(self, event: Input.Submitted) -> None:
        self.choose_typed(event.value)

    def choose_typed(self, text: str) -> None:
        """Take a typed version and go on; a refused version shows what and how to fix."""
        if not text.strip():
            self.query_one("#version-error", Static).update("[red]Type a version, or pick a bump above.[/]")
            return
        try:
            self.run.choose_version(text.strip())
        except IactError as exc:
            self.show_error(exc)
            return
        self._go_on()

    def show_error(self, exc: IactError) -> None:
        """Show a refused version under the input."""
        text = f"[b red]✘ {escape(exc.what)}[/]"
        if exc.fix:
            text += f"\n  → {escape(exc.fix)}"
        error = self.query_one("#version-error", Static)
        error.update(text)
        # The error is the last thing in the scroll: once it is laid out (its height
        # changed), scroll to the end so it and the field stay in view.
        main = self.query_one("#version-main", VerticalScroll)
        self.call_after_refresh(lambda: self.call_after_refresh(main.scroll_end, animate=False))

    def on_key(self, event: events.Key) -> None:
        """Typing a version while the bump list has focus goes to the version field.

        A version starts with a digit (or ``v``); ``.``, ``-`` and ``+`` go to the field
        too. Moving the focus takes effect only after the keys already queued, so a fast
        ``2.0.0-rc.1`` arrives here whole: until the field has the focus, every printable
        character follows the first, one a version cannot hold included (nothing typed is
        dropped: the refusal then names the characters not allowed). Other keys keep
        their bindings (``q`` quits when no version is being typed).
        """
        field = self.query_one("#custom-version", Input)
        char = event.character
        if field.has_focus or field.disabled or not char or not char.isprintable():
            return
        starts = char.isdigit() or char == "v" or char in ".-+"
        continues = self._typing_version
        if not (starts or continues):
            return
        event.stop()
        event.prevent_default()
        if not self._typing_version:
            self._typing_version = True
            field.focus()
        field.insert_text_at_cursor(char)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The version field has the focus: it takes the keys itself from now on."""
        if event.widget.id == "custom-version":
            self._typing_version = False

    @on(Input.Changed, "#custom-version")
    def _clear_error(self) -> None:
        self.query_one("#version-error", Static).update("")
