"""A small threaded JSON server that the API fakes build on.

Each fake checks the auth header its real API expects, records every request, and
can be told to answer the next requests with 429 and a ``Retry-After``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request], Answer]


class JsonFake:
    """Serves ``route(request)`` on loopback; subclasses decide auth and routes."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._throttle: list[float] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                answer = fake.handle(request)
                payload = (
                    b"" if answer.body is None else json.dumps(answer.body).encode()
                )
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    # -- what a subclass provides ---------------------------------------------------

    def authorized(self, request: Request) -> bool:
        raise NotImplementedError

    def route(self, request: Request) -> Answer:
        raise NotImplementedError

    # -- shared behaviour -----------------------------------------------------------

    def throttle_next(self, count: int = 1, retry_after: float = 1) -> None:
        """Answer the next ``count`` authorized requests with 429."""
        with self.lock:
            self._throttle.extend([retry_after] * count)

    def handle(self, request: Request) -> Answer:
        if not self.authorized(request):
            return Answer(401, {"error": "unauthorized"})
        with self.lock:
            self.requests.append(request)
            if self._throttle:
                retry_after = self._throttle.pop(0)
                return Answer(
                    429, {"error": "rate limited"}, {"Retry-After": f"{retry_after:g}"}
                )
        return self.route(request)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> JsonFake:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
