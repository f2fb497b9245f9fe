"""What a principal sees of a customer: every field in JSON form, personal ones masked.

Roles holding the grant may reveal a personal value on request; each reveal is logged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from domain.access import Principal, get_customer_in_scope, may_reveal
from domain.catalogue import catalogue, field
from domain.errors import FORBIDDEN, INVALID, DomainError
from domain.masking import mask
from domain.models import Customer, PersonalDataReveal
from domain.values import to_json


def present_value(key: str, value: Any) -> Any:
    """A stored value as shown to anyone: JSON form, masked when personal."""
    spec = field(key)
    json_value = to_json(spec, value)
    return mask(spec.type, json_value) if spec.personal else json_value


def present_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record in JSON form (e.g. from the ledger) as shown: personal fields masked."""
    personal = {s.key: s for s in catalogue() if s.personal}
    return {k: mask(personal[k].type, v) if k in personal else v for k, v in record.items()}


def present_customer(customer: Customer) -> dict[str, Any]:
    return {s.key: present_value(s.key, getattr(customer, s.column)) for s in catalogue()}


def reveal_personal(
    session: Session, principal: Principal, customer_id: int, key: str, *, purpose: str
) -> str | None:
    """The clear value of a personal field for a role with the grant; the reveal is logged."""
    try:
        spec = field(key)
    except KeyError:
        raise DomainError(INVALID, f"未知字段 {key!r}", "field") from None
    if not spec.personal:
        raise DomainError(INVALID, f"{spec.label_zh}不是个人敏感信息，无需查看原文", "field")
    if not may_reveal(principal, spec):
        raise DomainError(FORBIDDEN, f"您的角色无权查看{spec.label_zh}原文", "field")
    if not purpose.strip():
        raise DomainError(INVALID, "请说明查看原文的用途", "purpose")
    customer = get_customer_in_scope(session, principal, customer_id)
    session.add(
        PersonalDataReveal(
            user_id=principal.user_id, customer_id=customer.id, field_key=key,
            purpose=purpose.strip(), request_id=principal.request_id,
        )
    )  # fmt: skip
    session.flush()
    value = getattr(customer, spec.column)
    return None if value is None else str(value)
