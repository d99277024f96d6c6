"""The shared TLS context: built once, off the event loop, verifying certificates."""

from __future__ import annotations

import ssl
import threading

import httpx
import pytest

from iact_tui.services import tls


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "_contexts", {})


async def test_the_context_is_built_once_in_a_thread_and_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    built_on: list[str] = []
    real = httpx.create_ssl_context

    def recording(**kwargs: object) -> ssl.SSLContext:
        built_on.append(threading.current_thread().name)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx, "create_ssl_context", recording)

    first = await tls.ssl_context()
    second = await tls.ssl_context()

    assert first is second and tls.ssl_context_now() is first
    assert len(built_on) == 1 and built_on[0] != threading.main_thread().name  # not on the loop
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert first.get_ca_certs()  # the certificate bundle is loaded
