"""Which columns a customer query reads, from the Customer fields it selects.

A customers page used to load whole ORM rows (some 70 columns) and present every
catalogue field with masking for each row, whatever the query asked for. Here the
selected field names map to columns; the rows are Core rows; only the personal fields that
are selected are masked (by ``domain.masking.mask``, as everywhere); the location comes as
``ST_X``/``ST_Y``. A field this module does not know (``asOf``, ``completeness``, or one
added later) makes the plan load the ORM row and build the full node instead, so a new
field is correct before it is fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Row, func
from strawberry.utils.str_converters import to_camel_case

from domain.catalogue import catalogue
from domain.masking import mask
from domain.models import Customer as CustomerRow
from schema.customers.types import Customer, lean_node

_TABLE = CustomerRow.__table__.c
_LNG, _LAT = "_lng", "_lat"


@dataclass(frozen=True)
class Column:
    attr: str  # the node's Python attribute
    column: str  # the table column
    personal_type: str | None  # the catalogue type of a personal field (masked)


def _catalogue_columns() -> dict[str, Column]:
    out: dict[str, Column] = {}
    for spec in catalogue():
        if spec.type == "point":
            continue  # the location: ST_X / ST_Y below
        attr = f"{spec.key}_id" if spec.type.startswith("ref:") else spec.key
        out[to_camel_case(attr)] = Column(attr, spec.column, spec.type if spec.personal else None)
    return out


COLUMNS: dict[str, Column] = {
    "id": Column("id", "id", None),
    "version": Column("version", "version", None),
    **_catalogue_columns(),
}
# Fields resolved from other attributes: the columns they need.
DERIVED: dict[str, tuple[str, ...]] = {
    "location": (),  # ST_X / ST_Y
    "customerManager": ("customerManagerId",),
    "route": ("deliveryRouteId",),
    "tickets": (),  # by id
    "history": (),  # by id
    "__typename": (),
}
# Fields that need the ORM row: the node is built by ``customer_node``.
NEEDS_ROW = frozenset({"asOf", "completeness"})


@dataclass(frozen=True)
class ColumnPlan:
    """The columns of a lean select, or ``full``: select the ORM row."""

    columns: tuple[Column, ...]
    location: bool
    full: bool

    @cached_property
    def select_list(self) -> tuple[ColumnElement[Any], ...]:
        """The labelled columns (made once per plan; SQL elements are immutable)."""
        cols: list[ColumnElement[Any]] = [_TABLE[c.column].label(c.attr) for c in self.columns]
        if self.location:
            cols += [
                func.ST_X(CustomerRow.location).label(_LNG),
                func.ST_Y(CustomerRow.location).label(_LAT),
            ]
        return tuple(cols)

    def nodes(self, rows: Sequence[Row[Any]]) -> list[Customer]:
        """Lean nodes from rows of ``select_list``, personal values masked."""
        attrs = [c.attr for c in self.columns]
        n = len(attrs)  # ST_X, ST_Y follow the columns
        personal = [(c.attr, c.personal_type) for c in self.columns if c.personal_type]
        out = []
        for row in rows:
            values: dict[str, Any] = dict(zip(attrs, row, strict=False))
            for attr, kind in personal:
                values[attr] = mask(kind, values[attr])
            if self.location:
                lng, lat = row[n], row[n + 1]
                values["_location"] = None if lng is None else (lng, lat)
            values["_row"] = None
            out.append(lean_node(values))
        return out


@lru_cache(maxsize=512)
def _plan(names: frozenset[str]) -> ColumnPlan:
    if not names <= COLUMNS.keys() | DERIVED.keys():
        return ColumnPlan((), location=False, full=True)
    wanted = {"id", "version"} | {n for n in names if n in COLUMNS}
    for name in names & DERIVED.keys():
        wanted.update(DERIVED[name])
    columns = tuple(c for name, c in COLUMNS.items() if name in wanted)
    return ColumnPlan(columns, location="location" in names, full=False)


def column_plan(names: Iterable[str]) -> ColumnPlan:
    """The plan for these selected Customer field names (GraphQL names)."""
    return _plan(frozenset(names))
