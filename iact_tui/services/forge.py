"""Where the release branch is merged: the ``local`` forge (GitHub comes later).

``LocalForge`` does what the written procedure's PR merge does, without a server:
bring main up to date with the remote, merge the release branch with a merge commit,
and push main.
"""

from __future__ import annotations

from dataclasses import dataclass

from iact_tui.services.git import GitService


@dataclass(frozen=True)
class MergeResult:
    """The merge: ``commit`` is main's head after it; ``already`` when nothing was merged."""

    commit: str
    already: bool


class LocalForge:
    """Merge release branches locally and push.

    Args:
        git: The repository.
        remote: The remote holding main.
        main_branch: The branch merged into.
    """

    def __init__(self, git: GitService, remote: str, main_branch: str) -> None:
        self.git = git
        self.remote = remote
        self.main = main_branch

    async def merge(self, branch: str, progress: list[str]) -> MergeResult:
        """Merge ``branch`` into main and push main; idempotent.

        Args:
            branch: The release branch.
            progress: Receives one line per action taken (for the step's output).

        Raises:
            GitError: Fetch, fast-forward, merge (conflict) or push failed.
        """
        await self.git.fetch(self.remote)
        progress.append(f"fetched {self.remote}")
        await self.git.checkout(self.main)
        await self.git.fast_forward(self.remote, self.main)
        progress.append(f"checked out {self.main}, up to date with {self.remote}/{self.main}")
        branch_head = await self.git.rev(branch)
        already = bool(branch_head) and await self.git.is_ancestor(branch, self.main)
        if already:
            progress.append(f"{branch} is already merged into {self.main}")
        else:
            await self.git.merge_no_ff(branch, f"Merge branch '{branch}'")
            progress.append(f"merged {branch} into {self.main} (merge commit)")
        result = await self.git.push(self.remote, f"refs/heads/{self.main}:refs/heads/{self.main}")
        progress.append(f"pushed {self.main} to {self.remote}: {result.summary}")
        head = await self.git.rev("HEAD")
        return MergeResult(commit=head or "", already=already)
