"""Running the programs in ``examples/`` inside tests.

- :func:`load_example` imports ``examples/<name>.py`` (the folder is not a package).
- :func:`serve` runs an ASGI app with uvicorn on a free port of 127.0.0.1, in the test's
  own event loop, and returns once the app's startup has finished.
- :class:`GatedWriter` is an offline writer whose articles each wait for a permit from
  the test, so a test decides how far a run gets before it checks something.
"""

from __future__ import annotations

import importlib
import math
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import anyio
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import k2w

__all__ = ["EXAMPLES_DIR", "GatedWriter", "clear_k2w_environment", "load_example", "serve"]

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py``; the examples import their shared module by name."""
    if str(EXAMPLES_DIR) not in sys.path:
        sys.path.insert(0, str(EXAMPLES_DIR))
    return importlib.import_module(name)


def clear_k2w_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every ``K2W_*`` variable, so the examples use the offline providers."""
    for name in list(os.environ):
        if name.startswith("K2W_"):
            monkeypatch.delenv(name)


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 and yield its base URL once the app has started.

    The listening socket is bound before uvicorn starts, so the port is known at once,
    and the lifespan's ``startup.complete`` message marks the app ready.
    """
    started = anyio.Event()

    async def app_signalling_startup(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_and_signal(message: Message) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                started.set()

        await app(scope, receive, send_and_signal)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app_signalling_startup,
        lifespan="on",
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    async def run_server() -> None:
        try:
            await server.serve(sockets=[listener])
        finally:
            listener.close()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(run_server)
        with anyio.fail_after(30):
            await started.wait()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


class GatedWriter:
    """k2w's offline writer, where each article waits until the test allows it.

    Translations are not gated. Close it with :meth:`aclose` after the app has closed:
    k2w does not close providers that it was given.
    """

    name = "offline-gated"
    offline = True

    def __init__(self) -> None:
        self._writer = k2w.OfflineWriter()
        self._permits_in, self._permits_out = anyio.create_memory_object_stream[None](math.inf)

    def allow(self, articles: int) -> None:
        """Let ``articles`` more articles be written."""
        for _ in range(articles):
            self._permits_in.send_nowait(None)

    async def write_article(
        self, request: k2w.ArticleRequest, *, cache: k2w.ResponseCache | None = None
    ) -> k2w.Article:
        """Wait for a permit, then write the offline sample article."""
        await self._permits_out.receive()
        return await self._writer.write_article(request, cache=cache)

    async def translate_article(
        self,
        article: k2w.Article,
        target_language: str,
        *,
        cache: k2w.ResponseCache | None = None,
    ) -> k2w.Article:
        """Return the offline writer's marked, untranslated copy."""
        return await self._writer.translate_article(article, target_language, cache=cache)

    async def aclose(self) -> None:
        """Close the permit stream and the wrapped writer."""
        self._permits_in.close()
        self._permits_out.close()
        await self._writer.aclose()
