"""The schema of ``iact-release.toml``: load, validate, and explain what is wrong.

One validated model (:class:`Config`) is built from the file and passed to the engine
and the app; nothing reads the file anywhere else. Errors name the file, the key, the
line where it can be found, what is allowed, and a close match for a mistyped key.
"""

from __future__ import annotations

import difflib
import re
import string
import tomllib
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from iact_tui.errors import ConfigError
from iact_tui.services import json_path

CONFIG_NAME = "iact-release.toml"

#: Placeholders a deploy, smoke or check command may use. Each value is validated and
#: ``shlex.quote``d before it is put into the command (see ``engine.commands``).
PLACEHOLDERS = frozenset({"version", "tag", "app_dir", "python", "env", "remote", "branch"})


class _Model(BaseModel):
    # strict: TOML has real types, so `coverage_min = "80"` or `= true` is a mistake to report.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_template(value: str) -> str:
    """Refuse a command template whose ``{placeholders}`` are unknown or malformed."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"malformed placeholder in {value!r}: {exc}; write a literal brace as {{{{ or }}}}") from exc
    for name in fields:
        if name not in PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{name}}} in {value!r}; allowed: {allowed}")
    return value


class CommandSpec(_Model):
    """One named shell command run on an environment's host.

    ``run`` is a shell command; ``{version}``, ``{tag}``, ``{app_dir}``, ``{python}``,
    ``{env}``, ``{remote}`` and ``{branch}`` are replaced by validated, shell-quoted values.
    """

    name: str = Field(min_length=1)
    """What the operator sees in the step list and the log, e.g. ``"run migrations"``."""
    run: str = Field(min_length=1)
    """The shell command template."""
    timeout: float = Field(default=600.0, gt=0)
    """Seconds before the command is stopped and reported as timed out."""
    cwd: str = ""
    """Working directory, relative to the environment's ``app_dir``; empty means ``app_dir``."""

    _validate_run = field_validator("run")(classmethod(lambda cls, v: _check_template(v)))


def default_django_steps() -> list[CommandSpec]:
    """The written procedure's production deploy steps for a Django app.

    Returns:
        fetch tags, check out the tag, ``manage.py migrate --noinput``,
        ``collectstatic --noinput``, restart the app service, reload the web server.
    """
    return [
        CommandSpec(name="fetch tags", run="git fetch --tags --force {remote}", timeout=120),
        CommandSpec(name="check out the release tag", run="git checkout --detach {tag}", timeout=60),
        CommandSpec(name="run migrations", run="{python} manage.py migrate --noinput", timeout=900),
        CommandSpec(name="collect static files", run="{python} manage.py collectstatic --noinput", timeout=300),
        CommandSpec(name="restart the app service", run="sudo -n systemctl restart iact", timeout=120),
        CommandSpec(name="reload the web server", run="sudo -n systemctl reload nginx", timeout=60),
    ]


class LoginCheck(_Model):
    """The smoke test's login POST: JSON ``{"username": ..., "password": ...}``."""

    url: str
    """Full URL of the login endpoint, e.g. ``http://127.0.0.1:8001/api/auth/login``."""
    username: str
    """The smoke-test user's name."""
    password_env: str = Field(default="", pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$")
    """Name of the environment variable holding the password (checked first); a name
    such as ``IACT_SMOKE_PASSWORD``, never the password itself."""
    password_command: str = ""
    """A command printing the password on stdout (run in the repo root), used when
    ``password_env`` is empty or unset. Never a literal password in this file."""
    expect_status: int = 200
    """HTTP status a successful login answers with."""


#: The methods a smoke check may use.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpCheckSpec(_Model):
    """One HTTP smoke check (``[[environments.<name>.smoke.checks]]``).

    Header values and strings in ``json`` may name secrets as ``$env:NAME`` (read from this
    machine's environment when the check runs; ``$$env:`` for the literal text); they are
    masked in every result. The URL and the expectations are never substituted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    name: str = Field(min_length=1)
    """Shown in the check list, e.g. ``"search API"``."""
    url: str
    """Full http(s) URL; ``{version}`` is replaced by the version just deployed."""
    method: str = "GET"
    """HTTP method."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Request headers, e.g. ``{ Authorization = "Bearer $env:IACT_API_TOKEN" }``."""
    json_body: dict[str, object] | list[object] | None = Field(default=None, alias="json")
    """JSON body (``json = { ... }`` in the file)."""
    expect_status: int = Field(default=200, ge=100, le=599)
    """The status the answer must have."""
    expect_json: dict[str, object] = Field(default_factory=dict)
    """JSON path → value the answer must hold, e.g. ``{ "data.user.id" = 7, status = "ok" }``;
    a string value ``"{version}"`` is the version just deployed."""
    expect_text: str = ""
    """Text the body must contain; empty: not checked."""
    timeout: float = Field(default=10.0, gt=0)
    """Seconds for one attempt."""

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.upper() not in HTTP_METHODS:
            raise ValueError(f"{value!r} is not an HTTP method ({', '.join(sorted(HTTP_METHODS))})")
        return value.upper()

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        unknown = sorted(set(re.findall(r"\{([^{}]*)\}", value)) - {"version"})
        if unknown:
            raise ValueError(
                f"{{{unknown[0]}}} is not a placeholder here: only {{version}} is replaced in a check's URL"
            )
        return value

    @field_validator("expect_json")
    @classmethod
    def _paths(cls, value: dict[str, object]) -> dict[str, object]:
        for path in value:
            json_path.parse_path(path)  # a ValueError names the path and where it breaks
        return value


class SmokeConfig(_Model):
    """Smoke tests run against an environment right after its deploy."""

    checks: list[HttpCheckSpec] = Field(default_factory=list)
    """More HTTP checks (the health GET and the login POST below always run when set)."""
    settle_seconds: float = Field(default=0.0, ge=0)
    """After a restart the service may need time: each HTTP check is retried with backoff
    (0.2 s doubling, at most 2 s) for up to this many seconds, then fails with the last
    answer shown."""

    login: LoginCheck | None = None
    """The login POST; absent means no login check."""
    commands: list[CommandSpec] = Field(default_factory=list)
    """Smoke commands (e.g. ``pytest tests/smoke/``); each passes with exit status 0 and
    its summary line (the last line it printed) is shown."""
    commands_on: Literal["host", "local"] = "host"
    """``"host"``: the commands run on the environment's first host, in ``app_dir``;
    ``"local"``: on this machine, in the repository (a command's ``cwd`` relative to the
    config file's folder), with ``IACT_ENV``, ``IACT_VERSION``, ``IACT_TAG`` and
    ``IACT_HEALTH_URL`` in their environment."""


_ENV_NAME = r"^([A-Za-z_][A-Za-z0-9_]*)?$"

#: What git's ref rules (``git check-ref-format``) refuse anywhere in a name, plus a
#: leading ``-``, ``/`` or ``.``: a prefix or branch starting so could be read as an option.
_REF_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f~^:?*\[\\]|\.\.|@\{|^[-/.]")


def _no_control_characters(value: str, what: str) -> str:
    """``value`` when it holds no control character (newline, tab, NUL...); a path with
    one would end a shell command early or fail deep inside a step with a traceback."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{what} {value!r} holds a control character (a newline, tab or NUL)")
    return value


#: Error-level records of Python's logging and most frameworks, tracebacks, and 5xx
#: answers in nginx/apache "combined" access logs (``"GET / HTTP/1.1" 502 157``).
DEFAULT_LOG_PATTERNS: tuple[str, ...] = (r"\bERROR\b", r"\bCRITICAL\b", r"Traceback", r'" 5\d\d ')
#: What maintenance mode answers, in a "combined" access log (``"GET / HTTP/1.1" 503 …``):
#: not counted by the verification while it lies inside a deploy's maintenance window.
DEFAULT_MAINTENANCE_IGNORE: tuple[str, ...] = ('" 503 ',)


class LogScanConfig(_Model):
    """Logs on each host of an environment, scanned after its deploy for lines written
    since the deploy started (sizes are recorded before the first command)."""

    paths: list[str] = Field(default_factory=list)
    """Absolute paths or globs on the hosts (``~/`` is the remote home), e.g.
    ``["/srv/iact/logs/app.log", "/var/log/nginx/access.log"]``; empty: no scan."""
    patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_LOG_PATTERNS))
    """Python regular expressions; a line matching any counts. Default: ``ERROR``,
    ``CRITICAL``, ``Traceback`` and a 5xx status in a combined access log."""
    max_matches: int = Field(default=0, ge=0)
    """The scan passes with at most this many matching lines on each host."""
    require_files: bool = False
    """Fail the scan when a path matches no readable file (otherwise it is reported)."""
    maintenance_ignore: list[str] = Field(default_factory=lambda: list(DEFAULT_MAINTENANCE_IGNORE))
    """Python regular expressions: a matching line written during a deploy's maintenance
    window (between the marks taken before its ``pre`` commands and after its ``post``
    commands succeeded, per host and file, by byte offset) is not counted, only reported
    as a figure. Default ``['" 503 ']``: the 503 answers of maintenance mode in an access
    log. Empty: nothing is ignored."""
    units: list[str] = Field(default_factory=list)
    """systemd units whose journal the monitor follows (``journalctl -fu UNIT``) besides
    ``paths``, e.g. ``["iact.service", "nginx.service"]``."""

    @field_validator("units")
    @classmethod
    def _units(cls, value: list[str]) -> list[str]:
        for unit in value:
            if not re.fullmatch(r"[A-Za-z0-9@_.:\\-]+", unit) or unit.startswith("-"):
                raise ValueError(f"{unit!r} is not a systemd unit name")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not (path.startswith("/") or path.startswith("~/")) or "\n" in path or "\x00" in path:
                raise ValueError(f"{path!r} is not an absolute path or glob (start it with / or ~/)")
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one pattern, or leave patterns out for the defaults")
        return _regexes(value)

    @field_validator("maintenance_ignore")
    @classmethod
    def _maintenance_ignore(cls, value: list[str]) -> list[str]:
        return _regexes(value)


def _regexes(value: list[str]) -> list[str]:
    """``value`` when every item compiles as a Python regular expression."""
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return value


class BackupConfig(_Model):
    """The database backup taken before this environment's deploy (PostgreSQL ``pg_dump``).

    ``pg_dump --format=custom`` runs on one of the environment's hosts (over SSH for an
    ``ssh`` environment) and writes ``{directory}/{database}-{version}-{UTC time}.dump``;
    the file is checked with ``pg_restore --list`` before the deploy goes on.
    """

    database: str = Field(min_length=1)
    """The database to dump, e.g. ``"iact"``."""
    directory: str = Field(min_length=1)
    """Absolute folder for the dumps on the host that runs ``pg_dump``, e.g. ``/var/backups/iact``
    (created with mode 700 when missing)."""
    db_host: str = ""
    """Database server for ``pg_dump --host``; empty: the local socket of the host that runs it."""
    db_port: int | None = Field(default=None, ge=1, le=65535)
    """Database server port; unset: PostgreSQL's default (5432)."""
    db_user: str = ""
    """Database role; empty: the login user's name."""
    run_on: str = ""
    """Which of the environment's ``hosts`` runs ``pg_dump``; empty: the first."""
    password_env: str = Field(default="", pattern=_ENV_NAME)
    """Name of the environment variable (on this machine) holding the database password;
    empty: ``~/.pgpass`` on the host (recommended). Never the password itself."""
    pg_dump: str = "pg_dump"
    """The ``pg_dump`` program on the host (a name on its PATH or an absolute path)."""
    pg_restore: str = "pg_restore"
    """The ``pg_restore`` program on the host, for the ``--list`` check."""
    timeout: float = Field(default=3600.0, gt=0)
    """Seconds the dump may take."""


class EnvironmentConfig(_Model):
    """A deploy target (``[environments.staging]``, ``[environments.production]``)."""

    transport: Literal["local", "ssh"] = "local"
    """``"local"``: commands run as subprocesses on this machine; ``"ssh"``: on each of
    ``hosts`` over SSH (host keys always verified against known_hosts)."""
    app_dir: str
    """Where the app's checkout lives; relative paths are relative to the config file.
    For ``ssh`` an absolute path on the hosts."""
    hosts: list[str] = Field(default_factory=list)
    """``ssh`` only, required: the hosts, as ``~/.ssh/config`` aliases or host names,
    e.g. ``["web1", "web2"]``."""
    user: str = Field(default="", pattern=r"^([a-z_][a-z0-9_.-]*\$?)?$")
    """``ssh`` only: login user; empty: ``User`` from the ssh config, else your local user."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """``ssh`` only: TCP port; unset: ``Port`` from the ssh config, else 22."""
    identity_file: str = ""
    """``ssh`` only: private key file (``~`` expanded, relative to the config file); empty:
    ``IdentityFile`` from the ssh config, ssh-agent and ``~/.ssh/id_*``."""
    known_hosts: str = ""
    """``ssh`` only: known_hosts file the host keys are checked against; empty: your
    ``~/.ssh/known_hosts``. Host key checking cannot be turned off."""
    ssh_config: str = ""
    """``ssh`` only: OpenSSH client config to honour (Host aliases, HostName, User, Port,
    IdentityFile, ProxyJump); empty: ``~/.ssh/config`` when it exists. The keys above
    override it."""
    proxy_jump: str = ""
    """``ssh`` only: ``[user@]host[:port]`` to jump through (comma-separated for a chain),
    overriding the ssh config's ``ProxyJump``; empty: the ssh config decides."""
    connect_timeout: float = Field(default=10.0, gt=0)
    """``ssh`` only: seconds to connect and log in to one host."""
    serial: int = Field(default=1, ge=1)
    """``ssh`` only: hosts deployed at a time (a batch), as Ansible's ``serial``; 1: one
    host after another."""
    python: str = ".venv/bin/python"
    """The app's Python interpreter (``{python}`` in commands), relative to ``app_dir``."""
    health_url: str
    """``GET`` URL answering 200 with JSON holding ``"version"``."""
    check_version: bool = True
    """Require the health JSON's ``version`` to equal the version just deployed."""
    pre: list[CommandSpec] = Field(default_factory=list)
    """Run first (e.g. maintenance mode on)."""
    steps: list[CommandSpec] = Field(default_factory=default_django_steps)
    """The deploy itself; defaults to the procedure's Django steps."""
    post: list[CommandSpec] = Field(default_factory=list)
    """Run last, and also after a failed step so maintenance mode is switched off."""
    smoke: SmokeConfig = Field(default_factory=SmokeConfig)
    """Smoke tests for this environment."""
    confirm: bool | None = None
    """Require the operator to type the version before deploying. Defaults to true for
    an environment named ``production`` and cannot be switched off for it."""
    backup: BackupConfig | None = None
    """``[environments.<name>.backup]``: the database backup before the deploy; absent:
    the production prep says there is none and asks for a typed reason to go on."""
    backup_skip_reason: str = ""
    """Why this environment has no database backup before its deploy (recorded in the
    journal), e.g. ``"SQLite file, copied by the deploy"``; empty: the operator is asked."""
    lock_path: str = ""
    """The deploy lock file on each host; empty: ``{app_dir}/.iact-deploy.lock``."""
    lock_stale_after: float = Field(default=3600.0, gt=0)
    """Seconds after which another operator's lock is called stale (breaking it still
    needs the host's name typed)."""
    logs: LogScanConfig = Field(default_factory=lambda: LogScanConfig())
    """``[environments.<name>.logs]``: the log files scanned after the deploy (and tailed
    by the monitor); no paths: no log scan."""
    keep_maintenance_on_failure: bool = False
    """Leave the site in maintenance mode when a deploy command fails (the ``post``
    commands are not run); by default they run so the site comes back."""

    @field_validator("health_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("app_dir", "python", "identity_file", "known_hosts", "ssh_config")
    @classmethod
    def _paths(cls, value: str) -> str:
        return _no_control_characters(value, "path")

    @field_validator("lock_path")
    @classmethod
    def _lock_path(cls, value: str) -> str:
        if value and (not value.startswith("/") or value.endswith("/")):
            raise ValueError(f"{value!r} is not an absolute file path on the hosts")
        return _no_control_characters(value, "path")

    @field_validator("hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for host in value:
            if not re.fullmatch(r"[A-Za-z0-9_.:\[\]%-]+", host) or host.startswith("-"):
                raise ValueError(f"{host!r} is not a host name, address or ssh config alias")
        duplicates = sorted({h for h in value if value.count(h) > 1})
        if duplicates:
            raise ValueError(f"hosts listed twice: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _transport_options(self) -> EnvironmentConfig:
        ssh_only = [
            "hosts", "user", "port", "identity_file", "known_hosts", "ssh_config", "proxy_jump", "connect_timeout", "serial",
        ]  # fmt: skip
        if self.transport == "ssh":
            if not self.hosts:
                raise ValueError('transport = "ssh" needs hosts = ["web1", ...] (ssh config aliases or host names)')
            if not self.app_dir.startswith("/"):
                raise ValueError(f'transport = "ssh" needs an absolute app_dir on the hosts (got {self.app_dir!r})')
        else:
            given = [name for name in ssh_only if name in self.model_fields_set]
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                raise ValueError(f'{", ".join(given)} only {verb} to transport = "ssh" (this environment is local)')
        return self


class ProjectConfig(_Model):
    """The repository and how releases are named."""

    main_branch: str = Field(default="main", min_length=1)
    """Branch releases are cut from and merged back into."""
    remote: str = Field(default="origin", min_length=1)
    """The git remote that holds the shared branches and tags."""
    tag_prefix: str = "v"
    """Prefix of release tags (``"v"`` → ``v1.4.0``; ``""`` for bare versions)."""
    changelog: str = Field(default="CHANGELOG.md", min_length=1)
    """The Keep a Changelog file, relative to the repo root."""
    version_files: list[str] = Field(default_factory=list)
    """Files whose version is bumped: Python modules (``__version__``), ``pyproject.toml``,
    ``package.json``."""
    prerelease_id: str = Field(default="rc", pattern=r"^[0-9A-Za-z-]+$")
    """Identifier of pre-release versions (SemVer 2.0.0 §9): ``rc`` → ``1.4.0-rc.1``;
    ``beta``, ``alpha`` and the like work too."""
    release_branch_prefix: str = "release/"
    """Release branches are ``{release_branch_prefix}{tag}``, e.g. ``release/v1.4.0``."""
    repo_url: str = ""
    """Web URL of the repository, for changelog compare links; empty: no links."""

    @field_validator("changelog", "version_files")
    @classmethod
    def _inside_repo(cls, value: str | list[str]) -> str | list[str]:
        for item in [value] if isinstance(value, str) else value:
            parts = PurePosixPath(item.replace("\\", "/")).parts
            if item.startswith(("/", "~")) or ".." in parts or "\x00" in item:
                raise ValueError(
                    f"{item!r} is not a path inside the repository: give it relative to the repository's root, "
                    "without '..' (e.g. CHANGELOG.md, src/app/__init__.py)"
                )
        return value

    @field_validator("main_branch", "remote", "release_branch_prefix", "tag_prefix")
    @classmethod
    def _ref_safe(cls, value: str) -> str:
        if _REF_UNSAFE.search(value):
            raise ValueError(f"{value!r} is not allowed in a git ref name (see git check-ref-format)")
        return value


class ChecksConfig(_Model):
    """The automatic items of the pre-release checklist."""

    tests: str = "pytest -q"
    """Command that runs the test suite in the repo root; ``""`` disables the check."""
    coverage_report: str = "coverage.xml"
    """Where line coverage is read after the tests: a Cobertura XML report (``coverage.xml``)
    or a coverage.py data file (``.coverage``, read through coverage's API with the
    project's settings); ``""`` disables the check."""
    coverage_min: float = Field(default=80.0, ge=0, le=100)
    """Lowest acceptable line coverage, in percent."""
    timeout: float = Field(default=1800.0, gt=0)
    """Seconds the tests command may run."""


class ForgeConfig(_Model):
    """Where the release branch is merged."""

    kind: Literal["local", "github"] = "local"
    """``"local"``: merge the release branch into main locally and push; ``"github"``: open
    (or reuse) a release pull request on GitHub, wait for its checks, merge it there."""
    repository: str = Field(default="", pattern=r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?$")
    """``github``: the repository as ``owner/name``."""
    api_url: str = "https://api.github.com"
    """``github``: the REST API's root; GitHub Enterprise Server: ``https://HOST/api/v3``.
    The token comes from ``GITHUB_TOKEN``, ``GH_TOKEN`` or ``gh auth token``, never this file."""
    merge_method: Literal["merge", "squash", "rebase"] = "merge"
    """``github``: how the pull request is merged (the procedure merges)."""
    release_label: str = "release"
    """``github``: label put on the release pull request."""
    labels: list[str] = Field(default_factory=list)
    """``github``: more labels for the release pull request."""
    required_checks: list[str] = Field(default_factory=list)
    """``github``: check names that must pass before merging; empty: every check reported
    on the head commit."""
    checks_deadline: float = Field(default=1800.0, gt=0)
    """``github``: seconds to wait for the checks and for GitHub's mergeability."""
    poll_interval: float = Field(default=15.0, gt=0)
    """``github``: seconds between polls while waiting."""
    timeout: float = Field(default=30.0, gt=0)
    """``github``: seconds per API request."""
    pr_template: str = ""
    """``github``: a Markdown file (relative to the config file) for the release pull
    request's body, with ``{summary}``, ``{changes}``, ``{testing}``, ``{migrations}``,
    ``{rollback}`` and ``{changelog}`` where each section goes; empty: the built-in one."""
    critical_label: str = "critical"
    """``github``: open issues with this label stop the checklist ("no critical issues open")."""
    blocking_pr_label: str = ""
    """``github``: open pull requests with this label stop the checklist ("release PRs merged");
    empty: not checked by label."""
    milestone: str = ""
    """``github``: open pull requests in this milestone stop the checklist; empty: not checked."""
    smoke_comment: bool = True
    """``github``: after the staging smoke tests (passed or failed), post their results as a
    comment on the release pull request (opened before the staging deploy, its body cannot
    hold them); a comment that cannot be posted is reported, never fails the smoke tests."""

    @model_validator(mode="after")
    def _github_needs_a_repository(self) -> ForgeConfig:
        if self.kind == "github" and not self.repository:
            raise ValueError('kind = "github" needs repository = "owner/name"')
        return self


class VerifyConfig(_Model):
    """Post-deploy verification against production (health and smoke again, response
    time, error rate, the logs since the deploy, and two checks done by hand)."""

    requests: int = Field(default=20, ge=1, le=1000)
    """How many health requests to time, one after another."""
    interval_seconds: float = Field(default=0.0, ge=0, le=60)
    """Seconds between two timed requests (0: back to back)."""
    max_p95_ms: float = Field(default=1000.0, gt=0)
    """Highest acceptable 95th-percentile response time, in milliseconds (nearest rank)."""
    max_response_ms: float | None = Field(default=None, gt=0)
    """Highest acceptable slowest response, in milliseconds; unset: only p95 is judged."""
    max_error_rate: float = Field(default=0.0, ge=0, le=1)
    """Highest acceptable share of failed requests (0.0–1.0; a request fails without a 2xx answer)."""


class MonitorConfig(_Model):
    """``iact-tui monitor`` and the monitor offered after a deploy."""

    health_interval_seconds: float = Field(default=10.0, ge=1, le=3600)
    """Seconds between two health requests."""
    host_interval_seconds: float = Field(default=15.0, ge=1, le=3600)
    """Seconds between two readings of each host's load average and memory."""
    max_lines: int = Field(default=20000, ge=100, le=1_000_000)
    """Lines the log pane keeps (older ones are dropped from view but still counted)."""


class AnnounceConfig(_Model):
    """The release announcement."""

    output: str = ""
    """Where to save it; empty: ``announcement-{tag}.md`` beside the run's journal."""
    team: str = "The release team"
    """Signature at the end of the announcement."""
    template: str = ""
    """A Markdown file (relative to the config file) the announcement is rendered from, with
    ``{version}``, ``{tag}``, ``{previous_tag}``, ``{deployed}``, ``{deployed_local}``,
    ``{deployed_utc}``, ``{features}``, ``{fixes}``, ``{changes}``, ``{changelog}``,
    ``{notes}``, ``{rollback}``, ``{verification}`` and ``{team}`` where each goes (``{{``
    for a literal brace); empty: the built-in one. An unknown placeholder is an error
    naming the file and line."""
    webhook_env: str = Field(default="", pattern=_ENV_NAME)
    """Name of the environment variable holding the webhook URL the announcement is sent
    to (the URL is a secret: never in this file); empty: it is only saved (and copied)."""
    format: Literal["slack", "mattermost", "teams"] = "slack"
    """The webhook's payload: ``"slack"`` (``text`` and ``blocks`` in Slack's mrkdwn),
    ``"mattermost"`` (``text`` in Markdown) or ``"teams"`` (an Adaptive Card message, as
    Microsoft Teams workflows webhooks take)."""


class NotifyConfig(_Model):
    """Telling stakeholders of the production maintenance window (the production prep)."""

    webhook_env: str = Field(default="", pattern=_ENV_NAME)
    """Name of the environment variable holding a webhook URL that accepts
    ``POST {"text": "..."}`` (Slack, Mattermost, Teams workflows...); empty: no webhook,
    the operator confirms the notice was sent another way or gives a reason."""
    window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """How long the announced maintenance window is, in minutes."""
    skip_reason: str = ""
    """Why no notice is posted (recorded in the journal), when there is no webhook;
    empty: the operator is asked for a reason."""


class HotfixConfig(_Model):
    """The hotfix flow: a patch release cut from the tag production runs."""

    branch_prefix: str = Field(default="hotfix/", min_length=1)
    """Hotfix branches are ``{branch_prefix}{tag}``, e.g. ``hotfix/v1.3.3``."""
    staging: bool = False
    """Deploy the hotfix to staging (and smoke-test it) before production; false: straight
    to production after the typed confirmation."""
    backport: Literal["merge", "cherry-pick"] = "merge"
    """How the fix reaches main and every open release branch afterwards: ``merge``
    (``git merge --no-ff`` of the hotfix branch) or ``cherry-pick`` (the fix commits with
    ``-x``, then the changelog section). Conflicts are reported and left to the operator."""

    @field_validator("branch_prefix")
    @classmethod
    def _ref_safe(cls, value: str) -> str:
        if _REF_UNSAFE.search(value):
            raise ValueError(f"{value!r} is not allowed in a git ref name (see git check-ref-format)")
        return value


class TimeoutsConfig(_Model):
    """Timeouts, in seconds, for outside calls that have no timeout of their own."""

    git: float = Field(default=120.0, gt=0)
    """One git operation (fetch, push, ls-remote...)."""
    http: float = Field(default=10.0, gt=0)
    """One HTTP request."""


class Config(_Model):
    """The whole validated ``iact-release.toml``."""

    project: ProjectConfig = Field(default_factory=ProjectConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    forge: ForgeConfig = Field(default_factory=ForgeConfig)
    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    announce: AnnounceConfig = Field(default_factory=AnnounceConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    hotfix: HotfixConfig = Field(default_factory=HotfixConfig)
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    path: Path = Path(CONFIG_NAME)
    """The file this was read from (set by :func:`load_config`, not by the file)."""

    @model_validator(mode="after")
    def _env_names(self) -> Config:
        for name in self.environments:
            if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
                raise ValueError(f"environment name {name!r} must be lowercase letters, digits, - or _")
        return self

    @property
    def root(self) -> Path:
        """The repository root: the directory holding the config file."""
        return self.path.resolve().parent

    def env_app_dir(self, env: str) -> Path:
        """Absolute ``app_dir`` of environment ``env`` (relative paths from :attr:`root`);
        for ``ssh`` the path on the hosts, as written."""
        if self.environments[env].transport == "ssh":
            return Path(self.environments[env].app_dir)
        return (self.root / self.environments[env].app_dir).resolve()

    def needs_confirmation(self, env: str) -> bool:
        """Whether deploying to ``env`` needs the operator to type the version first."""
        if env == "production":
            return True
        flag = self.environments[env].confirm
        return bool(flag)


def find_config(start: Path) -> Path:
    """Find ``iact-release.toml`` in ``start`` or the nearest parent holding it.

    Args:
        start: Directory to begin in (usually the current working directory).

    Returns:
        Path of the config file.

    Raises:
        ConfigError: No such file up to the filesystem root.
    """
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    elsewhere = _config_on_another_branch(here)
    if elsewhere is not None:
        checked_out, branch = elsewhere
        raise ConfigError(
            f"no {CONFIG_NAME} in {here}: {checked_out} is checked out, and the file is on {branch} only",
            f"check out {branch} (`git checkout {branch}`), then run the same iact-tui command again (an "
            "unfinished hotfix is offered or resumed from there)",
        )
    raise ConfigError(
        f"no {CONFIG_NAME} found in {here} or any parent directory",
        "run `iact-tui init` in the repository to write a starter file, or pass --config PATH",
    )


def _config_on_another_branch(here: Path) -> tuple[str, str] | None:
    """``(checked-out branch, branch holding the config)`` when ``here`` is in a git
    repository whose checked-out branch lacks :data:`CONFIG_NAME` at its root while
    ``main`` or ``master`` holds it (a crash left a hotfix branch cut from an old tag
    checked out); ``None`` otherwise (or without git). Runs git (a few ms); only called
    when the file is not found."""
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    current = git("rev-parse", "--abbrev-ref", "HEAD")
    if not current:
        return None
    for branch in ("main", "master"):
        if branch != current and git("cat-file", "-e", f"refs/heads/{branch}:{CONFIG_NAME}") is not None:
            return ("a detached HEAD" if current == "HEAD" else current), branch
    return None


def load_config(path: Path) -> Config:
    """Read and validate a config file.

    Args:
        path: The TOML file.

    Returns:
        The validated :class:`Config`, with :attr:`Config.path` set to ``path``.

    Raises:
        ConfigError: The file is missing or unreadable, is not valid TOML (with line and
            column), holds a literal secret (see :func:`literal_secrets`; the value is
            never echoed), or a value breaks the schema (naming the key, its line, and what is
            allowed, with a close match for a mistyped key).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist",
            "run `iact-tui init` in the repository, or pass --config PATH",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read config file {path}: {exc}", "check the file's permissions and encoding (UTF-8)"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", "fix the syntax at that line") from None
    found = literal_secrets(data)
    if found:
        raise ConfigError(_explain_secrets(path, text, found), _SECRET_FIX)
    try:
        return Config.model_validate({**data, "path": path})
    except ValidationError as exc:
        raise ConfigError(
            _explain(path, text, exc),
            "fix the value and run again; the README's configuration reference lists every key",
        ) from None


def _explain(path: Path, text: str, exc: ValidationError) -> str:
    lines: list[str] = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        line = _line_of(text, loc)
        where = f"{path}:{line}" if line else str(path)
        msg = str(err["msg"]).removeprefix("Value error, ")  # pydantic's prefix for our own checks
        if err["type"] == "extra_forbidden" and _SECRETISH.search(loc[-1]):
            msg = (
                "secrets never go in this file; name an environment variable (password_env) "
                "or a command that prints the secret (password_command) instead"
            )
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
            allowed = _allowed_keys(loc[:-1])
            close = difflib.get_close_matches(loc[-1], allowed, n=1)
            if close:
                msg += f"; did you mean {close[0]!r}?"
            elif allowed:
                msg += f"; allowed here: {', '.join(sorted(allowed))}"
        elif err["type"] == "literal_error":
            msg = f"{msg} (got {err.get('input')!r})"
        elif err["type"] == "string_pattern_mismatch":
            msg = _PATTERN_WORDS.get(loc[-1].rsplit("_", 1)[-1], _PATTERN_WORDS.get(loc[-1], msg))
        lines.append(f"{where}: {key}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


#: What a key refused by its pattern must hold, by its name or its name's last part
#: (``*_env``): the value is not repeated (an ``*_env`` key may hold a secret by mistake).
_PATTERN_WORDS = {
    "env": (
        "must be the name of an environment variable (letters, digits and _, not starting with a digit), "
        "e.g. IACT_WEBHOOK_URL; the secret itself goes in that variable, never in this file"
    ),
    "prerelease_id": "must be a SemVer pre-release identifier: letters, digits and - only (e.g. rc, beta, alpha)",
}

_SECRETISH = re.compile(r"pass(word)?|secret|token|api[_-]?key|credential", re.IGNORECASE)

#: A key whose name says it holds a secret (``password``, ``db_password``, ``api_key``,
#: ``webhook_url``, an ``Authorization`` header...). Matched on the whole name, split at
#: ``_``/``-``, so ``tokenizer`` or ``passes`` do not match.
_SECRET_KEY = re.compile(
    r"(^|[_-])(pass(word|wd|phrase)?|pwd|secrets?|(access|auth|api|bearer|refresh)?[_-]?tokens?|"
    r"api[_-]?keys?|apikey|private[_-]?key|credentials?|webhook([_-]?url)?|authorization|cookie)([_-]|$)",
    re.IGNORECASE,
)

#: Names that hold where a secret comes from, never the secret itself.
_SECRET_SOURCE = re.compile(r"[_-](env|command|cmd|file|path)$", re.IGNORECASE)

#: Known credential shapes, as (what it looks like, pattern). Values are searched, so a
#: token inside a command line or a URL is found too.
_SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
    ("a Slack token", re.compile(r"\bxox[abprse]-[A-Za-z0-9-]{8,}")),
    ("a Slack webhook URL", re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/[A-Za-z0-9/_-]+", re.I)),
    ("a Teams webhook URL", re.compile(r"[A-Za-z0-9.-]+\.webhook\.office\.com/[^\s\"']+", re.I)),
    ("a Teams webhook URL", re.compile(r"\.logic\.azure\.com[^\s\"']*[?&]sig=[^\s\"'&]+", re.I)),
    ("a webhook URL", re.compile(r"/hooks/[A-Za-z0-9]{16,}")),
    ("a URL with a password", re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@\"']*:(?![$%{])[^/\s@\"']+@")),
    (
        "a URL with a secret in its query",
        re.compile(
            r"[?&](access[_-]?token|token|api[_-]?key|apikey|secret|password|passwd|pwd|auth)=(?![$%{])[^&\s\"'#]{6,}",
            re.I,
        ),
    ),
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----")),
)

#: A secret's command that only prints text written after it (``echo hunter2``): the
#: secret is in the file after all. ``echo "$VAR"`` (the shell's variable) is fine.
_ECHO = re.compile(r"^\s*(\S*/)?(echo|printf)\s+(?!.*\$)\S")

#: A value made only of ``$env:NAME`` references (and text around them) names where the
#: secret comes from; any ``$VAR``/``${VAR}`` is the shell's, read on the host.
_ENV_REFERENCE = re.compile(r"\$(env:)?\{?[A-Za-z_][A-Za-z0-9_]*\}?")

_SECRET_FIX = (
    "take the secret out of the file: name an environment variable (password_env, webhook_env, "
    "or $env:NAME in a smoke check's headers and body) or a command that prints it "
    "(password_command); then rotate the secret, since the file may already be in git"
)


def literal_secrets(data: object, loc: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """Find the literal secrets in a parsed config file, before any validation.

    A secret is a non-empty string under a key whose name says it is one (``password``,
    ``token``, ``secret``, ``api_key``, ``webhook_url``, an ``Authorization`` header...;
    names ending in ``_env``/``_command`` name a source and are fine, and so is a value
    that only refers to an environment variable, ``$env:NAME`` or ``$NAME``), or any
    string anywhere shaped like a credential: a GitHub or Slack token, a Slack, Teams or
    Mattermost webhook URL, a URL with ``user:password@`` or a ``token=``/``api_key=``/
    ``password=`` query value, an AWS access key id, a private key block. A secret's
    command (``password_command``) that only echoes a literal is one too.

    Args:
        data: The TOML document as ``tomllib`` returns it (dicts, lists, scalars).
        loc: The key path of ``data`` (used by the recursion).

    Returns:
        ``(key path, what it looks like)`` for each secret found, in document order;
        never the value itself.
    """
    found: list[tuple[tuple[str, ...], str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found += literal_secrets(value, (*loc, str(key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += literal_secrets(value, (*loc, str(i)))
    elif isinstance(data, str):
        for what, shape in _SECRET_SHAPES:
            if shape.search(data):
                found.append((loc, f"the value looks like {what}"))
                return found
        name = next((p for p in reversed(loc) if not p.isdigit()), "")
        if _SECRET_KEY.search(_SECRET_SOURCE.sub("", name)) and _SECRET_SOURCE.search(name) and _ECHO.match(data):
            found.append((loc, "a command that prints a literal secret written in this file"))
            return found
        # expect_json describes a response; its keys (token_type...) are not sent anywhere.
        if (
            name
            and "expect_json" not in loc
            and _SECRET_KEY.search(name)
            and not _SECRET_SOURCE.search(name)
            and data.strip()
            and not _only_env_references(data)
        ):
            found.append((loc, "a literal value under a secret's name"))
    return found


def _secret_line(text: str, loc: tuple[str, ...]) -> int | None:
    """The line (1-based) of the secret at ``loc``: its key's line, also inside an inline
    table or array (``headers = { Authorization = ... }``), else :func:`_line_of`'s guess."""
    src = text.splitlines()
    start = (_line_of(text, list(loc)) or 1) - 1
    header = src[start] if start < len(src) else ""
    if not re.match(r"^\s*\[", header):  # _line_of found the key's own line
        return start + 1
    for name in [p for p in reversed(loc) if not p.isdigit()]:
        key_re = re.compile(r"(^|[{,\s])[\"']?" + re.escape(name) + r"[\"']?\s*=")
        for i in range(start, len(src)):
            if i > start and re.match(r"^\s*\[", src[i]):
                break
            if key_re.search(src[i]):
                return i + 1
    return start + 1


def _only_env_references(value: str) -> bool:
    """Whether ``value``'s secret part is a reference: ``Bearer $env:TOKEN``, ``$TOKEN``."""
    return bool(_ENV_REFERENCE.search(value)) and len(_ENV_REFERENCE.sub("", value).split()) <= 1


def _explain_secrets(path: Path, text: str, found: list[tuple[tuple[str, ...], str]]) -> str:
    lines = []
    for loc, what in found:
        line = _secret_line(text, loc)
        where = f"{path}:{line}" if line else str(path)
        lines.append(f"{where}: {'.'.join(loc)}: secrets never go in this file ({what})")
    return "literal secret in the configuration (value not shown):\n  " + "\n  ".join(lines)


def _allowed_keys(parent: list[str]) -> list[str]:
    model: type[BaseModel] | None = Config
    i = 0
    while model is not None and i < len(parent):
        name = parent[i]
        field = model.model_fields.get(name)
        if field is None:
            return []
        ann = field.annotation
        if name == "environments" and model is Config:
            model, i = EnvironmentConfig, i + 2
            continue
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        i += 1
    if model is None:
        return []
    return [k for k in model.model_fields if k != "path"]


def _line_of(text: str, loc: list[str]) -> int | None:
    """Best-effort line number (1-based) of the key at ``loc`` in the TOML text."""
    if not loc:
        return None
    src = text.splitlines()
    # A whole table (a check across its keys, e.g. [environments.production]): its header.
    whole = re.compile(r"^\s*\[\s*" + re.escape(".".join(loc)) + r"\s*\]\s*(#.*)?$")
    for i, line in enumerate(src):
        if whole.match(line):
            return i + 1
    key = loc[-1]
    # Look inside the deepest table header that matches the path, else anywhere.
    table_parts = [p for p in loc[:-1] if not p.isdigit()]
    start, end = 0, len(src)
    for depth in range(len(table_parts), 0, -1):
        header = ".".join(table_parts[:depth])
        pattern = re.compile(r"^\s*\[\[?\s*" + re.escape(header) + r"\s*\]\]?\s*$")
        hits = [i for i, line in enumerate(src) if pattern.match(line)]
        if hits:
            start = hits[0]
            nxt = [i for i in range(start + 1, len(src)) if re.match(r"^\s*\[", src[i])]
            end = nxt[0] if nxt else len(src)
            break
    key_re = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i in range(start, end):
        if key_re.match(src[i]):
            return i + 1
    if key.isdigit():
        return start + 1 if start else None
    return start + 1 if start else None
