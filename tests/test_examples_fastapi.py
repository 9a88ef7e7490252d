"""The FastAPI WebSocket example, served by uvicorn on 127.0.0.1 and used over real sockets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

import k2w
from support.example_servers import GatedWriter, clear_k2w_environment, load_example, serve

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FINAL_TYPES = {"workflow:complete", "workflow:failed", "workflow:cancelled"}
WIRE_FIELDS = {
    "seq",
    "type",
    "ts",
    "workflowId",
    "userId",
    "stage",
    "progress",
    "message",
    "timeRemaining",
    "keyword",
    "keywordIndex",
    "keywordProgress",
    "keywords",
    "status",
}


@dataclass
class Served:
    url: str
    k2w: k2w.K2W
    writer: GatedWriter

    def ws_url(self, user_id: str, query: str = "") -> str:
        base = self.url.replace("http://", "ws://", 1)
        return f"{base}/ws/{user_id}{'?' + query if query else ''}"


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    clear_k2w_environment(monkeypatch)
    example = load_example("fastapi_websocket")
    writer = GatedWriter()
    app = example.create_app(tmp_path / "k2w.db", tmp_path / "out", text=writer)
    async with serve(app) as url:
        yield Served(url, app.state.k2w, writer)
    await writer.aclose()


@pytest.fixture
def keywords() -> list[str]:
    words: list[str] = load_example("k2w_demo").load_keywords()
    return words


async def start_run(served: Served, user_id: str, keywords: list[str]) -> str:
    async with httpx.AsyncClient(base_url=served.url) as client:
        response = await client.post(
            "/runs", json={"keywords": keywords, "locale": "vi"}, headers={"X-User-Id": user_id}
        )
    assert response.status_code == 202, response.text
    run_id: str = response.json()["runId"]
    return run_id


async def read_until(websocket: ClientConnection, done: Any) -> list[dict[str, Any]]:
    """Read events until ``done(event)`` is true; return them all, that one last."""
    received: list[dict[str, Any]] = []
    with anyio.fail_after(30):
        while True:
            event = json.loads(await websocket.recv())
            received.append(event)
            if done(event):
                return received


def is_final_of(run_id: str) -> Any:
    return lambda event: event["type"] in FINAL_TYPES and event["workflowId"] == run_id


async def test_post_runs_returns_queued(served: Served, keywords: list[str]) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        response = await client.post(
            "/runs", json={"keywords": keywords}, headers={"X-User-Id": "u1"}
        )

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"runId", "status"}
    assert body["status"] == "queued"
    run = await served.k2w.get_run(body["runId"])
    assert run.user_id == "u1"
    assert run.keywords == keywords


async def test_websocket_sends_user_events_in_order(served: Served, keywords: list[str]) -> None:
    served.writer.allow(len(keywords))

    async with connect(served.ws_url("u1", "after=0")) as websocket:
        run_id = await start_run(served, "u1", keywords)
        received = await read_until(websocket, is_final_of(run_id))

    seqs = [event["seq"] for event in received]
    assert seqs == sorted(set(seqs))
    assert {event["userId"] for event in received} == {"u1"}
    assert received[-1]["type"] == "workflow:complete"
    assert received[-1]["progress"] == 100.0
    history = await served.k2w.events.history(user_id="u1", limit=100_000)
    assert seqs == [event.seq for event in history if event.seq <= seqs[-1]]
    assert received == [event.to_wire() for event in history if event.seq <= seqs[-1]]

    progress = [event for event in received if event["type"] == "workflow:progress"]
    assert progress
    assert set(progress[-1]) >= WIRE_FIELDS
    percents = [event["progress"] for event in progress]
    assert percents == sorted(percents)
    assert received[-1]["keywords"] == {str(index): 100.0 for index in range(len(keywords))}


async def test_websocket_resumes_after_last_seq(served: Served, keywords: list[str]) -> None:
    async with connect(served.ws_url("u1", "after=0")) as websocket:
        run_id = await start_run(served, "u1", keywords)
        # Articles wait for permits, so the run stops at the content stage for now.
        first = await read_until(
            websocket,
            lambda event: (
                event["type"] == "workflow:progress" and len(event["keywords"]) == len(keywords)
            ),
        )
    served.writer.allow(len(keywords))
    result = await (await served.k2w.get_run(run_id)).wait(timeout=30)
    assert result.status == "completed"

    last_seen = first[-1]["seq"]
    async with connect(served.ws_url("u1", f"after={last_seen}")) as websocket:
        rest = await read_until(websocket, is_final_of(run_id))

    history = await served.k2w.events.history(user_id="u1", limit=100_000)
    final_seq = rest[-1]["seq"]
    assert [event["seq"] for event in rest] == [
        event.seq for event in history if last_seen < event.seq <= final_seq
    ]
    combined = [event["seq"] for event in first + rest]
    assert combined == [event.seq for event in history if event.seq <= final_seq]


async def test_websocket_types_filter(served: Served, keywords: list[str]) -> None:
    served.writer.allow(len(keywords))
    requested_types = "workflow:progress,workflow:complete"

    async with connect(served.ws_url("u1", f"after=0&types={requested_types}")) as websocket:
        run_id = await start_run(served, "u1", keywords)
        received = await read_until(websocket, is_final_of(run_id))

    assert {event["type"] for event in received} == {"workflow:progress", "workflow:complete"}
    history = await served.k2w.events.history(
        user_id="u1", types=requested_types.split(","), limit=100_000
    )
    assert [event["seq"] for event in received] == [event.seq for event in history]


async def test_websocket_isolates_users(served: Served, keywords: list[str]) -> None:
    served.writer.allow(len(keywords) + 1)

    async with connect(served.ws_url("u2")) as other_user:
        async with connect(served.ws_url("u1")) as websocket:
            u1_run = await start_run(served, "u1", keywords)
            await read_until(websocket, is_final_of(u1_run))
        # u1's events came first; any that leaked would be read before u2's own.
        u2_run = await start_run(served, "u2", ["nồi chiên không dầu"])
        received = await read_until(other_user, is_final_of(u2_run))

    assert received[0]["type"] == "workflow:queued"
    assert {event["userId"] for event in received} == {"u2"}
    assert {event["workflowId"] for event in received} == {u2_run}


async def test_websocket_rejects_negative_after(served: Served) -> None:
    with pytest.raises(websockets.InvalidStatus):
        async with connect(served.ws_url("u1", "after=-1")):
            pass


async def test_get_run_reports_status(served: Served) -> None:
    served.writer.allow(1)
    run_id = await start_run(served, "u1", ["máy lọc không khí"])
    await (await served.k2w.get_run(run_id)).wait(timeout=30)

    async with httpx.AsyncClient(base_url=served.url) as client:
        own = await client.get(f"/runs/{run_id}", headers={"X-User-Id": "u1"})
        by_query = await client.get(f"/runs/{run_id}", params={"user_id": "u1"})
        other_user = await client.get(f"/runs/{run_id}", headers={"X-User-Id": "u2"})
        unknown = await client.get("/runs/no-such-run", headers={"X-User-Id": "u1"})
        anonymous = await client.get(f"/runs/{run_id}")

    assert own.status_code == 200
    body = own.json()
    assert body["runId"] == run_id
    assert body["status"] == "completed"
    assert body["progress"] == 100.0
    assert body["report"]["totals"]["published"] == 1
    assert by_query.json() == body
    assert other_user.status_code == 404
    assert unknown.status_code == 404
    assert anonymous.status_code == 400


async def test_post_runs_rejects_invalid_input(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        no_user = await client.post("/runs", json={"keywords": ["máy lọc không khí"]})
        no_keywords = await client.post("/runs", json={"keywords": []}, headers={"X-User-Id": "u1"})
        bad_language = await client.post(
            "/runs",
            json={"keywords": ["máy lọc không khí"], "languages": ["not a language"]},
            headers={"X-User-Id": "u1"},
        )

    assert no_user.status_code == 400
    assert "X-User-Id" in no_user.json()["detail"]
    assert no_keywords.status_code == 422
    assert bad_language.status_code == 422
    assert "not a language" in bad_language.json()["detail"]
