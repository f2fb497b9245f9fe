"""``update_customer``: apply what the caller may edit, propose the rest, all or nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from domain.access import EDIT, PROPOSE, Principal, field_right, get_customer_in_scope
from domain.catalogue import field
from domain.catalogue.normalise import point_input
from domain.catalogue.validate import validate_changes
from domain.customers.apply import apply_values
from domain.customers.places import settle_place
from domain.customers.proposals import create_proposal
from domain.errors import (
    NO_CHANGE,
    READ_ONLY_FIELD,
    STALE_VERSION,
    UNKNOWN_FIELD,
    DomainError,
    ValidationFailed,
)
from domain.ledger import Change
from domain.models import Customer, Ticket
from domain.values import to_json
from domain.vault import Vault


@dataclass(frozen=True)
class UpdateResult:
    customer: Customer
    applied: tuple[Change, ...]
    ticket: Ticket | None


def _rights_errors(principal: Principal, keys: list[str]) -> list[DomainError]:
    errors = []
    for key in keys:
        try:
            spec = field(key)
        except KeyError:
            errors.append(DomainError(UNKNOWN_FIELD, f"未知字段 {key!r}", key))
            continue
        if field_right(principal, spec) not in (EDIT, PROPOSE):
            why = "由系统自动生成" if spec.maintenance == "auto" else "您无权修改或提议修改"
            errors.append(DomainError(READ_ONLY_FIELD, f"{spec.label_zh}{why}", key))
    return errors


def update_customer(
    session: Session,
    principal: Principal,
    customer_id: int,
    version: int,
    changes: Mapping[str, Any],
    *,
    vault: Vault,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> UpdateResult:
    """Apply the fields within the caller's rights (ledger entries) and put the rest into
    one proposal ticket, in the caller's transaction. A stale version, a field outside the
    caller's rights or any invalid value raises and changes nothing."""
    if not changes:
        raise DomainError(NO_CHANGE, "没有需要修改的字段", "changes")
    customer = get_customer_in_scope(session, principal, customer_id, for_update=True)
    if customer.version != version:
        raise DomainError(
            STALE_VERSION,
            f"该客户档案已被他人修改（当前版本 {customer.version}，您提交的是 {version}），"
            "请刷新后重试",
            "version",
        )
    keys = list(changes)
    errors = _rights_errors(principal, keys)
    try:
        values = validate_changes(
            session, customer, {k: changes[k] for k in keys if k not in {e.field for e in errors}}
        )
    except ValidationFailed as failed:
        errors.extend(failed.errors)
        values = {}
    if errors:
        raise ValidationFailed(errors)

    # Only real changes count; the rest is split by the caller's rights.
    real = {
        k: v
        for k, v in values.items()
        if to_json(field(k), getattr(customer, field(k).column)) != to_json(field(k), v)
    }
    direct = {k: v for k, v in real.items() if field_right(principal, field(k)) == EDIT}
    proposed = {k: v for k, v in real.items() if k not in direct}
    settle_place(session, customer, direct)  # route locked; a taken place refused
    raw_location = changes.get("location")
    applied = apply_values(
        session, customer, direct, actor_id=principal.user_id, request_id=principal.request_id,
        source="edit", vault=vault, now=now,
        location_input=point_input(raw_location) if isinstance(raw_location, Mapping) else None,
    )  # fmt: skip
    ticket = (
        create_proposal(session, principal, customer, proposed, vault=vault, reason=reason, now=now)
        if proposed
        else None
    )
    return UpdateResult(customer, tuple(applied), ticket)
