"""Send k2w's events to browsers over a plain WebSocket, with FastAPI.

Run it from the repository root (uvicorn listens on 127.0.0.1:8000)::

    python examples/fastapi_websocket.py --delay 0.3

Then start a run and watch it::

    curl -X POST http://127.0.0.1:8000/runs -H 'X-User-Id: u1' \\
         -H 'Content-Type: application/json' -d '{"keywords": ["máy lọc không khí"]}'
    python -m websockets 'ws://127.0.0.1:8000/ws/u1?after=0'

Endpoints:

- ``POST /runs`` starts a run for the user named by the ``X-User-Id`` header (or the
  ``user_id`` query parameter) and returns ``{"runId", "status"}`` at once.
- ``GET /runs/{run_id}`` returns that run's status, progress and, once finished, report.
- ``WS /ws/{user_id}?after=SEQ`` sends the user's events as JSON objects
  (:meth:`k2w.Event.to_wire`): first those after ``SEQ`` from the event log, then live
  ones. A client that reconnects passes the last ``seq`` it saw and misses nothing.
  ``types=workflow:progress,workflow:complete`` limits the event types.

k2w keeps its queue and event log in one SQLite file and runs its workers in this
process, so serve the app with a single uvicorn worker.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
import uvicorn
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from k2w_demo import RunRequest, SlowWriter, valid_user_id

import k2w

router = APIRouter()


def create_app(
    db_path: str | Path,
    out_dir: str | Path,
    *,
    delay: float = 0.0,
    text: k2w.TextGenerator | None = None,
) -> FastAPI:
    """Build the FastAPI app; k2w opens when the app starts and closes when it stops.

    ``delay`` slows the offline writer by that many seconds per article, so a run can be
    watched. ``text`` replaces the text provider outright. Other settings (an LLM,
    WordPress) come from the ``K2W_*`` environment variables.
    """
    writer = text or (SlowWriter(delay) if delay > 0 else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = k2w.K2WConfig.from_env(out_dir=out_dir)
        async with k2w.K2W.open(db_path, config=config, text=writer) as k2w_app:
            app.state.k2w = k2w_app
            yield

    app = FastAPI(title="k2w events over WebSocket", lifespan=lifespan)
    app.include_router(router)
    return app


def k2w_of(request: Request) -> k2w.K2W:
    """Return the k2w app that the lifespan opened."""
    k2w_app: k2w.K2W = request.app.state.k2w
    return k2w_app


def user_of(
    x_user_id: Annotated[str | None, Header()] = None,
    user_id: Annotated[str | None, Query()] = None,
) -> str:
    """Return the caller's user id from the ``X-User-Id`` header or the ``user_id`` query."""
    supplied = x_user_id if x_user_id is not None else user_id
    checked = valid_user_id(supplied)
    if checked is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "missing or invalid user id: send an X-User-Id header (or ?user_id=) of 1 to 64 "
            "letters, digits or _.@-",
        )
    return checked


K2WApp = Annotated[k2w.K2W, Depends(k2w_of)]
UserId = Annotated[str, Depends(user_of)]


@router.post("/runs", status_code=status.HTTP_202_ACCEPTED)
async def start_run(body: RunRequest, k2w_app: K2WApp, user_id: UserId) -> dict[str, str]:
    """Queue a run of the seven stages and return its id at once."""
    try:
        run = await k2w_app.submit(
            body.keywords, user_id=user_id, languages=body.languages, locale=body.locale
        )
    except k2w.InvalidInputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return {"runId": run.id, "status": run.status}


@router.get("/runs/{run_id}")
async def get_run(run_id: str, k2w_app: K2WApp, user_id: UserId) -> dict[str, Any]:
    """Return a run of the calling user; another user's run is reported as not found."""
    not_found = HTTPException(status.HTTP_404_NOT_FOUND, f"no run {run_id!r} for user {user_id!r}")
    try:
        run = await k2w_app.get_run(run_id)
    except k2w.NotFoundError:
        raise not_found from None
    if run.user_id != user_id:
        raise not_found
    return {
        "runId": run.id,
        "userId": run.user_id,
        "status": run.status,
        "progress": run.progress,
        "keywords": run.keywords,
        "error": run.error,
        "report": run.report,
    }


@router.websocket("/ws/{user_id}")
async def user_events(
    websocket: WebSocket,
    user_id: str,
    after: Annotated[int, Query(ge=0)] = 0,
    types: Annotated[str | None, Query()] = None,
) -> None:
    """Send the user's events after ``after``, then live ones, until the client leaves."""
    if valid_user_id(user_id) is None:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid user id")
        return
    k2w_app: k2w.K2W = websocket.app.state.k2w
    event_types = [name for name in types.split(",") if name] if types else None
    await websocket.accept()

    events = k2w_app.events.stream(user_id=user_id, after=after, types=event_types)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_send_events, websocket, events)
        await _wait_until_closed(websocket)
        task_group.cancel_scope.cancel()


async def _send_events(websocket: WebSocket, events: AsyncGenerator[k2w.Event, None]) -> None:
    # aclosing() ends the subscription as soon as sending stops.
    try:
        async with aclosing(events) as stream:
            async for event in stream:
                await websocket.send_json(event.to_wire())
    except WebSocketDisconnect:
        return


async def _wait_until_closed(websocket: WebSocket) -> None:
    # The stream waits for the next event, so without this read a client that left
    # would hold its subscription open until the user's next event.
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


def main() -> None:
    """Serve the example with uvicorn; see the module docstring."""
    parser = argparse.ArgumentParser(description="Serve k2w's events over a WebSocket.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    parser.add_argument("--db", default="k2w.db", help="SQLite database file")
    parser.add_argument("--out-dir", default="k2w-out", help="where articles are written")
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="seconds the offline writer waits per article and translation (default 0)",
    )
    args = parser.parse_args()
    app = create_app(args.db, args.out_dir, delay=args.delay)
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
