"""Apply field values to a customer record: one place for derived effects, the version
bump and the ledger, used by direct edits, approved tickets and lifecycle operations."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from domain.ledger import Change, stored_form, tracked_fields, write_entries
from domain.models import Customer
from domain.values import to_json
from domain.vault import Vault


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
        session.flush()
    return changes
