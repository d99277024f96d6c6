"""Flows: ordered step lists built from the config.

The release flow's step ids, in order, are the ``--until`` ids of the headless runner:
``preflight``, ``branch``, ``bump``, ``changelog``, ``commit``, ``push``, ``merge``,
``tag``, ``deploy-staging``, ``smoke-staging``, ``prep-production``,
``deploy-production``, ``verify``, ``announce``.
"""

from __future__ import annotations

from iact_tui.config import Config
from iact_tui.engine.step import Step
from iact_tui.engine.steps.announce import AnnounceStep
from iact_tui.engine.steps.checks import SmokeStep, VerifyStep
from iact_tui.engine.steps.deploy import DeployStep
from iact_tui.engine.steps.preflight import PreflightStep
from iact_tui.engine.steps.prep import PrepStep
from iact_tui.engine.steps.release_git import (
    BranchStep,
    BumpStep,
    ChangelogStep,
    CommitStep,
    MergeStep,
    PushStep,
    TagStep,
)

RELEASE_STEP_IDS: tuple[str, ...] = (
    "preflight",
    "branch",
    "bump",
    "changelog",
    "commit",
    "push",
    "merge",
    "tag",
    "deploy-staging",
    "smoke-staging",
    "prep-production",
    "deploy-production",
    "verify",
    "announce",
)

#: The hotfix flow's step ids, in order (the ``--until`` ids of ``run hotfix``); the steps
#: are built by :func:`iact_tui.engine.hotfix.hotfix_steps`.
HOTFIX_STEP_IDS: tuple[str, ...] = (
    "hotfix-branch",
    "hotfix-checks",
    "bump",
    "changelog",
    "commit",
    "push",
    "tag",
    "deploy-staging",
    "smoke-staging",
    "prep-production",
    "deploy-production",
    "verify",
    "backport",
)


def release_flow(config: Config) -> list[Step]:
    """The release flow's steps (deploy/smoke/verify skip themselves when their
    environment is not configured)."""
    del config  # every step reads what it needs from the run context
    steps: list[Step] = [
        PreflightStep(),
        BranchStep(),
        BumpStep(),
        ChangelogStep(),
        CommitStep(),
        PushStep(),
        MergeStep(),
        TagStep(),
        DeployStep("staging"),
        SmokeStep("staging"),
        PrepStep("production"),
        DeployStep("production"),
        VerifyStep("production"),
        AnnounceStep(),
    ]
    assert tuple(s.id for s in steps) == RELEASE_STEP_IDS
    return steps


def env_of(step_id: str) -> str | None:
    """The environment a step targets (``deploy-production`` → ``production``), if any."""
    for prefix in ("deploy-", "smoke-", "prep-"):
        if step_id.startswith(prefix):
            return step_id[len(prefix) :]
    if step_id == "verify":
        return "production"
    return None
