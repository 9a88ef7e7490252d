"""The Socket.IO example, served by uvicorn on 127.0.0.1 and used with python-socketio's
AsyncClient over a real WebSocket."""

from __future__ import annotations

import hashlib
import importlib.util
import math
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import socketio

import k2w
from support.example_servers import (
    EXAMPLES_DIR,
    GatedWriter,
    clear_k2w_environment,
    load_example,
    serve,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WORKFLOW_EVENTS = [
    "workflow:queued",
    "workflow:progress",
    "workflow:complete",
    "workflow:failed",
    "workflow:cancelled",
]
FINAL_TYPES = {"workflow:complete", "workflow:failed", "workflow:cancelled"}
# socket.io-client 4.8.4 from the npm registry, dist/socket.io.min.js.
SOCKET_IO_CLIENT_SHA256 = "d5d79a35039e860b32bdef4795528b05c2f788d4b2d9dacc913120e2878f7b3f"

Event = dict[str, Any]

needs_aiohttp = pytest.mark.skipif(
    importlib.util.find_spec("aiohttp") is None,
    reason="python-socketio's AsyncClient needs aiohttp: pip install aiohttp",
)


@dataclass
class Served:
    url: str
    k2w: k2w.K2W
    sio: Any
    writer: GatedWriter


class Listener:
    """A python-socketio AsyncClient that keeps every event it receives, in order."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self._events_in, self._events_out = anyio.create_memory_object_stream[Event](math.inf)
        self.client.on("*", self._keep)

    def _keep(self, event_type: str, data: Event) -> None:
        assert event_type == data["type"]
        self._events_in.send_nowait(data)

    async def read_until(self, done: Callable[[Event], bool]) -> list[Event]:
        """Return the events received until ``done(event)`` is true, that one last."""
        received: list[Event] = []
        with anyio.fail_after(30):
            while True:
                event = await self._events_out.receive()
                received.append(event)
                if done(event):
                    return received

    def close(self) -> None:
        self._events_in.close()
        self._events_out.close()


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    clear_k2w_environment(monkeypatch)
    example = load_example("socketio_server")
    writer = GatedWriter()
    app = example.create_app(tmp_path / "k2w.db", tmp_path / "out", text=writer)
    async with serve(app) as url:
        yield Served(url, app.other_asgi_app.state.k2w, app.engineio_server, writer)
    await writer.aclose()


@pytest.fixture
def keywords() -> list[str]:
    words: list[str] = load_example("k2w_demo").load_keywords()
    return words


@asynccontextmanager
async def listening(served: Served, user_id: str) -> AsyncIterator[Listener]:
    listener = Listener()
    await listener.client.connect(
        served.url, auth={"userId": user_id}, transports=["websocket"], wait_timeout=10
    )
    try:
        yield listener
    finally:
        await listener.client.disconnect()
        listener.close()


def is_final_of(run_id: str) -> Callable[[Event], bool]:
    return lambda event: event["type"] in FINAL_TYPES and event["workflowId"] == run_id


async def wait_for_finished_keywords(k2w_app: k2w.K2W, run_id: str, count: int) -> None:
    """Wait until a progress event of the run shows ``count`` keywords at 100%."""
    stream = k2w_app.events.stream(workflow_id=run_id, types=["workflow:progress"])
    with anyio.fail_after(30):
        # aclosing() ends the subscription as soon as the loop stops.
        async with aclosing(stream) as events:
            async for event in events:
                finished = [p for p in event.data["keywords"].values() if p >= 100]
                if len(finished) >= count:
                    return


@needs_aiohttp
async def test_socketio_client_resumes_with_last_seq(served: Served, keywords: list[str]) -> None:
    half = len(keywords) // 2
    async with listening(served, "u1") as first:
        assert await first.client.call("resume", {"after": 0}) == {"replayed": 0}
        reply = await first.client.call("start_run", {"locale": "vi"})
        assert reply["status"] == "queued"
        run_id = reply["runId"]
        # Articles wait for permits, so the run stops at the content stage for now.
        before_drop = await first.read_until(
            lambda event: (
                event["type"] == "workflow:progress" and len(event["keywords"]) == len(keywords)
            )
        )

    # While no client is connected, half of the keywords go all the way through.
    served.writer.allow(half)
    await wait_for_finished_keywords(served.k2w, run_id, half)

    async with listening(served, "u1") as second:
        last_seq = before_drop[-1]["seq"]
        ack = await second.client.call("resume", {"after": last_seq})
        served.writer.allow(len(keywords) - half)
        after_drop = await second.read_until(is_final_of(run_id))

    history = await served.k2w.events.history(user_id="u1", types=WORKFLOW_EVENTS, limit=100_000)
    missed = [event for event in history if last_seq < event.seq]
    assert ack["replayed"] > 0
    assert [event["seq"] for event in after_drop[: ack["replayed"]]] == [
        event.seq for event in missed[: ack["replayed"]]
    ]
    seqs = [event["seq"] for event in before_drop + after_drop]
    assert seqs == [event.seq for event in history]
    assert before_drop + after_drop == [event.to_wire() for event in history]
    assert after_drop[-1]["type"] == "workflow:complete"
    assert after_drop[-1]["progress"] == 100.0


@needs_aiohttp
async def test_socketio_rooms_isolate_users(served: Served, keywords: list[str]) -> None:
    served.writer.allow(len(keywords) + 1)
    async with listening(served, "u2") as other_user:
        await other_user.client.call("resume", {"after": 0})
        async with listening(served, "u1") as listener:
            await listener.client.call("resume", {"after": 0})
            reply = await listener.client.call("start_run", {})
            await listener.read_until(is_final_of(reply["runId"]))
        # u1's events came first; any that leaked would be read before u2's own.
        u2_reply = await other_user.client.call(
            "start_run", {"keywords": ["nồi chiên không dầu"], "languages": ["vi"]}
        )
        received = await other_user.read_until(is_final_of(u2_reply["runId"]))

    assert received[0]["type"] == "workflow:queued"
    assert {event["userId"] for event in received} == {"u2"}
    assert {event["workflowId"] for event in received} == {u2_reply["runId"]}


@needs_aiohttp
async def test_socketio_resume_twice_is_rejected(served: Served) -> None:
    async with listening(served, "u1") as listener:
        assert await listener.client.call("resume", {"after": 0}) == {"replayed": 0}
        second = await listener.client.call("resume", {"after": 0})
        negative = await listener.client.call("resume", {"after": -1})

    assert "already resumed" in second["error"]
    assert "0 or more" in negative["error"]


@needs_aiohttp
async def test_socketio_start_run_rejects_invalid_input(served: Served) -> None:
    async with listening(served, "u1") as listener:
        no_keywords = await listener.client.call("start_run", {"keywords": []})
        bad_language = await listener.client.call(
            "start_run", {"keywords": ["máy lọc không khí"], "languages": ["not a language"]}
        )

    assert "keywords" in no_keywords["error"]
    assert "not a language" in bad_language["error"]


@needs_aiohttp
async def test_socketio_refuses_connection_without_user(served: Served) -> None:
    client = socketio.AsyncClient(reconnection=False)
    reasons: list[Any] = []
    client.on("connect_error", reasons.append)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(served.url, auth={}, transports=["websocket"], wait_timeout=10)

    assert len(reasons) == 1
    assert "userId" in reasons[0]["message"]


async def test_socketio_serves_page_and_client(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        page = await client.get("/")
        script = await client.get("/static/app.js")
        socket_io = await client.get("/static/socket.io.min.js")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/socket.io.min.js">' in page.text
    assert script.status_code == 200
    assert socket_io.status_code == 200
    assert hashlib.sha256(socket_io.content).hexdigest() == SOCKET_IO_CLIENT_SHA256
    vendored = (EXAMPLES_DIR / "static" / "socket.io.min.js").read_bytes()
    assert hashlib.sha256(vendored).hexdigest() == SOCKET_IO_CLIENT_SHA256
