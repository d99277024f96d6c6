"""Build, describe and stop the offline release sandbox (``iact-tui demo DIR``).

A sandbox is a directory holding everything a release needs, on this machine only:

- ``origin.git``: the bare shared repository (branch ``main``, release tags);
- ``repo``: the operator's clone, with ``iact-release.toml`` and unreleased commits;
- ``staging``, ``production``: deploy targets, checkouts of origin at the latest release,
  migrated, static files collected, each serving the sample Django site on its own
  loopback port;
- ``secrets/smoke-password``: the smoke-test user's password (mode 600);
- ``run``: the servers' pid files, logs and state (see :mod:`iact_tui.demo.appctl`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from iact_tui.config import CONFIG_NAME
from iact_tui.demo.history import LATEST_RELEASE, MAIN, VERSION_FILES, fast_import_stream
from iact_tui.errors import IactError

ENVIRONMENTS = ("staging", "production")
"""The sandbox's deploy targets, in deploy order."""
OPERATOR_NAME = "IACT Operator"
OPERATOR_EMAIL = "operator@iact.example"
SMOKE_USER = "demo"
INSTALL_HINT = "install the demo dependencies with: pip install 'iact-tui[demo]'"
_TIMEOUT = 120.0
"""Seconds any one build command may take."""

# One interpreter per environment runs the three set-up commands a deploy would run
# (migrate, collectstatic, ensure_demo_user): a third of the start-up cost.
_PREPARE = (
    "import django; django.setup(); "
    "from django.core.management import call_command as c; "
    "c('migrate', interactive=False, verbosity=0); "
    "c('collectstatic', interactive=False, verbosity=0); "
    "c('ensure_demo_user')"
)


@dataclass(frozen=True)
class Sandbox:
    """A built sandbox.

    Attributes:
        root: The sandbox directory.
        origin: The bare shared repository (``root/origin.git``).
        repo: The operator's clone (``root/repo``).
        config_path: ``repo/iact-release.toml``.
        environments: Environment name → health URL, in deploy order.
        run_dir: Where the servers' pid files and logs live (``root/run``).
    """

    root: Path
    origin: Path
    repo: Path
    config_path: Path
    environments: dict[str, str]
    run_dir: Path


def _say_nothing(_message: str) -> None:
    return None


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # GIT_DIR and friends leak in from hooks and would redirect every git command.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.update(extra or {})
    return env


def _run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    try:
        done = subprocess.run(
            list(args),
            cwd=cwd,
            input=stdin,
            capture_output=True,
            timeout=_TIMEOUT,
            env=_clean_env(env),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IactError(
            f"building the sandbox: `{shlex.join(args)}` failed: {exc}",
            "check the command can run here, remove the directory and try again",
        ) from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        tail = "\n".join(output.splitlines()[-15:])
        raise IactError(
            f"building the sandbox: `{shlex.join(args)}` exited {done.returncode} in {cwd}:\n{tail}",
            "fix the cause shown above, remove the directory and try again",
        )
    return done.stdout.decode(errors="replace")


def _git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    return _run(["git", *args], cwd=cwd, stdin=stdin)


def _check_prerequisites() -> None:
    for module in ("django", "coverage"):
        if importlib.util.find_spec(module) is None:
            raise IactError(
                f"the sandbox's sample site needs {module!r}, which {sys.executable} cannot import",
                INSTALL_HINT,
            )
    if shutil.which("git") is None:
        raise IactError("the sandbox needs git, which is not on PATH", "install git and try again")


def _check_root(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise IactError(f"{root} exists and is not a directory", "choose a new directory for the sandbox")
    if root.is_dir() and any(root.iterdir()):
        quoted = shlex.quote(str(root))
        again = (
            f"it holds a sandbox: go on with it (iact-tui --demo --dir {quoted}, or iact-tui demo {quoted} --start), "
            if is_sandbox(root)
            else ""
        )
        raise IactError(
            f"{root} is not empty; the sandbox is built only in a new or empty directory",
            f"{again}choose another directory, or stop the old sandbox (iact-tui demo {quoted} --stop) and remove it",
        )


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are all valid TOML escapes)."""
    return json.dumps(value, ensure_ascii=False)


def _cmd(name: str, run: str) -> str:
    """A TOML inline table for a :class:`~iact_tui.config.CommandSpec`."""
    return f"{{ name = {_toml(name)}, run = {_toml(run)} }}"


def _template_literal(text: str) -> str:
    """Make literal text safe inside a command template (braces are placeholders)."""
    return text.replace("{", "{{").replace("}", "}}")


def render_config(root: Path, ports: Mapping[str, int], python: str = sys.executable) -> str:
    """The sandbox's ``iact-release.toml``.

    Args:
        root: The sandbox directory (absolute).
        ports: Environment name → loopback port.
        python: The interpreter that runs the sample site and its tests.

    Returns:
        The file's text, with comments.
    """
    run_dir = shlex.quote(str(root / "run"))
    password_file = shlex.quote(str(root / "secrets" / "smoke-password"))
    qpy = shlex.quote(python)
    tests = f"{qpy} -m coverage run --source=core,iact manage.py test && {qpy} -m coverage xml -o coverage.xml"
    versions = ", ".join(_toml(f) for f in VERSION_FILES)
    out = [
        "# iact-release.toml: how iact-tui releases this project.",
        "# Written by `iact-tui demo` for the sandbox in " + str(root) + ";",
        '# everything runs on this machine (transport and forge "local", loopback only).',
        "",
        "# The repository and how releases are named.",
        "[project]",
        'main_branch = "main"',
        'remote = "origin"',
        'tag_prefix = "v"  # tags look like v1.4.0',
        'changelog = "CHANGELOG.md"  # Keep a Changelog 1.1.0',
        "# Every file holding the version; all are bumped together.",
        f"version_files = [{versions}]",
        "",
        "# The automatic items of the pre-release checklist, run in the repo root.",
        "[checks]",
        "# The sample's Django tests under coverage, writing the Cobertura report.",
        f"tests = {_toml(tests)}",
        'coverage_report = "coverage.xml"',
        "coverage_min = 80  # percent of lines",
        "",
        "# The release branch is merged into main locally, then pushed to origin.",
        "[forge]",
        'kind = "local"',
    ]
    for env, port in ports.items():
        base = f"http://127.0.0.1:{port}"
        restart = (
            "{python} -m iact_tui.demo.appctl restart "
            f"--name {env} --port {port} --run-dir {_template_literal(run_dir)}"
        )
        out += [
            "",
            f"# Deploy target {env!r}: a checkout of origin served by `manage.py runserver`",
            f"# on port {port}. Commands run in app_dir; {{python}}, {{remote}} and {{tag}}",
            "# are replaced by shell-quoted values.",
            f"[environments.{env}]",
            'transport = "local"',
            f"app_dir = {_toml(str(root / env))}",
            f"python = {_toml(python)}",
            f"health_url = {_toml(base + '/api/health')}",
            "# Run first; `post` runs last, also after a failed step. Maintenance mode is the",
            "# MAINTENANCE flag file the site's middleware reads (what `manage.py maintenance on`",
            "# writes), set with the shell: pre runs with the code the host ran before and post",
            "# with the code checked out, and a rollback to a release older than the command",
            "# must still be able to end maintenance mode.",
            f"pre = [{_cmd('maintenance mode on', 'touch MAINTENANCE')}]",
            "steps = [",
            f"    {_cmd('fetch tags', 'git fetch --tags --force {remote}')},",
            f"    {_cmd('check out the release tag', 'git checkout --detach {tag}')},",
            f"    {_cmd('run migrations', '{python} manage.py migrate --noinput')},",
            f"    {_cmd('collect static files', '{python} manage.py collectstatic --noinput')},",
            f"    {_cmd('restart the app server', restart)},",
            "]",
            f"post = [{_cmd('maintenance mode off', 'rm -f MAINTENANCE')}]",
            *(
                [
                    "# The sample keeps its data in SQLite inside the checkout, so there is no",
                    "# PostgreSQL to pg_dump before the deploy; a real site sets",
                    "# [environments.production.backup] instead (see the README).",
                    'backup_skip_reason = "demo: the sample site uses SQLite, no PostgreSQL to back up"',
                ]
                if env == "production"
                else []
            ),
            "",
            "# Smoke tests right after the deploy. The password is read by a command at the",
            "# point of use, never written here.",
            f"[environments.{env}.smoke]",
            f"commands = [{_cmd('Django system check', '{python} manage.py check')}]",
            "",
            f"[environments.{env}.smoke.login]",
            f"url = {_toml(base + '/api/auth/login')}",
            f"username = {_toml(SMOKE_USER)}",
            f"password_command = {_toml('cat ' + password_file)}",
            "",
            "# The server's log: its size is marked before the deploy's first command, and the",
            "# verification scans only what was written after for ERROR, CRITICAL, Traceback",
            '# and 5xx answers ("GET /api/health HTTP/1.1" 500 ...), the default patterns.',
            f"[environments.{env}.logs]",
            f"paths = [{_toml(str(root / 'run' / f'{env}.log'))}]",
            "max_matches = 0  # matching lines allowed on each host",
        ]
    out += [
        "",
        "# Verification of production after its deploy: health and the smoke checks again,",
        "# then timed health requests judged on their 95th percentile, slowest and error rate.",
        "[verify]",
        "requests = 20",
        "interval_seconds = 0.05  # between two timed requests",
        "max_p95_ms = 1000",
        "max_response_ms = 2000  # the slowest one",
        "max_error_rate = 0.0  # 0.0-1.0: no failed request allowed",
        "",
        "# Stakeholders are told of the production maintenance window through a webhook",
        "# whose URL is read from an environment variable (webhook_env); the sandbox has none.",
        "[notify]",
        'skip_reason = "demo: no stakeholders to tell"',
        "",
        "# The release announcement's signature.",
        "[announce]",
        'team = "The IACT team"',
        "",
    ]
    return "\n".join(out)


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)


def _checkout_release(origin: Path, target: Path) -> None:
    _git("clone", "--quiet", str(origin), str(target))
    _git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach",
         f"v{LATEST_RELEASE}", cwd=target)  # fmt: skip


def _prepare_envs(origin: Path, targets: Sequence[Path], password: str) -> None:
    """Check out the latest release in every target; migrate, collect static, add the user.

    Django runs in the first target only: the others are at the same release, so they
    get a copy of its database and collected static files (the same state ``migrate``,
    ``collectstatic`` and ``ensure_demo_user`` would give them, in a third of the time).
    """
    first, *others = targets
    with ThreadPoolExecutor(len(targets)) as pool:
        jobs = [pool.submit(_checkout_release, origin, t) for t in others]
        _checkout_release(origin, first)
        _run(
            [sys.executable, "-c", _PREPARE],
            cwd=first,
            env={"DJANGO_SETTINGS_MODULE": "iact.settings", "IACT_DEMO_PASSWORD": password},
        )
        for job in jobs:
            job.result()
    for target in others:
        shutil.copy2(first / "db.sqlite3", target / "db.sqlite3")
        shutil.copytree(first / "staticfiles", target / "staticfiles")


def build_sandbox(root: Path, *, start_servers: bool = True, progress: Callable[[str], None] | None = None) -> Sandbox:
    """Build a sandbox in ``root``, fully offline.

    Args:
        root: A directory that does not exist or is empty.
        start_servers: Start staging's and production's servers (tests that need no
            HTTP pass False).
        progress: Receives one line per stage.

    Returns:
        The built :class:`Sandbox`.

    Raises:
        IactError: ``root`` is not new or empty; Django, coverage or git is missing; a
            build command failed (any server already started is stopped again).
    """
    from iact_tui.demo import appctl  # not at module level: `python -m ...appctl` warns

    say = progress or _say_nothing
    root = Path(root).expanduser().absolute()
    _check_prerequisites()
    _check_root(root)
    root.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(
        root=root,
        origin=root / "origin.git",
        repo=root / "repo",
        config_path=root / "repo" / CONFIG_NAME,
        environments={},
        run_dir=root / "run",
    )
    try:
        ports = dict(zip(ENVIRONMENTS, _free_ports(len(ENVIRONMENTS)), strict=True))
        sandbox.environments.update({env: f"http://127.0.0.1:{p}/api/health" for env, p in ports.items()})
        say(f"writing the sample project's history into {sandbox.origin}")
        _git("init", "--quiet", "--bare", "-b", MAIN, str(sandbox.origin))
        stream, commits = fast_import_stream({CONFIG_NAME: render_config(root, ports)})
        _git("fast-import", "--quiet", cwd=sandbox.origin, stdin=stream)
        say(f"  {commits} commits by 4 authors, release tags up to v{LATEST_RELEASE}")
        say(f"cloning the operator's repository into {sandbox.repo}")
        _git("clone", "--quiet", str(sandbox.origin), str(sandbox.repo))
        _git("config", "user.name", OPERATOR_NAME, cwd=sandbox.repo)
        _git("config", "user.email", OPERATOR_EMAIL, cwd=sandbox.repo)
        password = secrets.token_urlsafe(24)
        _write_secret(root / "secrets" / "smoke-password", password)
        sandbox.run_dir.mkdir()
        say(f"preparing {', '.join(ENVIRONMENTS)} at v{LATEST_RELEASE} (clone, migrate, collectstatic, demo user)")
        _prepare_envs(sandbox.origin, [root / env for env in ENVIRONMENTS], password)
        servers = [appctl.Server(env, port, sandbox.run_dir, root / env) for env, port in ports.items()]
        for server in servers:
            server.save_state()
        if start_servers:
            for server in servers:
                say(f"starting {server.name} on {server.health_url}")
                appctl.start(server, say=_say_nothing, wait=False)
            for server in servers:
                pid = appctl.started_pid(server)
                if pid is None:
                    raise IactError(
                        f"{server.name}'s server ended at once; see {server.log_file}",
                        "fix the cause in the log, remove the directory and try again",
                    )
                appctl.wait_until_up(server, pid)
            say("servers are up")
    except BaseException as exc:
        stop_sandbox(root)
        if isinstance(exc, appctl.AppctlError):
            raise IactError(str(exc), "fix the cause shown above, remove the directory and try again") from None
        if isinstance(exc, OSError):
            raise IactError(
                f"building the sandbox in {root}: {exc}",
                "check the directory is writable, remove it and try again",
            ) from None
        raise
    return sandbox


def stop_sandbox(root: Path) -> list[str]:
    """Stop every server the sandbox in ``root`` started; safe to call again.

    Args:
        root: The sandbox directory.

    Returns:
        One line per server stopped, e.g. ``"staging (pid 123, port 8001)"``.

    Raises:
        IactError: ``root`` is not a directory.
    """
    from iact_tui.demo import appctl

    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise IactError(
            f"{root} is not a directory, so there is no sandbox to stop",
            "pass the directory given to `iact-tui demo`",
        )
    stopped: list[str] = []
    for state in sorted((root / "run").glob("*.json")):
        try:
            server = appctl.Server.from_state(state)
        except (OSError, ValueError, KeyError):
            continue
        pid = appctl.stop(server, say=_say_nothing)
        if pid is not None:
            stopped.append(f"{server.name} (pid {pid}, port {server.port})")
    return stopped


def is_sandbox(root: Path) -> bool:
    """Whether ``root`` holds a sandbox :func:`build_sandbox` made (its clone's config and
    the servers' state files)."""
    root = Path(root).expanduser().absolute()
    return (root / "repo" / CONFIG_NAME).is_file() and any((root / "run").glob("*.json"))


def start_sandbox(root: Path, *, progress: Callable[[str], None] | None = None) -> Sandbox:
    """Start again the servers of a sandbox built earlier (after ``--stop`` or the end of
    ``iact-tui --demo``), as they were left: each serves what its checkout holds now.

    Servers already running are left alone. Safe to call again.

    Args:
        root: The directory given to :func:`build_sandbox`.
        progress: Receives one line per stage.

    Returns:
        The :class:`Sandbox` in ``root``.

    Raises:
        IactError: ``root`` holds no sandbox, or a server does not start (its log is named).
    """
    from iact_tui.demo import appctl

    say = progress or _say_nothing
    root = Path(root).expanduser().absolute()
    if not is_sandbox(root):
        raise IactError(
            f"{root} holds no demo sandbox (no repo/{CONFIG_NAME} and run/*.json)",
            "pass the directory given to `iact-tui demo` or `iact-tui --demo --dir`, or build a new one",
        )
    servers = [appctl.Server.from_state(state) for state in sorted((root / "run").glob("*.json"))]
    order = {env: i for i, env in enumerate(ENVIRONMENTS)}
    servers.sort(key=lambda server: order.get(server.name, len(order)))
    try:
        for server in servers:
            if appctl.running_pid(server) is not None:
                say(f"{server.name} is running on {server.health_url}")
                continue
            say(f"starting {server.name} on {server.health_url}")
            appctl.start(server, say=_say_nothing, wait=True)
    except appctl.AppctlError as exc:
        raise IactError(str(exc), "fix the cause shown above, or build a new sandbox") from None
    return Sandbox(
        root=root,
        origin=root / "origin.git",
        repo=root / "repo",
        config_path=root / "repo" / CONFIG_NAME,
        environments={server.name: server.health_url for server in servers},
        run_dir=root / "run",
    )


def _newest_tag(origin: Path) -> str:
    """The newest release tag of the bare ``origin`` by version order (``git tag --sort``),
    e.g. ``v1.4.0`` once a release made it; ``""`` when it cannot be read."""
    try:
        done = subprocess.run(
            ["git", "tag", "--list", "v[0-9]*", "--sort=-v:refname"],
            cwd=origin,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    names = done.stdout.split() if done.returncode == 0 else []
    return names[0] if names else ""


def describe(sandbox: Sandbox, *, command: str = "iact-tui", fresh: bool = True) -> str:
    """What ``iact-tui demo DIR`` prints once the sandbox is built (or started again).

    Args:
        sandbox: The built sandbox.
        command: How to run iact-tui (its full path when it is not on ``PATH``).
        fresh: Just built: the servers serve the latest release (else: whatever was
            deployed since, so no version is named for them, and the newest tag is read
            from the origin: a release may have made one since).

    Returns:
        Several lines: what was made, each environment's health URL and state, and
        how to start the wizard and stop the servers.
    """
    from iact_tui.demo import appctl

    root = sandbox.root
    newest = f"v{LATEST_RELEASE}" if fresh else _newest_tag(sandbox.origin)
    tags = f", tags v1.0.0 … {newest}" if newest else ""
    clone = f"unreleased commits after v{LATEST_RELEASE}" if fresh else "what was released or committed since"
    lines = [
        f"IACT release sandbox in {root}",
        "",
        f"  origin.git/   the shared bare repository: main{tags}",
        f"  repo/         your clone on main: {CONFIG_NAME}, {clone}",
    ]
    for env, url in sandbox.environments.items():
        state_file = sandbox.run_dir / f"{env}.json"
        running = state_file.is_file() and appctl.running_pid(appctl.Server.from_state(state_file)) is not None
        state = ("serving v" + LATEST_RELEASE if fresh else "running") if running else "stopped"
        lines.append(f"  {env + '/':<13} deploy target, {state}: {url}")
    lines += [
        "  secrets/      smoke-password: the smoke-test user's password (mode 600)",
        "  run/          the servers' pid files and logs",
        "",
        f"Start the wizard:  cd {shlex.quote(str(sandbox.repo))} && {command}",
        f"Stop the servers:  {command} demo {shlex.quote(str(root))} --stop",
    ]
    return "\n".join(lines)
