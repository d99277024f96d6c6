"""Errors an operator can cause, each carrying what is wrong and what to do.

Screens show these in the failed step's pane and the headless runner prints them;
neither ever shows a traceback for an :class:`IactError`.
"""

from __future__ import annotations


class IactError(Exception):
    """An expected failure: something in the operator's world is not as needed.

    Args:
        what: One sentence naming what is wrong (the file, key, branch, host, URL...).
        fix: One sentence saying what the operator can do about it; may be empty.
    """

    def __init__(self, what: str, fix: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.what}\n  → {self.fix}" if self.fix else self.what


class ConfigError(IactError):
    """``iact-release.toml`` is missing, unreadable or invalid (CLI exit status 2)."""


class RepositoryError(ConfigError):
    """The config file's folder is not a git working tree (bad usage: exit status 2)."""


class GitError(IactError):
    """A git operation failed or the repository is not in the state a step needs."""


class VersionError(IactError):
    """A version is not valid SemVer, not greater than the current one, or its tag is taken."""


class VersionFileError(IactError):
    """A configured version file is missing, or its version cannot be found exactly once."""


class ChangelogError(IactError):
    """The changelog cannot be read or the new section cannot be placed."""


class CommandError(IactError):
    """A command on a host exited non-zero, timed out or could not start."""


class SshError(IactError):
    """An SSH host cannot be reached or trusted (unknown or changed host key, refused, login
    rejected, name not resolved, timeout), or the connection was lost while a command ran."""


class BackupError(IactError):
    """A database backup was not taken: pg_dump failed or timed out, or its file failed a check."""


class CheckError(IactError):
    """A smoke test or verification check failed (HTTP status, body, timing)."""


class ChecklistError(IactError):
    """A release step was started before the pre-release checklist passed for the version."""


class ConfirmationError(IactError):
    """A step that needs a typed confirmation was started without the right one."""


class SecretError(IactError):
    """A secret could not be read from its environment variable or secret command."""


class LockError(IactError):
    """A host's deploy lock is held by another deploy, unreadable, or cannot be taken or released."""


class DeployStateError(IactError):
    """What a host runs (commit, tag, applied migrations) could not be read or recorded."""


class NotifyError(IactError):
    """A stakeholder notice could not be sent (webhook unreachable, refused or misconfigured)."""


class ForgeError(IactError):
    """The forge (GitHub) refused or failed a request: bad token or scope, unknown repository,
    rate limit beyond the wait allowed, a failing check, a pull request that cannot be merged."""
