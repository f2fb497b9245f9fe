"""Row by row, without the database: each cell through the catalogue's normalisers, the
defaults of a new record, required fields, ``required_when`` and the cross-field rules.

Only what needs no other row lives here; uniqueness and the service area are checked for
all rows at once (``domain.imports.checks``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.catalogue import FieldSpec
from domain.catalogue.normalise import is_blank, normalise_value, point_input
from domain.catalogue.rules import CROSS_FIELD_RULES, Stored, required_condition
from domain.errors import INCONSISTENT, INVALID_FORMAT, REQUIRED, DomainError
from domain.imports.columns import ColumnMap
from domain.imports.files import Cells

LOCATION = "location"
ROUTE, SEQUENCE = "delivery_route", "delivery_sequence"
_SPLIT = re.compile(r"\s*[,，;；\s]\s*")
# Coordinate systems as people write them, to the codes the normaliser reads.
CRS_ALIASES = {
    "WGS84": "WGS84", "GPS": "WGS84", "GCJ02": "GCJ02", "高德": "GCJ02", "腾讯": "GCJ02",
    "火星": "GCJ02", "BD09": "BD09", "百度": "BD09",
}  # fmt: skip
TEXTUAL = frozenset({"text", "image", "enum"})
# Types whose values repeat down a file: each distinct cell is normalised once per import.
MEMO_TYPES = frozenset({"enum", "bool", "date", "weekday", "scale", "int", "decimal"})


@dataclass
class Row:
    """One data row: its number in the file, normalised values by key, errors."""

    number: int
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[DomainError] = field(default_factory=list)
    location_input: dict[str, Any] | None = None

    def refuse(self, spec: FieldSpec, code: str, text: str) -> None:
        self.errors.append(DomainError(code, f"{spec.label_zh}{text}", spec.key))

    def failed(self, key: str) -> bool:
        return any(e.field == key for e in self.errors)


def cell_value(spec: FieldSpec, raw: Any) -> Any:
    # Spreadsheets turn codes and words into numbers; text fields take them as written.
    if isinstance(raw, int) and not isinstance(raw, bool) and spec.type in TEXTUAL:
        return str(raw)
    return raw


def _crs(raw: Any) -> str:
    text = "".join(str(raw).split()).upper().replace("-", "")
    return CRS_ALIASES.get(text, text)


def location_raw(cols: ColumnMap, cells: Cells, spec: FieldSpec) -> dict[str, Any] | None:
    def at(index: int | None) -> Any:
        return cells[index] if index is not None and index < len(cells) else None

    crs_cell = at(cols.parts.get("crs"))
    crs = "WGS84" if is_blank(crs_cell) else _crs(crs_cell)
    if "lng" in cols.parts:
        lng, lat = at(cols.parts["lng"]), at(cols.parts["lat"])
        if is_blank(lng) and is_blank(lat):
            return None
        return {"lng": lng, "lat": lat, "crs": crs}
    index = next((i for i, s in cols.fields.items() if s.key == LOCATION), None)
    text = at(index)
    if is_blank(text):
        return None
    parts = _SPLIT.split(str(text).strip())
    if len(parts) != 2:
        raise DomainError(INVALID_FORMAT, f"{spec.label_zh}须为“经度,纬度”", spec.key)
    return {"lng": parts[0], "lat": parts[1], "crs": crs}


def _read_location(row: Row, cols: ColumnMap, cells: Cells, spec: FieldSpec) -> None:
    try:
        raw = location_raw(cols, cells, spec)
        if raw is not None:
            row.values[LOCATION] = normalise_value(spec, raw)
            row.location_input = point_input(raw)
    except DomainError as exc:
        row.errors.append(exc)


@dataclass(frozen=True)
class Plan:
    """What the catalogue asks of every row, worked out once per import."""

    specs: tuple[FieldSpec, ...]
    by_key: dict[str, FieldSpec]
    defaults: tuple[tuple[FieldSpec, Any], ...]
    required: tuple[FieldSpec, ...]
    conditions: tuple[tuple[FieldSpec, FieldSpec, tuple[Stored, ...]], ...]
    orders: tuple[tuple[FieldSpec, FieldSpec, bool], ...]  # (field, other, strictly after)
    location: FieldSpec | None


def make_plan(specs: Sequence[FieldSpec]) -> Plan:
    by_key = {s.key: s for s in specs}
    defaults = []
    for spec in specs:
        rule = spec.rule("default")
        if rule is not None:
            defaults.append((spec, normalise_value(spec, rule.arg)))
    conditions = []
    for spec in specs:
        found = required_condition(spec, specs)
        if found is not None:
            conditions.append((spec, found[0], found[1]))
    orders = [
        (spec, by_key[rule.arg], rule.name == "after")
        for spec in specs
        for rule in spec.rules
        if rule.name in CROSS_FIELD_RULES and rule.arg in by_key
    ]
    return Plan(
        specs=tuple(specs), by_key=by_key, defaults=tuple(defaults),
        required=tuple(s for s in specs if s.has_rule("required") and not s.has_rule("default")),
        conditions=tuple(conditions), orders=tuple(orders), location=by_key.get(LOCATION),
    )  # fmt: skip


def _fill(row: Row, plan: Plan) -> None:
    for spec, value in plan.defaults:
        if spec.key not in row.values and not row.failed(spec.key):
            row.values[spec.key] = value
    for spec in plan.required:
        if spec.key not in row.values and not row.failed(spec.key):
            row.refuse(spec, REQUIRED, "不能为空")


def _shown(spec: FieldSpec, value: Stored) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    return next((c.label_zh for c in spec.choices if c.code == value), str(value))


def _check_conditions(row: Row, plan: Plan) -> None:
    for spec, other, wanted in plan.conditions:
        if spec.key in row.values or row.failed(spec.key):
            continue
        if row.values.get(other.key) in wanted:
            shown = "或".join(_shown(other, v) for v in wanted)
            row.refuse(spec, REQUIRED, f"在{other.label_zh}为{shown}时不能为空")


def _check_order(row: Row, plan: Plan) -> None:
    for spec, other, strict in plan.orders:
        mine, theirs = row.values.get(spec.key), row.values.get(other.key)
        if mine is None or theirs is None:
            continue
        if not (mine > theirs if strict else mine >= theirs):
            row.refuse(spec, INCONSISTENT, f"须{'晚于' if strict else '不早于'}{other.label_zh}")


def _check_route(row: Row, by_key: dict[str, FieldSpec]) -> None:
    """A shop on a route has a place in its sequence, and only then (a table constraint)."""
    if ROUTE not in by_key or SEQUENCE not in by_key:
        return
    if row.failed(ROUTE) or row.failed(SEQUENCE):
        return
    if (row.values.get(ROUTE) is None) != (row.values.get(SEQUENCE) is None):
        spec = by_key[SEQUENCE]
        row.refuse(spec, INCONSISTENT, f"与{by_key[ROUTE].label_zh}须同时填写")


@dataclass(frozen=True)
class Column:
    """A file column of a catalogue field, with the values already normalised in this
    import when the field's type repeats (``MEMO_TYPES``): each distinct cell once."""

    index: int
    spec: FieldSpec
    memo: dict[Any, Any] | None

    def value(self, raw: Any) -> Any:
        """The stored form of a non-blank cell; DomainError when refused."""
        if self.memo is None:
            return normalise_value(self.spec, cell_value(self.spec, raw))
        key = raw if type(raw) is str else (type(raw), raw)  # 1, 1.0 and True apart
        found = self.memo.get(key, _MISSING)
        if found is _MISSING:
            try:
                found = normalise_value(self.spec, cell_value(self.spec, raw))
            except DomainError as exc:
                found = exc
            self.memo[key] = found
        if isinstance(found, DomainError):
            raise DomainError(found.code, found.message, found.field)
        return found


_MISSING = object()


def columns_of(cols: ColumnMap) -> list[Column]:
    """The mapped columns but the location (read from its parts), in file order."""
    return [
        Column(index, spec, {} if spec.type in MEMO_TYPES else None)
        for index, spec in cols.fields.items()
        if spec.key != LOCATION
    ]


def read_row(
    number: int, cells: Cells, cols: ColumnMap, plan: Plan, columns: Sequence[Column] = ()
) -> Row:
    """The row's values as they would be stored for a new record, or its errors."""
    row = Row(number)
    values, width = row.values, len(cells)
    for col in columns or columns_of(cols):
        raw = cells[col.index] if col.index < width else None
        if raw is None or (isinstance(raw, str) and not raw.strip()):  # is_blank, inlined
            continue
        try:
            values[col.spec.key] = col.value(raw)
        except DomainError as exc:
            row.errors.append(exc)
    if plan.location is not None:
        _read_location(row, cols, cells, plan.location)
    _fill(row, plan)
    _check_conditions(row, plan)
    _check_order(row, plan)
    _check_route(row, plan.by_key)
    return row


Tick = Callable[[int], None]


def read_rows(
    rows: Sequence[tuple[int, Cells]],
    cols: ColumnMap,
    specs: Sequence[FieldSpec],
    tick: Tick | None = None,
) -> list[Row]:
    plan = make_plan(specs)
    columns = columns_of(cols)
    out: list[Row] = []
    for i, (number, cells) in enumerate(rows, start=1):
        out.append(read_row(number, cells, cols, plan, columns))
        if tick is not None and i % 2000 == 0:
            tick(i)
    return out
