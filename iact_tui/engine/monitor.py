"""A monitoring session of one environment: its logs, its health URL and its hosts.

:class:`MonitorSession` wires the config to the monitor's services
(:mod:`iact_tui.services.monitor`) for a front end: it builds the environment's hosts
and log sources, follows the logs (:meth:`MonitorSession.log_batches`), polls the health
URL (:meth:`MonitorSession.health_samples`) and reads each host's load and memory
(:meth:`MonitorSession.host_readings`), every N seconds from ``[monitor]``. Its figures
are counters and bounded histories, so it can run for hours. :meth:`MonitorSession.stop`
stops every remote command and closes the connections; :meth:`MonitorSession.save_summary`
appends a ``monitor_summary`` record (duration, lines and errors per host, health
requests, errors and worst response times) to the journal of the run that offered the
monitor, or, for ``iact-tui monitor`` on its own, to a new run folder whose journal
starts with ``run_started`` of flow ``monitor``.
"""

from __future__ import annotations

import asyncio
import getpass
import socket
import time
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any

from iact_tui.config import Config
from iact_tui.engine.journal import Journal, new_run_dir
from iact_tui.errors import ConfigError
from iact_tui.services.monitor import (
    NOTICE_SOURCE,
    HealthSample,
    HealthStats,
    HostStats,
    HostTailStats,
    LineFilter,
    LogFollower,
    TailBatch,
    TailLine,
    health_client,
    log_sources,
    poll_health,
    read_host_stats,
)
from iact_tui.services.remote import Host, make_hosts

__all__ = [
    "NOTICE_SOURCE",
    "HealthSample",
    "HealthStats",
    "HostStats",
    "HostTailStats",
    "LineFilter",
    "MonitorSession",
    "TailBatch",
    "TailLine",
    "format_duration",
    "parse_filter",
]


def format_duration(seconds: float) -> str:
    """``1:02:03`` for hours, ``2:03`` below an hour."""
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class MonitorSession:
    """Monitoring of environment ``env`` (see the module docstring).

    Args:
        config: The validated config.
        env: The environment to watch.
        hosts: The hosts to use instead of the environment's (tests).
        journal: The journal a summary is appended to (the release run's); ``None``: a
            new run folder of flow ``monitor`` is made at the first summary.
        state_dir: Where that run folder goes (``None``: the user state dir).
        retry_min: Seconds before a dropped tail is first restarted (doubling to 30 s).

    Raises:
        ConfigError: ``env`` is not configured.
        SshError: An ``ssh`` environment without hosts.
    """

    def __init__(
        self,
        config: Config,
        env: str,
        *,
        hosts: Sequence[Host] | None = None,
        journal: Journal | None = None,
        state_dir: Path | None = None,
        retry_min: float = 1.0,
    ) -> None:
        if env not in config.environments:
            known = ", ".join(sorted(config.environments)) or "none"
            raise ConfigError(
                f"there is no environment {env!r} in {config.path}", f"choose one of: {known} (--env NAME)"
            )
        self.config = config
        self.env = env
        settings = config.environments[env]
        self.hosts: list[Host] = list(hosts) if hosts is not None else make_hosts(env, settings, root=config.root)
        self.sources = log_sources(settings.logs.paths, settings.logs.units)
        self.health_url = settings.health_url
        self.health_interval = config.monitor.health_interval_seconds
        self.host_interval = config.monitor.host_interval_seconds
        self.max_lines = config.monitor.max_lines
        self.http_timeout = min(config.timeouts.http, max(self.health_interval, 1.0))
        self.follower = LogFollower(
            self.hosts,
            self.sources,
            patterns=settings.logs.patterns,
            max_pending=max(self.max_lines, 10_000),
            retry_min=retry_min,
        )
        self.health = HealthStats()
        self.host_stats: dict[str, HostStats] = {}
        self.started_at = time.time()
        self._started = time.monotonic()
        self._journal = journal
        self._own_journal: Journal | None = None
        self._state_dir = state_dir
        self._stopped = False

    # -- what is watched -------------------------------------------------------------------

    @property
    def host_names(self) -> list[str]:
        """The hosts' names, in configured order."""
        return [h.name for h in self.hosts]

    @property
    def has_logs(self) -> bool:
        """Whether ``[environments.<env>.logs]`` names any path or unit."""
        return bool(self.sources)

    @property
    def no_logs_text(self) -> str:
        """What to tell the operator when there are no logs to follow."""
        return (
            f"No logs configured for {self.env}: add paths (files or globs) or units (systemd) "
            f"to [environments.{self.env}.logs] in {self.config.path.name}. Health and host figures still run."
        )

    @property
    def tail_stats(self) -> dict[str, HostTailStats]:
        """Host name → its log counters."""
        return self.follower.stats

    @property
    def elapsed(self) -> float:
        """Seconds since the session was made."""
        return time.monotonic() - self._started

    # -- the three feeds -------------------------------------------------------------------

    async def log_batches(self, interval: float = 0.1, max_batch: int = 2_000) -> AsyncGenerator[TailBatch, None]:
        """The log lines as they arrive, a batch at most every ``interval`` seconds (at
        most ``max_batch`` lines each; a backlog comes in several, the loop handed back
        between them).

        The tails start with the first iteration and run until :meth:`stop` (or until the
        iterating task is cancelled while it waits for lines). Nothing is yielded when
        there are no logs.
        """
        if not self.has_logs or self._stopped:
            return
        async with self.follower:
            async for batch in self.follower.batches(interval, max_batch):
                yield batch

    async def health_samples(self) -> AsyncGenerator[HealthSample, None]:
        """One health request every ``health_interval_seconds``, each counted in :attr:`health`."""
        async with health_client(self.http_timeout) as client:
            while not self._stopped:
                sample = await poll_health(client, self.health_url)
                self.health.add(sample)
                yield sample
                await asyncio.sleep(self.health_interval)

    async def host_readings(self) -> AsyncGenerator[HostStats, None]:
        """Every host's load and memory every ``host_interval_seconds`` (hosts read together)."""
        while not self._stopped:
            readings = await asyncio.gather(
                *(read_host_stats(h, timeout=max(self.host_interval, 5.0)) for h in self.hosts)
            )
            for reading in readings:
                self.host_stats[reading.host] = reading
                yield reading
            await asyncio.sleep(self.host_interval)

    async def stop(self) -> None:
        """Stop every tail (each remote command is stopped before this returns) and close
        the hosts' connections. The session cannot follow again afterwards."""
        self._stopped = True
        await self.follower.stop()
        for host in self.hosts:
            await host.close()
        if self._own_journal is not None:
            self._own_journal.close()

    # -- summary -------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures of the session so far."""
        hosts: dict[str, Any] = {}
        for name in self.host_names:
            figures = self.tail_stats[name].figures()
            reading = self.host_stats.get(name)
            if reading is not None and not reading.error:
                figures["load"] = list(reading.load) if reading.load else None
                fraction = reading.mem_used_fraction
                figures["mem_used"] = None if fraction is None else round(fraction, 3)
            hosts[name] = figures
        return {
            "env": self.env,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "duration_seconds": round(self.elapsed, 1),
            "sources": [s.target for s in self.sources],
            "lines": sum(s.lines for s in self.tail_stats.values()),
            "errors": sum(s.errors for s in self.tail_stats.values()),
            "hosts": hosts,
            "health_url": self.health_url,
            "health": self.health.figures(),
        }

    def summary_lines(self) -> list[str]:
        """The summary for a person, a few lines."""
        data = self.summary()
        lines = [
            f"{self.env}: {format_duration(data['duration_seconds'])} monitored, "
            f"{data['lines']:,} log lines, {data['errors']:,} error lines"
        ]
        for name, figures in data["hosts"].items():
            lines.append(f"{name}: {figures['lines']:,} lines, {figures['errors']:,} errors")
        health = data["health"]
        worst = ", ".join(f"{w['ms']:.0f} ms" for w in health["worst"]) or "none"
        lines.append(f"health: {health['requests']} requests, {health['errors']} failed; slowest {worst}")
        return lines

    @property
    def journal_path(self) -> Path | None:
        """The journal a summary goes to; ``None`` until a monitor run folder is made."""
        if self._journal is not None:
            return self._journal.path
        return self._own_journal.path if self._own_journal is not None else None

    def save_summary(self) -> Path:
        """Append a ``monitor_summary`` record to the journal (see the module docstring).

        Returns:
            The journal's path.
        """
        journal = self._journal
        if journal is None:
            if self._own_journal is None:
                run_dir = new_run_dir(self._state_dir)
                self._own_journal = Journal(run_dir / "journal.jsonl")
                self._own_journal.write(
                    "run_started",
                    flow="monitor",
                    env=self.env,
                    repo=str(self.config.root),
                    config=str(self.config.path),
                    operator=f"{getpass.getuser()}@{socket.gethostname()}",
                    steps=[],
                )
            journal = self._own_journal
        journal.write("monitor_summary", **self.summary())
        return journal.path


#: Used by the screen for the filter box (the screen never imports services).
parse_filter = LineFilter.parse
