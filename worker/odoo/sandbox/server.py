"""The HTTP side: Odoo 18's XML-RPC endpoints and their fault encodings.

A real server offers two generations of the same endpoints, which differ only
in how errors travel:

* ``/xmlrpc/<service>`` (the one odoo-client-lib uses) puts the text in
  ``faultCode``: ``'warning -- UserError\\n\\n<msg>'`` with an empty
  ``faultString`` for business errors (and ``ValidationError``),
  ``'warning -- MissingError\\n\\n…'``, ``'warning -- AccessError\\n\\n…'``,
  ``'AccessDenied'``/``'Access Denied'`` for bad credentials, and for anything
  else ``str(exception)`` with the traceback in ``faultString``;
* ``/xmlrpc/2/<service>`` uses integer codes: 2 for UserError and
  MissingError, 3 for AccessDenied, 4 for AccessError and 1 for anything
  else (traceback in ``faultString``).

Replies are marshalled without ``allow_none``, after the call has been
committed, so a method returning ``None`` (or a dict with integer keys) has
its effects kept while the client gets a fault, exactly as with Odoo.

Besides XML-RPC, ``GET /sandbox/calls`` returns the call counters as JSON and
``POST /sandbox/reset-calls`` clears them.
"""

from __future__ import annotations

import json
import threading
import traceback
import xmlrpc.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .exceptions import (
    AccessDenied,
    AccessError,
    MissingError,
    RedirectWarning,
    UserError,
)
from .sandbox import Sandbox

ROUTES = {
    "/xmlrpc/common": ("common", True),
    "/xmlrpc/object": ("object", True),
    "/xmlrpc/db": ("db", True),
    "/xmlrpc/2/common": ("common", False),
    "/xmlrpc/2/object": ("object", False),
    "/xmlrpc/2/db": ("db", False),
}


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def encode_fault(exc: BaseException, legacy: bool) -> xmlrpc.client.Fault:
    """Encode an exception the way the endpoint of a real server does."""
    if legacy:
        if isinstance(exc, RedirectWarning):
            return xmlrpc.client.Fault(f"warning -- Warning\n\n{exc}", "")
        if isinstance(exc, MissingError):
            return xmlrpc.client.Fault(f"warning -- MissingError\n\n{exc}", "")
        if isinstance(exc, AccessError):
            return xmlrpc.client.Fault(f"warning -- AccessError\n\n{exc}", "")
        if isinstance(exc, AccessDenied):
            return xmlrpc.client.Fault("AccessDenied", str(exc))
        if isinstance(exc, UserError):
            return xmlrpc.client.Fault(f"warning -- UserError\n\n{exc}", "")
        return xmlrpc.client.Fault(str(exc), _traceback(exc))
    if isinstance(exc, AccessError):
        return xmlrpc.client.Fault(4, str(exc))
    if isinstance(exc, AccessDenied):
        return xmlrpc.client.Fault(3, str(exc))
    if isinstance(exc, UserError):
        return xmlrpc.client.Fault(2, str(exc))
    return xmlrpc.client.Fault(1, _traceback(exc))


def respond(sandbox: Sandbox, service: str, body: bytes, legacy: bool) -> str:
    """Answer one XML-RPC request body with a response body."""
    try:
        params, method = xmlrpc.client.loads(body)
        result = sandbox.dispatch(service, method or "", params)
        return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False)
    except Exception as exc:  # noqa: BLE001 - every error becomes a fault
        fault = encode_fault(exc, legacy)
        return xmlrpc.client.dumps(fault, methodresponse=True, allow_none=False)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0 closes each connection after its reply, so a stopped server
    # really refuses the next call instead of serving a kept-alive socket.
    protocol_version = "HTTP/1.0"
    server_version = "OdooSandbox/18.0"
    server: _HTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        sandbox = self.server.sandbox
        if self.path == "/sandbox/reset-calls":
            sandbox.reset_calls()
            self._send(200, "application/json", b'{"ok": true}')
            return
        route = ROUTES.get(self.path.rstrip("/"))
        if route is None:
            self._send(404, "text/plain", b"Not Found")
            return
        service, legacy = route
        self._send(200, "text/xml", respond(sandbox, service, body, legacy).encode())

    def do_GET(self) -> None:
        if self.path == "/sandbox/calls":
            payload = json.dumps(self.server.sandbox.call_counts(), sort_keys=True)
            self._send(200, "application/json", payload.encode())
            return
        if self.path in ("/web/login", "/web/health"):
            self._send(200, "application/json", b'{"status": "pass"}')
            return
        self._send(404, "text/plain", b"Not Found")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox


class SandboxServer:
    """Serve a :class:`Sandbox` over HTTP in a background thread.

    ``port=0`` picks a free port on the first ``start()``; later starts after
    a ``stop()`` reuse that same port, and the sandbox keeps its state.
    """

    def __init__(
        self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.sandbox = sandbox
        self.host = host
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self.host, self._port), self.sandbox)
        self._port = httpd.server_address[1]
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"odoo-sandbox-{self._port}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8069,
    db: str = "revsync",
    username: str = "admin",
    password: str = "admin",
    *,
    access_rights: bool = False,
    stripe_journal: bool = True,
    user_email: str | None = None,
) -> None:
    """Run a fresh sandbox in the foreground until interrupted (for the CLI)."""
    sandbox = Sandbox(
        db=db,
        username=username,
        password=password,
        access_rights=access_rights,
        stripe_journal=stripe_journal,
        user_email=user_email,
    )
    httpd = _HTTPServer((host, port), sandbox)
    bound = httpd.server_address[1]
    print(
        f"Odoo 18 sandbox on http://{host}:{bound} "
        f"(database {db!r}, login {username!r}, uid {sandbox.user_id})",
        flush=True,
    )
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
