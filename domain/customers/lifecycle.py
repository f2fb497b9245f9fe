"""Archive lifecycle. One shop, one archive: records are closed or merged, never deleted.

Closing is a status change (``update_customer`` with status ``closed``): the shop leaves
its route and keeps its record. Merging closes the duplicate, points it at the survivor
and may carry chosen fields over to the survivor; the ledger of both shows the merge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.access import EDIT, Principal, customer_scope, field_right
from domain.catalogue import field
from domain.customers.apply import apply_values
from domain.errors import FORBIDDEN, INVALID, NOT_FOUND, STALE_VERSION, DomainError
from domain.ledger import Change
from domain.models import Customer
from domain.vault import Vault


@dataclass(frozen=True)
class MergeResult:
    survivor: Customer
    duplicate: Customer
    survivor_changes: tuple[Change, ...]
    duplicate_changes: tuple[Change, ...]


def _locked_pair(
    session: Session, principal: Principal, duplicate_id: int, survivor_id: int
) -> tuple[Customer, Customer]:
    """Both records, row-locked in primary-key order, within the caller's scope."""
    rows = session.scalars(
        select(Customer)
        .where(Customer.id.in_([duplicate_id, survivor_id]), customer_scope(principal))
        .order_by(Customer.id)
        .with_for_update()
    ).all()
    found = {c.id: c for c in rows}
    for cid, name in ((duplicate_id, "duplicateId"), (survivor_id, "survivorId")):
        if cid not in found:
            raise DomainError(NOT_FOUND, "找不到该客户，或不在您的管辖范围内", name)
    return found[duplicate_id], found[survivor_id]


def merge_customers(
    session: Session,
    principal: Principal,
    *,
    duplicate_id: int,
    duplicate_version: int,
    survivor_id: int,
    survivor_version: int,
    take: Sequence[str] = (),
    vault: Vault,
) -> MergeResult:
    """Merge a duplicate archive into the surviving one (一户一档)."""
    if field_right(principal, field("customer_code")) != EDIT:
        raise DomainError(FORBIDDEN, "只有客户代码的维护部门可以合并客户档案", None)
    if duplicate_id == survivor_id:
        raise DomainError(INVALID, "不能把客户合并到其自身", "survivorId")
    duplicate, survivor = _locked_pair(session, principal, duplicate_id, survivor_id)
    for customer, version, name in (
        (duplicate, duplicate_version, "duplicateVersion"),
        (survivor, survivor_version, "survivorVersion"),
    ):
        if customer.version != version:
            raise DomainError(
                STALE_VERSION, f"客户 {customer.customer_code} 已被他人修改，请刷新", name
            )
    if duplicate.merged_into_id is not None:
        raise DomainError(INVALID, "该客户已合并到其他档案", "duplicateId")
    if survivor.status == "closed":
        raise DomainError(INVALID, "保留的档案已歇业，不能作为合并目标", "survivorId")
    for key in take:
        spec = field(key)
        if spec.maintenance == "auto" or key == "customer_code" or key == "licence_no":
            raise DomainError(INVALID, f"{spec.label_zh}不能从重复档案带入", key)
    carried = {k: getattr(duplicate, field(k).column) for k in take}

    def apply(customer: Customer, values: dict[str, object]) -> list[Change]:
        return apply_values(
            session, customer, values, actor_id=principal.user_id,
            request_id=principal.request_id, source="merge", vault=vault,
        )  # fmt: skip

    duplicate_changes = apply(duplicate, {"status": "closed", "merged_into": survivor.id})
    survivor_changes = apply(survivor, carried)
    return MergeResult(survivor, duplicate, tuple(survivor_changes), tuple(duplicate_changes))
