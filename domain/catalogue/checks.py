"""The catalogue rules that read the database, batched: one query per kind of rule.

- ``taken``: ``unique`` / ``unique_active`` for all fields in one query of EXISTS columns;
- ``ref_states``: existence and the ``role``/``kind``/``active`` rules of all references;
- ``outside_service_area``: the points not covered by any service area (plus its buffer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, exists, select, text, true
from sqlalchemy.orm import Session

from domain.access.rowsecurity import city_wide
from domain.catalogue import FieldSpec
from domain.catalogue.rules import CLOSED_STATUS
from domain.models import Customer, DeliveryRoute, Depot, Region, User
from domain.models.org import ROLE_LABELS_ZH

REF_TARGETS: dict[str, type[Region] | type[User] | type[DeliveryRoute] | type[Depot]] = {
    "ref:region": Region,
    "ref:user": User,
    "ref:route": DeliveryRoute,
    "ref:depot": Depot,
}
KIND_LABELS_ZH = {
    "distribution_centre": "配送中心",
    "transit_station": "中转站",
    "pickup_point": "定点取货点",
    "urban_district": "城区",
    "suburban_district": "郊区",
    "county": "县",
}
# A point is inside when a service area covers it, or its buffer (metres, via geography) does.
# TODO(geo): belongs with the service-area helpers of geo/ once they exist.
_COVERED = """EXISTS (SELECT 1 FROM service_areas sa WHERE CASE
    WHEN ST_Covers(sa.geom, ST_GeomFromText(:{p}, 4326)) THEN true
    WHEN sa.buffer_m > 0 THEN ST_Covers(
        ST_Buffer(sa.geom::geography, sa.buffer_m::float8),
        ST_GeomFromText(:{p}, 4326)::geography)
    ELSE false END)"""


def taken(
    session: Session, self_id: int | None, values: Sequence[tuple[FieldSpec, Any, bool]]
) -> set[str]:
    """Keys whose value another customer holds (``(spec, value, among_active_only)``)."""
    if not values:
        return set()
    table = Customer.__table__
    columns = []
    for i, (spec, value, active_only) in enumerate(values):
        conditions: list[ColumnElement[bool]] = [table.c[spec.column] == value]
        if self_id is not None:
            conditions.append(Customer.id != self_id)
        if active_only:
            conditions.append(cast(Customer.status, String) != CLOSED_STATUS)
        columns.append(exists().where(*conditions).label(f"u{i}"))
    # A licence number is unique in the city, not in the caller's scope: the check reads
    # every shop (it answers only which keys are taken, never whose).
    with city_wide(session):
        row = session.execute(select(*columns)).one()
    return {spec.key for (spec, _, _), hit in zip(values, row, strict=True) if hit}


def rule_conditions(spec: FieldSpec, model: Any) -> list[ColumnElement[bool]]:
    """SQL conditions a referenced row must meet (its ``role:``, ``kind:`` and ``active``
    rules); shared by record validation and bulk import."""
    out: list[ColumnElement[bool]] = []
    for rule in spec.rules:
        if rule.name == "role":
            out += [cast(model.role, String) == rule.arg, model.is_active.is_(True)]
        elif rule.name == "kind":
            out.append(cast(model.kind, String) == rule.arg)
        elif rule.name == "active":
            out.append(model.is_active.is_(True))
    return out


def describe_ref_rules(spec: FieldSpec) -> str:
    """What a reference must be, in Chinese, for the NOT_ALLOWED_VALUE message."""
    parts = []
    for rule in spec.rules:
        if rule.name == "role":
            parts.append(f"须为在职的{ROLE_LABELS_ZH.get(rule.arg, rule.arg)}")
        elif rule.name == "kind":
            parts.append(f"须为{KIND_LABELS_ZH.get(rule.arg, rule.arg)}")
        elif rule.name == "active":
            parts.append("须为启用状态")
    return "，".join(parts) or "不可用"


def ref_states(session: Session, refs: Sequence[tuple[FieldSpec, int]]) -> dict[str, bool | None]:
    """Per key: None when the referenced row does not exist, else whether it passes its rules."""
    if not refs:
        return {}
    columns = []
    for i, (spec, ref_id) in enumerate(refs):
        model: Any = REF_TARGETS[spec.type]
        passes = and_(true(), *rule_conditions(spec, model))
        found = select(passes).where(model.id == ref_id).scalar_subquery()
        columns.append(found.label(f"r{i}"))
    row = session.execute(select(*columns)).one()
    return {spec.key: state for (spec, _), state in zip(refs, row, strict=True)}


def outside_service_area(session: Session, points: Sequence[tuple[str, str]]) -> set[str]:
    """Keys of the ``(key, WKT in SRID 4326)`` points no service area covers.

    With no service area configured at all, nothing can be checked and every point passes.
    """
    if not points:
        return set()
    covered = ", ".join(f"{_COVERED.format(p=f'p{i}')} AS c{i}" for i in range(len(points)))
    sql = text(f"SELECT EXISTS (SELECT 1 FROM service_areas) AS configured, {covered}")
    row = session.execute(sql, {f"p{i}": wkt for i, (_, wkt) in enumerate(points)}).one()
    if not row[0]:
        return set()
    return {key for (key, _), inside in zip(points, row[1:], strict=True) if not inside}
