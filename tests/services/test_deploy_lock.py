"""Deploy lock: atomic, owner and age shown, broken only by typing the host name, released always."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.sshd import Sshd

from iact_tui.errors import ConfirmationError, LockError
from iact_tui.services import deploy_lock as dl
from iact_tui.services.remote import CommandResult, Line, LocalHost
from iact_tui.services.ssh import SshHost

OWNER = "alice@laptop"


@pytest.fixture
def host() -> LocalHost:
    return LocalHost("staging")


@pytest.fixture
def path(tmp_path: Path) -> str:
    return dl.lock_path(str(tmp_path))


def on_disk(path: str) -> dict[str, str]:
    data: dict[str, str] = json.loads(Path(path).read_text())
    return data


class WrappedHost:
    """A real host whose commands can be held back or run as another user (for tests)."""

    def __init__(self, inner: LocalHost, *, prefix: str = "") -> None:
        self.inner = inner
        self.name = inner.name
        self.prefix = prefix
        self.gate: asyncio.Event | None = None  # when set: commands matching `hold` wait for it
        self.hold = ""
        self.held = asyncio.Event()

    async def close(self) -> None:
        await self.inner.close()

    async def stream(
        self, command: str, *, cwd: str | None = None, timeout: float = 600.0, env: Mapping[str, str] | None = None
    ) -> AsyncIterator[Line | CommandResult]:
        if self.prefix:
            command = f"{self.prefix} /bin/sh -c {shlex.quote(command)}"
        gated = self.gate is not None and self.hold in command
        if gated and "rm -f" in self.hold:
            self.held.set()
            assert self.gate is not None
            await self.gate.wait()  # before the command: nothing has happened yet
        async for item in self.inner.stream(command, cwd=cwd, timeout=timeout, env=env):
            if gated and isinstance(item, CommandResult) and "ln " in self.hold:
                self.held.set()
                assert self.gate is not None
                await self.gate.wait()  # after the command: the lock exists, the caller does not know
            yield item


async def test_acquire_writes_the_info_and_release_removes_it(host: LocalHost, path: str) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    lock = await dl.acquire(host, path, OWNER, "1.4.0", "release 1.4.0 to staging")
    data = on_disk(path)
    assert data == {
        "format": "iact-deploy-lock/1",
        "owner": OWNER,
        "since": lock.info.since_text,
        "version": "1.4.0",
        "reason": "release 1.4.0 to staging",
        "token": lock.info.token,
    }
    assert before <= lock.info.since <= datetime.now(UTC)
    assert dl.parse_lock(Path(path).read_text()) == lock.info
    assert not list(Path(path).parent.glob("*.tmp")), "the temp file is removed"
    released = await dl.release(lock)
    assert released.outcome == "released" and released.ok and released.holder is None
    assert not Path(path).exists()


async def test_second_acquire_names_owner_age_version_and_reason(host: LocalHost, path: str) -> None:
    first = await dl.acquire(host, path, OWNER, "1.4.0", "release 1.4.0")
    with pytest.raises(dl.LockHeld) as caught:
        await dl.acquire(host, path, "bob@desk", "1.5.0", "hotfix")
    err = caught.value
    assert err.what.startswith(f"staging: deploy lock held by {OWNER} since {first.info.since_text} (")
    assert err.what.endswith(" ago) for v1.4.0: release 1.4.0")
    assert isinstance(err.status.holder, dl.LockInfo) and err.status.holder.token == first.info.token
    assert err.status.age is not None and 0 <= err.status.age < 60 and not err.status.stale
    assert "wait for alice@laptop's deploy" in err.fix and "'staging'" in err.fix
    assert on_disk(path)["token"] == first.info.token, "the holder's lock is untouched"


async def test_old_lock_is_called_stale_with_its_age(host: LocalHost, path: str) -> None:
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2, minutes=5)
    old = dl.LockInfo(OWNER, since, "1.3.0", "release 1.3.0", "ab" * 16)
    Path(path).write_text(old.to_text())
    with pytest.raises(dl.LockHeld) as caught:
        await dl.acquire(host, path, "bob@desk", "1.4.0", "release", stale_after=3600)
    assert f"since {old.since_text} (2h 5m ago, stale) for v1.3.0" in caught.value.what
    assert caught.value.status.stale and "probably died" in caught.value.fix
    status = await dl.read_lock(host, path, stale_after=3600)
    assert status is not None and status.holder == old and status.stale
    assert 7500 <= (status.age or 0) < 7600
    assert (await dl.read_lock(host, path, stale_after=9000)).stale is False  # type: ignore[union-attr]
    assert Path(path).read_text() == old.to_text(), "reading or failing to acquire changes nothing"


async def test_concurrent_acquires_exactly_one_wins(host: LocalHost, path: str) -> None:
    results = await asyncio.gather(
        *(dl.acquire(host, path, f"user{i}@m", "1.4.0", f"deploy {i}") for i in range(10)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, dl.DeployLock)]
    losers = [r for r in results if isinstance(r, dl.LockHeld)]
    assert len(winners) == 1 and len(losers) == 9, results
    (winner,) = winners
    assert on_disk(path)["token"] == winner.info.token
    assert all(loser.status.holder == winner.info for loser in losers)
    assert not list(Path(path).parent.glob("*.tmp"))


async def test_release_after_break_and_retake_leaves_the_new_lock(host: LocalHost, path: str) -> None:
    ours = await dl.acquire(host, path, OWNER, "1.4.0", "release")
    broken = await dl.break_lock(host, path, "staging")
    assert broken == ours.info
    theirs = await dl.acquire(host, path, "bob@desk", "1.4.1", "hotfix")
    released = await dl.release(ours)
    assert released.outcome == "taken_over" and not released.ok
    assert released.holder == theirs.info
    assert "taken over" in released.message and "bob@desk" in released.message
    assert on_disk(path)["token"] == theirs.info.token
    assert (await dl.release(theirs)).ok


async def test_release_when_broken_and_not_retaken_reports_gone(host: LocalHost, path: str) -> None:
    ours = await dl.acquire(host, path, OWNER, "1.4.0", "release")
    await dl.break_lock(host, path, "staging")
    released = await dl.release(ours)
    assert released.outcome == "gone" and "already gone" in released.message


async def test_break_needs_the_exact_host_name(host: LocalHost, path: str) -> None:
    lock = await dl.acquire(host, path, OWNER, "1.4.0", "release")
    for typed in ("production", "Staging", "", "staging "):
        with pytest.raises(ConfirmationError) as caught:
            await dl.break_lock(host, path, typed)
        assert "'staging'" in caught.value.fix
        assert on_disk(path)["token"] == lock.info.token
    assert await dl.break_lock(host, path, "staging", token=lock.info.token) == lock.info
    assert not Path(path).exists()
    assert await dl.break_lock(host, path, "staging") is None, "nothing left to break"


async def test_break_with_a_token_leaves_a_newer_lock_alone(host: LocalHost, path: str) -> None:
    newer = await dl.acquire(host, path, "bob@desk", "1.4.1", "hotfix")
    with pytest.raises(LockError) as caught:
        await dl.break_lock(host, path, "staging", token="cd" * 16)
    assert "changed since it was shown" in caught.value.what and "bob@desk" in caught.value.what
    assert on_disk(path)["token"] == newer.info.token


async def test_context_manager_releases_on_success_and_exception(host: LocalHost, path: str) -> None:
    guard = dl.locked(host, path, version="1.4.0", reason="release", owner=OWNER)
    async with guard as lock:
        assert on_disk(path)["token"] == lock.info.token
    assert not Path(path).exists() and guard.released is not None and guard.released.ok

    guard = dl.locked(host, path, version="1.4.0", reason="release")
    with pytest.raises(RuntimeError, match="migration failed"):
        async with guard as lock:
            assert on_disk(path)["owner"] == dl.local_owner()
            raise RuntimeError("migration failed")
    assert not Path(path).exists() and guard.released is not None and guard.released.ok


async def test_context_manager_releases_on_cancel_even_when_cancelled_again(host: LocalHost, path: str) -> None:
    wrapped = WrappedHost(host)
    inside = asyncio.Event()

    async def deploy() -> None:
        async with dl.locked(wrapped, path, version="1.4.0", reason="release", owner=OWNER):
            inside.set()
            await asyncio.Event().wait()  # a deploy command running

    wrapped.gate, wrapped.hold = asyncio.Event(), 'rm -f "$lock"'
    task = asyncio.create_task(deploy())
    await inside.wait()
    task.cancel()
    await wrapped.held.wait()  # the release has started and waits at the gate
    task.cancel()  # a second cancel while the release runs
    await asyncio.sleep(0)
    assert Path(path).exists()
    wrapped.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not Path(path).exists()


async def test_cancelled_acquire_leaves_no_lock(host: LocalHost, path: str) -> None:
    wrapped = WrappedHost(host)
    wrapped.gate, wrapped.hold = asyncio.Event(), 'ln "$tmp"'
    task = asyncio.create_task(dl.acquire(wrapped, path, OWNER, "1.4.0", "release"))
    await wrapped.held.wait()
    assert Path(path).exists(), "the link was made; the caller has not heard yet"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not Path(path).exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "empty"),
        ("alice was here", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"format": "other/9"}', "its format is 'other/9'"),
        ('{"owner": "a@b"}', "no 'format' field ('iact-deploy-lock/1'): not an iact-tui deploy lock"),
        ('{"format": "iact-deploy-lock/1", "owner": "a@b"}', "no text 'since'"),
        (
            '{"format": "iact-deploy-lock/1", "owner": "a", "since": "yesterday", "version": "1",'
            ' "reason": "r", "token": "' + "ab" * 16 + '"}',
            "'since' 'yesterday' is not an ISO 8601 UTC time",
        ),
        (
            '{"format": "iact-deploy-lock/1", "owner": "a", "since": "2026-01-01T00:00:00Z", "version": "1",'
            ' "reason": "r", "token": "xyz"}',
            "not 32 hex digits",
        ),
    ],
)
def test_parse_lock_reports_garbled_content(content: str, problem: str) -> None:
    parsed = dl.parse_lock(content)
    assert isinstance(parsed, dl.GarbledLock) and problem in parsed.problem and parsed.text == content


async def test_garbled_lock_file_blocks_and_can_be_broken(host: LocalHost, path: str) -> None:
    Path(path).write_text("half a lock {\n")
    with pytest.raises(dl.LockHeld) as caught:
        await dl.acquire(host, path, OWNER, "1.4.0", "release")
    assert caught.value.what == f"staging: deploy lock {path} exists but cannot be read (not JSON)"
    assert "typing the host name 'staging'" in caught.value.fix
    status = await dl.read_lock(host, path)
    assert status is not None and status.holder == dl.GarbledLock("half a lock {", "not JSON") and status.age is None
    assert await dl.break_lock(host, path, "staging") == dl.GarbledLock("half a lock {", "not JSON")
    assert (await dl.acquire(host, path, OWNER, "1.4.0", "release")).path == path


@pytest.fixture
def unwritable_dir() -> Iterator[tuple[WrappedHost, Path]]:
    """A directory the host's user can enter but not write (as nobody when we are root)."""
    folder = Path(tempfile.mkdtemp(prefix="iact-lock-"))
    folder.chmod(0o555)
    prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups" if os.geteuid() == 0 else ""
    try:
        yield WrappedHost(LocalHost("staging"), prefix=prefix), folder
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


async def test_unwritable_lock_dir_is_a_clear_error(unwritable_dir: tuple[WrappedHost, Path]) -> None:
    wrapped, folder = unwritable_dir
    path = dl.lock_path(str(folder))
    with pytest.raises(LockError) as caught:
        await dl.acquire(wrapped, path, OWNER, "1.4.0", "release")
    assert not isinstance(caught.value, dl.LockHeld)
    assert caught.value.what.startswith(f"staging: cannot take the deploy lock {path}: ")
    assert "Permission denied" in caught.value.what
    assert "can write to it" in caught.value.fix
    assert list(folder.iterdir()) == []


async def test_missing_dir_and_directory_in_the_way(host: LocalHost, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-dir" / "x.lock")
    with pytest.raises(LockError, match="cannot take the deploy lock") as caught:
        await dl.acquire(host, missing, OWNER, "1.4.0", "release")
    assert "nonexistent" in caught.value.what or "No such file" in caught.value.what
    (tmp_path / "d.lock").mkdir()
    with pytest.raises(LockError, match="is a directory, not a lock file"):
        await dl.acquire(host, str(tmp_path / "d.lock"), OWNER, "1.4.0", "release")
    assert list((tmp_path / "d.lock").iterdir()) == [], "nothing was linked inside the directory"


async def test_hostile_values_are_inert_or_refused(host: LocalHost, tmp_path: Path) -> None:
    odd_dir = tmp_path / "it's $(touch pwned) `x`"
    odd_dir.mkdir()
    reason = "fix '$(touch pwned)' \"quotes\" `x` ; rm -rf / é"
    lock = await dl.acquire(host, dl.lock_path(str(odd_dir)), "a@b", "1.4.0", reason)
    assert on_disk(lock.path)["reason"] == reason
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert (await dl.release(lock)).ok
    for bad_path in ("relative.lock", "/tmp/dir/", "/tmp/a\nb.lock", "/tmp/.."):
        with pytest.raises(LockError, match="is not allowed"):
            await dl.acquire(host, bad_path, "a@b", "1.4.0", "release")
    for owner, version, reason in (("a@b", "1.4.0", "two\nlines"), ("", "1.4.0", "r"), ("a@b", "1.4.0", "x" * 501)):
        with pytest.raises(LockError, match="is not allowed"):
            await dl.acquire(host, str(tmp_path / "v.lock"), owner, version, reason)
    assert not (tmp_path / "v.lock").exists()


def test_format_age() -> None:
    assert [dl.format_age(s) for s in (-5, 0, 45, 200, 3600 + 300, 3 * 86400 + 4 * 3600 + 59)] == [
        "0s",
        "0s",
        "45s",
        "3m 20s",
        "1h 5m",
        "3d 4h",
    ]


async def test_the_same_lock_over_a_real_ssh_host(running_sshd: Sshd) -> None:
    """The lock's commands rely on the Host protocol only: the same rules hold over SshHost."""
    ssh = SshHost(
        running_sshd.host,
        port=running_sshd.port,
        user=running_sshd.user,
        identity_file=running_sshd.client_key,
        known_hosts=running_sshd.known_hosts,
        connect_timeout=5.0,
    )
    path = dl.lock_path(str(running_sshd.server_dir))
    try:
        results = await asyncio.gather(
            *(dl.acquire(ssh, path, f"user{i}@m", "1.4.0", f"deploy {i}") for i in range(6)), return_exceptions=True
        )
        winners = [r for r in results if isinstance(r, dl.DeployLock)]
        assert len(winners) == 1 and sum(isinstance(r, dl.LockHeld) for r in results) == 5, results
        (ours,) = winners
        assert on_disk(path)["token"] == ours.info.token
        with pytest.raises(dl.LockHeld, match=rf"^{ssh.name}: deploy lock held by {ours.info.owner} since "):
            await dl.acquire(ssh, path, OWNER, "1.4.1", "hotfix")
        with pytest.raises(ConfirmationError):
            await dl.break_lock(ssh, path, "not-the-host")
        assert await dl.break_lock(ssh, path, ssh.name) == ours.info
        theirs = await dl.acquire(ssh, path, "bob@desk", "1.4.1", "hotfix")
        assert (await dl.release(ours)).outcome == "taken_over"
        with pytest.raises(RuntimeError):
            async with dl.locked(ssh, f"{path}-2", version="1.4.1", reason="smoke", owner=OWNER) as other:
                assert on_disk(other.path)["owner"] == OWNER
                raise RuntimeError("deploy failed")
        assert not Path(f"{path}-2").exists()
        assert (await dl.release(theirs)).ok and not Path(path).exists()
    finally:
        await ssh.close()
