"""Send k2w's events to browsers as Server-Sent Events, with Starlette.

Run it from the repository root (uvicorn listens on 127.0.0.1:8000)::

    python examples/sse.py --delay 0.3

Then watch a user's events and start a run::

    curl -N http://127.0.0.1:8000/events/u1
    curl -X POST http://127.0.0.1:8000/runs -H 'X-User-Id: u1' \\
         -H 'Content-Type: application/json' -d '{"keywords": ["máy lọc không khí"]}'

Endpoints:

- ``GET /events/{user_id}`` streams the user's events as ``text/event-stream``, one
  message per event: ``id: <seq>``, ``event: <type>`` and ``data: <Event.to_wire() as
  JSON>``. The stream starts after the seq in the ``Last-Event-ID`` header, which a
  browser's EventSource sends by itself when it reconnects. Without that header it
  starts after the ``after`` query parameter, and without either at the first stored
  event. ``types=a,b`` limits the event types.
- ``POST /runs`` starts a run for the user named by the ``X-User-Id`` header (or the
  ``user_id`` query parameter) and returns ``{"runId", "status"}`` at once.

In a page::

    const source = new EventSource("/events/u1?types=workflow:progress,workflow:complete");
    source.addEventListener("workflow:progress", (e) => show(JSON.parse(e.data)));

k2w keeps its queue and event log in one SQLite file and runs its workers in this
process, so serve the app with a single uvicorn worker.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path

import uvicorn
from k2w_demo import RunRequest, SlowWriter, valid_user_id
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import k2w

RECONNECT_DELAY_MS = 1000
"""How long an EventSource waits before it reconnects, sent as the stream's ``retry:``."""


def create_app(
    db_path: str | Path,
    out_dir: str | Path,
    *,
    delay: float = 0.0,
    text: k2w.TextGenerator | None = None,
) -> Starlette:
    """Build the Starlette app; k2w opens when the app starts and closes when it stops.

    ``delay`` slows the offline writer by that many seconds per article, so a run can be
    watched. ``text`` replaces the text provider outright. Other settings (an LLM,
    WordPress) come from the ``K2W_*`` environment variables.
    """
    writer = text or (SlowWriter(delay) if delay > 0 else None)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config = k2w.K2WConfig.from_env(out_dir=out_dir)
        async with k2w.K2W.open(db_path, config=config, text=writer) as k2w_app:
            app.state.k2w = k2w_app
            yield

    routes = [
        Route("/events/{user_id}", user_events, methods=["GET"]),
        Route("/runs", start_run, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def user_events(request: Request) -> Response:
    """Stream the user's events after the client's last seq, then live ones."""
    user_id = valid_user_id(request.path_params["user_id"])
    if user_id is None:
        return _error(400, "invalid user id: use 1 to 64 letters, digits or _.@-")
    after = _resume_point(request)
    if after is None:
        return _error(
            400, "Last-Event-ID and ?after= must be a whole number: the last seq the client saw"
        )
    types = request.query_params.get("types")
    event_types = [name for name in types.split(",") if name] if types else None
    k2w_app: k2w.K2W = request.app.state.k2w

    async def messages() -> AsyncIterator[str]:
        yield f"retry: {RECONNECT_DELAY_MS}\n\n"
        stream = k2w_app.events.stream(user_id=user_id, after=after, types=event_types)
        # aclosing() ends the subscription as soon as the loop stops.
        async with aclosing(stream) as events:
            async for event in events:
                yield _sse_message(event)

    # StreamingResponse stops the generator when the client disconnects, which closes the
    # stream and its subscription. NOTE: Starlette watches for the disconnect only under
    # ASGI spec 2.3 servers such as uvicorn; under 2.4 it notices at the next event sent.
    # No keep-alive comments are sent, so a proxy with an idle timeout may close a quiet
    # stream; EventSource then reconnects with Last-Event-ID and nothing is lost.
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(messages(), media_type="text/event-stream", headers=headers)


def _resume_point(request: Request) -> int | None:
    """Return the seq to resume after: Last-Event-ID, else ?after=, else 0; None if invalid."""
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    if not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)


def _sse_message(event: k2w.Event) -> str:
    # json.dumps escapes newlines inside strings, so the data always fits on one line.
    data = json.dumps(event.to_wire(), ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"


async def start_run(request: Request) -> Response:
    """Queue a run for the ``X-User-Id`` user and return ``{"runId", "status"}`` at once."""
    user_id = valid_user_id(request.headers.get("x-user-id") or request.query_params.get("user_id"))
    if user_id is None:
        return _error(
            400,
            "missing or invalid user id: send an X-User-Id header (or ?user_id=) of 1 to 64 "
            "letters, digits or _.@-",
        )
    try:
        body = RunRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        return JSONResponse(
            {"detail": exc.errors(include_url=False, include_context=False, include_input=False)},
            status_code=422,
        )
    k2w_app: k2w.K2W = request.app.state.k2w
    try:
        run = await k2w_app.submit(
            body.keywords, user_id=user_id, languages=body.languages, locale=body.locale
        )
    except k2w.InvalidInputError as exc:
        return _error(422, str(exc))
    return JSONResponse({"runId": run.id, "status": run.status}, status_code=202)


def _error(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code)


def main() -> None:
    """Serve the example with uvicorn; see the module docstring."""
    parser = argparse.ArgumentParser(description="Serve k2w's events as Server-Sent Events.")
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
