"""The release announcement: rendered from a Markdown template, saved, and sent to a chat webhook.

The ``announce`` step renders the template (``[announce] template``, else
:data:`DEFAULT_TEMPLATE`) with the version, when production was deployed (local time and
UTC), the changelog section's new features, bug fixes and other changes, notes (user
action needed or not, data migrated), rollback availability (the release production ran
before this deploy, as the deploy recorded it on each host, else the journals' last
production deploy; never merely the previous tag in git), the verification's figures
and the team's signature, and saves it (temp file and rename). The step's result data is
the announcement as it stands: ``markdown`` (what is saved, copied and sent: the
operator's edit when there is one), ``rendered`` (the template's text), ``edited``,
``path``, ``template`` and, once sent, ``send``.

Sending (:func:`send`) is not part of the step: the wizard sends when the operator says
so, after reading (and perhaps editing) the announcement; an unattended run sends once
after the step (see :meth:`~iact_tui.engine.run.ReleaseRun.run_until`). The webhook URL
is a secret from ``[announce] webhook_env``: only its host, with the path masked, is
ever shown or journaled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iact_tui.engine import templates
from iact_tui.engine.events import Event, OutputLine, StepFinished
from iact_tui.engine.history import History, read_history
from iact_tui.engine.state import VERIFY_MANUAL, RunContext
from iact_tui.engine.step import Action
from iact_tui.errors import IactError, VersionError
from iact_tui.services import announce_send, changelog, migrations, notify
from iact_tui.services.notify import WebhookError
from iact_tui.services.secrets import Secret

PLACEHOLDERS: tuple[str, ...] = (
    "version",
    "tag",
    "previous_tag",
    "deployed",
    "deployed_local",
    "deployed_utc",
    "features",
    "fixes",
    "changes",
    "changelog",
    "notes",
    "rollback",
    "verification",
    "team",
)
"""What an ``[announce] template`` may place, as ``{name}``."""

DEFAULT_TEMPLATE = """\
# Release {tag}

{deployed}

## What's new

{features}

## Bug fixes

{fixes}

## Other changes

{changes}

## Notes

{notes}

## Verification

{verification}

## Rollback

{rollback}

— {team}
"""
"""The built-in announcement (``[announce] template = ""``). A ``##`` heading left with
nothing under it (no bug fixes, say) is dropped, in a configured template too."""

TEMPLATE_KEY = "[announce] template"
_WHAT = "the announcement template"
_NO_CHANGES = "_No user-facing changes._"


def announcement_path(ctx: RunContext) -> Path:
    """``[announce] output`` (``{tag}``/``{version}`` filled; relative to the repo root),
    or ``announcement-<tag>.md`` in the run's folder."""
    out = ctx.config.announce.output
    if not out:
        return ctx.run_dir / f"announcement-{ctx.tag}.md"
    path = Path(out.replace("{tag}", ctx.tag).replace("{version}", ctx.state.version))
    return path if path.is_absolute() else ctx.config.root / path


# -- rendering -------------------------------------------------------------------------


def render_announcement(
    ctx: RunContext,
    section: str,
    now: dt.datetime,
    *,
    template: str = DEFAULT_TEMPLATE,
    source: str = templates.BUILT_IN,
    added: migrations.AddedMigrations | None = None,
    migrations_error: str = "",
    history: History | None = None,
    verify_outcomes: list[str] | None = None,
) -> str:
    """The announcement's Markdown.

    Args:
        ctx: The run (version, previous release, step results, ticks).
        section: The changelog section body (``### Added`` ... groups).
        now: When production was deployed (timezone-aware); when iact-tui did not deploy
            it, when the release is announced.
        template: The Markdown template (see :data:`PLACEHOLDERS`).
        source: The template's file, named in errors.
        added: The database migrations the release adds, for the notes; ``None``: not
            looked up (the notes say nothing of data unless ``migrations_error`` is set).
        migrations_error: Why the migrations could not be read.
        history: Production's history from the journals, for the rollback part when this
            run did not record what production ran (see :func:`ran_before`).
        verify_outcomes: How each ``verify`` attempt ended (:func:`verify_outcomes`),
            for the line on a verification passed after earlier attempts; ``None``:
            unknown (those attempts are called failed).

    Raises:
        ConfigError: The template has an unknown placeholder (its file and line).
    """
    groups = _groups(section)
    features = _bullets(groups.get("Added", []))
    fixes = _bullets(groups.get("Fixed", []))
    others = {name: entries for name, entries in groups.items() if name not in ("Added", "Fixed")}
    changes = changelog.render_groups(others).strip()
    utc = now.astimezone(dt.UTC)
    values = {
        "version": ctx.state.version,
        "tag": ctx.tag,
        "previous_tag": ctx.state.previous_tag or "none",
        "deployed": _deployed_line(ctx, now),
        "deployed_local": f"{now.astimezone():%Y-%m-%d %H:%M %Z}",
        "deployed_utc": f"{utc:%Y-%m-%d %H:%M} UTC",
        "features": features if groups else _NO_CHANGES,
        "fixes": fixes,
        "changes": changes,
        "changelog": section.strip() or _NO_CHANGES,
        "notes": _notes(ctx, groups, added, migrations_error),
        "rollback": _rollback(ctx, history),
        "verification": "\n".join(_verification(ctx, verify_outcomes or [])),
        "team": ctx.config.announce.team,
    }
    text = templates.fill(template, values, source=source, what=_WHAT, key=TEMPLATE_KEY, allowed=PLACEHOLDERS)
    return templates.drop_empty_sections(text).rstrip() + "\n"


def _groups(section: str) -> dict[str, list[str]]:
    """The section's ``### Group`` → entries, parsed as the changelog's own entries are."""
    # The changelog service reads entries from an [Unreleased] section; the release's
    # section body has the same shape, so it is read through the same parser.
    return changelog.unreleased_entries(f"## [Unreleased]\n\n{section}")


def _bullets(entries: list[str]) -> str:
    return "\n".join(f"- {entry}" for entry in entries if entry.strip())


def _is_breaking(group: str, entry: str) -> bool:
    """An entry that asks something of users: marked breaking, or a removal."""
    return group == "Removed" or "BREAKING" in entry


def _notes(
    ctx: RunContext, groups: Mapping[str, list[str]], added: migrations.AddedMigrations | None, error: str
) -> str:
    """User action needed or not; data migrated or not."""
    action = [
        entry.replace("**BREAKING:** ", "").replace("BREAKING: ", "")
        for group, entries in groups.items()
        for entry in entries
        if _is_breaking(group, entry)
    ]
    if action:
        # Each entry one level down; its continuation lines follow it.
        lines = ["- **User action needed:**"] + ["  - " + entry.replace("\n", "\n  ") for entry in action]
    else:
        lines = ["- No user action needed."]
    deployed = _deployed_to_production(ctx)
    if added is not None and added.paths:
        count = len(added.paths)
        listing = "; ".join(f"{app}: {', '.join(names)}" for app, names in added.by_app.items())
        when = "applied by the production deploy" if deployed else "applied when it is deployed"
        lines.append(
            f"- Data migrated: yes — {count} new database migration{'s' if count > 1 else ''} ({listing}), {when}."
        )
    elif added is not None:
        lines.append("- Data migrated: no (no new database migrations).")
    elif error:
        lines.append(f"- Data migrated: unknown (the migrations could not be read from git: {error}).")
    return "\n".join(lines)


def _host_release(state: Mapping[str, Any]) -> str:
    """What one host ran, from its ``DeployedState`` record: its release tag, or its commit."""
    tag = state.get("tag")
    if isinstance(tag, str) and tag:
        return tag
    return f"commit {str(state.get('commit') or '?')[:12]} (no release tag)"


def ran_before(ctx: RunContext, history: History | None = None) -> dict[str, str]:
    """What production ran before this release's deploy: host name → its release tag (or
    ``commit <sha> (no release tag)``); empty when nothing is known.

    Read from what the ``deploy-production`` step recorded on each host before it changed
    anything (its ``hosts.<name>.previous``). Without that (production not deployed in
    this run, or not recorded), from ``history``: the last production deploy or rollback
    of another run (journals), its tag for the whole environment (key ``""``). The
    previous tag in git is no answer: it may never have reached production.

    Args:
        ctx: The run.
        history: Production's history from every run's journal (``None``: not read).
    """
    deploy = ctx.state.results.get("deploy-production") or {}
    hosts = deploy.get("hosts") if isinstance(deploy, dict) else None
    found: dict[str, str] = {}
    if isinstance(hosts, dict):
        for name, outcome in hosts.items():
            previous = outcome.get("previous") if isinstance(outcome, dict) else None
            if isinstance(previous, dict) and previous.get("commit"):
                found[str(name)] = _host_release(previous)
    if found or history is None:
        return found
    run = ctx.run_dir.name
    earlier = [d for d in history.deployments if d.run != run and d.tag != ctx.tag]
    return {"": earlier[-1].tag} if earlier else {}


def _production_history(ctx: RunContext) -> History | None:
    """Production's history from the journals of this repository's runs (blocking: file reads)."""
    runs = ctx.run_dir.parent
    if runs.name != "runs" or not runs.is_dir():
        return None
    return read_history("production", ctx.config.project.tag_prefix, runs.parent, repo=ctx.config.root)


def _rollback(ctx: RunContext, history: History | None = None) -> str:
    """Whether production can go back, to what, and whether a database backup was taken first."""
    before = ran_before(ctx, history)
    targets = set(before.values())
    if not before:
        lines = [
            "- What production ran before this release is not known (no deploy of it is recorded): "
            "no earlier release to roll back to is known."
        ]
    elif len(targets) == 1:
        (target,) = targets
        if target.startswith("commit "):
            lines = [f"- Before this deploy production ran {target}: no earlier release to roll back to."]
        elif "" in before:
            lines = [f"- If needed, production can be rolled back to {target}, its last recorded release."]
        else:
            lines = [f"- If needed, production can be rolled back to {target}, the release it ran before this deploy."]
    else:
        each = ", ".join(f"{name} {release}" for name, release in before.items())
        lines = [f"- Production's hosts ran different releases before this deploy: {each}."]
    prep = ctx.state.results.get("prep-production")
    if prep:
        items = prep.get("items") or {}
        backup = prep.get("backup") or {}
        if items.get("backup") == "passed":
            host = f" (on {backup['host']})" if backup.get("host") else ""
            lines.append(f"- A database backup was taken before the deploy{host}.")
        elif items.get("backup") == "skipped":
            cfg = ctx.config.environments.get("production")
            reason = ctx.state.prep.get("production:backup-skip") or (cfg.backup_skip_reason if cfg else "")
            lines.append("- No database backup was taken before the deploy" + (f": {reason}." if reason else "."))
    return "\n".join(lines)


def _ms(value: Any) -> str:
    """Milliseconds as the announcement shows them: whole above 10, one decimal below."""
    if not isinstance(value, int | float):
        return "?"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _pct(value: Any) -> str:
    """A 0.0–1.0 share as a percentage without trailing zeros (``0.05`` → ``5%``)."""
    return f"{float(value) * 100:g}%" if isinstance(value, int | float) else "?"


def _verification(ctx: RunContext, outcomes: list[str]) -> list[str]:
    """The verification's figures (or that it did not run), and the staging smoke tests;
    ``outcomes``: how each ``verify`` attempt ended (empty: unknown)."""
    verify = ctx.state.results.get("verify")
    lines = (
        _verification_lines(ctx, verify, outcomes)
        if verify
        else ["- Production verification did not run in this release."]
    )
    if "smoke-staging" in ctx.state.results:
        lines.append("- Smoke tests passed on staging.")
    return lines


def _verification_lines(ctx: RunContext, verify: dict[str, Any], outcomes: list[str]) -> list[str]:
    """Every figure of the ``verify`` step's result and the checks done by hand;
    ``outcomes``: how each ``verify`` attempt ended (empty: unknown)."""
    lines: list[str] = []
    health = verify.get("health") or {}
    if health:
        version = f", version {health['version']}" if health.get("version") else ""
        lines.append(f"- Health: HTTP {health.get('status')} in {_ms(health.get('elapsed_ms'))} ms{version}.")
    failed = set(verify.get("failed") or [])
    smoke_checks = verify.get("smoke") or {}
    if smoke_checks:
        passed = sum(1 for check_id in smoke_checks if check_id not in failed)
        lines.append(f"- Smoke checks on production: {passed} of {len(smoke_checks)} passed.")
    timing = verify.get("timing") or {}
    limits = verify.get("thresholds") or {}
    if "p95_ms" in timing:
        limit = f"limits: p95 ≤ {_ms(limits.get('max_p95_ms'))} ms"
        if limits.get("max_response_ms") is not None:
            limit += f", slowest ≤ {_ms(limits['max_response_ms'])} ms"
        lines.append(
            f"- Response time over {timing.get('requests')} requests: p50 {_ms(timing.get('p50_ms'))} ms, "
            f"p95 {_ms(timing.get('p95_ms'))} ms, max {_ms(timing.get('max_ms'))} ms ({limit})."
        )
        lines.append(
            f"- Error rate: {_pct(timing.get('error_rate'))} ({timing.get('errors')} of {timing.get('requests')} "
            f"requests failed; limit {_pct(limits.get('max_error_rate'))})."
        )
    for host, scan in (verify.get("logs") or {}).items():
        if "error" in scan:
            lines.append(f"- Logs on {host} since the deploy: not scanned ({scan['error']}).")
            continue
        scanned = sum(1 for f in scan.get("files", []) if f.get("status") == "scanned")
        lines.append(
            f"- Logs on {host} since the deploy: {scan.get('total_matches')} matching line(s) "
            f"(limit {scan.get('max_matches')}) in {scanned} file(s)."
        )
    attempt = verify.get("attempt")
    if isinstance(attempt, int) and attempt > 1:
        earlier = _earlier_attempts(attempt, outcomes)
        lines.append(f"- Verification passed on attempt {attempt}; {earlier} (see the journal).")
    for check_id, label in VERIFY_MANUAL:
        if check_id in ctx.state.verify_ticks:
            note = _plain(ctx.state.verify_ticks[check_id])
            lines.append(f"- {label}: ticked" + (f" — {note}" if note else "") + ".")
        else:
            lines.append(f"- {label}: not ticked.")
    return lines


def _plain(text: str) -> str:
    """``text`` (an operator's note, mid-line) as literal Markdown: one line, the characters
    that inline Markdown or HTML would read as markup (emphasis, code, links, tags,
    strikethrough) backslash-escaped."""
    text = " ".join(text.split())
    return re.sub(r"([\\`*_\[\]<>~])", r"\\\1", text)


def _deployed_to_production(ctx: RunContext) -> bool:
    deploy = ctx.state.results.get("deploy-production")
    return bool(deploy and deploy.get("env") == "production")


def _deployed_line(ctx: RunContext, now: dt.datetime) -> str:
    """Say what really happened: deployed to production, or only released."""
    if _deployed_to_production(ctx):
        return f"**{ctx.tag}** was deployed to production on {_when(now)}."
    return f"**{ctx.tag}** was released on {_when(now)} (iact-tui did not deploy it to production)."


def _when(now: dt.datetime) -> str:
    """``2026-11-29 07:51 CET (06:51 UTC)``, or just the UTC time when local time is UTC."""
    utc = now.astimezone(dt.UTC)
    local = now.astimezone()
    if local.utcoffset() == dt.timedelta(0):
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    return f"{local:%Y-%m-%d %H:%M %Z} ({utc:%H:%M} UTC)"


def deployed_at(ctx: RunContext) -> dt.datetime | None:
    """When this run's production deploy finished, from the run's journal; ``None`` when
    it did not run (or the journal cannot be read)."""
    path = ctx.run_dir / "journal.jsonl"  # the run's journal (engine.run.ReleaseRun)
    found: float | None = None
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if '"deploy-production"' not in line or '"step_finished"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if record.get("step_id") == "deploy-production" and record.get("status") == "ok":
                    found = float(record["ts"])
    except OSError:
        return None
    return dt.datetime.fromtimestamp(found, dt.UTC) if found is not None else None


def verify_outcomes(ctx: RunContext) -> list[str]:
    """How each attempt of this run's ``verify`` step ended, from the run's journal, in
    order: ``ok``, ``failed``, ``cancelled``, or ``interrupted`` (started and never
    finished: iact-tui was killed). Empty when the journal cannot be read. Blocking."""
    path = ctx.run_dir / "journal.jsonl"
    outcomes: list[str] = []
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if '"verify"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if record.get("step_id") != "verify":
                    continue
                if record.get("kind") == "step_started":
                    outcomes.append("interrupted")
                elif record.get("kind") == "step_finished" and outcomes:
                    outcomes[-1] = str(record.get("status", "failed"))
    except OSError:
        return []
    return outcomes


def _earlier_attempts(attempt: int, outcomes: list[str]) -> str:
    """``the earlier attempt was interrupted``, ``the earlier attempts failed``, or
    ``attempt 1 was interrupted and attempt 2 failed``, for the attempts before
    ``attempt`` (``outcomes`` from :func:`verify_outcomes`; unknown ones: failed)."""
    earlier = outcomes[: attempt - 1] if len(outcomes) >= attempt else []
    if not earlier:
        return "the earlier attempts failed"
    words = {"interrupted": "was interrupted", "cancelled": "was cancelled"}
    if len(set(earlier)) == 1:
        word = words.get(earlier[0], "failed")
        if len(earlier) == 1:
            return f"the earlier attempt {word}"
        return f"the earlier attempts {word.replace('was ', 'were ')}"
    parts = [f"attempt {i} {words.get(o, 'failed')}" for i, o in enumerate(earlier, 1)]
    return ", ".join(parts[:-1]) + f" and {parts[-1]}"


async def render(ctx: RunContext) -> tuple[str, str]:
    """Render the announcement for this run: the template (checked before any lookup),
    the changelog section, the migrations the release adds (from git), the deploy's time.

    Returns:
        ``(markdown, source)``: the text and the template it came from.

    Raises:
        ConfigError: ``[announce] template`` is missing, unreadable or has an unknown
            placeholder.
    """
    cfg = ctx.config
    template, source = await templates.read(
        cfg.root, cfg.path.name, cfg.announce.template, key=TEMPLATE_KEY, default=DEFAULT_TEMPLATE
    )
    templates.check(template, PLACEHOLDERS, source=source, what=_WHAT, key=TEMPLATE_KEY)
    path = cfg.root / cfg.project.changelog
    text = await asyncio.to_thread(lambda: path.read_text(encoding="utf-8") if path.exists() else "")
    section = changelog.release_section(text, ctx.state.version) or ctx.state.changelog_body or ""
    added: migrations.AddedMigrations | None = None
    error = ""
    try:
        new = ctx.tag if await ctx.git.rev(f"refs/tags/{ctx.tag}") else "HEAD"
        added = await migrations.added_migrations(ctx.git, ctx.state.previous_tag, new)
    except IactError as exc:
        error = exc.what
    now = await asyncio.to_thread(deployed_at, ctx) or dt.datetime.now(dt.UTC)
    history = await asyncio.to_thread(_production_history, ctx)
    outcomes = await asyncio.to_thread(verify_outcomes, ctx)
    markdown = render_announcement(
        ctx,
        section,
        now,
        template=template,
        source=source,
        added=added,
        migrations_error=error,
        history=history,
        verify_outcomes=outcomes,
    )
    return markdown, source


# -- saving and sending ------------------------------------------------------------------


async def save(path: Path, markdown: str) -> None:
    """Write the announcement to ``path`` (a temp file renamed into place).

    Raises:
        IactError: The folder cannot be created or written.
    """
    try:
        await asyncio.to_thread(_write, path, markdown)
    except OSError as exc:
        raise IactError(
            f"cannot write the announcement to {path}: {exc.strerror}",
            "fix [announce] output or the folder's permissions",
        ) from None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class SendOutcome:
    """How sending the announcement to the webhook went.

    Attributes:
        ok: The webhook answered 2xx.
        format: ``slack``, ``mattermost`` or ``teams``.
        webhook: The URL's host with its path masked (``https://hooks.slack.com/••••••``);
            ``""`` when there is no URL.
        status: The HTTP status; ``None`` when the webhook did not answer.
        answer: The start of the webhook's answer, the URL's parts masked.
        message: One sentence: where it went, or what went wrong.
        fix: What to do about a failure.
        at: When it was sent (ISO 8601, UTC).
        posts: How many posts it went as (Mattermost splits one over its limit).
        limited: What was done to fit the webhook's size limits (split, shortened), or ``""``.
    """

    ok: bool
    format: str
    webhook: str
    status: int | None
    answer: str
    message: str
    fix: str = ""
    at: str = ""
    posts: int = 1
    limited: str = ""

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (for the journal and the step's data)."""
        return dataclasses.asdict(self)


def webhook_label(ctx: RunContext) -> str:
    """Where the announcement would go, safe to show: ``Slack webhook https://hooks.slack.com/•••••• ($NAME)``;
    ``""`` when no webhook is configured."""
    a = ctx.config.announce
    if not a.webhook_env:
        return ""
    url = os.environ.get(a.webhook_env, "")
    where = notify.redacted_url(url) if url else "not set"
    return f"{announce_send.LABELS[a.format]} webhook {where} (${a.webhook_env})"


async def send(ctx: RunContext, markdown: str) -> SendOutcome:
    """Post ``markdown`` to ``[announce] webhook_env``'s webhook in ``[announce] format``.

    Never raises for an operator's problem: a missing variable, a refusal, a timeout or an
    unreachable host is a failed :class:`SendOutcome` with the status and the start of the
    server's answer (its URL masked).
    """
    a = ctx.config.announce
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    label = announce_send.LABELS[a.format]
    if not a.webhook_env:
        return SendOutcome(
            False,
            a.format,
            "",
            None,
            "",
            "no webhook is configured for the announcement",
            "set [announce] webhook_env to the name of an environment variable holding the webhook URL",
            at,
        )
    url = os.environ.get(a.webhook_env, "")
    if not url:
        return SendOutcome(
            False,
            a.format,
            "",
            None,
            "",
            f"${a.webhook_env} is not set",
            f"export {a.webhook_env} with the {label} webhook URL, then retry",
            at,
        )
    webhook = notify.redacted_url(url)
    try:
        sent = await announce_send.send(
            Secret(url, f"${a.webhook_env}"),
            a.format,
            markdown,
            timeout=ctx.config.timeouts.http,
            full_at=str(announcement_path(ctx)),
        )
    except WebhookError as exc:
        return SendOutcome(False, a.format, webhook, exc.status, exc.answer, exc.what, exc.fix, at)
    answer = sent.answer
    message = f"sent to {label} at {webhook} (HTTP {answer.status})"
    if sent.note:
        # Said where the operator reads the result: the post is not the whole announcement.
        message += f"; {sent.note}"
    return SendOutcome(True, a.format, webhook, answer.status, answer.answer, message, "", at, sent.posts, sent.note)


# -- the step --------------------------------------------------------------------------


class AnnounceStep:
    """Render the announcement and save it to a file (sending is asked for separately)."""

    id = "announce"
    title = "Announcement"

    def plan(self, ctx: RunContext) -> list[Action]:
        """Where the file goes, and where it is sent."""
        a = ctx.config.announce
        template = a.template or "the built-in template"
        if not a.output:
            actions = [Action("file", f"write announcement-{ctx.tag}.md beside the run's journal (from {template})")]
        else:
            actions = [Action("file", f"write the announcement to {announcement_path(ctx)} (from {template})")]
        if a.webhook_env:
            label = announce_send.LABELS[a.format]
            actions.append(
                Action(
                    "http",
                    f"POST it to the {label} webhook in ${a.webhook_env} (the wizard: when you press s; "
                    "headless: once, after saving)",
                )
            )
        return actions

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Render and write the file; ``StepFinished.data`` is the announcement as it
        stands (see the module docstring). An edit the operator made before a re-run is kept."""
        if not ctx.state.version:
            raise VersionError("no version chosen yet", "choose MAJOR, MINOR or PATCH first")
        rendered, source = await render(ctx)
        earlier = ctx.state.results.get(self.id) or {}
        markdown = str(earlier["markdown"]) if earlier.get("edited") else rendered
        out = announcement_path(ctx)
        await save(out, markdown)
        if source != templates.BUILT_IN:
            yield OutputLine(self.id, f"rendered from {source}")
        yield OutputLine(self.id, f"announcement saved to {out}")
        data: dict[str, Any] = {
            "path": str(out),
            "markdown": markdown,
            "rendered": rendered,
            "edited": markdown != rendered,
            "template": source,
        }
        yield StepFinished(self.id, "ok", f"saved to {out}", data=data)
