"""A small OpenAI-compatible HTTP server on 127.0.0.1 for tests over real sockets.

It implements ``POST /v1/chat/completions`` and ``POST /v1/images/generations`` and
writes articles from the keyword it finds in the prompt, with titles starting with
:data:`TITLE_PREFIX` so that a test can tell the text came from this server. Faults are
scripted one per request and consumed in order::

    with FakeOpenAIServer() as server:
        server.script(status=429, headers={"retry-after": "1"})
        server.script(status=500)
        ...  # the third request gets a normal response
        assert len(server.calls) == 3

The module also holds helpers for tests that fake the same API in process with
``httpx.MockTransport``: :class:`ScriptedTransport`, :class:`RecordingSleep`,
:func:`chat_completion` and :func:`error_body`.

The server runs as a program for tests that start it in another process,
``python -m tests.support.openai_server --port 0 --log FILE`` (or the path of this
file). The program prints ``listening on BASE_URL`` once it accepts connections, and
appends every call to the JSON-lines file given by ``--log``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import signal
import struct
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

import anyio
import httpx

__all__ = [
    "TITLE_PREFIX",
    "FakeOpenAIServer",
    "Fault",
    "RecordingSleep",
    "ScriptedTransport",
    "article_json",
    "chat_completion",
    "error_body",
    "main",
    "tiny_png",
]

TITLE_PREFIX = "[fake-openai]"
"""Start of every title this server writes."""

_KEYWORD_LINE = re.compile(r"^Keyword: (.+)$", re.MULTILINE)
_TARGET_LANGUAGE_LINE = re.compile(r"^Target language: (\S+)$", re.MULTILINE)
_LANGUAGE_CODE = re.compile(r"\(language code ([A-Za-z_-]+)\)")
_IMAGE_KEYWORD = re.compile(r'about "(.+?)"')


def tiny_png() -> bytes:
    """Return a valid 1x1 PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x30\x60\x90")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass
class Fault:
    """One scripted response, used for the next request whose path ends with ``path``.

    ``disconnect`` closes the connection without any response.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    path: str | None = None
    disconnect: bool = False

    def matches(self, path: str) -> bool:
        """Whether this fault applies to a request for ``path``."""
        return self.path is None or path.endswith(self.path)


class FakeOpenAIServer:
    """A threaded OpenAI-compatible server bound to ``127.0.0.1`` on a free port.

    With ``api_key`` set, requests without ``Authorization: Bearer <api_key>`` get the
    401 that OpenAI sends for a wrong key. ``log_path`` names a JSON-lines file that
    every call is appended to, for tests that read the calls from another process.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        api_key: str | None = None,
        log_path: Path | str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._calls: list[dict[str, Any]] = []
        self._api_key = api_key
        self._log_path = Path(log_path) if log_path is not None else None
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._counter = 0
        self._chat_requests = 0
        self._hold_from: int | None = None
        self._release = threading.Event()
        self.holding = threading.Event()

    @property
    def base_url(self) -> str:
        """The URL to configure clients with, for example ``http://127.0.0.1:PORT/v1``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def calls(self) -> list[dict[str, Any]]:
        """A copy of the call log: path, model, keyword (when found) and JSON body."""
        with self._lock:
            return [dict(call) for call in self._calls]

    @property
    def pending_faults(self) -> int:
        """How many scripted responses have not been used yet."""
        with self._lock:
            return len(self._faults)

    def script(
        self,
        status: int = 200,
        *,
        headers: Mapping[str, str] | None = None,
        body: object = None,
        path: str | None = None,
        disconnect: bool = False,
    ) -> None:
        """Queue one answer for the next matching request.

        ``body`` may be a dict or list (sent as JSON), a string or bytes; without one an
        error status gets an OpenAI-style error object. ``path`` limits the fault to
        requests whose path ends with it, such as ``"/images/generations"``.
        """
        fault = Fault(
            status=status,
            headers=dict(headers or {}),
            body=_encode_body(status, body),
            path=path,
            disconnect=disconnect,
        )
        with self._lock:
            self._faults.append(fault)

    def hold_chat_after(self, answered: int) -> None:
        """Answer ``answered`` chat requests, then hold every later one until :meth:`release`.

        :attr:`holding` is set when a request is being held, so a test can act (for
        example kill the client) while the client waits in the middle of a stage.
        """
        with self._lock:
            self._hold_from = answered

    def release(self) -> None:
        """Let held requests go; they are closed without an answer."""
        self._release.set()

    def _should_hold(self, path: str) -> bool:
        if not path.endswith("/chat/completions"):
            return False
        with self._lock:
            number = self._chat_requests
            self._chat_requests += 1
            return self._hold_from is not None and number >= self._hold_from

    def start(self) -> Self:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-openai-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._release.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called or the process ends."""
        self._httpd.serve_forever(poll_interval=0.05)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, call: dict[str, Any]) -> None:
        with self._lock:
            self._calls.append(call)
            if self._log_path is not None:
                with self._log_path.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(call, ensure_ascii=False) + "\n")

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    self._faults.remove(fault)
                    return fault
        return None

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _authorized(self, header: str | None) -> bool:
        return self._api_key is None or header == f"Bearer {self._api_key}"


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeOpenAI/1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw or b"{}")
            except ValueError:
                body = None
            self._handle(body if isinstance(body, dict) else {})

        def do_GET(self) -> None:
            self._handle({})

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output clean: requests are in the call log instead."""

        def _handle(self, body: dict[str, Any]) -> None:
            server._record(
                {
                    "method": self.command,
                    "path": self.path,
                    "model": body.get("model"),
                    "keyword": _keyword_of(self.path, body),
                    "has_authorization": "Authorization" in self.headers,
                    "body": body,
                }
            )

            if server._should_hold(self.path):
                server.holding.set()
                server._release.wait(timeout=120)
                self.close_connection = True
                return
            fault = server._next_fault(self.path)
            if fault is not None and fault.disconnect:
                self.close_connection = True
                return
            if fault is not None:
                self._send(fault.status, fault.body, fault.headers)
                return
            # Generated files stand for public (signed) URLs, which need no key.
            needs_key = not self.path.startswith("/v1/files/")
            if needs_key and not server._authorized(self.headers.get("Authorization")):
                self._send(401, _error_body(401, "invalid_api_key", "Incorrect API key provided"))
                return
            self._answer(body)

        def _answer(self, body: dict[str, Any]) -> None:
            if self.command == "POST" and self.path == "/v1/chat/completions":
                self._send(200, _json(_chat_completion(body, server._next_id())))
            elif self.command == "POST" and self.path == "/v1/images/generations":
                status, answer = _image_generation(body, server.base_url)
                self._send(status, _json(answer))
            elif self.command == "GET" and self.path.startswith("/v1/files/"):
                self._send(200, tiny_png(), {"Content-Type": "image/png"})
            else:
                message = f"Unknown request URL: {self.command} {self.path}"
                self._send(404, _error_body(404, "unknown_url", message))

        def _send(
            self, status: int, payload: bytes, headers: Mapping[str, str] | None = None
        ) -> None:
            self.send_response(status)
            names = {name.lower() for name in headers or {}}
            if "content-type" not in names:
                self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _chat_completion(body: Mapping[str, Any], number: int) -> dict[str, Any]:
    prompt = _user_prompt(body)
    keyword = _match(_KEYWORD_LINE, prompt) or "k2w"
    target = _match(_TARGET_LANGUAGE_LINE, prompt)
    language = target or _match(_LANGUAGE_CODE, prompt) or "en"

    article = _article(keyword, language, translated=target is not None)
    content = json.dumps(article, ensure_ascii=False)
    if "response_format" not in body:
        # Models asked for JSON in the prompt alone often wrap it in a fence and prose.
        content = f"Here is the article:\n```json\n{content}\n```\nI hope this helps."

    return {
        "id": f"chatcmpl-fake-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": max(1, len(prompt) // 4),
            "completion_tokens": max(1, len(content) // 4),
            "total_tokens": max(1, len(prompt) // 4) + max(1, len(content) // 4),
        },
    }


def _article(keyword: str, language: str, *, translated: bool) -> dict[str, Any]:
    suffix = f" ({language})" if translated else ""
    sections = [
        {
            "heading": f"{keyword}: part {index}",
            "html": f"<p>Part {index} of the article about {keyword}, from the test server.</p>",
        }
        for index in range(1, 6)
    ]
    article: dict[str, Any] = {
        "title": f"{TITLE_PREFIX} {keyword}{suffix}",
        "meta_description": (
            f"{keyword}: a test article from the local OpenAI-compatible server used by the "
            "k2w test suite."
        ),
        "intro_html": f"<p>An introduction to {keyword}.</p>",
        "sections": sections,
    }
    if translated:
        article["keyword"] = f"{keyword}{suffix}"
    return article


def _image_generation(body: Mapping[str, Any], base_url: str) -> tuple[int, dict[str, Any]]:
    model = str(body.get("model") or "")
    response_format = body.get("response_format")
    created = int(time.time())

    if model.startswith("gpt-image"):
        if response_format is not None:
            # OpenAI's gpt-image models always return base64 and reject this parameter.
            message = "Unknown parameter: 'response_format'."
            return 400, _error_object(400, "unknown_parameter", message, "response_format")
        return 200, {
            "created": created,
            "data": [{"b64_json": base64.b64encode(tiny_png()).decode("ascii")}],
            "usage": {"input_tokens": 20, "output_tokens": 272, "total_tokens": 292},
        }

    if response_format == "b64_json":
        return 200, {
            "created": created,
            "data": [{"b64_json": base64.b64encode(tiny_png()).decode("ascii")}],
        }
    return 200, {"created": created, "data": [{"url": f"{base_url}/files/image-{created}.png"}]}


def _user_prompt(body: Mapping[str, Any]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    parts = [
        message["content"]
        for message in messages
        if isinstance(message, dict)
        and message.get("role") == "user"
        and isinstance(message.get("content"), str)
    ]
    return "\n".join(parts)


def _keyword_of(path: str, body: Mapping[str, Any]) -> str | None:
    if path.endswith("/chat/completions"):
        return _match(_KEYWORD_LINE, _user_prompt(body))
    prompt = body.get("prompt")
    if path.endswith("/images/generations") and isinstance(prompt, str):
        return _match(_IMAGE_KEYWORD, prompt)
    return None


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.search(text)
    return found.group(1).strip() if found else None


def _error_object(
    status: int, code: str | None, message: str, param: str | None = None
) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    if status == 429:
        kind = "requests"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _error_body(status: int, code: str | None, message: str) -> bytes:
    return _json(_error_object(status, code, message))


def _encode_body(status: int, body: object) -> bytes:
    if body is None:
        if status < 400:
            return b""
        return _error_body(status, None, f"Scripted error with status {status}.")
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return _json(body)


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def article_json(keyword: str, *, title: object = None, **changes: Any) -> dict[str, Any]:
    """Return a valid article object for ``keyword``; ``changes`` replace its keys."""
    article = _article(keyword, "en", translated=False)
    if title is not None:
        article["title"] = title
    article.update(changes)
    return article


def chat_completion(
    content: str | None,
    *,
    finish_reason: str = "stop",
    prompt_tokens: int = 100,
    completion_tokens: int = 400,
    refusal: str | None = None,
    model: str = "test-model",
) -> dict[str, Any]:
    """Return a chat completion body whose only choice has ``content``."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_767_225_600,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(
    status: int, code: str | None = None, message: str = "error", *, param: str | None = None
) -> dict[str, Any]:
    """Return an OpenAI-style ``{"error": {...}}`` body."""
    return _error_object(status, code, message, param)


ScriptItem = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class ScriptedTransport(httpx.MockTransport):
    """An ``httpx.MockTransport`` that answers requests from a list, in order.

    Each item is a response, an exception to raise (such as ``httpx.ConnectError``) or
    a function of the request. A request beyond the list fails the test.
    """

    def __init__(self, *items: ScriptItem) -> None:
        self.requests: list[httpx.Request] = []
        self._items: deque[ScriptItem] = deque(items)
        super().__init__(self._answer)

    def add(self, *items: ScriptItem) -> None:
        """Queue more answers."""
        self._items.extend(items)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests received so far."""
        return [json.loads(request.content or b"{}") for request in self.requests]

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self._items:
            raise AssertionError(f"unexpected request: {request.method} {request.url}")
        item = self._items.popleft()
        if isinstance(item, Exception):
            raise item
        if isinstance(item, httpx.Response):
            return item
        return item(request)


class RecordingSleep:
    """A stand-in for ``anyio.sleep`` that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await anyio.lowlevel.checkpoint()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until it is interrupted or receives SIGTERM."""
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI-compatible API.")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks one")
    parser.add_argument("--log", type=Path, help="JSON-lines file that every call is added to")
    parser.add_argument("--api-key", help="answer 401 unless requests send this bearer key")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="STATUS[:CODE]",
        help="answer the next request with this status and error code; repeatable",
    )
    options = parser.parse_args(argv)

    server = FakeOpenAIServer(port=options.port, api_key=options.api_key, log_path=options.log)
    for fault in options.fault:
        status, _, code = fault.partition(":")
        body = _error_object(int(status), code or None, f"Scripted error with status {status}.")
        server.script(int(status), body=body)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"listening on {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
