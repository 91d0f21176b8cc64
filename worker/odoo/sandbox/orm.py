"""The generic part of Odoo's ORM as the external API sees it.

Every model answers ``create``, ``read``, ``write``, ``unlink``, ``search``,
``search_read``, ``search_count``, ``name_search``, ``fields_get``,
``default_get``, ``copy``, ``load`` and ``get_external_id`` with the return
values and errors of a real Odoo 18:

* ``create`` takes a dict (returns an int) or a list of dicts (returns a list).
* ``read`` silently skips ids that do not exist, while ``write``, ``unlink``
  and business methods raise ``MissingError`` for them.
* Unknown fields raise ``Invalid field 'x' on model 'y'`` (a ``ValueError``,
  so the "anything else" fault family).
* ``default_<field>`` keys of the context provide defaults, and
  ``active_test`` in the context controls the implicit ``active = True``
  filter of models that have an ``active`` field.
* Unlinking a record also removes its external ids.
* ``search`` has no ``count`` argument any more (removed in Odoo 17).

Only methods marked with :func:`api_model` or :func:`api_records` can be
called remotely; record methods receive the ids of the first argument the
way Odoo's ``call_kw`` passes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from . import domain as domains
from .exceptions import acl_error, missing_error, not_null_error
from .fields import (
    Char,
    Datetime,
    Field,
    Integer,
    Many2many,
    Many2one,
    One2many,
)

if TYPE_CHECKING:
    from .sandbox import Sandbox

Row = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])


def api_model(func: F) -> F:
    """Expose a method that does not take record ids."""
    func._rpc = "model"  # type: ignore[attr-defined]
    return func


def api_records(func: F) -> F:
    """Expose a method whose first argument is the ids it works on."""
    func._rpc = "records"  # type: ignore[attr-defined]
    return func


def normalize_ids(ids: Any) -> list[int]:
    if ids is False or ids is None:
        return []
    if isinstance(ids, int):
        return [ids]
    return [i for i in ids]


class Model:
    _name: ClassVar[str] = ""
    _description: ClassVar[str] = ""
    _order: ClassVar[str] = "id"
    _rec_name: ClassVar[str | None] = "name"
    _module: ClassVar[str] = "base"
    _admin_only: ClassVar[bool] = False
    _acl_free: ClassVar[frozenset[str]] = frozenset({"fields_get"})
    _transient: ClassVar[bool] = False
    _fields: ClassVar[dict[str, Field]] = {}

    id = Integer("ID", readonly=True)
    display_name = Char("Display Name", compute="_compute_display_name")
    create_date = Datetime("Created on", readonly=True)
    create_uid = Many2one("res.users", "Created by", readonly=True)
    write_date = Datetime("Last Updated on", readonly=True)
    write_uid = Many2one("res.users", "Last Updated by", readonly=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Field] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Field):
                    fields[name] = value
        cls._fields = fields

    def __init__(self, sandbox: Sandbox, indexed: Iterable[str] = ()) -> None:
        self.sandbox = sandbox
        self.env = sandbox.models
        names = set(indexed) | {
            name for name, field in self._fields.items() if field.index
        }
        self.table = sandbox.store.table(self._name, names)
        self._raw_getters: dict[str, Callable[[Row], Any]] = {}
        self._read_getters: dict[str, Callable[[Row], Any]] = {}
        self._template: Row | None = None
        self._callable_defaults: list[tuple[str, Field]] = []
        self._required: list[str] = []

    def __repr__(self) -> str:
        return f"<model {self._name}>"

    # -- environment ---------------------------------------------------------

    @property
    def uid(self) -> int:
        return self.sandbox.uid

    @property
    def context(self) -> dict[str, Any]:
        return self.sandbox.context

    def row(self, rid: int) -> Row:
        return self.table.rows[rid]

    def existing(self, ids: Any) -> list[int]:
        """The ids, or the MissingError of a real server if one is gone."""
        ids = normalize_ids(ids)
        rows = self.table.rows
        missing = [i for i in ids if i not in rows]
        if missing:
            raise missing_error(self._name, missing, self.uid)
        return ids

    def _check_rpc_access(self, method: str) -> None:
        if self._admin_only and not self.sandbox.access_rights:
            if method not in self._acl_free:
                raise acl_error(
                    self._description, self._name, ["Administration/Access Rights"]
                )

    # -- values --------------------------------------------------------------

    def _compute_display_name(self, row: Row) -> Any:
        if self._rec_name and self._rec_name in row:
            return row[self._rec_name] or False
        return f"{self._name},{row['id']}"

    def display_name_of(self, rid: int) -> Any:
        row = self.table.rows.get(rid)
        if row is None:
            return False
        return self._compute_display_name(row)

    def raw_getter(self, name: str) -> Callable[[Row], Any]:
        """How to get the stored form of a field (many2one as an id)."""
        getter = self._raw_getters.get(name)
        if getter is None:
            getter = self._make_raw_getter(name)
            self._raw_getters[name] = getter
        return getter

    def _make_raw_getter(self, name: str) -> Callable[[Row], Any]:
        field = self._fields[name]
        if name == "id":
            return lambda row: row["id"]
        if field.related:
            return self._related_getter(field.related)
        if field.compute:
            return getattr(self, field.compute)
        if isinstance(field, One2many):
            return lambda row: field.ids_for(self, row["id"])
        return lambda row: row[name]

    def _related_getter(self, path: str) -> Callable[[Row], Any]:
        first, _, rest = path.partition(".")
        comodel = self.env[self._fields[first].comodel]  # type: ignore[attr-defined]
        sub = comodel.raw_getter(rest)
        rows = comodel.table.rows
        empty = comodel._fields[rest.split(".")[0]].empty

        def get(row: Row) -> Any:
            target = rows.get(row[first]) if row[first] else None
            return sub(target) if target is not None else empty

        return get

    def read_getter(self, name: str) -> Callable[[Row], Any]:
        getter = self._read_getters.get(name)
        if getter is None:
            getter = self._make_read_getter(name)
            self._read_getters[name] = getter
        return getter

    def _make_read_getter(self, name: str) -> Callable[[Row], Any]:
        field = self._fields[name]
        raw = self.raw_getter(name)
        if isinstance(field, Many2one):
            comodel = self.env[field.comodel]
            rows = comodel.table.rows
            label = comodel._compute_display_name

            def get_many2one(row: Row) -> Any:
                value = raw(row)
                target = rows.get(value) if value else None
                return [value, label(target)] if target is not None else False

            return get_many2one
        if isinstance(field, Many2many):
            comodel = self.env[field.comodel]

            def get_many2many(row: Row) -> list[int]:
                ids = raw(row)
                if len(ids) < 2:
                    return list(ids)
                # like the SQL join behind it, the ids come in the comodel's order
                return comodel._ordered(ids)

            return get_many2many
        if isinstance(field, One2many):
            return lambda row: list(raw(row))
        if field.compute or field.related:

            def get_computed(row: Row) -> Any:
                value = raw(row)
                return field.empty if value is None else value

            return get_computed
        return raw

    def sort_key(self, name: str) -> Callable[[Row], Any]:
        field = self._fields[name]
        raw = self.raw_getter(name)
        if isinstance(field, Many2one):
            comodel = self.env[field.comodel]

            def by_label(row: Row) -> Any:
                value = raw(row)
                label = comodel.display_name_of(value) if value else False
                return (label is False, label or "")

            return by_label
        if field.type == "boolean":
            return lambda row: bool(raw(row))
        empty = (
            ""
            if field.type in ("char", "text", "html", "date", "datetime", "selection")
            else 0
        )

        def by_value(row: Row) -> Any:
            value = raw(row)
            return (value is False, empty if value is False else value)

        return by_value

    # -- create --------------------------------------------------------------

    def _check_field_names(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self._fields:
                raise ValueError(f"Invalid field {name!r} on model {self._name!r}")

    def _row_template(self) -> Row:
        if self._template is None:
            template: Row = {}
            callables = []
            for name, field in self._fields.items():
                if not field.stored or name == "id":
                    continue
                default = field.default
                if callable(default):
                    template[name] = field.empty
                    callables.append((name, field))
                elif default is not None:
                    template[name] = field.to_raw(self, default)
                else:
                    template[name] = field.empty
            self._template = template
            self._callable_defaults = callables
            self._required = [n for n in template if self._fields[n].required]
        return self._template

    def _context_defaults(self, vals: Row) -> Row:
        context = self.sandbox.context
        if not context:
            return vals
        for key, value in context.items():
            if key.startswith("default_"):
                name = key[8:]
                if name in self._fields and name not in vals:
                    vals[name] = value
        return vals

    def _prepare_create(self, vals: Row) -> Row:
        """Hook: fill business defaults that depend on other values."""
        return vals

    def _after_create(self, rid: int, vals: Row) -> None:
        """Hook: what a real server computes once the record exists."""

    @api_model
    def create(self, vals_list: Any) -> Any:
        if isinstance(vals_list, dict):
            return self._create(vals_list)
        return [self._create(vals) for vals in vals_list]

    def _create(self, vals: Row) -> int:
        vals = self._context_defaults(dict(vals))
        self._check_field_names(vals)
        vals = self._prepare_create(vals)
        template = self._row_template()
        row = dict(template)
        for name, field in self._callable_defaults:
            if name not in vals:
                row[name] = field.to_raw(self, field.default(self))
        fields = self._fields
        later: list[str] = []
        for name, value in vals.items():
            field = fields[name]
            if field.stored:
                row[name] = field.to_raw(self, value)
            elif name != "id":
                later.append(name)
        rid = self.table.new_id()
        row["id"] = rid
        if "create_date" in template:
            now = self.sandbox.now
            row["create_date"] = row["write_date"] = now
            row["create_uid"] = row["write_uid"] = self.sandbox.uid
        self.table.insert(row)
        for name in later:
            self._write_special(rid, fields[name], vals[name])
        self._check_required(row, self._required)
        self._after_create(rid, vals)
        self._check_constraints([rid])
        return rid

    def _check_required(self, row: Row, names: Iterable[str]) -> None:
        for name in names:
            field = self._fields[name]
            if field.required and row.get(name) is False:
                raise not_null_error(
                    self._description, self._name, str(field.string), name
                )

    def _check_constraints(self, ids: list[int]) -> None:
        """Hook: Python constraints, run after create and write."""

    # -- write ---------------------------------------------------------------

    def _before_write(self, ids: list[int], vals: Row) -> None:
        """Hook: refuse a write (for instance on a posted move)."""

    def _after_write(self, ids: list[int], vals: Row) -> None:
        """Hook: recompute what depends on the written values."""

    @api_records
    def write(self, ids: Any, vals: Row) -> bool:
        ids = self.existing(ids)
        vals = dict(vals)
        self._check_field_names(vals)
        self._before_write(ids, vals)
        self._write(ids, vals)
        self._after_write(ids, vals)
        self._check_constraints(ids)
        return True

    def _write(self, ids: list[int], vals: Row) -> None:
        fields = self._fields
        plain: Row = {}
        many2many: list[str] = []
        special: list[str] = []
        for name, value in vals.items():
            field = fields[name]
            if name == "id":
                continue
            if isinstance(field, Many2many) and field.stored:
                many2many.append(name)
            elif field.stored:
                plain[name] = field.to_raw(self, value)
            else:
                special.append(name)
        if "write_date" in fields:
            plain["write_date"] = self.sandbox.now
            plain["write_uid"] = self.sandbox.uid
        rows = self.table.rows
        for rid in ids:
            changes = dict(plain)
            for name in many2many:
                field = fields[name]
                changes[name] = field.apply_commands(  # type: ignore[attr-defined]
                    self, rows[rid][name], vals[name]
                )
            self.table.update(rid, changes)
            for name in special:
                self._write_special(rid, fields[name], vals[name])
            self._check_required(rows[rid], plain)

    def _write_special(self, rid: int, field: Field, value: Any) -> None:
        """Fields that are not columns of this table: one2many and related."""
        if isinstance(field, One2many):
            self._apply_one2many(rid, field, value)
        elif field.related:
            first, _, rest = field.related.partition(".")
            target = self.table.rows[rid][first]
            if target:
                comodel = self.env[self._fields[first].comodel]  # type: ignore
                comodel.write([target], {rest: value})
        elif field.inverse:
            getattr(self, field.inverse)(rid, value)

    def _apply_one2many(self, rid: int, field: One2many, commands: Any) -> None:
        comodel = self.env[field.comodel]
        inverse = field.inverse_name
        if commands is False or commands is None:
            commands = [(5, 0, 0)]
        for command in commands or []:
            if isinstance(command, int):
                command = (6, 0, list(commands))
                self._apply_one2many(rid, field, [command])
                return
            code = command[0]
            if code == 0:
                comodel._create({**command[2], inverse: rid})
            elif code == 1:
                comodel.write([command[1]], command[2])
            elif code in (2, 3):
                comodel.unlink([command[1]])
            elif code == 4:
                comodel.write([command[1]], {inverse: rid})
            elif code == 5:
                current = field.ids_for(self, rid)
                if current:
                    comodel.unlink(current)
            elif code == 6:
                wanted = comodel.existing(list(command[2] or []))
                current = field.ids_for(self, rid)
                stale = [i for i in current if i not in set(wanted)]
                if stale:
                    comodel.unlink(stale)
                new = [i for i in wanted if i not in set(current)]
                if new:
                    comodel.write(new, {inverse: rid})
            else:
                raise ValueError(f"Unknown one2many command {command!r}")

    # -- unlink --------------------------------------------------------------

    def _before_unlink(self, ids: list[int]) -> None:
        """Hook: refuse to delete (for instance a posted move)."""

    @api_records
    def unlink(self, ids: Any) -> bool:
        ids = self.existing(ids)
        self._before_unlink(ids)
        self._unlink(ids)
        return True

    def _unlink(self, ids: list[int]) -> None:
        for field in self._fields.values():
            if isinstance(field, One2many):
                comodel = self.env[field.comodel]
                inverse = comodel._fields[field.inverse_name]
                if getattr(inverse, "ondelete", "") == "cascade":
                    children = [
                        child
                        for rid in ids
                        for child in comodel.table.lookup(field.inverse_name, rid)
                    ]
                    if children:
                        comodel._unlink(sorted(set(children)))
        self.env["ir.model.data"]._forget(self._name, ids)
        for rid in ids:
            if rid in self.table.rows:
                self.table.delete(rid)

    # -- search and read -----------------------------------------------------

    def _active_test(self, node: domains.Node, active_test: bool | None) -> bool:
        if "active" not in self._fields:
            return False
        if active_test is None:
            active_test = self.sandbox.context.get("active_test", True)
        return bool(active_test) and not node.mentions("active")

    def _search_node(
        self,
        node: domains.Node,
        active_test: bool | None = None,
    ) -> list[Row]:
        rows = self.table.rows
        ids, exact = node.candidates()
        if ids is None:
            candidates: Iterable[Row] = rows.values()
        else:
            candidates = [rows[i] for i in ids if i in rows]
        if not exact:
            predicate = node.predicate()
            candidates = [row for row in candidates if predicate(row)]
        if self._active_test(node, active_test):
            candidates = [row for row in candidates if row["active"]]
        return list(candidates)

    def _search_rows(
        self,
        domain: Any,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        active_test: bool | None = None,
    ) -> list[Row]:
        node = domains.compile_domain(self, domain)
        found = self._search_node(node, active_test)
        found = domains.sort_rows(self, found, order)
        if offset:
            found = found[offset:]
        if limit:
            found = found[:limit]
        return found

    def _search(
        self,
        domain: Any,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        active_test: bool | None = None,
    ) -> list[int]:
        rows = self._search_rows(domain, offset, limit, order, active_test)
        return [row["id"] for row in rows]

    def _ordered(self, ids: Iterable[int]) -> list[int]:
        rows = self.table.rows
        found = [rows[i] for i in ids if i in rows]
        return [row["id"] for row in domains.sort_rows(self, found, None)]

    def _search_by_name(self, operator: str, value: Any) -> list[int]:
        name = self._rec_name or "display_name"
        if name not in self._fields:
            name = "display_name"
        return self._search([(name, operator, value)], active_test=False)

    def _child_of(self, ids: list[int]) -> set[int]:
        found = set(ids)
        if "parent_id" not in self.table.indexes:
            return found
        todo = list(ids)
        while todo:
            for child in self.table.lookup("parent_id", todo.pop()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def _parent_of(self, ids: list[int]) -> set[int]:
        found: set[int] = set()
        rows = self.table.rows
        for rid in ids:
            while rid and rid not in found and rid in rows:
                found.add(rid)
                rid = rows[rid].get("parent_id", False)
        return found

    @api_model
    def search(
        self,
        domain: Any,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[int]:
        return self._search(domain, offset, limit, order)

    @api_model
    def search_count(self, domain: Any = None, limit: int | None = None) -> int:
        node = domains.compile_domain(self, domain)
        count = len(self._search_node(node))
        return min(count, limit) if limit else count

    @api_model
    def search_read(
        self,
        domain: Any = None,
        fields: Any = None,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        load: str = "_classic_read",
    ) -> list[Row]:
        rows = self._search_rows(domain, offset, limit, order)
        return self._read_rows(rows, fields, load)

    @api_records
    def read(
        self,
        ids: Any,
        fields: Any = None,
        load: str = "_classic_read",
    ) -> list[Row]:
        table_rows = self.table.rows
        rows = [table_rows[i] for i in normalize_ids(ids) if i in table_rows]
        return self._read_rows(rows, fields, load)

    def _read_rows(
        self,
        rows: list[Row],
        fields: Any,
        load: str | None = None,
    ) -> list[Row]:
        names = [n for n in (fields or self._fields) if n != "id"]
        self._check_field_names(names)
        if load == "_classic_read":
            getters = [(name, self.read_getter(name)) for name in names]
        else:
            getters = [(name, self._plain_getter(name)) for name in names]
        result = []
        for row in rows:
            record = {"id": row["id"]}
            for name, getter in getters:
                record[name] = getter(row)
            result.append(record)
        return result

    def _plain_getter(self, name: str) -> Callable[[Row], Any]:
        if isinstance(self._fields[name], Many2one):
            return self.raw_getter(name)
        return self.read_getter(name)

    @api_model
    def name_search(
        self,
        name: str = "",
        args: Any = None,
        operator: str = "ilike",
        limit: int = 100,
        domain: Any = None,
    ) -> list[list[Any]]:
        terms = list(args or domain or [])
        if name:
            rec_name = self._rec_name or "display_name"
            terms.append((rec_name, operator, name))
        ids = self._search(terms, limit=limit)
        return [[rid, self.display_name_of(rid)] for rid in ids]

    @api_model
    def fields_get(
        self,
        allfields: Any = None,
        attributes: Any = None,
    ) -> dict[str, Any]:
        result = {}
        for name, field in self._fields.items():
            if allfields and name not in allfields:
                continue
            info = field.describe()
            info["name"] = name
            if attributes:
                info = {key: info[key] for key in attributes if key in info}
            result[name] = info
        return result

    @api_model
    def default_get(self, fields_list: Any) -> dict[str, Any]:
        result: dict[str, Any] = {}
        self._check_field_names(fields_list)
        for name in fields_list:
            field = self._fields[name]
            key = f"default_{name}"
            if key in self.sandbox.context:
                result[name] = self.sandbox.context[key]
            elif callable(field.default):
                result[name] = field.default(self)
            elif field.default is not None:
                result[name] = field.default
        return result

    @api_model
    def check_access_rights(
        self,
        operation: str,
        raise_exception: bool = True,
    ) -> bool:
        try:
            self._check_rpc_access(operation)
        except Exception:
            if raise_exception:
                raise
            return False
        return True

    @api_records
    def copy(self, ids: Any, default: Any = None) -> int:
        (rid,) = self.existing(ids)
        return self._copy(rid, default or {})

    def _copy(self, rid: int, default: Row) -> int:
        row = self.table.rows[rid]
        vals: Row = {}
        for name, field in self._fields.items():
            if (
                not field.stored
                or not field.copy
                or name in ("id",)
                or (name.startswith(("create_", "write_")))
            ):
                continue
            value = row[name]
            vals[name] = (
                [(6, 0, list(value))] if isinstance(field, Many2many) else value
            )
        vals.update(default)
        return self._create(vals)

    @api_records
    def get_external_id(self, ids: Any) -> dict[int, str]:
        # int keys: a real server commits, then fails to marshal this reply
        data = self.env["ir.model.data"]
        return {
            rid: data._xmlid_of(self._name, rid) or "" for rid in normalize_ids(ids)
        }

    @api_model
    def load(self, fields: list[str], data: list[list[Any]]) -> dict[str, Any]:
        from .loader import load_records

        return load_records(self, fields, data)
