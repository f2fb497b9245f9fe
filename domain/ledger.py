"""The modification ledger (客户信息修改台帐): writing entries, a customer's history, and
the record as of any past moment.

Values are stored in their JSON form (domain.values); personal fields as a vault envelope
(masked form, keyed fingerprint, ciphertext), never in clear. Besides the catalogue
fields the ledger tracks two lifecycle columns, ``closed_at`` and ``merged_into``.

A row is one field change, except an imported record: one row per shop under the reserved
key ``IMPORT_RECORD`` whose new value is the object ``{field key: stored value}`` of every
imported field (personal ones sealed each in its own envelope), and whose old value is
NULL (nothing before). Every reader goes through ``field_changes``, which expands such a
row into one change per field, so history, replay and the record as of a date show an
import exactly as one entry per field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.catalogue import FieldSpec, catalogue
from domain.models import Customer, LedgerEntry, User
from domain.values import to_json
from domain.vault import Vault, shown


def _system_spec(key: str, column: str, type_: str, label: str) -> FieldSpec:
    return FieldSpec(
        key=key, label_zh=label, group="system", national=False, maintenance="auto",
        owner="system", approval=None, type=type_, column=column, choices=(),
        personal=False, notes="", position=1000,
    )  # fmt: skip


SYSTEM_FIELDS: dict[str, FieldSpec] = {
    "closed_at": _system_spec("closed_at", "closed_at", "datetime", "歇业时间"),
    "merged_into": _system_spec("merged_into", "merged_into_id", "ref:customer", "合并至客户"),
}


IMPORT_RECORD = "*import"  # not a field key: a whole record written by an import


def tracked_fields() -> dict[str, FieldSpec]:
    """Every field the ledger records: the catalogue plus the lifecycle columns."""
    return {**{s.key: s for s in catalogue()}, **SYSTEM_FIELDS}


def stored_form(spec: FieldSpec, value: Any, vault: Vault) -> Any:
    """The JSON stored in the ledger or a ticket for a field value (sealed when personal)."""
    json_value = to_json(spec, value)
    return vault.seal(spec.type, json_value) if spec.personal else json_value


@dataclass(frozen=True)
class Change:
    """One field change in stored form (old and new as kept in the ledger)."""

    key: str
    old: Any
    new: Any


def field_changes(field_key: str, old_value: Any, new_value: Any) -> list[Change]:
    """The field changes a ledger row stands for, in stored form: itself, or for a record
    row (``IMPORT_RECORD``) one change per field of the record, in catalogue order."""
    if field_key != IMPORT_RECORD:
        return [Change(field_key, old_value, new_value)]
    old, new = old_value or {}, new_value or {}
    fields = tracked_fields()
    keys = sorted({*old, *new}, key=lambda k: (fields[k].position if k in fields else 10**6, k))
    return [Change(k, old.get(k), new.get(k)) for k in keys]


def write_entries(
    session: Session,
    *,
    customer_id: int,
    changes: Iterable[Change],
    actor_id: int | None,
    request_id: uuid.UUID | None,
    source: str,
    at: dt.datetime,
    ticket_id: int | None = None,
) -> None:
    session.add_all(
        LedgerEntry(
            customer_id=customer_id, actor_id=actor_id, request_id=request_id, ticket_id=ticket_id,
            source=source, field_key=c.key, old_value=c.old, new_value=c.new, at=at,
        )
        for c in changes
    )  # fmt: skip


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    at: dt.datetime
    actor: str | None
    source: str
    ticket_id: int | None
    field_key: str
    label_zh: str
    old: Any  # masked for personal fields
    new: Any


def histories(
    session: Session, customer_ids: Sequence[int], *, limit: int = 200
) -> dict[int, list[HistoryEntry]]:
    """The newest ``limit`` field changes of each customer in one statement, newest first
    (an imported record's fields in catalogue order); personal values only masked. A row
    stands for at least one change, so the newest ``limit`` rows always suffice."""
    fields = tracked_fields()
    ranked = (
        select(
            LedgerEntry,
            func.row_number()
            .over(partition_by=LedgerEntry.customer_id, order_by=LedgerEntry.id.desc())
            .label("n"),
        )
        .where(LedgerEntry.customer_id.in_(customer_ids))
        .subquery()
    )
    rows = session.execute(
        select(ranked, User.display_name)
        .outerjoin(User, ranked.c.actor_id == User.id)
        .where(ranked.c.n <= limit)
        .order_by(ranked.c.customer_id, ranked.c.id.desc())
    )
    out: dict[int, list[HistoryEntry]] = {cid: [] for cid in customer_ids}
    for e in rows:
        lines = out[e.customer_id]
        for c in field_changes(e.field_key, e.old_value, e.new_value)[: limit - len(lines)]:
            spec = fields.get(c.key)
            lines.append(
                HistoryEntry(
                    id=e.id, at=e.at, actor=e.display_name, source=e.source,
                    ticket_id=e.ticket_id, field_key=c.key,
                    label_zh=spec.label_zh if spec else c.key, old=shown(c.old), new=shown(c.new),
                )
            )  # fmt: skip
    return out


def history(session: Session, customer_id: int, *, limit: int = 200) -> list[HistoryEntry]:
    """Newest first; personal values appear only in masked form."""
    return histories(session, [customer_id], limit=limit)[customer_id]


def current_record(customer: Customer) -> dict[str, Any]:
    """The record's tracked fields in JSON form, in clear."""
    return {k: to_json(s, getattr(customer, s.column)) for k, s in tracked_fields().items()}


def record_as_of(
    session: Session, customer: Customer, at: dt.datetime, vault: Vault
) -> dict[str, Any]:
    """The record as it stood at ``at``: the current record with every later change undone.

    In clear: callers present it through the masking of the caller's role.
    """
    record = current_record(customer)
    later = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.customer_id == customer.id, LedgerEntry.at > at)
        .order_by(LedgerEntry.id.desc())
    )
    for entry in later:
        for c in field_changes(entry.field_key, entry.old_value, entry.new_value):
            record[c.key] = vault.open(c.old)
    return record


def replay(
    initial: Mapping[str, Any], entries: Iterable[LedgerEntry], vault: Vault
) -> dict[str, Any]:
    """Apply ledger entries (oldest first) to an initial record in JSON form."""
    record = dict(initial)
    for entry in entries:
        for c in field_changes(entry.field_key, entry.old_value, entry.new_value):
            record[c.key] = vault.open(c.new)
    return record
