"""One customer column as a spreadsheet cell: the catalogue's Chinese labels for enum codes
and booleans, ``经度,纬度`` for a point, exact decimals, ISO dates in CSV; personal values
masked unless the caller's role may reveal them (``domain.access.may_reveal``).

The header is the catalogue's Chinese labels, so an export, edited, is a valid file for the
bulk-change reader (a masked value is of course not a valid phone or account number).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func

from domain.access import Principal, may_reveal
from domain.catalogue import FieldSpec, catalogue
from domain.masking import mask
from domain.models import Customer

Render = Callable[[Any], Any]


@dataclass(frozen=True)
class ExportColumn:
    spec: FieldSpec
    columns: tuple[ColumnElement[Any], ...]  # what the query selects for it
    render: Callable[[Sequence[Any]], Any]  # its selected values -> the cell


def _enum(spec: FieldSpec) -> Render:
    labels = {c.code: c.label_zh for c in spec.choices}
    return lambda v: labels.get(v, v)


def _plain(v: Any) -> Any:
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, dt.datetime | dt.date):
        return v
    if isinstance(v, Decimal):
        return v.normalize() if v == v.to_integral() else v
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return v


def _renderer(spec: FieldSpec, clear: bool) -> Render:
    if spec.personal and not clear:
        return lambda v: mask(spec.type, v)
    if spec.type == "enum":
        return _enum(spec)
    return _plain


def _one(render: Render) -> Callable[[Sequence[Any]], Any]:
    return lambda values: None if values[0] is None else render(values[0])


def _point(values: Sequence[Any]) -> str | None:
    lng, lat = values
    return None if lng is None else f"{lng:.6f},{lat:.6f}"


def export_columns(principal: Principal) -> list[ExportColumn]:
    """Every catalogue field in catalogue order, rendered for this principal."""
    table = Customer.__table__
    out = []
    for spec in catalogue():
        if spec.type == "point":
            loc = table.c[spec.column]
            cols: tuple[ColumnElement[Any], ...] = (func.ST_X(loc), func.ST_Y(loc))
            out.append(ExportColumn(spec, cols, _point))
            continue
        render = _renderer(spec, may_reveal(principal, spec))
        out.append(ExportColumn(spec, (table.c[spec.column],), _one(render)))
    return out


def revealed_keys(principal: Principal) -> list[str]:
    """The personal fields this principal's exports show unmasked."""
    return [s.key for s in catalogue() if s.personal and may_reveal(principal, s)]


def csv_cell(value: Any) -> Any:
    """CSV holds text: dates in ISO form."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
