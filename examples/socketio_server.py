"""Send k2w's run progress to a web page over Socket.IO, with python-socketio.

Run it from the repository root, then open http://127.0.0.1:8000/?user=u1 and press
"Start run"::

    python examples/socketio_server.py --delay 0.3

The server serves the page (``examples/static/``) and the Socket.IO JavaScript client
itself, so the page loads nothing from elsewhere. The protocol:

1. The client connects with ``auth: {userId}``.
2. It emits ``resume`` with ``{after: <last seq it applied>}`` (0 the first time). The
   server sends it that user's workflow events after that seq from the event log, then
   adds it to the room ``user-<userId>``, which receives every new event of the user.
   The acknowledgement is ``{replayed: <count>}``.
3. Events arrive under their type (``workflow:queued``, ``workflow:progress``,
   ``workflow:complete``, ``workflow:failed``, ``workflow:cancelled``) with the camelCase
   payload of :meth:`k2w.Event.to_wire`. A client keeps the largest ``seq`` it applied
   and sends it in its next ``resume``, so a reconnect neither misses nor repeats events.
4. ``start_run`` with ``{keywords?, languages?, locale?}`` queues a run for the user
   (the example keywords when ``keywords`` is missing) and acknowledges with
   ``{runId, status}`` or ``{error}``.

k2w keeps its queue and event log in one SQLite file and runs its workers in this
process, so serve the app with a single uvicorn worker.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import socketio
import uvicorn
from anyio.abc import TaskStatus
from k2w_demo import WORKFLOW_EVENTS, RunRequest, SlowWriter, load_keywords, valid_user_id
from pydantic import ValidationError
from starlette.applications import Starlette

import k2w

logger = logging.getLogger("k2w.examples.socketio")

STATIC_DIR = Path(__file__).with_name("static")
"""The page, its script and the vendored Socket.IO client."""

_REPLAY_PAGE = 500


def room_of(user_id: str) -> str:
    """Return the Socket.IO room that receives the events of ``user_id``."""
    return f"user-{user_id}"


def _rejection(sid: str, event_name: str, message: str) -> dict[str, Any]:
    logger.info("rejected %s from connection %s: %s", event_name, sid, message)
    return {"error": message}


class EventRelay:
    """Relay of each user's workflow events to the user's room, with replays of missed ones.

    One task follows the event bus and emits every new workflow event to the room of
    its user. A client that resumes first gets the events it missed straight from the
    event log, then joins the room. Both steps hold one lock, so no event can reach the
    room between the end of the replay and the join, and each event arrives once. One
    lock for all users keeps this simple, but a busy server would keep one per room.
    """

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio
        self._lock = anyio.Lock()
        self._emitted_up_to = 0
        self._k2w: k2w.K2W | None = None

    @property
    def k2w_app(self) -> k2w.K2W:
        """The open k2w app, set while the server runs."""
        if self._k2w is None:
            raise RuntimeError("the k2w app is not open; the server has not started yet")
        return self._k2w

    async def run(
        self, k2w_app: k2w.K2W, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Emit every new workflow event to its user's room until cancelled."""
        self._k2w = k2w_app
        start = await k2w_app.events.last_seq()
        self._emitted_up_to = start
        task_status.started()

        stream = k2w_app.events.stream(after=start, types=WORKFLOW_EVENTS)
        # aclosing() ends the subscription as soon as the loop stops.
        async with aclosing(stream) as events:
            async for event in events:
                async with self._lock:
                    if event.user_id is not None:
                        await self._sio.emit(
                            event.type, event.to_wire(), room=room_of(event.user_id)
                        )
                    self._emitted_up_to = event.seq

    async def resume(self, sid: str, user_id: str, after: int) -> int | None:
        """Send ``sid`` the user's events after ``after``, then add it to the user's room.

        Returns how many events were replayed, or None if ``sid`` had already resumed
        (a second replay would repeat events).
        """
        replayed = 0
        async with self._lock:
            if room_of(user_id) in self._sio.rooms(sid):
                return None
            up_to = self._emitted_up_to
            while after < up_to:
                page = await self.k2w_app.events.history(
                    after=after, user_id=user_id, types=WORKFLOW_EVENTS, limit=_REPLAY_PAGE
                )
                missed = [event for event in page if event.seq <= up_to]
                for event in missed:
                    await self._sio.emit(event.type, event.to_wire(), to=sid)
                    after = event.seq
                    replayed += 1
                if len(missed) < _REPLAY_PAGE:
                    break
            # The client may have left during the replay, and python-socketio cannot add a
            # closed connection to a room.
            if self._sio.manager.is_connected(sid, "/"):
                await self._sio.enter_room(sid, room_of(user_id))
        return replayed


def create_app(
    db_path: str | Path,
    out_dir: str | Path,
    *,
    delay: float = 0.0,
    text: k2w.TextGenerator | None = None,
    keywords_file: Path | None = None,
) -> socketio.ASGIApp:
    """Build the ASGI app: Socket.IO, the static page, and k2w opened for the app's lifetime.

    ``delay`` slows the offline writer by that many seconds per article, so a run can be
    watched. ``text`` replaces the text provider outright. ``keywords_file`` contains the
    keywords a ``start_run`` without keywords uses (default: ``keywords-vi.txt``). Other
    settings (an LLM, WordPress) come from the ``K2W_*`` environment variables.
    """
    writer = text or (SlowWriter(delay) if delay > 0 else None)
    default_keywords = load_keywords(keywords_file) if keywords_file else load_keywords()
    sio = socketio.AsyncServer(async_mode="asgi")
    relay = EventRelay(sio)

    async def connect(sid: str, environ: dict[str, Any], auth: object) -> None:
        user_id = valid_user_id(auth.get("userId")) if isinstance(auth, dict) else None
        if user_id is None:
            raise socketio.exceptions.ConnectionRefusedError(
                "missing or invalid userId in the connection's auth: use 1 to 64 letters, "
                "digits or _.@-"
            )
        await sio.save_session(sid, {"user_id": user_id})

    async def resume(sid: str, data: object) -> dict[str, Any]:
        after = data.get("after", 0) if isinstance(data, dict) else None
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            message = (
                f"invalid resume {data!r}: send {{after: N}}, N the last seq applied, 0 or more"
            )
            return _rejection(sid, "resume", message)
        session = await sio.get_session(sid)
        replayed = await relay.resume(sid, session["user_id"], after)
        if replayed is None:
            message = "this connection has already resumed; reconnect to resume again"
            return _rejection(sid, "resume", message)
        return {"replayed": replayed}

    async def start_run(sid: str, data: object) -> dict[str, Any]:
        fields = dict(data) if isinstance(data, dict) else {}
        fields.setdefault("keywords", default_keywords)
        try:
            request = RunRequest.model_validate(fields)
        except ValidationError as exc:
            return _rejection(sid, "start_run", str(exc))
        session = await sio.get_session(sid)
        try:
            run = await relay.k2w_app.submit(
                request.keywords,
                user_id=session["user_id"],
                languages=request.languages or ["vi", "en"],
                locale=request.locale,
            )
        except k2w.InvalidInputError as exc:
            return _rejection(sid, "start_run", str(exc))
        logger.info("run %s started for user %s", run.id, session["user_id"])
        return {"runId": run.id, "status": run.status}

    sio.on("connect", connect)
    sio.on("resume", resume)
    sio.on("start_run", start_run)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config = k2w.K2WConfig.from_env(out_dir=out_dir)
        async with (
            k2w.K2W.open(db_path, config=config, text=writer) as k2w_app,
            anyio.create_task_group() as task_group,
        ):
            app.state.k2w = k2w_app
            await task_group.start(relay.run, k2w_app)
            yield
            task_group.cancel_scope.cancel()

    static_files = {
        "/": {"filename": str(STATIC_DIR / "index.html"), "content_type": "text/html"},
        "/static": str(STATIC_DIR),
    }
    # The Starlette app only runs the lifespan (and keeps the k2w app in its state); every
    # other path is Socket.IO or a static file.
    return socketio.ASGIApp(
        sio, other_asgi_app=Starlette(lifespan=lifespan), static_files=static_files
    )


def main() -> None:
    """Serve the example with uvicorn; see the module docstring."""
    parser = argparse.ArgumentParser(description="Serve k2w's run progress over Socket.IO.")
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
