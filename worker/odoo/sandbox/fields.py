"""Field types and the conversions a real Odoo 18 applies on the wire.

Values are stored in the shape the XML-RPC layer returns them, so ``read`` is
cheap: text and dates as strings, empty values as ``False`` (never ``None``),
many2one as an id (turned into ``[id, display_name]`` on read), many2many as a
tuple of ids. One2many fields are not stored at all: they are answered from a
hash index on the inverse many2one of the other model.

Incoming values are checked the way the ORM checks them: a selection value
outside the list raises ``Wrong value for model.field: 'x'``, and a many2one
pointing at a missing id raises the ``MissingError`` of that model.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from .exceptions import missing_error

if TYPE_CHECKING:
    from .orm import Model


class Field:
    type = "char"
    empty: Any = False
    stored_in_row = True

    def __init__(
        self,
        string: str | None = None,
        *,
        required: bool = False,
        readonly: bool = False,
        default: Any = None,
        index: bool = False,
        compute: str | None = None,
        related: str | None = None,
        copy: bool = True,
        inverse: str | None = None,
    ) -> None:
        self.string = string
        self.required = required
        self.readonly = readonly or bool(compute and not inverse)
        self.default = default
        self.index = index
        self.compute = compute
        self.related = related
        self.copy = copy and not compute
        self.inverse = inverse
        self.name = ""
        # a plain attribute rather than a property: it is read on every create
        self.stored = self.stored_in_row and not compute and not related

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        if self.string is None:
            self.string = name.replace("_id", "").replace("_", " ").title()

    def to_raw(self, model: Model, value: Any) -> Any:
        """Check and convert a value coming from a caller into its stored form."""
        if value is None or value is False:
            return self.empty
        return value

    def to_read(self, model: Model, raw: Any) -> Any:
        return raw

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "type": self.type,
            "string": self.string,
            "required": self.required,
            "readonly": self.readonly,
            "store": not self.compute or self.stored_in_row,
        }
        return info


class Char(Field):
    def to_raw(self, model: Model, value: Any) -> Any:
        if value is None or value is False:
            return False
        return value if isinstance(value, str) else str(value)


class Text(Char):
    type = "text"


class Html(Char):
    type = "html"


class Boolean(Field):
    type = "boolean"

    def to_raw(self, model: Model, value: Any) -> Any:
        return bool(value)


class Integer(Field):
    type = "integer"
    empty = 0

    def to_raw(self, model: Model, value: Any) -> Any:
        return int(value or 0)


class Float(Field):
    type = "float"
    empty = 0.0

    def to_raw(self, model: Model, value: Any) -> Any:
        return float(value or 0.0)


class Monetary(Float):
    type = "monetary"


class Date(Field):
    type = "date"

    def to_raw(self, model: Model, value: Any) -> Any:
        if not value:
            return False
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        text = str(value)
        try:
            return date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            raise ValueError(
                f"time data {text!r} does not match format '%Y-%m-%d'"
            ) from None


class Datetime(Field):
    type = "datetime"

    def to_raw(self, model: Model, value: Any) -> Any:
        if not value:
            return False
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        text = str(value)
        if hasattr(value, "value"):  # xmlrpc.client.DateTime
            text = datetime.strptime(value.value, "%Y%m%dT%H:%M:%S").isoformat(" ")
        if len(text) == 10:
            text += " 00:00:00"
        try:
            parsed = datetime.fromisoformat(text.replace("T", " "))
        except ValueError:
            raise ValueError(
                f"time data {text!r} does not match format '%Y-%m-%d %H:%M:%S'"
            ) from None
        return parsed.strftime("%Y-%m-%d %H:%M:%S")


class Selection(Field):
    type = "selection"

    def __init__(
        self, selection: list[tuple[str, str]], string: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(string, **kwargs)
        self.selection = selection
        self.keys = {key for key, _label in selection}

    def to_raw(self, model: Model, value: Any) -> Any:
        if value is None or value is False:
            return False
        if value not in self.keys:
            raise ValueError(f"Wrong value for {model._name}.{self.name}: {value!r}")
        return value

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["selection"] = [list(item) for item in self.selection]
        return info


class Many2one(Field):
    type = "many2one"

    def __init__(
        self,
        comodel: str,
        string: str | None = None,
        *,
        ondelete: str = "set null",
        **kwargs: Any,
    ) -> None:
        super().__init__(string, **kwargs)
        self.comodel = comodel
        self.ondelete = ondelete

    def to_raw(self, model: Model, value: Any) -> Any:
        if value is None or value is False:
            return False
        if isinstance(value, (list, tuple)):
            value = value[0] if value else False
            if not value:
                return False
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"Wrong value for {model._name}.{self.name}: {value!r}")
        comodel = model.env[self.comodel]
        if value not in comodel.table.rows:
            raise missing_error(self.comodel, [value], model.uid)
        return value

    def to_read(self, model: Model, raw: Any) -> Any:
        if not raw:
            return False
        return [raw, model.env[self.comodel].display_name_of(raw)]

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["relation"] = self.comodel
        return info


class Many2oneReference(Integer):
    """An integer id whose model is named by another field (``res_id``)."""

    type = "many2one_reference"


class One2many(Field):
    type = "one2many"
    empty = ()
    stored_in_row = False

    def __init__(
        self,
        comodel: str,
        inverse_name: str,
        string: str | None = None,
        *,
        domain: Callable[[dict[str, Any]], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("copy", False)
        super().__init__(string, **kwargs)
        self.comodel = comodel
        self.inverse_name = inverse_name
        self.domain = domain

    def ids_for(self, model: Model, rid: int) -> list[int]:
        comodel = model.env[self.comodel]
        ids = comodel.table.lookup(self.inverse_name, rid)
        if self.domain is not None:
            rows = comodel.table.rows
            ids = [i for i in ids if self.domain(rows[i])]
        return sorted(ids)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["relation"] = self.comodel
        info["relation_field"] = self.inverse_name
        return info


class Many2many(Field):
    type = "many2many"
    empty = ()

    def __init__(self, comodel: str, string: str | None = None, **kwargs: Any) -> None:
        super().__init__(string, **kwargs)
        self.comodel = comodel

    def to_raw(self, model: Model, value: Any) -> Any:
        return self.apply_commands(model, (), value)

    def to_read(self, model: Model, raw: Any) -> Any:
        return list(raw)

    def apply_commands(
        self, model: Model, current: tuple[int, ...], commands: Any
    ) -> tuple[int, ...]:
        """Apply Odoo's x2many commands to a tuple of ids."""
        if commands is None or commands is False:
            return ()
        if not commands:
            return current
        comodel = model.env[self.comodel]
        result = list(current)
        for command in commands:
            if isinstance(command, int):
                # a bare list of ids means "set these"
                result = _existing(comodel, [c for c in commands], model)
                break
            code = command[0]
            if code == 0:
                new_id = comodel.create(command[2])
                result.append(new_id)
            elif code == 1:
                comodel.write([command[1]], command[2])
            elif code == 2:
                comodel.unlink([command[1]])
                result = [i for i in result if i != command[1]]
            elif code == 3:
                result = [i for i in result if i != command[1]]
            elif code == 4:
                _existing(comodel, [command[1]], model)
                if command[1] not in result:
                    result.append(command[1])
            elif code == 5:
                result = []
            elif code == 6:
                result = _existing(comodel, list(command[2] or []), model)
            else:
                raise ValueError(f"Unknown x2many command {command!r}")
        seen: set[int] = set()
        unique = [i for i in result if not (i in seen or seen.add(i))]
        return tuple(unique)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["relation"] = self.comodel
        return info


def _existing(comodel: Model, ids: list[int], model: Model) -> list[int]:
    missing = [i for i in ids if i not in comodel.table.rows]
    if missing:
        raise missing_error(comodel._name, missing, model.uid)
    return list(ids)
