"""What counts as filled and what is required, in Python and as SQL over ``customers``.

A field is filled when its column is not NULL and, for text columns, not blank (whitespace
including the full-width space ``\u3000``); a JSON value is filled unless it is ``null``,
``{}`` or ``[]``. Every catalogue field is required, except that a field with a
``required_when:KEY=V|...`` rule in the catalogue (the pickup point: only for 定点取货 shops)
is required only while field KEY holds one of those values, and counts as filled elsewhere.
The rules are read from the catalogue (or the ``fields`` passed in), so a province's change to
``fields.csv`` is followed by both the per-record check and the SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, null, or_
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.types import JSON, Text

from domain.catalogue import FieldSpec, catalogue
from domain.catalogue.rules import required_condition
from domain.models import Customer

CLOSED = "closed"
BLANK_CHARS = " \t\n\r\f\v\u3000\u00a0"


def is_missing_value(value: object) -> bool:
    """None, a blank string, or an empty JSON object/array."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip(BLANK_CHARS)
    return isinstance(value, dict | list) and not value


def is_missing(customer: Customer, spec: FieldSpec, specs: Sequence[FieldSpec]) -> bool:
    """Whether ``customer`` misses ``spec`` (a field of ``specs``, which its rules may read)."""
    condition = required_condition(spec, specs)
    if condition is not None:
        other, values = condition
        if getattr(customer, other.column) not in values:
            return False
    return is_missing_value(getattr(customer, spec.column))


def missing_condition(
    spec: FieldSpec, specs: Sequence[FieldSpec] | None = None
) -> ColumnElement[bool]:
    """SQL true when the customer's column for ``spec`` is missing (the same rule as Python).

    ``specs`` is the catalogue the field belongs to (default: the file's), where a
    ``required_when`` rule finds the field it reads.
    """
    col = column(spec.column, spec.key)
    if isinstance(col.type, String) and not isinstance(col.type, SqlEnum):
        missing = or_(col.is_(None), func.btrim(col, BLANK_CHARS) == "")
    elif isinstance(col.type, JSON):
        missing = or_(col.is_(None), cast(col, Text).in_(["null", "{}", "[]"]))
    else:
        missing = col.is_(None)
    condition = required_condition(spec, catalogue() if specs is None else specs)
    if condition is None:
        return missing
    other, values = condition
    return and_(column(other.column, other.key).in_(values), missing)


def column(name: str, key: str) -> Any:
    """The ``customers`` column of a catalogue field; ValueError when there is none."""
    columns = Customer.__table__.c
    if name not in columns:
        raise ValueError(f"catalogue field {key!r} names no customer column {name!r}")
    return columns[name]


def missing_flag(spec: FieldSpec, specs: Sequence[FieldSpec]) -> ColumnElement[int]:
    """SQL 1 when the field is missing, else 0."""
    return case((missing_condition(spec, specs), 1), else_=0)


def missing_keys(specs: Sequence[FieldSpec]) -> ColumnElement[list[str]]:
    """SQL text[] of the missing field keys of a ``customers`` row, in catalogue order."""
    keys: list[ColumnElement[str]] = [
        case((missing_condition(s, specs), literal(s.key, Text)), else_=null()) for s in specs
    ]
    return func.array_remove(array(keys), null())
