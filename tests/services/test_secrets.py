"""Secrets from the environment or a command, redacted when printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from iact_tui.errors import SecretError
from iact_tui.services.secrets import REDACTED, read_secret


async def test_env_first_then_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    monkeypatch.setenv("IACT_TEST_PW", "from-env")
    s = await read_secret(env="IACT_TEST_PW", command="cat pw", cwd=tmp_path)
    assert s.reveal() == "from-env"
    monkeypatch.delenv("IACT_TEST_PW")
    s = await read_secret(env="IACT_TEST_PW", command="cat pw", cwd=tmp_path)
    assert s.reveal() == "from-file"
    assert "from-file" not in repr(s) and "from-file" not in str(s) and REDACTED in repr(s)
    assert s.redact("login as demo/from-file failed") == f"login as demo/{REDACTED} failed"


async def test_failures_name_the_source(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="IACT_NOPE"):
        await read_secret(env="IACT_NOPE")
    with pytest.raises(SecretError, match="exited 1"):
        await read_secret(command="echo sekrit-out; echo boom >&2; exit 1", cwd=tmp_path)
    (tmp_path / "pw").write_text("sekrit-out\n")
    with pytest.raises(SecretError) as info:
        await read_secret(command="cat pw; exit 1", cwd=tmp_path)
    assert "sekrit-out" not in str(info.value)
    with pytest.raises(SecretError, match="printed nothing"):
        await read_secret(command="true", cwd=tmp_path)


async def test_a_failing_secret_command_never_shows_what_it_printed(tmp_path: Path) -> None:
    with pytest.raises(SecretError) as err:
        await read_secret(command="echo hunter2-canary; echo 'bad value hunter2-canary' >&2; exit 3", what="password")
    assert err.value.what == "the password command exited 3: bad value ••••••"
