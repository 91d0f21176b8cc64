"""The one way revsync talks to Odoo: odoo-client-lib, ``execute_kw`` directly.

One logged-in connection per process (a login costs Odoo a 600,000-round password
hash). Every failure is translated into the error kinds of ``worker.errors`` from the
fault Odoo returns, so the base task knows whether to retry, wait or give up.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import xmlrpc.client
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import odoolib
import structlog
from odoolib.rpc import XmlRPCConnector
from odoolib.tools import AuthenticationError

from worker.errors import PermanentError, RetryableError
from worker.metrics import EXTERNAL_CALLS

log = structlog.get_logger(__name__)

MODULE = "revsync"
BATCH = 1000

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")

# Faults Odoo raises only after retrying them itself five times on the server.
_RETRYABLE_MARKERS = (
    "could not serialize access",
    "deadlock detected",
    "could not obtain lock",
    "lock timeout",
    "SerializationFailure",
    "DeadlockDetected",
    "LockNotAvailable",
    "The Connection Pool Is Full",
)
# Odoo commits before it marshals the reply: these faults mean "done, unreadable".
_SUCCESS_MARKERS = ("cannot marshal", "dictionary key must be string")


def external_id(source: str, obj: str, ident: str) -> str:
    """The Odoo external id of one source object, e.g. ``stripe_customer_cus_1``.

    Characters outside ``[A-Za-z0-9_]`` become ``_`` because Odoo's xmlid syntax
    reserves the dot and the import format reserves the slash.
    """
    return _UNSAFE.sub("_", f"{source}_{obj}_{ident}")


def qualified(name: str) -> str:
    return f"{MODULE}.{name}"


class UnreadableReply(Exception):
    """Odoo did the work but could not marshal its answer; re-read the state."""


def classify(error: BaseException) -> Exception:
    """The revsync error kind for a failure of one Odoo call."""
    if isinstance(error, xmlrpc.client.Fault):
        code = str(error.faultCode)
        text = f"{code}\n{error.faultString or ''}"
        if any(marker in text for marker in _RETRYABLE_MARKERS):
            return RetryableError("odoo: concurrent update, retry")
        if any(marker in code for marker in _SUCCESS_MARKERS):
            return UnreadableReply(code.splitlines()[0] if code else "unreadable")
        if code in ("AccessDenied", "3"):
            return PermanentError("odoo: access denied (check ODOO_USERNAME/PASSWORD)")
        return PermanentError(f"odoo: {_fault_summary(code, error.faultString)}")
    if isinstance(error, xmlrpc.client.ProtocolError):
        if error.errcode in (429, 502, 503, 504):
            return RetryableError(f"odoo: HTTP {error.errcode}")
        return PermanentError(f"odoo: HTTP {error.errcode}")
    if isinstance(error, AuthenticationError):
        return PermanentError(
            "odoo: authentication failed (check ODOO_USERNAME/PASSWORD)"
        )
    if isinstance(error, (OSError, http.client.HTTPException, socket.timeout)):
        return RetryableError(f"odoo: unreachable ({type(error).__name__})")
    return error if isinstance(error, Exception) else RuntimeError(str(error))


def _outcome(failure: Exception) -> str:
    """The ``outcome`` label of a failed call (see ``EXTERNAL_CALLS``)."""
    if isinstance(failure, UnreadableReply):
        return "ok"  # Odoo did the work; only its answer was lost
    if isinstance(failure, RetryableError):
        return "retryable"
    return "permanent"


def _fault_summary(code: str, detail: str | None) -> str:
    """The first meaningful line of a fault, without the traceback."""
    if code.startswith("warning -- "):
        kind, _, message = code.removeprefix("warning -- ").partition("\n\n")
        return f"{kind}: {message.strip().splitlines()[0] if message.strip() else ''}"
    if code.isdigit() and detail:
        lines = [line for line in detail.strip().splitlines() if line.strip()]
        return lines[-1][:300] if lines else f"fault {code}"
    return code.strip().splitlines()[0][:300]


class _TimeoutTransport(xmlrpc.client.Transport):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host):  # type: ignore[no-untyped-def]
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection


class _SafeTimeoutTransport(xmlrpc.client.SafeTransport):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host):  # type: ignore[no-untyped-def]
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection


class _Connector(XmlRPCConnector):
    """odoo-client-lib's XML-RPC connector with a timeout; it has none of its own."""

    def __init__(self, hostname: str, port: int, timeout: float, tls: bool) -> None:
        super().__init__(hostname, port)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{hostname}:{port}/xmlrpc"
        self.timeout = timeout
        self.tls = tls

    def send(self, service_name: str, method: str, *args: Any) -> Any:
        transport = (
            _SafeTimeoutTransport(self.timeout)
            if self.tls
            else _TimeoutTransport(self.timeout)
        )
        proxy = xmlrpc.client.ServerProxy(
            f"{self.url}/{service_name}", transport=transport
        )
        return getattr(proxy, method)(*args)


class OdooClient:
    """A logged-in Odoo connection with the few operations revsync needs."""

    def __init__(
        self, url: str, database: str, login: str, password: str, timeout: float = 60
    ) -> None:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        connector = _Connector(parts.hostname or "127.0.0.1", port, timeout, tls)
        self.connection = odoolib.Connection(connector, database, login, password)
        self.database = database
        self.calls = 0

    def version(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self.connection.get_service("common").version()
        except Exception as error:  # noqa: BLE001 - translated just below
            raise classify(error) from None
        return result

    def login(self) -> int:
        try:
            self.connection.check_login(False)
        except Exception as error:  # noqa: BLE001
            raise classify(error) from None
        return int(self.connection.user_id)

    def call(self, model: str, method: str, *args: Any, **kw: Any) -> Any:
        """One ``execute_kw`` round trip, with the failure classified."""
        uid = self.login()
        self.calls += 1
        try:
            result = self.connection.get_service("object").execute_kw(
                self.database,
                uid,
                self.connection.password,
                model,
                method,
                list(args),
                kw,
            )
        except Exception as error:  # noqa: BLE001
            failure = classify(error)
            EXTERNAL_CALLS.labels("odoo", _outcome(failure)).inc()
            raise failure from None
        EXTERNAL_CALLS.labels("odoo", "ok").inc()
        return result

    def act(
        self, model: str, method: str, ids: Sequence[int], *args: Any, **kw: Any
    ) -> Any:
        """Call a button or action method, some of which return None.

        Odoo commits before it marshals the reply, and it cannot marshal None, so
        for these methods the "cannot marshal" fault means the work was done.
        """
        try:
            return self.call(model, method, list(ids), *args, **kw)
        except UnreadableReply:
            return None

    def ref(self, xmlid: str) -> int | None:
        """The database id behind a full external id, or None when there is none.

        ``check_object_reference`` is used because a scoped API user may call it
        although it may not read ``ir.model.data``.
        """
        module, _, name = xmlid.partition(".")
        try:
            _model, res_id = self.call(
                "ir.model.data", "check_object_reference", module, name
            )
        except PermanentError as error:
            if "External ID not found" in str(error):
                return None
            raise
        return int(res_id)

    def load_record(self, model: str, xmlid: str, values: dict[str, Any]) -> int:
        """Create or update one record under ``xmlid`` in one call and transaction.

        Only for header fields: ``load`` appends one2many lines instead of replacing
        them. Values are sent as strings, as the import format expects.
        """
        columns = ["id", *values]
        row = [xmlid, *(_as_import_value(values[name]) for name in values)]
        result = self.call(model, "load", columns, [row])
        ids = result.get("ids")
        if ids:
            log.info("odoo.record.loaded", model=model, odoo_id=int(ids[0]))
            return int(ids[0])
        messages = result.get("messages") or []
        texts = [str(message.get("message", "")) for message in messages]
        if any("could not serialize" in text for text in texts):
            raise RetryableError(f"odoo: concurrent load of {model}, retry")
        fields = sorted({str(m.get("field")) for m in messages if m.get("field")})
        detail = texts[0].splitlines()[0][:300] if texts else "no id returned"
        raise PermanentError(
            f"odoo: {model} refused the load"
            + (f" of {', '.join(fields)}" if fields else "")
            + f": {detail}"
        )

    def read(
        self, model: str, ids: Sequence[int], fields: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Read many records in batches of a thousand, with explicit fields."""
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(list(ids), BATCH):
            rows.extend(self.call(model, "read", chunk, fields=list(fields)))
        return rows

    def search_read(
        self,
        model: str,
        domain: list[Any],
        fields: Sequence[str],
        *,
        limit: int | None = None,
        offset: int = 0,
        order: str | None = None,
    ) -> list[dict[str, Any]]:
        kw: dict[str, Any] = {"fields": list(fields), "offset": offset}
        if limit is not None:
            kw["limit"] = limit
        if order is not None:
            kw["order"] = order
        rows: list[dict[str, Any]] = self.call(model, "search_read", domain, **kw)
        return rows


def _as_import_value(value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    return str(value)


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_clients: dict[tuple[int, str, str, str], OdooClient] = {}


def get_client(url: str, database: str, login: str, password: str) -> OdooClient:
    """The process-wide client for these credentials, logged in on first use."""
    key = (os.getpid(), url, database, login)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = OdooClient(url, database, login, password)
    return client
