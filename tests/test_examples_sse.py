"""The Server-Sent Events example, served by uvicorn on 127.0.0.1 and read with httpx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import k2w
from support.example_servers import GatedWriter, clear_k2w_environment, load_example, serve

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FINAL_TYPES = {"workflow:complete", "workflow:failed", "workflow:cancelled"}


@dataclass
class Served:
    url: str
    k2w: k2w.K2W
    writer: GatedWriter


@dataclass
class Message:
    """One Server-Sent Events message: its id, event name and parsed data."""

    id: int
    event: str
    data: dict[str, Any]


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    clear_k2w_environment(monkeypatch)
    example = load_example("sse")
    writer = GatedWriter()
    app = example.create_app(tmp_path / "k2w.db", tmp_path / "out", text=writer)
    async with serve(app) as url:
        yield Served(url, app.state.k2w, writer)
    await writer.aclose()


@pytest.fixture
def keywords() -> list[str]:
    words: list[str] = load_example("k2w_demo").load_keywords()
    return words


async def start_run(client: httpx.AsyncClient, user_id: str, keywords: list[str]) -> str:
    response = await client.post(
        "/runs", json={"keywords": keywords}, headers={"X-User-Id": user_id}
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    run_id: str = response.json()["runId"]
    return run_id


async def read_messages(
    response: httpx.Response, done: Callable[[Message], bool]
) -> tuple[list[Message], list[str]]:
    """Parse the stream until ``done(message)``; return the messages and any other fields.

    The other fields are ``name: value`` lines of blocks without an ``id``, such as
    ``retry:``.
    """
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    messages: list[Message] = []
    others: list[str] = []
    fields: dict[str, str] = {}
    with anyio.fail_after(30):
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "id" not in fields:
                others.extend(f"{name}: {value}" for name, value in fields.items())
                fields = {}
                continue
            message = Message(int(fields["id"]), fields["event"], json.loads(fields["data"]))
            fields = {}
            messages.append(message)
            if done(message):
                return messages, others
    raise AssertionError("the event stream ended before the expected message")


def is_final_of(run_id: str) -> Callable[[Message], bool]:
    return lambda message: message.event in FINAL_TYPES and message.data["workflowId"] == run_id


async def test_sse_stream_resumes_with_last_event_id(served: Served, keywords: list[str]) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        async with client.stream("GET", "/events/u1") as response:
            run_id = await start_run(client, "u1", keywords)
            # Articles wait for permits, so the run stops at the content stage for now.
            first, others = await read_messages(
                response,
                lambda message: (
                    message.event == "workflow:progress"
                    and len(message.data["keywords"]) == len(keywords)
                ),
            )
        served.writer.allow(len(keywords))
        result = await (await served.k2w.get_run(run_id)).wait(timeout=30)
        assert result.status == "completed"

        last_event_id = first[-1].id
        headers = {"Last-Event-ID": str(last_event_id)}
        async with client.stream("GET", "/events/u1", headers=headers) as response:
            rest, _ = await read_messages(response, is_final_of(run_id))

    assert others == ["retry: 1000"]
    for message in first + rest:
        assert message.id == message.data["seq"]
        assert message.event == message.data["type"]
        assert message.data["userId"] == "u1"
    history = await served.k2w.events.history(user_id="u1", limit=100_000)
    final_seq = rest[-1].id
    assert [message.id for message in rest] == [
        event.seq for event in history if last_event_id < event.seq <= final_seq
    ]
    assert [message.id for message in first + rest] == [
        event.seq for event in history if event.seq <= final_seq
    ]
    assert [message.data for message in first + rest] == [
        event.to_wire() for event in history if event.seq <= final_seq
    ]


async def test_sse_after_query_is_fallback(served: Served) -> None:
    served.writer.allow(1)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        run_id = await start_run(client, "u1", ["máy lọc không khí"])
        await (await served.k2w.get_run(run_id)).wait(timeout=30)
        history = await served.k2w.events.history(user_id="u1", limit=100_000)
        middle = history[len(history) // 2].seq

        async with client.stream("GET", f"/events/u1?after={middle}") as response:
            by_query, _ = await read_messages(response, is_final_of(run_id))
        headers = {"Last-Event-ID": str(middle)}
        async with client.stream("GET", "/events/u1?after=0", headers=headers) as response:
            header_wins, _ = await read_messages(response, is_final_of(run_id))

    expected = [event.seq for event in history if event.seq > middle]
    assert [message.id for message in by_query] == expected
    assert [message.id for message in header_wins] == expected


async def test_sse_types_filter_and_isolation(served: Served, keywords: list[str]) -> None:
    served.writer.allow(len(keywords) + 1)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        u1_run = await start_run(client, "u1", keywords)
        await (await served.k2w.get_run(u1_run)).wait(timeout=30)
        u2_run = await start_run(client, "u2", ["nồi chiên không dầu"])
        await (await served.k2w.get_run(u2_run)).wait(timeout=30)

        url = "/events/u2?types=workflow:queued,workflow:progress,workflow:complete"
        async with client.stream("GET", url) as response:
            received, _ = await read_messages(response, is_final_of(u2_run))

    assert received[0].event == "workflow:queued"
    assert {message.data["userId"] for message in received} == {"u2"}
    assert {message.data["workflowId"] for message in received} == {u2_run}
    assert {message.event for message in received} == {
        "workflow:queued",
        "workflow:progress",
        "workflow:complete",
    }


async def test_sse_rejects_invalid_requests(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        bad_last_event_id = await client.get("/events/u1", headers={"Last-Event-ID": "abc"})
        bad_after = await client.get("/events/u1?after=-3")
        bad_user = await client.get("/events/not%20valid")
        no_user = await client.post("/runs", json={"keywords": ["máy lọc không khí"]})
        not_json = await client.post("/runs", content=b"{", headers={"X-User-Id": "u1"})
        bad_language = await client.post(
            "/runs",
            json={"keywords": ["máy lọc không khí"], "languages": ["not a language"]},
            headers={"X-User-Id": "u1"},
        )

    assert bad_last_event_id.status_code == 400
    assert "Last-Event-ID" in bad_last_event_id.json()["detail"]
    assert bad_after.status_code == 400
    assert bad_user.status_code == 400
    assert no_user.status_code == 400
    assert "X-User-Id" in no_user.json()["detail"]
    assert not_json.status_code == 422
    assert bad_language.status_code == 422
    assert "not a language" in bad_language.json()["detail"]
