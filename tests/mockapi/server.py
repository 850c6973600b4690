"""A loopback mock of the model APIs that the real agent CLIs talk to.

One server answers all three dialects (see dialects.py) on 127.0.0.1 and a free port. A test
scripts what the next model requests get (answers, errors, hangs) and reads back every request
the clients sent, with secret header values replaced.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.mockapi import dialects
from tests.mockapi.behaviours import Behaviour, Fail, Hang, Reply
from tests.mockapi.dialects import Dialect

SECRET_WORDS = ("key", "token", "secret", "password", "authorization", "cookie")


@dataclass(frozen=True)
class Request:
    """One request as the mock saw it; `behaviour` is what it answered with (None: not a model call)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    dialect: Dialect | None
    behaviour: Behaviour | None
    side: bool = False
    at: float = field(default_factory=time.time)

    def text(self) -> str:
        """The body as JSON text, for "did the client send the prompt" checks."""
        return json.dumps(self.body, ensure_ascii=False)


def is_side_request(body: Any) -> bool:
    """A client's own housekeeping call (Claude Code's session title), not the conversation.

    It asks for a JSON-schema answer with no tools; answering it from the script would shift every
    scripted behaviour by one, so it gets a fixed answer and is left out of `model_requests`.
    """
    if not isinstance(body, dict):
        return False
    output_format = (body.get("output_config") or {}).get("format") or {}
    return output_format.get("type") == "json_schema" and not body.get("tools")


SIDE_REPLY = Reply(text=json.dumps({"title": "Mock session"}), input_tokens=0, output_tokens=0)


def _redact(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {
        name.lower(): "<redacted>" if any(w in name.lower() for w in SECRET_WORDS) else value for name, value in headers
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients drop kept-alive connections when they exit or give up: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class MockAPI:
    """The mock server. Start it, point a client at `.url`, script it, read `.requests`."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default: Reply = default or Reply()
        self._queue: list[list[Any]] = []  # [behaviour, uses left]
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._count = 0

    # Life cycle

    def start(self) -> MockAPI:
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="mockapi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging requests
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MockAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the mock API is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL without a path (Claude Code's ANTHROPIC_BASE_URL); OpenAI clients add /v1."""
        return f"http://127.0.0.1:{self.port}"

    # Scripting and reading back

    def script(self, *behaviours: Behaviour, then: Reply | None = None) -> None:
        """Answer the next model requests with `behaviours` in order, then with `then` (or the default)."""
        with self._lock:
            self._queue = [[b, b.times] for b in behaviours]
            if then is not None:
                self.default = then

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    @property
    def model_requests(self) -> list[Request]:
        """The conversation's requests: model calls other than the clients' side requests."""
        return [r for r in self.requests if r.dialect is not None and not r.side]

    def saw(self, text: str) -> bool:
        """Whether any model request carried `text` (e.g. the prompt)."""
        return any(text in r.text() for r in self.model_requests)

    def usage(self) -> tuple[int, int]:
        """Input and output tokens of all answers given so far."""
        replies = [r.behaviour for r in self.model_requests if isinstance(r.behaviour, Reply)]
        return sum(b.input_tokens for b in replies), sum(b.output_tokens for b in replies)

    def _next(self) -> Behaviour:
        with self._lock:
            self._count += 1
            while self._queue and self._queue[0][1] <= 0:
                self._queue.pop(0)
            if not self._queue:
                return self.default
            self._queue[0][1] -= 1
            behaviour: Behaviour = self._queue[0][0]
            return behaviour

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)


def _handler_for(mock: MockAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the requests are recorded instead

        def do_HEAD(self) -> None:
            self._note(None, None)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._note(None, None)
            if self.path.split("?")[0].endswith("/models"):
                models = [{"id": m, "object": "model", "owned_by": "mock"} for m in ("gpt-4o-mini", "gpt-5-codex")]
                self._json(200, {"object": "list", "data": models})
            else:
                self._json(404, {"error": {"message": f"no such path: {self.path}", "type": "not_found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"unparsed": raw.decode(errors="replace")}
            path = urlsplit(self.path).path
            dialect = dialects.dialect_for(path)
            if path.endswith("/count_tokens"):
                self._note(body, None)
                self._json(200, {"input_tokens": 12})
                return
            if dialect is None:
                self._note(body, None)
                self._json(404, {"error": {"message": f"no such path: {path}", "type": "not_found"}})
                return
            side = is_side_request(body)
            behaviour = SIDE_REPLY if side else mock._next()
            self._note(body, behaviour, dialect, side)
            if isinstance(behaviour, Hang):
                mock._stopping.wait(behaviour.seconds)
                self.close_connection = True
            elif isinstance(behaviour, Fail):
                self._json(behaviour.status, dialects.error_body(dialect, behaviour), behaviour.headers)
            elif dialects.wants_stream(dialect, body):
                self._stream(dialects.reply_stream(dialect, body, behaviour, mock._count), behaviour.delay)
            else:
                self._json(200, dialects.reply_json(dialect, body, behaviour, mock._count))

        def _note(
            self, body: Any, behaviour: Behaviour | None, dialect: Dialect | None = None, side: bool = False
        ) -> None:
            parts = urlsplit(self.path)
            mock._record(
                Request(
                    method=self.command,
                    path=parts.path,
                    query=parts.query,
                    headers=_redact(self.headers.items()),
                    body=body,
                    dialect=dialect,
                    behaviour=behaviour,
                    side=side,
                )
            )

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", f"req_mock{mock._count:04d}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, chunks: list[bytes], delay: float) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                for chunk in chunks:
                    if chunk == dialects.PAUSE:
                        if delay:
                            mock._stopping.wait(delay)
                        continue
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (interrupted, killed)

    return Handler
