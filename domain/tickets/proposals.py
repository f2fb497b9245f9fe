"""Proposals that become tickets: a new location for a shop, shops moved to a route.

Errors name the arguments of the API (``point``, ``customerIds``, ``routeId``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import READ, Principal, field_right, get_customer_in_scope
from domain.access.rowsecurity import city_wide
from domain.catalogue import field
from domain.catalogue.validate import validate_changes
from domain.errors import (
    INVALID,
    NO_CHANGE,
    READ_ONLY_FIELD,
    DomainError,
    ValidationFailed,
    renamed,
)
from domain.models import Customer, Ticket
from domain.tickets.engine import open_ticket
from domain.values import to_json
from domain.vault import Vault
from geo.crs import Crs
from geo.points import CheckedPoint, haversine_m, likely_crs_mixup

MAX_ROUTE_CUSTOMERS = 200


def _may_propose(principal: Principal, key: str, name: str) -> None:
    spec = field(key)
    if field_right(principal, spec) == READ:
        raise DomainError(READ_ONLY_FIELD, f"您无权修改或提议修改{spec.label_zh}", name)


CRS_NAMES = {"WGS84": "WGS-84（GPS）", "GCJ02": "GCJ-02（高德/腾讯）", "BD09": "BD-09（百度）"}


def crs_warning(current: Any, raw: Mapping[str, Any], new: Any) -> dict[str, Any] | None:
    """A likely coordinate-system mix-up: the proposed point is where the shop's current
    point lands when read in another system (e.g. an AMap GCJ-02 point sent as WGS-84)."""
    if current is None:
        return None
    cur = current if isinstance(current, Point) else to_shape(current)
    moved = to_json(field("location"), new)["coordinates"]
    declared = Crs(str(raw.get("crs", "WGS84")).upper())
    checked = CheckedPoint(moved[0], moved[1], float(raw["lng"]), float(raw["lat"]), declared)
    likely = likely_crs_mixup((cur.x, cur.y), checked)
    if likely is None:
        return None
    distance = haversine_m(cur.x, cur.y, moved[0], moved[1])
    return {
        "code": "LIKELY_CRS_MIXUP", "crs": likely.value, "distanceM": round(distance, 1),
        "message": f"新位置与原位置相距约 {distance:.0f} 米，恰好等于此处 {CRS_NAMES[likely.value]}"
        f"与 {CRS_NAMES[declared.value]} 的偏移：很可能是坐标系弄混了，"
        "而不是店铺真的搬迁，请核实。",
    }  # fmt: skip


def propose_location(
    session: Session,
    principal: Principal,
    customer_id: int,
    point: Mapping[str, Any],
    *,
    reason: str | None,
    vault: Vault,
    now: dt.datetime,
) -> Ticket:
    """A location-change ticket with the customer's current and the proposed point
    (``{"lng", "lat", "crs"}``; ``crs`` WGS84 (default), GCJ02 or BD09, stored as WGS-84).
    The coordinates as entered are kept for provenance; a likely coordinate-system mix-up
    is recorded on the ticket as a warning for the approver."""
    raw = {"lng": point["lng"], "lat": point["lat"], "crs": str(point.get("crs", "WGS84"))}
    customer = get_customer_in_scope(session, principal, customer_id, for_update=True)
    _may_propose(principal, "location", "point")
    try:
        values = validate_changes(session, customer, {"location": raw})
    except DomainError as err:
        raise renamed(err, {"location": "point"}) from None
    spec = field("location")
    if customer.location is not None and to_json(spec, customer.location) == to_json(
        spec, values["location"]
    ):
        raise DomainError(NO_CHANGE, "新位置与客户当前位置相同", "point")
    warning = crs_warning(customer.location, raw, values["location"])
    payload: dict[str, Any] = {"locationInput": raw, "warnings": [warning] if warning else []}
    return open_ticket(
        session, principal, type_key="location_change", customer=customer, values=values,
        vault=vault, now=now, reason=reason, payload=payload,
    )  # fmt: skip


def _customers(session: Session, principal: Principal, ids: Sequence[int]) -> list[Customer]:
    """The customers in the order given, locked in primary-key order; every one refused
    (out of scope or not found) is reported."""
    found: dict[int, Customer] = {}
    errors: list[DomainError] = []
    for customer_id in sorted(ids):
        try:
            found[customer_id] = get_customer_in_scope(
                session, principal, customer_id, for_update=True
            )
        except DomainError as err:
            errors.append(
                DomainError(err.code, f"客户 {customer_id}：{err.message}", "customerIds")
            )
    if errors:
        raise ValidationFailed(errors)
    return [found[i] for i in ids]


def propose_route_assignment(
    session: Session,
    principal: Principal,
    customer_ids: Sequence[int],
    route_id: int,
    *,
    reason: str | None,
    vault: Vault,
    now: dt.datetime,
) -> list[Ticket]:
    """One route-change ticket per customer, each proposing the route and a place after the
    route's current last stop (in the order given); all or none."""
    ids = list(dict.fromkeys(customer_ids))
    if not 1 <= len(ids) <= MAX_ROUTE_CUSTOMERS:
        raise DomainError(INVALID, f"请选择 1 到 {MAX_ROUTE_CUSTOMERS} 个客户", "customerIds")
    _may_propose(principal, "delivery_route", "routeId")
    customers = _customers(session, principal, ids)
    with city_wide(session):  # the route's end counts every stop, in the caller's scope or not
        last = session.scalar(
            select(func.max(Customer.delivery_sequence)).where(
                Customer.delivery_route_id == route_id
            )
        )
    names = {"delivery_route": "routeId", "delivery_sequence": "routeId"}
    errors: list[DomainError] = []
    proposals = []
    for n, customer in enumerate(customers, start=1):
        if customer.delivery_route_id == route_id:
            text = f"客户 {customer.customer_code} 已在该线路上"
            errors.append(DomainError(NO_CHANGE, text, "customerIds"))
            continue
        raw = {"delivery_route": route_id, "delivery_sequence": int(last or 0) + n}
        try:
            proposals.append((customer, validate_changes(session, customer, raw)))
        except DomainError as err:
            failed = renamed(err, names)
            errors.extend(failed.errors if isinstance(failed, ValidationFailed) else [failed])
    if errors:
        unique = {(e.code, e.message, e.field): e for e in errors}
        raise ValidationFailed(list(unique.values()))
    tickets = []
    for customer, values in proposals:
        ticket = open_ticket(
            session, principal, type_key="route_change", customer=customer, values=values,
            vault=vault, now=now, reason=reason,
        )  # fmt: skip
        tickets.append(ticket)
    return tickets
