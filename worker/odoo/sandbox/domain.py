"""Odoo search domains: parsing, evaluation against rows, and ordering.

A domain is a list in Polish (prefix) notation: ``'&'``, ``'|'`` and ``'!'``
combine the terms that follow them, and terms side by side are implicitly
and-ed. Each term is ``(path, operator, value)``; the path may go through
relational fields with dots (``'partner_id.ref'``), which a real server turns
into a sub-search on the related model.

The semantics follow PostgreSQL as Odoo uses it: ``False`` is NULL, so ``<``
and ``like`` never match it while ``!=`` and ``not in`` do; ``like``/``ilike``
wrap the value in ``%``; a many2one compared to a string matches the related
records by name. Unknown fields raise the real server's
``Invalid field model.field in leaf (...)`` error.

For speed, terms on ``id`` and on hash-indexed columns with ``=`` or ``in``
produce candidate id sets; when every term of a conjunction is answered by an
index no row is visited at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .fields import Boolean, Many2many, Many2one, One2many

if TYPE_CHECKING:
    from .orm import Model

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

NEGATIVE = {"!=", "<>", "not in", "not like", "not ilike", "not any"}
OPERATORS = {
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not in",
    "like",
    "not like",
    "ilike",
    "not ilike",
    "=like",
    "=ilike",
    "child_of",
    "parent_of",
    "=?",
    "any",
    "not any",
}
NAME_OPERATORS = {
    "=",
    "!=",
    "<>",
    "like",
    "not like",
    "ilike",
    "not ilike",
    "=like",
    "=ilike",
    "in",
    "not in",
}


class Node:
    """A compiled piece of a domain.

    ``candidates()`` returns a set of ids that contains every match (or None
    when the node cannot narrow anything down) and whether that set is exact.
    """

    def candidates(self) -> tuple[set[int] | None, bool]:
        return None, False

    def predicate(self) -> Predicate:
        raise NotImplementedError

    def mentions(self, name: str) -> bool:
        return False


class Constant(Node):
    def __init__(self, value: bool) -> None:
        self.value = value

    def candidates(self) -> tuple[set[int] | None, bool]:
        return (None, True) if self.value else (set(), True)

    def predicate(self) -> Predicate:
        value = self.value
        return lambda row: value


class And(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children

    def candidates(self) -> tuple[set[int] | None, bool]:
        best: set[int] | None = None
        exact = True
        sets = []
        for child in self.children:
            ids, child_exact = child.candidates()
            exact = exact and child_exact
            if ids is not None:
                sets.append(ids)
        if sets:
            sets.sort(key=len)
            best = set(sets[0])
            for other in sets[1:]:
                best &= other
        return best, exact

    def predicate(self) -> Predicate:
        preds = [child.predicate() for child in self.children]
        return lambda row: all(pred(row) for pred in preds)

    def mentions(self, name: str) -> bool:
        return any(child.mentions(name) for child in self.children)


class Or(And):
    def candidates(self) -> tuple[set[int] | None, bool]:
        union: set[int] = set()
        exact = True
        for child in self.children:
            ids, child_exact = child.candidates()
            if ids is None:
                return None, False
            union |= ids
            exact = exact and child_exact
        return union, exact

    def predicate(self) -> Predicate:
        preds = [child.predicate() for child in self.children]
        return lambda row: any(pred(row) for pred in preds)


class Not(Node):
    def __init__(self, child: Node) -> None:
        self.child = child

    def predicate(self) -> Predicate:
        pred = self.child.predicate()
        return lambda row: not pred(row)

    def mentions(self, name: str) -> bool:
        return self.child.mentions(name)


class Leaf(Node):
    """One term on a field of the model itself (paths are already resolved)."""

    def __init__(self, model: Model, name: str, operator: str, value: Any) -> None:
        self.model = model
        self.name = name
        self.operator = operator
        self.value = value
        self.field = model._fields[name]

    def mentions(self, name: str) -> bool:
        return self.name == name

    def candidates(self) -> tuple[set[int] | None, bool]:
        op, value = self.operator, self.value
        if op not in ("=", "in"):
            return None, False
        values = _as_list(value) if op == "in" else [value]
        if self.name == "id":
            return {v for v in values if isinstance(v, int)}, True
        table = self.model.table
        if self.name not in table.indexes or not self.field.stored:
            return None, False
        if not all(isinstance(v, (str, int)) or v is False for v in values):
            return None, False
        if isinstance(self.field, Many2one) and any(isinstance(v, str) for v in values):
            return None, False
        found: set[int] = set()
        for v in values:
            found |= table.lookup(self.name, v)
        return found, True

    def predicate(self) -> Predicate:
        getter = self.model.raw_getter(self.name)
        field = self.field
        op, value = self.operator, self.value
        if op == "<>":
            op = "!="
        if op == "=?":
            if value is None or value is False:
                return lambda row: True
            op = "="
        relational = isinstance(field, (Many2one, One2many, Many2many))
        if relational and _names_in(value) and op in NAME_OPERATORS:
            return self._by_name(getter, op, value)
        if op in ("child_of", "parent_of"):
            target = self.model
            if relational:
                target = self.model.env[field.comodel]  # type: ignore[attr-defined]
            values = [v for v in _as_list(value) if isinstance(v, int)]
            if op == "child_of":
                ids = target._child_of(values)
            else:
                ids = target._parent_of(values)
            multi = isinstance(field, (One2many, Many2many))
            return _membership(getter, ids, multi, negate=False)
        if isinstance(field, (One2many, Many2many)):
            return _x2many_predicate(getter, op, value)
        return _scalar_predicate(getter, op, value, isinstance(field, Boolean))

    def _by_name(self, getter: Callable[[Row], Any], op: str, value: Any) -> Predicate:
        """Many2one or x2many against names: match the related records first."""
        comodel = self.model.env[self.field.comodel]  # type: ignore[attr-defined]
        positive = {
            "!=": "=",
            "not like": "like",
            "not ilike": "ilike",
            "not in": "in",
        }.get(op, op)
        ids = set(comodel._search_by_name(positive, value))
        multi = not isinstance(self.field, Many2one)
        return _membership(getter, ids, multi, negate=op in NEGATIVE)


def _names_in(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def _membership(
    getter: Callable[[Row], Any], ids: set[int], multi: bool, negate: bool
) -> Predicate:
    if multi:
        if negate:
            return lambda row: not any(i in ids for i in getter(row))
        return lambda row: any(i in ids for i in getter(row))
    if negate:
        return lambda row: getter(row) not in ids
    return lambda row: getter(row) in ids


def _x2many_predicate(getter: Callable[[Row], Any], op: str, value: Any) -> Predicate:
    if op in ("=", "!=") and (value is False or value is None or value == []):
        if op == "=":
            return lambda row: not getter(row)
        return lambda row: bool(getter(row))
    if op in ("=", "in", "!=", "not in"):
        ids = {v for v in _as_list(value) if v is not False}
        return _membership(getter, ids, True, negate=op in ("!=", "not in"))
    raise ValueError(f"Invalid operator {op!r} for a relational field")


def like_regex(pattern: str, wrap: bool, ignore_case: bool) -> re.Pattern[str]:
    """Translate a SQL LIKE pattern (``%``, ``_`` and ``\\`` escapes)."""
    parts = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append(re.escape(next(chars, "\\")))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    body = "".join(parts)
    if wrap:
        body = f".*{body}.*"
    return re.compile(f"^{body}$", re.S | (re.I if ignore_case else 0))


def _scalar_predicate(
    getter: Callable[[Row], Any], op: str, value: Any, boolean: bool
) -> Predicate:
    null = (lambda raw: raw is False) if not boolean else (lambda raw: False)
    if op == "=":
        if value is None:
            value = False
        if boolean:
            want = bool(value)
            return lambda row: bool(getter(row)) is want
        return lambda row: getter(row) == value
    if op == "!=":
        if value is None:
            value = False
        if boolean:
            want = bool(value)
            return lambda row: bool(getter(row)) is not want
        if value is False:
            return lambda row: getter(row) is not False
        return lambda row: getter(row) != value
    if op in ("in", "not in"):
        values = _as_list(value)
        try:
            wanted: Any = set(values)
        except TypeError:
            wanted = values
        if op == "in":
            return lambda row: getter(row) in wanted
        return lambda row: getter(row) not in wanted
    if op in ("<", "<=", ">", ">="):
        compare = {
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }[op]
        if value is False or value is None:
            return lambda row: False

        def ordered(row: Row) -> bool:
            raw = getter(row)
            if null(raw):
                return False
            try:
                return compare(raw, value)
            except TypeError:
                return compare(str(raw), str(value))

        return ordered
    if op in ("like", "not like", "ilike", "not ilike", "=like", "=ilike"):
        text = "" if value is False or value is None else str(value)
        regex = like_regex(text, wrap=not op.startswith("="), ignore_case="i" in op)
        negate = op.startswith("not")

        def like(row: Row) -> bool:
            raw = getter(row)
            if raw is False or raw is None:
                return negate
            matched = regex.match(str(raw)) is not None
            return matched != negate

        return like
    raise ValueError(f"Invalid operator {op!r}")


def compile_domain(model: Model, domain: Iterable[Any] | None) -> Node:
    """Parse ``domain`` against ``model``; raise Odoo's errors for bad terms."""
    items = list(domain or [])
    if not items:
        return Constant(True)
    stack: list[Node] = []
    for item in reversed(items):
        if item in ("&", "|"):
            if len(stack) < 2:
                raise ValueError(f"Invalid domain {items!r}")
            first, second = stack.pop(), stack.pop()
            cls = And if item == "&" else Or
            stack.append(cls([first, second]))
        elif item == "!":
            if not stack:
                raise ValueError(f"Invalid domain {items!r}")
            stack.append(Not(stack.pop()))
        else:
            stack.append(compile_leaf(model, item))
    if len(stack) == 1:
        return stack[0]
    return And(list(reversed(stack)))


def compile_leaf(model: Model, term: Any) -> Node:
    if not isinstance(term, (list, tuple)) or len(term) != 3:
        raise ValueError(f"Invalid leaf {term!r}")
    path, op, value = term
    shown = tuple(term)
    if path in (0, 1) and op == "=" and value == 1:
        return Constant(path == 1)
    if not isinstance(path, str):
        raise ValueError(f"Invalid leaf {shown!r}")
    op = op.lower() if isinstance(op, str) else op
    if op not in OPERATORS:
        raise ValueError(f"Invalid operator {op!r} in domain term {shown!r}")
    name, _, rest = path.partition(".")
    field = model._fields.get(name)
    if field is None:
        raise ValueError(f"Invalid field {model._name}.{name} in leaf {shown!r}")
    if op in ("any", "not any"):
        comodel = model.env[field.comodel]  # type: ignore[attr-defined]
        ids = set(comodel._search(value, active_test=False))
        return Leaf(model, name, "not in" if op == "not any" else "in", ids)
    if rest:
        if not hasattr(field, "comodel"):
            raise ValueError(f"Invalid field {model._name}.{path} in leaf {shown!r}")
        comodel = model.env[field.comodel]
        sub = compile_leaf(comodel, (rest, op, value))
        ids = {row["id"] for row in comodel._search_node(sub, active_test=False)}
        return Leaf(model, name, "in", ids)
    return Leaf(model, name, op, value)


def order_spec(model: Model, order: str | None) -> list[tuple[str, bool]]:
    spec = []
    for part in (order or model._order).split(","):
        words = part.split()
        if not words:
            continue
        name = words[0].strip('"')
        if name not in model._fields:
            raise ValueError(f"Invalid field {name!r} on model {model._name!r}")
        desc = len(words) > 1 and words[1].lower() == "desc"
        spec.append((name, desc))
    return spec


def sort_rows(model: Model, rows: list[Row], order: str | None) -> list[Row]:
    """Sort like PostgreSQL: NULLs last going up, first going down."""
    spec = order_spec(model, order)
    if spec == [("id", False)]:
        rows.sort(key=lambda row: row["id"])
        return rows
    if spec == [("id", True)]:
        rows.sort(key=lambda row: row["id"], reverse=True)
        return rows
    for name, desc in reversed(spec):
        rows.sort(key=model.sort_key(name), reverse=desc)
    return rows
