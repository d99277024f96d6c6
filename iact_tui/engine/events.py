"""Events: the only way results travel from steps to the screens, the CLI and the journal.

All are frozen dataclasses; ``ts`` is a Unix time in seconds. Each has a ``kind`` used
as its tag in the journal (see :func:`to_record`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal

Stream = Literal["stdout", "stderr", "info"]
Status = Literal["ok", "failed", "skipped", "cancelled"]
CheckStatus = Literal["pending", "running", "passed", "warning", "failed", "skipped"]
CommandStatus = Literal["pending", "running", "ok", "failed", "skipped", "cancelled", "timed-out"]


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class StepStarted:
    """A step began. ``title`` is the operator-facing name."""

    step_id: str
    title: str
    ts: float = field(default_factory=_now)
    kind: str = "step_started"


@dataclass(frozen=True)
class OutputLine:
    """One line of output from a command or a step's own narration.

    Args:
        step_id: The step producing it.
        text: The line without its newline; secrets already redacted.
        stream: ``stdout``/``stderr`` of a command, or ``info`` for the step's narration.
        host: The environment host that produced it, or ``None`` for this machine.
    """

    step_id: str
    text: str
    stream: Stream = "info"
    host: str | None = None
    ts: float = field(default_factory=_now)
    kind: str = "output"


@dataclass(frozen=True)
class Progress:
    """Progress of a step: ``done`` of ``total`` units, ``label`` naming the current unit."""

    step_id: str
    done: int
    total: int
    label: str = ""
    ts: float = field(default_factory=_now)
    kind: str = "progress"


@dataclass(frozen=True)
class CheckUpdate:
    """A checklist, smoke or verification item changed state.

    Args:
        step_id: The step the check belongs to.
        check_id: Stable id, e.g. ``clean-tree``, ``health``, ``login``.
        label: Operator-facing text.
        status: ``pending``, ``running``, ``passed``, ``warning`` (passed, but with
            something the operator must weigh, e.g. a rollback that loses data; it stops
            nothing), ``failed`` or ``skipped``.
        detail: Evidence, the warning, or the reason for a failure (one or a few lines).
        data: Figures (e.g. ``{"status_code": 200, "elapsed_ms": 12.5}``).
    """

    step_id: str
    check_id: str
    label: str
    status: CheckStatus
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=_now)
    kind: str = "check"


@dataclass(frozen=True)
class CommandUpdate:
    """One command of a deploy recipe on one host changed state.

    A deploy first sends every (host, command) pair as ``pending``, in the order they
    will run; then ``running`` and a final status for each as it goes.

    Args:
        step_id: The deploy step, e.g. ``deploy-production``.
        host: The host's name as configured (``web1``), or the environment's name for
            the ``local`` transport.
        index: The command's position in the recipe (0-based; the same on every host).
        name: The command's name from the config, e.g. ``run migrations``.
        phase: ``lock``, ``record``, ``pre``, ``steps``, ``post`` or ``unlock``.
        status: ``pending``, ``running``, ``ok``, ``failed``, ``skipped`` (not run
            because an earlier command failed), ``cancelled`` or ``timed-out``.
        seconds: Elapsed seconds when finished (0.0 before).
        detail: For a failure, the most telling output lines; empty otherwise.
    """

    step_id: str
    host: str
    index: int
    name: str
    phase: str
    status: CommandStatus
    seconds: float = 0.0
    detail: str = ""
    ts: float = field(default_factory=_now)
    kind: str = "command"


@dataclass(frozen=True)
class StepFinished:
    """A step ended.

    Args:
        step_id: The step.
        status: ``ok``, ``failed``, ``skipped`` (nothing to do, e.g. no such environment)
            or ``cancelled``.
        message: The result in one line, or the failure's "what is wrong".
        fix: For a failure, what the operator can do; empty otherwise.
        data: Results later steps or the report use (e.g. ``{"commit": "abc123"}``).
    """

    step_id: str
    status: Status
    message: str = ""
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=_now)
    kind: str = "step_finished"


Event = StepStarted | OutputLine | Progress | CheckUpdate | CommandUpdate | StepFinished

_KINDS: dict[str, type[Any]] = {
    "step_started": StepStarted,
    "output": OutputLine,
    "progress": Progress,
    "check": CheckUpdate,
    "command": CommandUpdate,
    "step_finished": StepFinished,
}


def to_record(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict, ``kind`` included."""
    return dataclasses.asdict(event)


def from_record(record: dict[str, Any]) -> Event | None:
    """Rebuild an event from :func:`to_record`'s dict; ``None`` for a non-event record."""
    cls = _KINDS.get(str(record.get("kind")))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    event: Event = cls(**{k: v for k, v in record.items() if k in names})
    return event
