"""The TLS context every HTTP client of iact-tui verifies certificates with, built once.

``httpx.AsyncClient()`` builds an :class:`ssl.SSLContext` and loads the whole certificate
bundle (certifi's, ~150 certificates) each time it is made, even for an ``http://`` URL:
17-50 ms of CPU on the event loop per client on a loaded 2-core machine
(``benchmarks/run_all.py --only stalls``, 2026-11), and a release makes dozens. Here the
context is built once, in a thread (:func:`ssl_context`), and passed to every client as
``verify=``. Certificate verification stays on: it is httpx's own default context
(:func:`httpx.create_ssl_context`), hostname checking and ``CERT_REQUIRED`` included.
"""

from __future__ import annotations

import asyncio
import ssl
import threading

import httpx

#: ``trust_env`` → the built context (``True`` honours ``SSL_CERT_FILE``/``SSL_CERT_DIR``).
_contexts: dict[bool, ssl.SSLContext] = {}
_build_lock = threading.Lock()


def ssl_context_now(*, trust_env: bool = False) -> ssl.SSLContext:
    """The shared verifying context, built on this thread if it is not built yet.

    For synchronous client factories; coroutines use :func:`ssl_context`, which builds
    it off the event loop.

    Args:
        trust_env: Whether the context honours ``SSL_CERT_FILE``/``SSL_CERT_DIR`` (as
            the client's own ``trust_env``); False: certifi's bundle.

    Returns:
        The same context on every call with the same ``trust_env``.
    """
    context = _contexts.get(trust_env)
    if context is None:
        with _build_lock:
            context = _contexts.get(trust_env)
            if context is None:
                context = httpx.create_ssl_context(verify=True, trust_env=trust_env)
                _contexts[trust_env] = context
    return context


async def ssl_context(*, trust_env: bool = False) -> ssl.SSLContext:
    """The shared verifying context; the first call builds it in a thread (loading the
    certificate bundle would otherwise stall the event loop for tens of ms).

    Args:
        trust_env: As for :func:`ssl_context_now`.
    """
    context = _contexts.get(trust_env)
    if context is not None:
        return context
    return await asyncio.to_thread(ssl_context_now, trust_env=trust_env)
