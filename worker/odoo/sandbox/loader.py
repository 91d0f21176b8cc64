"""``Model.load(fields, rows)``: Odoo's import, used by clients as an upsert.

What a real Odoo 18 does, and this module repeats:

* The ``id`` column holds an external id (``module.name``; a bare name gets
  the ``__import__`` module). An existing external id updates its record; a
  new one creates the record and the ``ir.model.data`` row in the same call,
  without the user needing access to ``ir.model.data``.
* ``.id`` holds a database id; ``field/id`` an external id and ``field/.id`` a
  database id for a relational field; a plain relational column holds a name
  (``currency_id`` = ``"USD"``), several names for a many2many separated by
  commas.
* One2many columns are ``field/subfield``. A row whose other columns are all
  empty continues the previous record with one more line. Lines without an id
  are always created, so loading the same invoice twice appends its lines a
  second time.
* Bad values and business errors come back as ``messages`` (with
  ``ids: False`` and nothing saved), never as a fault; only an unknown column
  name raises.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from .fields import Field, Many2many, Many2one, One2many, Selection

if TYPE_CHECKING:
    from .orm import Model

Row = dict[str, Any]
TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f", ""}


class ImportValueError(Exception):
    """A cell that cannot be converted; ``message`` has a ``%(field)s`` slot."""

    def __init__(self, field: str, message: str, comodel: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.comodel = comodel


def _split(column: str) -> list[str]:
    column = column.replace(":id", "/id").replace(":.id", "/.id")
    return [part for part in column.split("/")] if column != ".id" else [".id"]


def _check_columns(model: Model, paths: list[list[str]]) -> None:
    for path in paths:
        current: Model | None = model
        for depth, part in enumerate(path):
            if depth == 0 and part in ("id", ".id"):
                break
            if current is None:
                break
            if part in ("id", ".id") and depth > 0:
                break
            field = current._fields.get(part)
            if field is None:
                raise ValueError(f"Invalid field name {part!r}")
            comodel = getattr(field, "comodel", None)
            current = model.env[comodel] if isinstance(field, One2many) else None


def load_records(model: Model, fields: list[str], data: list[list[Any]]) -> Row:
    paths = [_split(column) for column in fields]
    _check_columns(model, paths)
    store = model.sandbox.store
    start = store.savepoint()
    messages: list[Row] = []
    ids: list[int] = []
    main = [
        i
        for i, path in enumerate(paths)
        if not isinstance(model._fields.get(path[0]), One2many)
    ]
    for number, (first_row, rows) in enumerate(_group(data, main)):
        info = {
            "rows": {"from": first_row, "to": first_row + len(rows) - 1},
            "record": number,
        }
        savepoint = store.savepoint()
        try:
            xmlid, dbid, vals = _convert(model, paths, rows)
            ids.append(_save(model, xmlid, dbid, vals))
        except ImportValueError as exc:
            store.rollback_to(savepoint)
            messages.append(_value_message(model, exc, info))
        except Exception as exc:  # noqa: BLE001 - a real server reports any error
            store.rollback_to(savepoint)
            messages.append({**info, "type": "error", "message": str(exc)})
    if any(message["type"] == "error" for message in messages):
        store.rollback_to(start)
        return {"ids": False, "messages": messages, "nextrow": 0}
    return {"ids": ids, "messages": messages, "nextrow": 0}


def _group(data: list[list[Any]], main: list[int]) -> list[tuple[int, list[Any]]]:
    groups: list[tuple[int, list[Any]]] = []
    for index, row in enumerate(data):
        filled = any(_cell(row, i) not in ("", False, None) for i in main)
        if groups and not filled:
            groups[-1][1].append(row)
        else:
            groups.append((index, [row]))
    return groups


def _cell(row: list[Any], index: int) -> Any:
    return row[index] if index < len(row) else ""


def _convert(
    model: Model,
    paths: list[list[str]],
    rows: list[list[Any]],
) -> tuple[str | None, int | None, Row]:
    first = rows[0]
    xmlid: str | None = None
    dbid: int | None = None
    vals: Row = {}
    lines: dict[str, list[tuple[list[str], int]]] = {}
    for index, path in enumerate(paths):
        head = path[0]
        value = _cell(first, index)
        if head == "id":
            xmlid = str(value) if value not in ("", False, None) else None
            continue
        if head == ".id":
            dbid = int(value) if value not in ("", False, None) else None
            continue
        field = model._fields[head]
        if isinstance(field, One2many):
            lines.setdefault(head, []).append((path[1:], index))
            continue
        sub = path[1] if len(path) > 1 else None
        vals[head] = convert_value(model, field, sub, value)
    for head, columns in lines.items():
        field = model._fields[head]
        comodel = model.env[field.comodel]  # type: ignore[attr-defined]
        sub_paths = [sub for sub, _index in columns]
        commands: list[Any] = []
        for row in rows:
            cells = [_cell(row, index) for _sub, index in columns]
            if not any(cell not in ("", False, None) for cell in cells):
                continue
            line_xmlid, line_id, line_vals = _convert(comodel, sub_paths, [cells])
            if line_id is None and line_xmlid:
                found = model.env["ir.model.data"]._lookup(line_xmlid)
                line_id = found[1] if found else None
            if line_id is not None:
                commands.append((1, line_id, line_vals))
            else:
                commands.append((0, 0, line_vals))
        vals[head] = commands
    return xmlid, dbid, vals


def _save(model: Model, xmlid: str | None, dbid: int | None, vals: Row) -> int:
    data = model.env["ir.model.data"]
    if xmlid and "." not in xmlid:
        xmlid = f"__import__.{xmlid}"
    if dbid is not None:
        model.write([dbid], vals)
        if xmlid:
            data._set_xmlid(xmlid, model._name, dbid)
        return dbid
    if xmlid:
        found = data._lookup(xmlid)
        if found and found[0] == model._name and found[1] in model.table.rows:
            model.write([found[1]], vals)
            return found[1]
        rid = model._create(vals)
        data._set_xmlid(xmlid, model._name, rid)
        return rid
    return model._create(vals)


def _value_message(model: Model, exc: ImportValueError, info: Row) -> Row:
    label = str(model._fields[exc.field].string)
    message: Row = {
        **info,
        "type": "error",
        "field": exc.field,
        "field_name": label,
        "message": exc.message % {"field": label},
    }
    if exc.comodel:
        message["moreinfo"] = {
            "name": "Possible Values",
            "type": "ir.actions.act_window",
            "target": "new",
            "view_mode": "list,form",
            "views": [[False, "list"], [False, "form"]],
            "context": {"create": False},
            "help": "See all possible values",
            "res_model": exc.comodel,
            "domain": [],
        }
    return message


def convert_value(model: Model, field: Field, sub: str | None, value: Any) -> Any:
    """Turn one cell into the value ``create``/``write`` expects."""
    if value in ("", None, False):
        return False
    name = field.name
    if isinstance(field, (Many2one, Many2many)):
        return _convert_relational(model, field, sub, value)
    if field.type in ("char", "text", "html"):
        return value if isinstance(value, str) else str(value)
    if field.type == "boolean":
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() not in FALSE_WORDS
    if field.type == "integer":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ImportValueError(
                name, f"'{value}' does not seem to be an integer for field '%(field)s'"
            ) from None
    if field.type in ("float", "monetary"):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ImportValueError(
                name, f"'{value}' does not seem to be a number for field '%(field)s'"
            ) from None
    if isinstance(field, Selection):
        for key, label in field.selection:
            if value == key or str(value).lower() == label.lower():
                return key
        raise ImportValueError(
            name, f"Value '{value}' not found in selection field '%(field)s'"
        )
    if field.type == "date":
        try:
            return date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise ImportValueError(
                name,
                f"'{value}' does not seem to be a valid date for field '%(field)s'",
            ) from None
    if field.type == "datetime":
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise ImportValueError(
                name,
                f"'{value}' does not seem to be a valid datetime for field '%(field)s'",
            ) from None
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    return value


def _convert_relational(
    model: Model,
    field: Field,
    sub: str | None,
    value: Any,
) -> Any:
    comodel = model.env[field.comodel]  # type: ignore[attr-defined]
    many = isinstance(field, Many2many)
    parts = [p.strip() for p in str(value).split(",")] if many else [value]
    ids = []
    for part in parts:
        if sub == "id":
            text = str(part) if "." in str(part) else f"__import__.{part}"
            found = model.env["ir.model.data"]._lookup(text)
            if not found or found[0] != comodel._name:
                raise ImportValueError(
                    field.name,
                    f"No matching record found for external id '{part}' "
                    "in field '%(field)s'",
                    comodel._name,
                )
            ids.append(found[1])
        elif sub == ".id":
            try:
                rid = int(part)
            except (TypeError, ValueError):
                rid = 0
            if rid not in comodel.table.rows:
                raise ImportValueError(
                    field.name,
                    f"No matching record found for database id '{part}' "
                    "in field '%(field)s'",
                    comodel._name,
                )
            ids.append(rid)
        else:
            found_ids = comodel._search_by_name("=", str(part))
            if not found_ids:
                raise ImportValueError(
                    field.name,
                    f"No matching record found for name '{part}' in field '%(field)s'",
                    comodel._name,
                )
            ids.append(found_ids[0])
    if many:
        return [(6, 0, ids)]
    return ids[0]
