"""Command line: the wizard, ``run`` (headless), ``plan``, ``monitor``, ``init`` and ``demo``.

Exit status: 0 success; 1 a step failed (the reason is printed); 2 bad usage or bad
configuration. Textual is imported only when the wizard starts, so headless commands
and ``--help`` start fast and never load the UI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from iact_tui import __version__
from iact_tui.errors import ConfigError, IactError

if TYPE_CHECKING:
    from iact_tui.app import IactApp
    from iact_tui.config import Config
    from iact_tui.engine.resume import Replayed, UnfinishedRun
    from iact_tui.engine.run import ReleaseRun

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: The config file's name: :data:`iact_tui.config.CONFIG_NAME` (a test checks they agree),
#: not imported from there because that module loads pydantic and builds its models
#: (~0.1 s), which the wizard does in a thread once its first screen is up.
CONFIG_NAME = "iact-release.toml"


def find_config(start: Path) -> Path:
    """:func:`iact_tui.config.find_config`, imported on use (see :data:`CONFIG_NAME`).

    Raises:
        ConfigError: No config file in ``start`` or a parent.
    """
    from iact_tui.config import find_config as find

    return find(start)


def load_config(path: Path) -> Config:
    """:func:`iact_tui.config.load_config`, imported on use (see :data:`CONFIG_NAME`).

    Raises:
        ConfigError: The file is missing or invalid.
    """
    from iact_tui.config import load_config as load

    return load(path)


_Built = TypeVar("_Built")


def _step_ids() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The release's and the hotfix's step ids, in flow order.

    Imported on use: :mod:`iact_tui.engine.flows` imports every step and service (Git,
    HTTP, SSH: hundreds of ms), which parsing the command line does not need.
    """
    from iact_tui.engine.flows import HOTFIX_STEP_IDS, RELEASE_STEP_IDS

    return RELEASE_STEP_IDS, HOTFIX_STEP_IDS


class _StepIds(Sequence[str]):
    """``--until``'s choices: every release and hotfix step id, sorted, read on first use
    (only when ``--until`` is given, or the help or an error lists them)."""

    def _ids(self) -> list[str]:
        release, hotfix = _step_ids()
        return sorted(set(release) | set(hotfix))

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return self._ids()[index]

    def __len__(self) -> int:
        return len(self._ids())

    def __contains__(self, value: object) -> bool:
        return value in self._ids()

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())


class _UntilAction(argparse.Action):
    """``--until STEP``: stored as given; its help names the steps of each flow, read from
    :mod:`iact_tui.engine.flows` only when the help is shown."""

    @property
    def help(self) -> str:
        release, hotfix = _step_ids()
        return f"stop after this step; release: {', '.join(release)}; hotfix: {', '.join(hotfix)}"

    @help.setter
    def help(self, value: str | None) -> None:
        pass  # the help above is built when shown

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every command listed in ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="iact-tui",
        description="A terminal wizard that runs a whole software release: SemVer bump, checklist, changelog, "
        "release branch, tag, staging and production deploys, smoke tests, verification and the announcement.",
        epilog="commands:\n"
        "  (none)        start the wizard in the repository holding iact-release.toml\n"
        "  run release   run the release headless: iact-tui run release --bump minor --yes\n"
        "  plan release  print every action a release would take, changing nothing\n"
        "  rollback      roll production back to an earlier release (code and database), in the wizard\n"
        "  run rollback  headless: iact-tui run rollback --to v1.4.0 --yes\n"
        "  hotfix        patch what production runs from its tag, deploy it and backport the fix, in the wizard\n"
        "  run hotfix    headless patch release from what production runs: iact-tui run hotfix --yes\n"
        "  monitor       follow an environment's logs, health and host load: iact-tui monitor --env production\n"
        "  init          write a commented starter iact-release.toml for this repository\n"
        "  demo DIR      build a sandbox (bare origin, clone, Django site, staging and production)\n"
        "  report [RUN]  print a run's report (default: the newest run of this repository)\n"
        "  history       list this repository's past runs (--all: every repository's)\n"
        "\nexit status: 0 success, 1 a step failed, 2 bad usage or configuration",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"iact-tui {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help=f"config file (default: {CONFIG_NAME} in this or a parent directory)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="build a sandbox and start the wizard on it; its servers stop on exit"
    )
    parser.add_argument(
        "--dir", type=Path, metavar="DIR", help="with --demo: build the sandbox here instead of a temporary folder"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a flow headless",
        description="Run a flow without the UI: one line per step, output streamed, a summary at the end.",
    )
    run.add_argument("flow", choices=["release", "rollback", "hotfix"], help="the flow")
    which = run.add_mutually_exclusive_group()
    which.add_argument("--bump", choices=["major", "minor", "patch"], help="the SemVer bump")
    which.add_argument(
        "--version-override", dest="version_text", metavar="X.Y.Z", help="release this exact version instead of a bump"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="go on with the newest unfinished run of this flow in this repository (its inputs kept)",
    )
    run.add_argument(
        "--yes",
        action="store_true",
        help="tick the manual checklist items, acknowledge the rollback plan and confirm production (required)",
    )
    run.add_argument(
        "--skip-backup",
        metavar="REASON",
        default="",
        help="go on without the production database backup, for this reason (journaled)",
    )
    run.add_argument(
        "--skip-notice",
        metavar="REASON",
        default="",
        help="go on without posting the maintenance notice, for this reason (journaled)",
    )
    run.add_argument("--until", action=_UntilAction, choices=_StepIds(), metavar="STEP")
    run.add_argument("--to", metavar="TAG", help="rollback: the release to go back to (required; e.g. v1.4.0 or 1.4.0)")
    run.add_argument("--env", metavar="NAME", default="production", dest="run_env", help="rollback: the environment")
    run.add_argument("--config", type=Path, metavar="PATH", dest="sub_config", help="config file")

    rollback = sub.add_parser(
        "rollback",
        help="roll an environment back to an earlier release",
        description="Show what production runs, the release to go back to and exactly what will run on each "
        "host (migrations to reverse, the code to check out, the services to restart, maintenance mode around "
        "it); nothing runs before you type the target version.",
    )
    rollback.add_argument("--env", metavar="NAME", default="production", help="the environment (default: production)")
    rollback.add_argument("--config", type=Path, metavar="PATH", dest="sub_config", help="config file")

    hotfix = sub.add_parser(
        "hotfix",
        help="patch what production runs and ship it",
        description="Read what production runs, create hotfix/vX.Y.(Z+1) from its tag, wait for the fix commits "
        "you make there, then check, bump, write the changelog, tag, deploy to production after you type the "
        "version, verify and bring the fix into main and the open release branches.",
    )
    hotfix.add_argument("--config", type=Path, metavar="PATH", dest="sub_config", help="config file")

    plan = sub.add_parser(
        "plan",
        help="print what a flow would do",
        description="Print every action a release would take (git, commands per environment, HTTP checks). Changes nothing.",
    )
    plan.add_argument("flow", choices=["release"])
    plan.add_argument("--bump", choices=["major", "minor", "patch"], required=True, help="the SemVer bump")
    plan.add_argument("--config", type=Path, metavar="PATH", dest="sub_config", help="config file")

    monitor = sub.add_parser(
        "monitor",
        help="watch an environment's logs, health and hosts",
        description="Follow the logs of every host of an environment (tail -F / journalctl -f, over SSH or "
        "locally), poll its health URL and read each host's load and memory, until you leave (q). Nothing is "
        "left running on the hosts afterwards. s appends a summary to the journal (a run folder of flow monitor).",
    )
    monitor.add_argument(
        "--env",
        metavar="NAME",
        help="the environment (default: production if configured, else the first one in the config)",
    )
    monitor.add_argument("--config", type=Path, metavar="PATH", dest="sub_config", help="config file")
    monitor.add_argument(
        "--demo",
        action="store_true",
        dest="monitor_demo",
        help="build a sandbox and monitor it; its servers stop on exit (--dir DIR before monitor to choose where)",
    )

    init = sub.add_parser(
        "init",
        help=f"write a starter {CONFIG_NAME}",
        description=f"Write a commented {CONFIG_NAME} for the repository in the current directory; never overwrites.",
    )
    init.add_argument("--path", type=Path, default=Path("."), help="the repository (default: current directory)")

    demo = sub.add_parser(
        "demo",
        help="build or stop a sandbox",
        description="Build, offline, a sandbox in DIR: bare origin, the operator's clone, a Django site, staging and production targets serving on loopback.",
    )
    demo.add_argument("dir", type=Path, metavar="DIR")
    demo.add_argument("--stop", action="store_true", help="stop every server the sandbox in DIR started")
    demo.add_argument(
        "--start", action="store_true", help="start the servers of the sandbox in DIR again (after --stop or a --demo)"
    )
    _add_report_commands(sub)
    return parser


#: ``build_parser().parse_args([])``: the command line of ``iact-tui`` alone, the wizard
#: (a test checks they agree).
BARE_ARGS: dict[str, object] = {"config": None, "demo": False, "dir": None, "command": None}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (``argv``; ``None``: ``sys.argv[1:]``), parsed.

    ``iact-tui`` alone, the wizard, is answered without building the parser: its
    subcommands and their arguments took ~2 ms of the wizard's startup.

    Raises:
        SystemExit: A usage error (exit 2), ``--help`` or ``--version`` (exit 0).
    """
    words = sys.argv[1:] if argv is None else list(argv)
    if not words:
        return argparse.Namespace(**BARE_ARGS)
    return build_parser().parse_args(words)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``iact-tui`` console script; returns the exit status."""
    args = parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "plan":
            return _cmd_plan(args)
        if args.command == "rollback":
            return _cmd_rollback(args)
        if args.command == "hotfix":
            return _cmd_hotfix(args)
        if args.command == "monitor":
            return _cmd_monitor(args)
        if args.command == "init":
            return _cmd_init(args)
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command in ("report", "history"):
            return _cmd_report(args) if args.command == "report" else _cmd_history(args)
        if args.demo:
            return _cmd_demo_wizard(args)
        return _cmd_wizard(args)
    except ConfigError as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    except IactError as exc:
        _err(f"error: {exc}")
        # Another run holding the repository's lock is bad usage: nothing was started.
        return EXIT_USAGE if _lock_held(exc) else EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        # `iact-tui plan release | head`: the reader left; nothing more to say.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's flush at exit
        return EXIT_OK
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _err(f"error: {exc.strerror or exc}:{where}\n  → check the path and its permissions")
        return EXIT_FAILED


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _lock_held(exc: BaseException) -> bool:
    """Whether ``exc`` is a held run lock (the engine is imported only when asked)."""
    from iact_tui.engine.run_lock import RunLockHeld

    return isinstance(exc, RunLockHeld)


def _past_lock(build: Callable[[], _Built]) -> _Built:
    """``build()`` (an app whose run takes the repository's run lock); while the lock is
    held by another run, show whose it is and offer to break it (``lock_app``), then try
    again.

    Raises:
        RunLockHeld: The operator left the lock as it is (``main`` exits 2 with it).
    """
    from iact_tui.engine.run_lock import RunLockHeld

    while True:
        try:
            return build()
        except RunLockHeld as exc:
            from iact_tui.lock_app import ask_to_break  # deferred: Textual

            if not ask_to_break(exc):
                raise


def _load(args: argparse.Namespace) -> Config:
    path = getattr(args, "sub_config", None) or args.config
    return load_config(path) if path else load_config(find_config(Path.cwd()))


# -- the wizard ----------------------------------------------------------------------


def _cmd_wizard(args: argparse.Namespace) -> int:
    path = getattr(args, "sub_config", None) or args.config
    return _run_wizard(lambda: _load(args), source=Path(path).name if path else CONFIG_NAME)


def _run_wizard(load: Callable[[], Config], *, source: str = CONFIG_NAME) -> int:
    """Run the wizard: Welcome is up at once while ``load`` reads the config and the run
    is built in a thread (:func:`iact_tui.app.make_lazy_app`); then the exit summary.

    A held run lock ends the app with it: the break-lock prompt (``lock_app``) is shown
    and, when the operator broke the lock, the wizard starts again on the same config.

    Args:
        load: Reads and validates the config (``ConfigError``/``OSError`` on failure).
        source: The config file's name, shown on Welcome while it is read.

    Returns:
        The exit status of :func:`_after_wizard`; 0 when the operator quit before the
        run was loaded (nothing ran).

    Raises:
        ConfigError: The config is missing or invalid (``main`` prints it, exit 2).
        RunLockHeld: The operator left the lock as it is (exit 2).
    """
    from iact_tui.app import make_lazy_app  # deferred: headless commands never import Textual

    while True:
        app = make_lazy_app(load, source=source)
        app.run()
        run = app.wait_for_load()
        if app.load_error is None:
            break
        _ask_past_lock(app)
        if app.config is not None:
            load = _given(app.config)  # read once: the retry only takes the lock again
    if run is None:
        print("no step was run; nothing changed")
        return EXIT_OK
    return _after_wizard(run, app.other_flow_lines())


def _given(config: Config) -> Callable[[], Config]:
    """A load that returns ``config`` as it is."""
    return lambda: config


def _ask_past_lock(app: IactApp) -> None:
    """After a load that failed: return when it was a held lock the operator broke (try
    again); else raise the error (``main`` reports it).

    Raises:
        BaseException: ``app.load_error`` (``ConfigError``, ``RunLockHeld``, ``OSError``...).
    """
    error = app.load_error
    assert error is not None
    if _lock_held(error):
        from iact_tui.engine.run_lock import RunLockHeld
        from iact_tui.lock_app import ask_to_break

        assert isinstance(error, RunLockHeld)
        if ask_to_break(error):
            return
    raise error


def _after_wizard(run: ReleaseRun, others: Sequence[str] = ()) -> int:
    """Say where the run ended and where its files are, once the terminal is back.

    Args:
        run: The release run.
        others: What the hotfix, rollback and monitor runs started from Welcome did,
            with their journals (``IactApp.other_flow_lines``), printed after the release.

    Returns:
        0 when nothing ran or every step passed or was skipped; 1 when a step failed or
        the operator quit with steps still to run; 130 when a step was cancelled.
    """
    statuses = {step.id: run.records[step.id].status for step in run.steps}
    ran = [sid for sid, status in statuses.items() if status != "pending"]
    tag = run.ctx.tag if run.state.version else ""
    if not ran:
        # Another flow may have changed things: only the release is known to have not.
        print("release: no step was run" if others else "no step was run; nothing changed")
    elif all(status in {"ok", "skipped"} for status in statuses.values()):
        print(f"release {tag} finished: every step passed or was skipped")
    else:
        last = ran[-1]
        record = run.records[last]
        print(f"stopped at {last}: {record.status}" + (f" — {record.message}" if record.message else ""))
        if statuses.get("tag") == "ok":
            unfinished = [sid for sid, status in statuses.items() if status not in {"ok", "skipped"}]
            print(f"  {tag} is tagged on {run.config.project.remote}; not done yet: {', '.join(unfinished)}.")
            broken = [sid for sid in unfinished if sid.startswith("deploy-") and statuses[sid] != "pending"]
            if broken:
                print(
                    f"  {', '.join(broken)} stopped part-way: that environment may be between releases. "
                    f"Check its health URL; each command and where it stopped are in the journal below. "
                    f"Finish them by hand for {tag}, or go back with `iact-tui rollback`."
                )
    if run.announcement_path:
        print(f"announcement: {run.announcement_path}")
    print(f"journal: {run.journal_path}")
    for line in others:
        print(line)
    if "failed" in statuses.values():
        return EXIT_FAILED
    if "cancelled" in statuses.values():
        return 130
    if ran and "pending" in statuses.values():
        return EXIT_FAILED  # quit before the end: the release is not finished
    return EXIT_OK


def _cmd_demo_wizard(args: argparse.Namespace) -> int:
    from iact_tui import demo

    root = args.dir or Path(tempfile.mkdtemp(prefix="iact-demo-"))
    fresh = not demo.is_sandbox(root)
    if fresh:
        print(f"building the demo sandbox in {root} ...", flush=True)
        sandbox = demo.build_sandbox(root, progress=lambda line: print(f"  {line}", flush=True))
    else:
        print(f"starting the demo sandbox in {root} again ...", flush=True)
        sandbox = demo.start_sandbox(root, progress=lambda line: print(f"  {line}", flush=True))
    held_by: str | None = None
    try:
        print(demo.describe(sandbox, command=_self_command(), fresh=fresh), flush=True)
        os.chdir(sandbox.repo)
        from iact_tui.signals import on_hangup

        # A closed terminal ends the wizard with os._exit, past the finally below.
        with on_hangup(lambda: demo.stop_sandbox(root)):
            status = _run_wizard(lambda: load_config(sandbox.config_path))
    except IactError as exc:
        if _lock_held(exc):  # another iact-tui works on this sandbox: its servers are its own
            holder = getattr(exc, "holder", None)
            held_by = f"pid {holder.pid}" if holder is not None else "another iact-tui"
        raise
    finally:
        if held_by is not None:
            print(f"the demo servers stay up: {held_by} works on this sandbox ({root})", flush=True)
        else:
            stopped = demo.stop_sandbox(root)
            print(
                f"stopped {len(stopped)} demo server(s); the sandbox stays in {root} "
                f"(`{_self_command()} --demo --dir {shlex.quote(str(root))}` goes on with it)",
                flush=True,
            )
    return status


# -- monitor -------------------------------------------------------------------------


def monitor_env(config: Config, name: str | None) -> str:
    """The environment ``iact-tui monitor`` watches: ``name``, else ``production`` when
    configured, else the first environment of the config.

    Raises:
        ConfigError: ``name`` is not configured, or no environment is.
    """
    if name:
        if name not in config.environments:
            known = ", ".join(config.environments) or "none"
            raise ConfigError(f"there is no environment {name!r} in {config.path}", f"use --env with one of: {known}")
        return name
    if "production" in config.environments:
        return "production"
    if config.environments:
        return next(iter(config.environments))
    raise ConfigError(
        f"{config.path} configures no environment to monitor", "add [environments.production] (see iact-tui init)"
    )


def _cmd_monitor(args: argparse.Namespace) -> int:
    if args.monitor_demo or args.demo:
        from iact_tui import demo

        root = args.dir or Path(tempfile.mkdtemp(prefix="iact-demo-"))
        print(f"building the demo sandbox in {root} ...", flush=True)
        sandbox = demo.build_sandbox(root, progress=lambda line: print(f"  {line}", flush=True))
        try:
            os.chdir(sandbox.repo)
            return _run_monitor(load_config(sandbox.config_path), args.env)
        finally:
            stopped = demo.stop_sandbox(root)
            print(f"stopped {len(stopped)} demo server(s); the sandbox stays in {root}", flush=True)
    return _run_monitor(_load(args), args.env)


def _run_monitor(config: Config, name: str | None) -> int:
    env = monitor_env(config, name)
    from iact_tui.app import make_monitor_app  # deferred: headless commands never import Textual

    app = make_monitor_app(config, env)
    app.run()
    session = app.session
    from iact_tui.engine.monitor import format_duration

    print(f"monitored {env} for {format_duration(session.elapsed)}; nothing is left running on its hosts")
    for line in session.summary_lines()[1:]:
        print(f"  {line}")
    if session.journal_path is not None:
        print(f"summary saved to {session.journal_path}")
    return EXIT_OK


# -- demo ----------------------------------------------------------------------------


def _self_command() -> str:
    """How to run this iact-tui again: its name when it is on PATH, else its full path."""
    found = shutil.which("iact-tui")
    script = Path(sys.argv[0]).resolve()
    if found and Path(found).resolve() == script:
        return "iact-tui"
    if script.name == "iact-tui" and script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m iact_tui"


def _cmd_demo(args: argparse.Namespace) -> int:
    from iact_tui import demo

    if args.stop:
        stopped = demo.stop_sandbox(args.dir)
        print("\n".join(f"stopped {s}" for s in stopped) or "no demo server was running")
        return EXIT_OK
    if args.start:
        sandbox = demo.start_sandbox(args.dir, progress=lambda line: print(f"  {line}", flush=True))
        print(demo.describe(sandbox, command=_self_command(), fresh=False))
        return EXIT_OK
    sandbox = demo.build_sandbox(args.dir, progress=lambda line: print(f"  {line}", flush=True))
    print(demo.describe(sandbox, command=_self_command()))
    return EXIT_OK


# -- headless run and plan -----------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    if not args.yes:
        _err(
            "error: the headless runner needs --yes: it ticks the manual checklist items and confirms the production deploy"
        )
        return EXIT_USAGE
    if args.resume and args.flow != "release":
        return _cmd_resume_flow(args)
    if args.flow == "rollback":
        if not args.to:
            _err("error: run rollback needs --to TAG: the release to go back to")
            try:
                config = _load(args)
            except ConfigError:
                return EXIT_USAGE  # no config here: nothing to list
            from iact_tui.headless import print_rollback_targets

            return asyncio.run(print_rollback_targets(config, env=args.run_env, out=sys.stdout))
        config = _load(args)
        from iact_tui.headless import run_rollback

        return asyncio.run(run_rollback(config, to=args.to, env=args.run_env, out=sys.stdout))
    release_ids, hotfix_ids = _step_ids()
    if args.flow == "hotfix":
        if args.until and args.until not in hotfix_ids:
            _err(f"error: {args.until} is not a hotfix step; one of: {', '.join(hotfix_ids)}")
            return EXIT_USAGE
        config = _load(args)
        from iact_tui.headless import run_hotfix

        return asyncio.run(
            run_hotfix(
                config,
                until=args.until,
                out=sys.stdout,
                skip={"backup": args.skip_backup, "notice": args.skip_notice},
            )
        )
    if args.until and args.until not in release_ids:
        _err(f"error: {args.until} is not a release step; one of: {', '.join(release_ids)}")
        return EXIT_USAGE
    if args.resume:
        return _cmd_resume(args)
    if args.bump is None and args.version_text is None:
        _err("error: run release needs --bump or --version-override")
        return EXIT_USAGE
    config = _load(args)
    from iact_tui.headless import run_release

    return asyncio.run(
        run_release(
            config,
            bump=args.bump,
            version_text=args.version_text,
            until=args.until,
            out=sys.stdout,
            skip={"backup": args.skip_backup, "notice": args.skip_notice},
        )
    )


def _cmd_resume(args: argparse.Namespace) -> int:
    """``run release --resume --yes``: go on with the newest unfinished release run."""
    if args.bump is not None or args.version_text is not None:
        _err("error: --resume takes the version from the run it resumes; leave out --bump and --version-override")
        return EXIT_USAGE
    config = _load(args)
    from iact_tui.headless import resume_release

    return asyncio.run(resume_release(config, until=args.until, out=sys.stdout))


def _cmd_resume_flow(args: argparse.Namespace) -> int:
    """``run hotfix --resume --yes`` / ``run rollback --resume --yes``: go on with the
    newest unfinished hotfix, or rollback of ``--env``."""
    if args.bump is not None or args.version_text is not None or args.to:
        _err(
            "error: --resume takes the version or target from the run it resumes; leave out --bump, --to, --version-override"
        )
        return EXIT_USAGE
    _, hotfix_ids = _step_ids()
    if args.until and (args.flow != "hotfix" or args.until not in hotfix_ids):
        _err(f"error: --until with --resume takes a hotfix step; one of: {', '.join(hotfix_ids)}")
        return EXIT_USAGE
    config = _load(args)
    from iact_tui.headless import resume_flow

    return asyncio.run(resume_flow(config, args.flow, until=args.until, env=args.run_env, out=sys.stdout))


_FlowRunT = TypeVar("_FlowRunT")


def _unfinished(config: Config, flow: str, env: str | None = None) -> UnfinishedRun | None:
    """The newest unfinished ``flow`` run (a rollback of ``env``) of this repository, said
    on stdout when found: ``iact-tui hotfix``/``rollback`` resumes it rather than start a
    second one beside it (a second rollback would go back further while the release the
    first one left is not marked bad)."""
    from iact_tui.engine.resume import find_unfinished

    found = find_unfinished(config, flows=(flow,), env=env)
    if found is not None:
        print(f"resuming the unfinished {found.subject}: {found.offer().removeprefix(f'Resume {found.subject} ')}")
    return found


def _resumed(config: Config, found: UnfinishedRun, kind: type[_FlowRunT]) -> tuple[_FlowRunT, Replayed]:
    """``found`` rebuilt from its journal (:func:`~iact_tui.engine.resume.resume_flow`).

    Raises:
        RunLockHeld: Another iact-tui holds the repository (``_past_lock`` asks).
        IactError: It cannot be rebuilt (said as any other error).
    """
    from iact_tui.engine.resume import resume_flow

    run, replayed = asyncio.run(resume_flow(config, found))
    assert isinstance(run, kind)
    return run, replayed


def _cmd_rollback(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.env not in config.environments:
        known = ", ".join(config.environments) or "none"
        raise ConfigError(f"there is no environment {args.env!r} in {config.path}", f"use --env with one of: {known}")
    from iact_tui.rollback_app import make_rollback_app  # deferred: headless commands never import Textual

    found = _unfinished(config, "rollback", args.env)
    if found is None:
        app = _past_lock(lambda: make_rollback_app(config, env=args.env))
    else:
        from iact_tui.engine.rollback import RollbackRun
        from iact_tui.rollback_app import RollbackApp

        def resumed_rollback() -> RollbackApp:
            run, replayed = _resumed(config, found, RollbackRun)
            return RollbackApp(run, resumed=replayed)

        app = _past_lock(resumed_rollback)
    app.run()
    run = app.rollback_run
    statuses = {sid: record.status for sid, record in run.records.items()}
    print(f"rollback of {args.env}: " + ", ".join(f"{sid} {status}" for sid, status in statuses.items()))
    print(f"journal: {run.journal_path}")
    if all(status == "ok" for status in statuses.values()):
        return EXIT_OK
    if statuses.get(run.deploy_step_id) == "pending" and "failed" not in statuses.values():
        return EXIT_OK  # left before anything changed
    return EXIT_FAILED


def _cmd_hotfix(args: argparse.Namespace) -> int:
    config = _load(args)
    from iact_tui.hotfix_app import make_hotfix_app  # deferred: headless commands never import Textual

    found = _unfinished(config, "hotfix")
    if found is None:
        app = _past_lock(lambda: make_hotfix_app(config))
    else:
        from iact_tui.engine.hotfix import HotfixRun
        from iact_tui.hotfix_app import HotfixApp

        def resumed_hotfix() -> HotfixApp:
            run, replayed = _resumed(config, found, HotfixRun)
            return HotfixApp(run, resumed=replayed)

        app = _past_lock(resumed_hotfix)
    app.run()
    run = app.hotfix_run
    for line in run.summary_lines():
        print(line)
    statuses = {sid: record.status for sid, record in run.records.items()}
    print("hotfix: " + ", ".join(f"{sid} {status}" for sid, status in statuses.items()))
    print(f"journal: {run.journal_path}")
    return EXIT_FAILED if "failed" in statuses.values() else EXIT_OK


def _cmd_plan(args: argparse.Namespace) -> int:
    config = _load(args)
    from iact_tui.headless import print_plan

    return asyncio.run(print_plan(config, bump=args.bump, out=sys.stdout))


# -- init ----------------------------------------------------------------------------


def _cmd_init(args: argparse.Namespace) -> int:
    from iact_tui.starter import detect, starter_toml

    repo = args.path.resolve()
    target = repo / CONFIG_NAME
    if target.exists():
        _err(
            f"error: {target} already exists; iact-tui init never overwrites it\n  → edit it, or move it away and run init again"
        )
        return EXIT_FAILED
    found = detect(repo)
    text = starter_toml(found)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    print(f"wrote {target}")
    for line in found.notes:
        print(f"  {line}")
    print("  next: fill in [environments.staging] and [environments.production], then run `iact-tui plan release`")
    return EXIT_OK


# -- report and history ----------------------------------------------------------------


def _add_report_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``report`` and ``history`` subcommands (read-only: they only read the journals)."""
    report = sub.add_parser(
        "report",
        help="print a past run's report",
        description="Print the Markdown report of a run (report.md in its run folder, written when the run ends; "
        "rebuilt from the run's journal when missing). RUN is a run id from iact-tui history, a unique prefix "
        "of one, a path to a run folder, or last (the default: the newest run of this repository).",
    )
    report.add_argument("run", nargs="?", default="last", metavar="RUN", help="the run (default: last)")
    report.add_argument("--rebuild", action="store_true", help="build the report from the journal again and save it")
    report.add_argument("--config", type=Path, metavar="PATH", dest="sub_config", help="config file (the repository)")
    history = sub.add_parser(
        "history",
        help="list past runs",
        description="List this repository's past runs, newest first: run id, flow, version, start (local time), "
        "duration, result (finished ok, failed at STEP, interrupted at STEP, stopped after STEP, unfinished) "
        "and operator.",
    )
    history.add_argument("--all", action="store_true", help="every repository's runs, not only this one's")
    history.add_argument(
        "--limit", type=int, default=20, metavar="N", help="show at most N runs (default 20; 0: every run)"
    )
    history.add_argument("--config", type=Path, metavar="PATH", dest="sub_config", help="config file (the repository)")


def _this_repository(args: argparse.Namespace, *, required: bool) -> Path | None:
    """The repository of ``--config`` or of the current directory (the config file's
    folder; the config is not validated, so a broken one does not hide the history).

    Raises:
        ConfigError: No config file is found and ``required``.
    """
    path = getattr(args, "sub_config", None) or args.config
    try:
        found = path if path else find_config(Path.cwd())
    except ConfigError:
        if required:
            raise
        return None
    return Path(found).resolve().parent


def _cmd_report(args: argparse.Namespace) -> int:
    """``iact-tui report [RUN]``: print a run's report; 2 when no run or several fit RUN."""
    from iact_tui.engine import report

    spec = None if args.run == "last" else args.run
    try:
        repo = _this_repository(args, required=spec is None)
        folder = report.find_run(spec, repo=repo)
        text = report.read_report(folder, rebuild=args.rebuild)
    except ConfigError as exc:
        _err(f"error: {exc.what}\n  → pass a run id (iact-tui history --all lists every run), or {exc.fix}")
        return EXIT_USAGE
    except report.ReportError as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    sys.stdout.write(text)
    return EXIT_OK


def _cmd_history(args: argparse.Namespace) -> int:
    """``iact-tui history [--all] [--limit N]``: list past runs, newest first."""
    from iact_tui.engine import report

    if args.limit < 0:
        _err("error: --limit must be 0 (every run) or more")
        return EXIT_USAGE
    try:
        repo = None if args.all else _this_repository(args, required=True)
    except ConfigError as exc:
        _err(f"error: {exc.what}\n  → pass --all for every repository's runs, or {exc.fix}")
        return EXIT_USAGE
    runs = report.list_runs(repo=repo)
    if not runs:
        where = f" of {repo}" if repo is not None else ""
        print(f"no run{where} is recorded in {report.runs_dir()}")
        return EXIT_OK
    shown = runs[: args.limit] if args.limit else runs
    for line in report.history_table(shown, with_repo=args.all):
        print(line)
    if len(shown) < len(runs):
        print(f"({len(runs) - len(shown)} older run(s) not shown: --limit 0 shows every run)")
    return EXIT_OK
