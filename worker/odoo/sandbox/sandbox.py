"""One fake Odoo 18 database and the services a real server offers on it.

The ``common`` service answers ``version``, ``login`` and ``authenticate``;
``object`` answers ``execute_kw`` and ``execute`` after checking the database
name (an unknown one gives PostgreSQL's "database ... does not exist"), the
user id and the password (``AccessDenied``). Then, like a real server:

* an unknown model gives ``Object res.partnr doesn't exist`` (a UserError),
  a method starting with ``_`` the "Private methods ... cannot be called
  remotely" AccessError, an unknown method "The method 'model.m' does not
  exist" (an AttributeError);
* each call is one transaction, rolled back entirely if it raises, and
  committed before the caller marshals the reply.

Calls are serialised by one lock, and can be made to fail with the retryable
``could not serialize access due to concurrent update`` error, either for the
next N calls or at random with a seeded generator, before they change
anything.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from . import accounting, mail, moves, partners, payments, sales
from .exceptions import (
    AccessDenied,
    AccessError,
    OperationalError,
    SerializationFailure,
    UserError,
)
from .fields import One2many
from .orm import Model, Row, normalize_ids
from .seed import seed
from .store import Store

MODEL_CLASSES: list[type[Model]] = [
    *partners.MODELS,
    *mail.MODELS,
    *accounting.MODELS,
    *moves.MODELS,
    *payments.MODELS,
    *sales.MODELS,
]
VERSION = {
    "server_version": "18.0",
    "server_version_info": [18, 0, 0, "final", 0, ""],
    "server_serie": "18.0",
    "protocol_version": 1,
}


class Sandbox:
    """An in-memory Odoo 18 database with one API user.

    ``access_rights`` gives that user the "Administration / Access Rights"
    group (needed to read ``ir.model.data`` and ``ir.model``); without it the
    user is like a scoped production API user. ``stripe_journal`` creates the
    "Stripe" bank journal (code ``STRP``).
    """

    def __init__(
        self,
        db: str = "revsync",
        username: str = "api",
        password: str = "secret",
        access_rights: bool = False,
        stripe_journal: bool = True,
        *,
        user_email: str | None = None,
        random_seed: int = 0,
    ) -> None:
        self.db = db
        self.username = username
        self.password = password
        self.access_rights = access_rights
        self.calls: Counter[tuple[str, str]] = Counter()
        self.serialization_failure_rate = 0.0
        self.random = random.Random(random_seed)
        self.store = Store()
        self.models: dict[str, Model] = {}
        self.context: dict[str, Any] = {}
        self.uid = 1
        self.today = ""
        self.now = ""
        self._failures = 0
        self._lock = threading.RLock()
        self._tick()
        inverse: dict[str, set[str]] = {}
        for cls in MODEL_CLASSES:
            for field in cls._fields.values():
                if isinstance(field, One2many):
                    inverse.setdefault(field.comodel, set()).add(field.inverse_name)
        for cls in MODEL_CLASSES:
            self.models[cls._name] = cls(self, inverse.get(cls._name, ()))
        with self._transaction({}):
            self.user_id = seed(self, username, user_email, stripe_journal)
        self.uid = self.user_id

    @property
    def company_currency(self) -> int:
        return self.models["res.company"].table.rows[1]["currency_id"]

    def _tick(self) -> None:
        self.today = date.today().isoformat()
        self.now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")

    def _transaction(self, context: dict[str, Any]) -> _Transaction:
        return _Transaction(self, context)

    # -- test controls -------------------------------------------------------

    def fail_next(self, count: int = 1) -> None:
        """Make the next ``count`` object calls fail with a serialization error."""
        with self._lock:
            self._failures = count

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    def call_counts(self) -> dict[str, int]:
        """The call counters keyed ``"model.method"`` (``"common.login"``...)."""
        with self._lock:
            return {f"{model}.{method}": n for (model, method), n in self.calls.items()}

    def records(
        self,
        model: str,
        domain: Iterable[Any] | None = None,
        fields: list[str] | None = None,
        order: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> list[Row]:
        """Rows as ``search_read`` returns them (all fields), without counting."""
        with self._lock, self._transaction(context or {}):
            return self.models[model].search_read(
                list(domain or []), fields, order=order
            )

    def create_direct(
        self, model: str, vals: Any, context: dict[str, Any] | None = None
    ) -> Any:
        """``create`` without the wire and without counting the call."""
        with self._lock, self._transaction(context or {}):
            return self.models[model].create(vals)

    def xmlid(self, xmlid: str) -> tuple[str, int] | None:
        with self._lock:
            return self.models["ir.model.data"]._lookup(xmlid)

    def execute_kw(
        self,
        model: str,
        method: str,
        args: Iterable[Any] = (),
        kw: dict[str, Any] | None = None,
    ) -> Any:
        """One object call as the API user, counted, without the wire."""
        with self._lock:
            self.calls[(model, method)] += 1
            self._maybe_fail()
            return self._execute(model, method, list(args), kw or {})

    # -- services ------------------------------------------------------------

    def dispatch(self, service: str, method: str, params: tuple[Any, ...]) -> Any:
        """Run one XML-RPC call; exceptions are the ones a real server raises."""
        with self._lock:
            if service == "object":
                return self._object(method, params)
            self.calls[(service, method)] += 1
            if service == "common":
                return self._common(method, params)
            if service == "db":
                return self._db_service(method, params)
            raise Exception(f"Method not found: {method}")

    def _check_db(self, db: Any) -> None:
        if db != self.db:
            raise OperationalError(
                'connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
                f'database "{db}" does not exist\n'
            )

    def _authenticate(self, db: Any, login: Any, password: Any) -> Any:
        self._check_db(db)
        user = self.models["res.users"].table.rows[self.user_id]
        if login == user["login"] and password == self.password:
            return self.user_id
        return False

    def _common(self, method: str, params: tuple[Any, ...]) -> Any:
        if method == "version":
            return dict(VERSION)
        if method == "login":
            db, login, password = params
            return self._authenticate(db, login, password)
        if method == "authenticate":
            db, login, password, _user_agent_env = params
            return self._authenticate(db, login, password)
        if method == "about":
            return "See http://openerp.com"
        raise Exception(f"Method not found: {method}")

    def _db_service(self, method: str, params: tuple[Any, ...]) -> Any:
        if method == "list":
            return [self.db]
        if method == "server_version":
            return VERSION["server_version"]
        if method == "db_exist":
            return params[0] == self.db
        raise Exception(f"Method not found: {method}")

    def _object(self, method: str, params: tuple[Any, ...]) -> Any:
        if method == "execute_kw":
            db, uid, password, model, name, *rest = params
            args = rest[0] if rest else []
            kw = rest[1] if len(rest) > 1 else {}
        elif method == "execute":
            db, uid, password, model, name, *args = params
            kw = {}
        else:
            raise Exception(f"Method not found: {method}")
        self.calls[(model, name)] += 1
        self._check_db(db)
        if uid != self.user_id or password != self.password or isinstance(uid, bool):
            raise AccessDenied()
        self._maybe_fail()
        return self._execute(model, name, list(args), dict(kw or {}))

    def _maybe_fail(self) -> None:
        if self._failures > 0:
            self._failures -= 1
            raise SerializationFailure()
        rate = self.serialization_failure_rate
        if rate and self.random.random() < rate:
            raise SerializationFailure()

    def _execute(
        self, model: str, method: str, args: list[Any], kw: dict[str, Any]
    ) -> Any:
        if method.startswith("_"):
            raise AccessError(
                f"Private methods (such as '{model}.{method}') cannot be called "
                "remotely."
            )
        target = self.models.get(model)
        if target is None:
            raise UserError(f"Object {model} doesn't exist")
        func = getattr(type(target), method, None)
        kind = getattr(func, "_rpc", None)
        if func is None or kind is None:
            raise AttributeError(f"The method '{model}.{method}' does not exist")
        context = kw.pop("context", None) or {}
        target._check_rpc_access(method)
        with self._transaction(context):
            if kind == "records":
                if not args and "ids" not in kw:
                    raise TypeError(f"{method}() missing the record ids")
                ids = args[0] if args else kw.pop("ids")
                return func(target, normalize_ids(ids), *args[1:], **kw)
            return func(target, *args, **kw)


class _Transaction:
    """Run a block as the API user in one all-or-nothing transaction."""

    def __init__(self, sandbox: Sandbox, context: dict[str, Any]) -> None:
        self.sandbox = sandbox
        self.context = dict(context) if isinstance(context, dict) else {}

    def __enter__(self) -> None:
        sandbox = self.sandbox
        sandbox._tick()
        sandbox.context = self.context
        sandbox.store.begin()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        sandbox = self.sandbox
        if exc_type is None:
            sandbox.store.commit()
        else:
            sandbox.store.rollback()
        sandbox.context = {}
