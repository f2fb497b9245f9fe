"""Apply field values to a customer record: one place for derived effects, the version
bump and the ledger, used by direct edits, approved tickets and lifecycle operations."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.ledger import Change, stored_form, tracked_fields, write_entries
from domain.models import Customer, Notification, Region
from domain.values import point_to_geojson, to_json
from domain.vault import Vault

# Customers are told when their ordering or delivery arrangements change, whatever the path.
CUSTOMER_NOTICE_FIELDS = ("order_batch", "order_cycle", "delivery_route")
WEEKDAYS = "一二三四五六日"


def _notice_text(customer: Customer, keys: list[str]) -> str:
    parts = []
    if "order_batch" in keys and customer.order_batch:
        parts.append(f"订货日调整为每周{WEEKDAYS[customer.order_batch - 1]}")
    if "order_cycle" in keys and customer.order_cycle_days:
        parts.append(f"订货周期调整为{customer.order_cycle_days}天")
    if "delivery_route" in keys:
        parts.append("送货线路已调整，送货日以新线路为准")
    return f"尊敬的{customer.shop_name}：您的" + "；".join(parts) + "。如有疑问请联系您的客户经理。"


def _notify_customer(
    session: Session, customer: Customer, keys: list[str], ticket_id: int | None
) -> None:
    changed = [k for k in keys if k in CUSTOMER_NOTICE_FIELDS]
    if changed and customer.status != "closed":
        session.add(
            Notification(
                kind="arrangement_change", customer_id=customer.id, ticket_id=ticket_id,
                text=_notice_text(customer, changed),
            )
        )  # fmt: skip


def _provenance(point: Any, given: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if point is None:
        return None
    if given is not None:
        return dict(given)
    lng, lat = point_to_geojson(point)["coordinates"]
    return {"lng": lng, "lat": lat, "crs": "WGS84"}


def _region_of(session: Session, point: Any) -> int | None:
    """The district or county whose polygon holds the point (the first by code on a border)."""
    return session.scalar(
        select(Region.id)
        .where(func.ST_Intersects(Region.geom, point))
        .order_by(Region.code)
        .limit(1)
    )


def _derived(
    session: Session, customer: Customer, values: dict[str, Any], now: dt.datetime
) -> None:
    """Effects that follow from a change: a closed shop leaves its route (its archive stays);
    a new location puts the shop in the region whose polygon holds it."""
    if values.get("location") is not None and "admin_region" not in values:
        region = _region_of(session, values["location"])
        if region is not None:
            values["admin_region"] = region
    status = values.get("status", customer.status)
    if status == "closed" and customer.status != "closed":
        values.setdefault("closed_at", now)
        values.setdefault("delivery_route", None)
        values.setdefault("delivery_sequence", None)
    elif status != "closed" and customer.status == "closed":
        values.setdefault("closed_at", None)


def apply_values(
    session: Session,
    customer: Customer,
    values: Mapping[str, Any],
    *,
    actor_id: int | None,
    request_id: uuid.UUID | None,
    source: str,
    vault: Vault,
    ticket_id: int | None = None,
    now: dt.datetime | None = None,
    location_input: Mapping[str, Any] | None = None,
) -> list[Change]:
    """Set the (already validated) values; ledger every real change; bump the version once.

    Values unchanged from the record are skipped; returns the changes written. A new
    location keeps ``location_input`` (the coordinates as entered and their system) as its
    provenance, or the WGS-84 point itself when none is given.
    """
    now = now or dt.datetime.now(dt.UTC)
    fields = tracked_fields()
    pending = dict(values)
    _derived(session, customer, pending, now)
    changes: list[Change] = []
    for key, new in pending.items():
        spec = fields[key]
        old = getattr(customer, spec.column)
        if to_json(spec, old) == to_json(spec, new):
            continue
        changes.append(Change(key, stored_form(spec, old, vault), stored_form(spec, new, vault)))
        setattr(customer, spec.column, new)
        if key == "location":
            customer.location_input = _provenance(new, location_input)
    if changes:
        customer.version = customer.version + 1
        customer.updated_at = now
        write_entries(
            session, customer_id=customer.id, changes=changes, actor_id=actor_id,
            request_id=request_id, source=source, ticket_id=ticket_id, at=now,
        )  # fmt: skip
        _notify_customer(session, customer, [c.key for c in changes], ticket_id)
        session.flush()
    return changes
