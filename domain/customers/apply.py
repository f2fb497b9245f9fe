"""Apply field values to a customer record: one place for derived effects, the version
bump and the ledger, used by direct edits, approved tickets and lifecycle operations."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from domain.ledger import Change, stored_form, tracked_fields, write_entries
from domain.models import Customer, Notification
from domain.values import to_json
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


def _derived(customer: Customer, values: dict[str, Any], now: dt.datetime) -> None:
    """Effects that follow from a change: a closed shop leaves its route (its archive stays)."""
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
) -> list[Change]:
    """Set the (already validated) values; ledger every real change; bump the version once.

    Values unchanged from the record are skipped; returns the changes written.
    """
    now = now or dt.datetime.now(dt.UTC)
    fields = tracked_fields()
    pending = dict(values)
    _derived(customer, pending, now)
    changes: list[Change] = []
    for key, new in pending.items():
        spec = fields[key]
        old = getattr(customer, spec.column)
        if to_json(spec, old) == to_json(spec, new):
            continue
        changes.append(Change(key, stored_form(spec, old, vault), stored_form(spec, new, vault)))
        setattr(customer, spec.column, new)
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
