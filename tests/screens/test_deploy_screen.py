"""The deploy screen: per host and per command status, progress, a searchable live log.

A fake ``run_step`` yields what the engine sends for a deploy on two hosts (every pair
``pending`` first, then ``running`` and a final status each, output lines, progress),
pausing at gates so the test can look at the screen mid-deploy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Footer, Input, Label, ProgressBar, Static
from textual.widgets._footer import FooterKey
from ui_helpers import settle

from iact_tui.app import IactApp
from iact_tui.engine.events import CommandUpdate, Event, OutputLine, Progress, StepFinished, StepStarted
from iact_tui.screens import DeployScreen
from iact_tui.widgets import CommandLog, DeployTable

STEP = "deploy-staging"
HOSTS = ("web1", "web2")
RECIPE = (
    ("lock", "acquire deploy lock"),
    ("record", "record current commit"),
    ("pre", "maintenance on"),
    ("steps", "fetch code"),
    ("steps", "install dependencies"),
    ("steps", "run migrations"),
    ("steps", "collect static"),
    ("post", "maintenance off"),
    ("unlock", "release deploy lock"),
)
MIGRATIONS = 5
#: Unix time of the deploy's events (the table's clock is pinned relative to it).
T0 = 1_700_000_000.0


def update(host: str, index: int, status: str, seconds: float = 0.0, detail: str = "", ts: float = T0) -> CommandUpdate:
    phase, name = RECIPE[index]
    return CommandUpdate(STEP, host, index, name, phase, status, seconds, detail, ts=ts)  # type: ignore[arg-type]


def announce(*, host_major: bool = True) -> Iterator[CommandUpdate]:
    """Every pair as pending: host by host, or (``host_major=False``) command by command."""
    if host_major:
        pairs = [(h, i) for h in HOSTS for i in range(len(RECIPE))]
    else:
        pairs = [(h, i) for i in range(len(RECIPE)) for h in HOSTS]
    for host, index in pairs:
        yield update(host, index, "pending")


class Gates:
    """Points where the fake deploy stops until the test lets it go on."""

    def __init__(self, *names: str) -> None:
        self.reached = {n: asyncio.Event() for n in names}
        self.go = {n: asyncio.Event() for n in names}

    async def stop(self, name: str) -> None:
        self.reached[name].set()
        await self.go[name].wait()

    async def wait(self, name: str, pilot: Pilot[None]) -> None:
        await self.reached[name].wait()
        await pilot.pause()

    def release(self, name: str) -> None:
        self.go[name].set()


def ok_deploy(gates: Gates, lines_per_command: int = 30) -> object:
    async def run_step(step_id: str) -> AsyncIterator[Event]:
        yield StepStarted(step_id, "Deploy to staging")
        for event in announce():
            yield event
        total = len(HOSTS) * len(RECIPE)
        done = 0
        for host in HOSTS:
            for index, (_, name) in enumerate(RECIPE):
                yield update(host, index, "running", ts=T0 + done)
                yield Progress(step_id, done, total, f"{name} on {host}")
                for n in range(lines_per_command):
                    yield OutputLine(step_id, f"{name} line {n}", "stdout", host)
                if host == "web1" and index == MIGRATIONS:
                    await gates.stop("migrating")
                    for n in range(50):
                        yield OutputLine(step_id, f"late line {n}", "stderr", host)
                    await gates.stop("late")
                done += 1
                yield update(host, index, "ok", seconds=1.5 + index)
        yield Progress(step_id, total, total, "")
        yield StepFinished(step_id, "ok", "deployed to staging")

    return run_step


async def open_deploy(app: IactApp, pilot: Pilot[None]) -> DeployScreen:
    await pilot.pause()
    app.push_screen(DeployScreen(env="staging"))
    await pilot.pause()
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, DeployScreen)
    return screen


async def test_deploy_shows_each_command_on_each_host_progress_and_output(
    tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    gates = Gates("migrating", "late")
    monkeypatch.setattr(tiny_app.release_run, "run_step", ok_deploy(gates))
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(tiny_app, pilot)
        await gates.wait("migrating", pilot)
        table = screen.query_one(DeployTable)
        table.clock = lambda: T0 + MIGRATIONS + 7.4
        # Mid-deploy: done, running and pending rows, grouped per host in recipe order.
        assert [table.status_of("web1", i) for i in range(MIGRATIONS + 1)] == ["ok"] * MIGRATIONS + ["running"]
        assert table.status_of("web1", MIGRATIONS + 1) == "pending"
        assert {table.status_of("web2", i) for i in range(len(RECIPE))} == {"pending"}
        assert table.rows_in_order()[len(RECIPE)][:2] == ("web2", 0)
        assert table.elapsed_of("web1", 0) == 1.5
        assert table.elapsed_of("web1", MIGRATIONS) == pytest.approx(7.4)
        table.tick()
        assert str(table.get_cell("web1\x1f5", "elapsed")) == "7s"
        assert str(table.get_cell("web1\x1f4", "elapsed")) == "5.5s"
        assert table.border_subtitle == "5/18 done · 1 running"
        label = str(screen.query_one("#progress-label", Label).render())
        assert label == f"{MIGRATIONS}/18 run migrations on web1"
        bar = screen.query_one(ProgressBar)
        assert (bar.progress, bar.total) == (MIGRATIONS, 18)

        log = screen.query_one(CommandLog)
        log.flush()
        await pilot.pause()
        assert log.log_widget.lines[-1] == "[web1] run migrations line 29"
        assert log.following

        # Scrolled up, the log stops following and counts what arrives below.
        log.log_widget.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        gates.release("migrating")
        await gates.wait("late", pilot)
        log.flush()
        await pilot.pause()
        assert not log.following
        assert log.log_widget.scroll_offset.y == 0
        assert log.unseen == 50
        assert "50 new lines" in str(log.query_one(".command-log--badge", Static).render())

        # Search: "/" opens the bar; typing jumps to the newest match in view.
        await pilot.press("slash")
        await pilot.pause()
        assert log.search_open and isinstance(tiny_app.focused, Input)
        log.query_one(Input).value = "MIGRATIONS line 1"
        await pilot.pause()
        assert log.search_status == "no match"  # a capital makes the search case-sensitive
        log.query_one(Input).value = "migrations line"
        await pilot.press(*" 1")
        await pilot.pause()
        # line 1, line 10..19: 11 matches
        assert log.match_count == 11
        assert log.current_match_line is not None and "run migrations line 1" in log.current_match_line
        first = log.match_position
        assert first is not None and log.search_status == f"match {first} of 11"
        await pilot.press("enter")
        assert log.match_position == first % 11 + 1
        await pilot.press("up")
        assert log.match_position == first
        matches = str(log.query_one(".command-log--matches", Static).render())
        assert matches == f"match {first} of 11"
        await pilot.press("escape")
        await pilot.pause()
        assert not log.search_open
        await pilot.press("n")
        assert log.match_position == first % 11 + 1
        await pilot.press("N")
        assert log.match_position == first

        # End follows the tail again.
        await pilot.press("end")
        await pilot.pause()
        assert log.following and log.unseen == 0

        gates.release("late")
        await settle(tiny_app, pilot)
        assert screen.step_status == {STEP: "ok"}
        assert {s for _, _, s in table.rows_in_order()} == {"ok"}
        assert table.elapsed_of("web2", 8) == 9.5
        assert str(screen.query_one("#progress-label", Label).render()) == "Deployed"
        assert screen.output_lines == 18 * 30 + 50
        log.flush()
        assert log.log_widget.lines[-2:] == ["[web2] release deploy lock line 29", "» ✔ deployed to staging"]


def failing_deploy(*, detail: str = 'error: relation "projects" already exists') -> object:
    """web1 fails at the migrations; the rest of its steps are skipped, post and unlock run;
    web2 never starts. Pairs are announced command by command (rows still group per host)."""

    async def run_step(step_id: str) -> AsyncIterator[Event]:
        yield StepStarted(step_id, "Deploy to staging")
        for event in announce(host_major=False):
            yield event
        for index, (_, name) in enumerate(RECIPE):
            if index == MIGRATIONS:
                yield Progress(step_id, index, len(RECIPE) * 2, f"{name} on web1")
            if index == MIGRATIONS + 1:
                yield update("web1", index, "skipped")
                continue
            yield update("web1", index, "running", ts=T0)
            yield OutputLine(step_id, f"{name} says hello", "stdout", "web1")
            if index == MIGRATIONS:
                yield OutputLine(step_id, detail, "stderr", "web1")
                yield update("web1", index, "failed", seconds=2.25, detail=detail)
            else:
                yield update("web1", index, "ok", seconds=0.5)
        for index in range(len(RECIPE)):
            yield update("web2", index, "skipped")
        yield StepFinished(step_id, "failed", "run migrations failed on web1", "fix the migration, then press r")

    return run_step


async def test_a_failed_command_shows_failed_then_skipped_rows(
    tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiny_app.release_run, "run_step", failing_deploy())
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(tiny_app, pilot)
        await settle(tiny_app, pilot)
        table = screen.table
        assert [h for h, _, _ in table.rows_in_order()] == ["web1"] * 9 + ["web2"] * 9
        assert [i for _, i, _ in table.rows_in_order()] == list(range(9)) * 2
        web1 = [table.status_of("web1", i) for i in range(len(RECIPE))]
        assert web1 == ["ok"] * MIGRATIONS + ["failed", "skipped", "ok", "ok"]
        assert {table.status_of("web2", i) for i in range(len(RECIPE))} == {"skipped"}
        assert table.elapsed_of("web1", MIGRATIONS) == 2.25
        assert table.detail_of("web1", MIGRATIONS) == 'error: relation "projects" already exists'
        assert str(table.get_cell("web1\x1f5", "icon")) == "✘"
        assert "already exists" in str(table.get_cell("web1\x1f5", "detail"))
        assert table.border_subtitle == "7/18 done · 1 failed · 10 skipped"
        label = str(screen.query_one("#progress-label", Label).render())
        assert label == "Failed at 5/18 run migrations on web1"
        status = str(screen.query_one("#step-status", Static).render())
        assert "run migrations failed on web1" in status and "Press r to retry" in status
        assert screen.check_action("retry", ()) is True


async def test_a_retry_starts_a_fresh_table(tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny_app.release_run, "run_step", failing_deploy())
    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(tiny_app, pilot)
        await settle(tiny_app, pilot)
        assert screen.table.status_of("web1", MIGRATIONS) == "failed"
        gates = Gates("migrating", "late")
        monkeypatch.setattr(tiny_app.release_run, "run_step", ok_deploy(gates, lines_per_command=1))
        await pilot.press("r")
        await gates.wait("migrating", pilot)
        assert screen.table.status_of("web1", MIGRATIONS) == "running"
        assert screen.table.status_of("web2", 0) == "pending"
        assert screen.table.border_subtitle == "5/18 done · 1 running"
        gates.release("migrating")
        gates.release("late")
        await settle(tiny_app, pilot)
        assert screen.step_status == {STEP: "ok"}


async def test_search_says_no_match_and_only_counts_lines_the_pane_holds(
    tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiny_app.release_run, "run_step", failing_deploy())
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        screen = await open_deploy(tiny_app, pilot)
        await settle(tiny_app, pilot)
        log = screen.output_log
        log.flush()
        await pilot.press("ctrl+f")
        await pilot.press(*"zzz")
        assert log.search_status == "no match"
        assert log.query_one(".command-log--matches", Static).has_class("-none")
        await pilot.press("escape")
        assert not log.search_open
        await pilot.press("slash")  # reopens with the last term selected: typing replaces it
        await pilot.press(*"error:")
        await pilot.pause()
        assert log.search_status == "match 1 of 1"
        assert log.current_match_line == '[web1] ! error: relation "projects" already exists'


async def test_narrow_terminal_keeps_table_log_and_footer(tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny_app.release_run, "run_step", failing_deploy())
    async with tiny_app.run_test(size=(80, 24)) as pilot:
        screen = await open_deploy(tiny_app, pilot)
        await settle(tiny_app, pilot)
        table, log = screen.table, screen.output_log
        assert table.region.width <= 80 and table.region.height == 6  # three rows
        assert log.region.height >= 5
        assert table.status_of("web1", MIGRATIONS) == "failed"
        top = table.scroll_offset.y
        assert top <= MIGRATIONS < top + 3  # the failed row was scrolled into view
        assert table.virtual_size.width <= table.scrollable_content_region.width  # no sideways scrolling
        assert screen.query_one("#continue").region.bottom <= 23


async def test_footer_shows_the_bindings_of_the_moment_with_one_recompose_per_change(
    tiny_app: IactApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests to refresh the footer are merged: an engine event that changes no binding
    costs no recompose, and the footer still ends up showing the current bindings."""
    gates = Gates("migrating", "late")
    monkeypatch.setattr(tiny_app.release_run, "run_step", ok_deploy(gates))
    recomposes = 0
    recompose = Footer.recompose

    async def counted(self: Footer) -> None:
        nonlocal recomposes
        if isinstance(self.screen, DeployScreen):
            recomposes += 1
        await recompose(self)

    monkeypatch.setattr(Footer, "recompose", counted)

    def shown(screen: DeployScreen) -> dict[str, bool]:
        """Footer key → enabled."""
        return {key.key: not key.has_class("-disabled") for key in screen.query_one(Footer).query(FooterKey)}

    async with tiny_app.run_test(size=(120, 40)) as pilot:
        screen = await open_deploy(tiny_app, pilot)
        await gates.wait("migrating", pilot)
        await pilot.pause()
        mid = shown(screen)
        assert mid["slash"] and "enter" not in mid, mid  # search works; Continue is hidden until the deploy is done
        at_migrations = recomposes
        assert at_migrations <= 2, "the footer was recomposed for events that changed no binding"
        for name in ("migrating", "late"):
            gates.release(name)
        await settle(tiny_app, pilot)
        await pilot.pause()
        assert shown(screen)["enter"], "Continue is shown enabled once the deploy is done"
        assert recomposes - at_migrations <= 2  # dozens of engine events, one binding change
