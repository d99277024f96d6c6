"""The Step protocol and the context steps run in.

A step can :meth:`Step.plan` (say exactly what it would do, changing nothing) and
:meth:`Step.run` (do it, yielding events). Steps are idempotent or check before acting,
so a retry after a failure is safe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from iact_tui.engine.events import Event

if TYPE_CHECKING:
    from iact_tui.engine.state import RunContext


@dataclass(frozen=True)
class Action:
    """One thing a step would do, for ``plan`` output and the plan view.

    Args:
        kind: ``git``, ``command``, ``http``, ``file`` or ``check``.
        description: What happens, in one line (the command, the ref, the URL...).
        target: Where: ``local``, an environment name, or a URL host.
    """

    kind: str
    description: str
    target: str = "local"


class Step(Protocol):
    """A unit of a flow. ``id`` is stable (used by ``--until`` and the journal)."""

    id: str
    title: str

    def plan(self, ctx: RunContext) -> list[Action]:
        """Every action :meth:`run` would take, in order; changes nothing."""
        ...

    def run(self, ctx: RunContext) -> AsyncIterator[Event]:
        """Do the step, yielding events; the last one is a ``StepFinished``.

        Raises:
            IactError: An expected failure; the runner turns it into a failed
                ``StepFinished`` carrying ``what`` and ``fix``.
        """
        ...


@dataclass
class StepRecord:
    """What the run knows about one step: last status and result data."""

    status: str = "pending"
    message: str = ""
    fix: str = ""
    data: dict[str, object] = field(default_factory=dict)
    attempts: int = 0
    """Times the step has been started in this run (a retry counts; its result data says
    ``attempt``)."""
