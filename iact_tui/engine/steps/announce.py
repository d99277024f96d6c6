"""The release announcement: Markdown from the changelog section and the run's figures."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from iact_tui.engine.events import Event, OutputLine, StepFinished
from iact_tui.engine.state import VERIFY_MANUAL, RunContext
from iact_tui.engine.step import Action
from iact_tui.errors import IactError, VersionError
from iact_tui.services import changelog


def announcement_path(ctx: RunContext) -> Path:
    """``[announce] output`` (``{tag}``/``{version}`` filled; relative to the repo root),
    or ``announcement-<tag>.md`` in the run's folder."""
    out = ctx.config.announce.output
    if not out:
        return ctx.run_dir / f"announcement-{ctx.tag}.md"
    path = Path(out.replace("{tag}", ctx.tag).replace("{version}", ctx.state.version))
    return path if path.is_absolute() else ctx.config.root / path


def render_announcement(ctx: RunContext, section: str, now: dt.datetime) -> str:
    """The announcement's Markdown.

    Args:
        ctx: The run (version, previous release, step results).
        section: The changelog section body (``### Added`` ... groups).
        now: The deployment time (timezone-aware).
    """
    results: dict[str, dict[str, Any]] = ctx.state.results
    lines = [
        f"# Release {ctx.tag}",
        "",
        _deployed_line(ctx, now),
        "",
        "## What's new",
        "",
        section.strip() or "_No user-facing changes._",
        "",
    ]
    lines += ["## Verification", ""]
    verify = results.get("verify")
    if verify:
        lines += _verification_lines(ctx, verify)
    else:
        lines.append("- Production verification did not run in this release.")
    if "smoke-staging" in results:
        lines.append("- Smoke tests passed on staging.")
    lines.append("")
    if ctx.state.previous_tag:
        lines += ["## Rollback", "", f"If needed, production can be rolled back to {ctx.state.previous_tag}.", ""]
    lines += [f"— {ctx.config.announce.team}", ""]
    return "\n".join(lines)


def _ms(value: Any) -> str:
    """Milliseconds as the announcement shows them: whole above 10, one decimal below."""
    if not isinstance(value, int | float):
        return "?"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _pct(value: Any) -> str:
    """A 0.0–1.0 share as a percentage without trailing zeros (``0.05`` → ``5%``)."""
    return f"{float(value) * 100:g}%" if isinstance(value, int | float) else "?"


def _verification_lines(ctx: RunContext, verify: dict[str, Any]) -> list[str]:
    """Every figure of the ``verify`` step's result and the checks done by hand."""
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
    for check_id, label in VERIFY_MANUAL:
        if check_id in ctx.state.verify_ticks:
            note = ctx.state.verify_ticks[check_id]
            lines.append(f"- {label}: ticked" + (f" — {note}" if note else "") + ".")
        else:
            lines.append(f"- {label}: not ticked.")
    return lines


def _deployed_line(ctx: RunContext, now: dt.datetime) -> str:
    """Say what really happened: deployed to production, or only released."""
    deploy = ctx.state.results.get("deploy-production")
    if deploy and deploy.get("env") == "production":
        return f"**{ctx.tag}** was deployed to production on {_when(now)}."
    return f"**{ctx.tag}** was released on {_when(now)} (iact-tui did not deploy it to production)."


def _when(now: dt.datetime) -> str:
    """``2026-11-29 07:51 CET (06:51 UTC)``, or just the UTC time when local time is UTC."""
    utc = now.astimezone(dt.UTC)
    local = now.astimezone()
    if local.utcoffset() == dt.timedelta(0):
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    return f"{local:%Y-%m-%d %H:%M %Z} ({utc:%H:%M} UTC)"


class AnnounceStep:
    """Render the announcement and save it to a file."""

    id = "announce"
    title = "Announcement"

    def plan(self, ctx: RunContext) -> list[Action]:
        """Where the file goes."""
        if not ctx.config.announce.output:
            return [Action("file", f"write announcement-{ctx.tag}.md beside the run's journal")]
        return [Action("file", f"write the announcement to {announcement_path(ctx)}")]

    async def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Write the file; ``StepFinished.data`` holds ``path`` and ``markdown``."""
        if not ctx.state.version:
            raise VersionError("no version chosen yet", "choose MAJOR, MINOR or PATCH first")
        path = ctx.config.root / ctx.config.project.changelog
        text = await asyncio.to_thread(lambda: path.read_text(encoding="utf-8") if path.exists() else "")
        section = changelog.release_section(text, ctx.state.version) or ctx.state.changelog_body or ""
        markdown = render_announcement(ctx, section, dt.datetime.now(dt.UTC))
        out = announcement_path(ctx)
        try:
            await asyncio.to_thread(_write, out, markdown)
        except OSError as exc:
            raise IactError(
                f"cannot write the announcement to {out}: {exc.strerror}",
                "fix [announce] output or the folder's permissions",
            ) from None
        yield OutputLine(self.id, f"announcement saved to {out}")
        yield StepFinished(self.id, "ok", f"saved to {out}", data={"path": str(out), "markdown": markdown})


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
