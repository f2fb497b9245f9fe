"""Reading a bulk-change file: rows of a customer code and the fields to change.

The columns are matched as in the customer import (``domain.imports.columns``: catalogue
Chinese labels or English keys; the location as one column or 经度/纬度); a blank cell
means "no change". Unlike an import, a column the file cannot change is refused, not
ignored: an unknown column, a system-computed field, the customer code itself (it names the
shop), the route and its sequence (route tickets place shops), or a field the caller may
neither edit nor propose. Each row's values are checked with the catalogue against the shop
as it is now (``validate_changes``: formats, rules, references, uniqueness, service area);
a value equal to the stored one is not a change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access import READ, Principal, customer_scope, field_right
from domain.catalogue import FieldSpec, catalogue
from domain.catalogue.normalise import is_blank
from domain.catalogue.validate import validate_changes
from domain.errors import (
    DUPLICATE,
    NOT_FOUND,
    READ_ONLY_FIELD,
    REQUIRED,
    UNKNOWN_FIELD,
    DomainError,
    ValidationFailed,
)
from domain.imports.columns import ColumnMap
from domain.imports.files import Cells
from domain.imports.report import HEADER_ROW, RowIssue
from domain.imports.rows import LOCATION, cell_value, location_raw
from domain.models import Customer
from domain.values import to_json

KEY = "customer_code"
ROUTE_FIELDS = frozenset({"delivery_route", "delivery_sequence"})


@dataclass
class ShopChange:
    """One row that passed: the shop, its values to store (changed fields only)."""

    number: int
    customer: Customer
    values: dict[str, Any] = field(default_factory=dict)
    location_input: dict[str, Any] | None = None


def header_issues(principal: Principal, cols: ColumnMap) -> list[RowIssue]:
    """Every column the file may not hold, as findings on the header row."""
    issues = [
        RowIssue(
            w.row, w.field, w.label_zh, w.code,
            f"未知列「{w.field}」" if w.code == UNKNOWN_FIELD
            else f"{w.label_zh}由系统自动生成，不能批量变更",
        )
        for w in cols.warnings
    ]  # fmt: skip
    if not cols.has(KEY):
        issues.append(RowIssue(HEADER_ROW, KEY, "客户代码", REQUIRED, "缺少客户代码列"))
    for spec in _change_specs(cols):
        why = None
        if spec.key in ROUTE_FIELDS:
            why = f"{spec.label_zh}不能批量变更，请通过线路调整工单办理"
        elif field_right(principal, spec) == READ:
            why = f"您无权修改或提议修改{spec.label_zh}"
        if why is not None:
            issues.append(RowIssue(HEADER_ROW, spec.key, spec.label_zh, READ_ONLY_FIELD, why))
    if "lng" in cols.parts and field_right(principal, _spec(LOCATION)) == READ:
        text = "您无权修改或提议修改地理位置(经纬度)"
        issues.append(RowIssue(HEADER_ROW, LOCATION, "地理位置(经纬度)", READ_ONLY_FIELD, text))
    return issues


def _spec(key: str) -> FieldSpec:
    return next(s for s in catalogue() if s.key == key)


def _change_specs(cols: ColumnMap) -> list[FieldSpec]:
    return [s for s in cols.fields.values() if s.key != KEY]


def load_shops(session: Session, principal: Principal, codes: Sequence[str]) -> dict[str, Customer]:
    """The shops of the codes that exist and are in the caller's scope."""
    found: dict[str, Customer] = {}
    unique = sorted(set(codes))
    for start in range(0, len(unique), 5_000):
        chunk = unique[start : start + 5_000]
        stmt = select(Customer).where(Customer.customer_code.in_(chunk), customer_scope(principal))
        found.update((c.customer_code, c) for c in session.scalars(stmt))
    return found


def _raw_values(number: int, cells: Cells, cols: ColumnMap) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for index, spec in cols.fields.items():
        if spec.key in (KEY, LOCATION):
            continue
        cell = cells[index] if index < len(cells) else None
        if not is_blank(cell):
            raw[spec.key] = cell_value(spec, cell)
    return raw


def _changed(customer: Customer, values: dict[str, Any]) -> dict[str, Any]:
    specs = {s.key: s for s in catalogue()}
    out = {}
    for key, new in values.items():
        spec = specs[key]
        if to_json(spec, getattr(customer, spec.column)) != to_json(spec, new):
            out[key] = new
    return out


def read_change(
    session: Session, number: int, cells: Cells, cols: ColumnMap, customer: Customer
) -> tuple[ShopChange | None, list[DomainError]]:
    """The row's changes to ``customer``, or its errors."""
    raw = _raw_values(number, cells, cols)
    location_input = None
    if cols.has(LOCATION) or "lng" in cols.parts:
        try:
            point = location_raw(cols, cells, _spec(LOCATION))
        except DomainError as exc:
            return None, [exc]
        if point is not None:
            raw[LOCATION] = point
            location_input = point
    if not raw:
        return ShopChange(number, customer), []
    try:
        values = validate_changes(session, customer, raw)
    except ValidationFailed as failed:
        return None, list(failed.errors)
    except DomainError as exc:
        return None, [exc]
    return ShopChange(number, customer, _changed(customer, values), location_input), []


def in_file_duplicates(changes: Sequence[ShopChange]) -> list[tuple[int, DomainError]]:
    """A value that must be unique, given to two shops of the file, is refused the second time."""
    unique = [s for s in catalogue() if s.has_rule("unique") or s.has_rule("unique_active")]
    found: list[tuple[int, DomainError]] = []
    for spec in unique:
        first: dict[Any, int] = {}
        for change in changes:
            value = change.values.get(spec.key)
            if value is None:
                continue
            if value in first:
                text = f"{spec.label_zh}与第{first[value]}行重复"
                found.append((change.number, DomainError(DUPLICATE, text, spec.key)))
            else:
                first[value] = change.number
    return found


def missing_shop(code: str) -> DomainError:
    return DomainError(NOT_FOUND, f"客户代码 {code} 不存在，或不在您的管辖范围内", KEY)
