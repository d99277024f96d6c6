"""Where the release branch is merged: the ``local`` forge (GitHub comes later).

``LocalForge`` does what the written procedure's PR merge does, without a server:
bring main up to date with the remote, merge the release branch with a merge commit,
and push main.
"""

from __future__ import annotations

from dataclasses import dataclass

from iact_tui.errors import GitError
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
            GitError: The remote's main has commits the release branch lacks (merged
                after the branch was cut: they would be released unseen); fetch,
                fast-forward, merge (conflict) or push failed.
        """
        await self.git.fetch(self.remote)
        progress.append(f"fetched {self.remote}")
        upstream = f"{self.remote}/{self.main}"
        branch_head = await self.git.rev(branch)
        already = bool(branch_head) and await self.git.is_ancestor(branch, upstream)
        if branch_head and not already and not await self.git.is_ancestor(upstream, branch):
            # Someone merged into main after the release branch was cut: those commits are in
            # no changelog section and were never checked; merging would release them unseen.
            moved = await self.git.subjects(f"{branch}..{upstream}")
            shown = "; ".join(f"{sha[:10]} {subject}" for sha, subject in moved[:5])
            more = f" and {len(moved) - 5} more" if len(moved) > 5 else ""
            raise GitError(
                f"{upstream} moved since {branch} was cut: {len(moved)} commit(s) would be released unseen "
                f"({shown}{more})",
                f"bring them into the release (`git checkout {branch} && git merge {upstream}`), add their "
                "changelog entries to the new section and commit, then retry; or abandon this release and start again",
            )
        await self.git.checkout(self.main)
        before = await self.git.rev(self.main)
        await self.git.fast_forward(self.remote, self.main)
        after = await self.git.rev(self.main)
        ab = await self.git.ahead_behind(self.main, self.remote)
        if before != after:
            progress.append(
                f"checked out {self.main}, fast-forwarded {str(before)[:10]} → {str(after)[:10]} ({upstream})"
            )
        elif ab.ahead:
            progress.append(f"checked out {self.main}, {ab.ahead} commit(s) ahead of {upstream} (not pushed yet)")
        else:
            progress.append(f"checked out {self.main}, level with {upstream}")
        already = already or (bool(branch_head) and await self.git.is_ancestor(branch, self.main))
        if already:
            progress.append(f"{branch} is already merged into {self.main}")
        else:
            await self.git.merge_no_ff(branch, f"Merge branch '{branch}'")
            progress.append(f"merged {branch} into {self.main} (merge commit)")
        result = await self.git.push(self.remote, f"refs/heads/{self.main}:refs/heads/{self.main}")
        progress.append(f"pushed {self.main} to {self.remote}: {result.summary}")
        head = await self.git.rev("HEAD")
        return MergeResult(commit=head or "", already=already)
