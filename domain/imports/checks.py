"""The checks of an import that read other rows or the database, for all rows at once.

Duplicates inside the file are found in one pass; the rest is a handful of set-based
statements over a temporary table of the rows' keys and points (COPY in, then one query per
rule): values already held by other customers (``unique`` / ``unique_active``), a route
place already taken, points outside the service area, references that do not exist or do
not qualify, and the region each point lies in (the record's 行政区域, as for a new location
entered by hand).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select, text, true
from sqlalchemy.orm import Session

from domain.catalogue import FieldSpec
from domain.catalogue.checks import REF_TARGETS, describe_ref_rules, rule_conditions
from domain.catalogue.rules import CLOSED_STATUS, STATUS_KEY
from domain.demo.pgcopy import copy_rows
from domain.errors import DUPLICATE, NOT_ALLOWED_VALUE, NOT_FOUND, OUTSIDE_SERVICE_AREA
from domain.imports.rows import LOCATION, ROUTE, SEQUENCE, Plan, Row
from domain.imports.sqlconn import driver

STAGE = "import_check"
# As domain.catalogue.checks: covered by a service area, or by its buffer (metres).
OUTSIDE_SQL = f"""
SELECT s.row_no FROM {STAGE} s
WHERE s.geom IS NOT NULL AND EXISTS (SELECT 1 FROM service_areas)
  AND NOT EXISTS (SELECT 1 FROM service_areas sa WHERE CASE
      WHEN ST_Covers(sa.geom, s.geom) THEN true
      WHEN sa.buffer_m > 0 THEN ST_Covers(
          ST_Buffer(sa.geom::geography, sa.buffer_m::float8), s.geom::geography)
      ELSE false END)"""
REGION_SQL = f"""
SELECT DISTINCT ON (s.row_no) s.row_no, r.id FROM {STAGE} s
JOIN regions r ON ST_Intersects(r.geom, s.geom)
ORDER BY s.row_no, r.code"""
ROUTE_SQL = f"""
SELECT s.row_no FROM {STAGE} s JOIN customers c
  ON c.delivery_route_id = s.route AND c.delivery_sequence = s.seq"""


def unique_specs(plan: Plan) -> list[FieldSpec]:
    return [s for s in plan.specs if s.has_rule("unique") or s.has_rule("unique_active")]


def _active(row: Row) -> bool:
    return bool(row.values.get(STATUS_KEY) != CLOSED_STATUS)


def _seen_key(row: Row, spec: FieldSpec) -> Any:
    if spec.has_rule("unique_active") and not _active(row):
        return None
    return row.values.get(spec.key)


def check_in_file(rows: Sequence[Row], plan: Plan) -> None:
    """A value that must be unique, given again further down the file, is refused there."""
    route, seq = plan.by_key.get(ROUTE), plan.by_key.get(SEQUENCE)
    for spec in unique_specs(plan):
        first: dict[Any, int] = {}
        for row in rows:
            value = _seen_key(row, spec)
            if value is None:
                continue
            if value in first:
                row.refuse(spec, DUPLICATE, f"与第{first[value]}行重复")
            else:
                first[value] = row.number
    if route is None or seq is None:
        return
    places: dict[tuple[Any, Any], int] = {}
    for row in rows:
        place = (row.values.get(ROUTE), row.values.get(SEQUENCE))
        if None in place:
            continue
        if place in places:
            row.refuse(seq, DUPLICATE, f"与第{places[place]}行的{route.label_zh}位置重复")
        else:
            places[place] = row.number


def _stage(session: Session, rows: Sequence[Row], uniques: Sequence[FieldSpec]) -> None:
    names = ", ".join(f"u{i} text" for i in range(len(uniques)))
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(
        text(
            f"CREATE TEMP TABLE {STAGE} (row_no int PRIMARY KEY, active bool, route bigint,"
            f" seq int, geom geometry(Point, 4326){', ' + names if names else ''}) ON COMMIT DROP"
        )
    )

    def record(row: Row) -> tuple[Any, ...]:
        point = row.values.get(LOCATION)
        geom = None if point is None else f"SRID=4326;{point.data}"
        keys = [None if (v := row.values.get(s.key)) is None else str(v) for s in uniques]
        route, seq = row.values.get(ROUTE), row.values.get(SEQUENCE)
        return (row.number, _active(row), route, seq, geom, *keys)

    columns = ["row_no", "active", "route", "seq", "geom", *(f"u{i}" for i in range(len(uniques)))]
    copy_rows(driver(session), STAGE, columns, (record(r) for r in rows))
    session.execute(text(f"ANALYZE {STAGE}"))


def _taken_sql(spec: FieldSpec, i: int) -> str:
    column = f"c.{spec.column}"
    if spec.column not in ("customer_code", "licence_no"):
        column = f"{column}::text"
    sql = f"SELECT s.row_no FROM {STAGE} s JOIN customers c ON {column} = s.u{i}"
    if spec.has_rule("unique_active"):
        sql += f" AND c.status <> '{CLOSED_STATUS}' AND s.active"
    return sql


def _row_numbers(session: Session, sql: str) -> set[int]:
    return set(session.scalars(text(sql)))


def check_database(session: Session, rows: Sequence[Row], plan: Plan) -> dict[int, int]:
    """Refuse rows against the database; the region of each located row (row -> region)."""
    uniques = unique_specs(plan)
    by_number = {r.number: r for r in rows}
    _stage(session, rows, uniques)
    for i, spec in enumerate(uniques):
        whom = "其他在营客户" if spec.has_rule("unique_active") else "其他客户"
        for number in sorted(_row_numbers(session, _taken_sql(spec, i))):
            by_number[number].refuse(spec, DUPLICATE, f"已被{whom}使用")
    seq = plan.by_key.get(SEQUENCE)
    if seq is not None and ROUTE in plan.by_key:
        for number in sorted(_row_numbers(session, ROUTE_SQL)):
            by_number[number].refuse(seq, DUPLICATE, "在该线路上已被其他客户占用")
    if plan.location is not None and plan.location.has_rule("in_service_area"):
        for number in sorted(_row_numbers(session, OUTSIDE_SQL)):
            by_number[number].refuse(plan.location, OUTSIDE_SERVICE_AREA, "不在公司服务区域内")
    _check_refs(session, rows, plan)
    regions = session.execute(text(REGION_SQL)).all()
    session.execute(text(f"DROP TABLE {STAGE}"))
    return {int(r[0]): int(r[1]) for r in regions}


def _check_refs(session: Session, rows: Sequence[Row], plan: Plan) -> None:
    """Each reference field: one query over the distinct ids the file names."""
    for spec in plan.specs:
        if spec.type not in REF_TARGETS:
            continue
        ids = {r.values[spec.key] for r in rows if r.values.get(spec.key) is not None}
        if not ids:
            continue
        model: Any = REF_TARGETS[spec.type]
        passes = and_(true(), *rule_conditions(spec, model))
        query = select(model.id, passes).where(model.id.in_(ids))
        found: dict[int, bool] = {int(i): bool(ok) for i, ok in session.execute(query)}
        for row in rows:
            ref = row.values.get(spec.key)
            if ref is None:
                continue
            if ref not in found:
                row.refuse(spec, NOT_FOUND, "不存在")
            elif not found[ref]:
                row.refuse(spec, NOT_ALLOWED_VALUE, describe_ref_rules(spec))
