"""Property: after random updates by random roles, replaying the ledger from the initial
records reproduces the current records exactly, and no personal value reaches any view
(or the ledger and tickets at rest) unmasked."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain.access import load_principal
from domain.customers.present import present_customer
from domain.customers.update import update_customer
from domain.errors import DomainError
from domain.ledger import current_record, history, replay
from domain.models import Customer, LedgerEntry, TicketChange, User
from domain.models.org import ROLES
from domain.vault import Vault, shown

_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_number(body17: str) -> str:
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body17, _W, strict=True)) % 11]
    return body17 + check


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
ids = st.from_regex(
    r"610113(19[5-9][0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}", fullmatch=True
).map(_id_number)
values: dict[str, st.SearchStrategy[Any]] = {
    "contact_person": st.sampled_from(["张伟", "李娜", "王强", ""]),
    "phone": st.one_of(mobiles, st.just("12345")),
    "bank_account": st.from_regex(r"62[0-9]{14,17}", fullmatch=True),
    "id_number": ids,
    "home_address": st.sampled_from(["西安市雁塔区电子正街88号2单元", "蓝田县华胥镇孟岩村3组"]),
    "satisfaction": st.integers(-5, 105),
    "business_area_m2": st.decimals(0, 500, places=1),
    "total_limit": st.integers(0, 400),
    "order_method": st.sampled_from(["online", "phone", "mobile", "网上"]),
    "status": st.sampled_from(["active", "suspended", "closed"]),
}
operation = st.tuples(
    st.integers(0, 2),  # which shop
    st.sampled_from(ROLES),
    st.booleans(),  # a customer manager: the shop's own one, or another
    st.dictionaries(st.sampled_from(sorted(values)), st.none(), min_size=1, max_size=4).flatmap(
        lambda d: st.fixed_dictionaries({k: values[k] for k in d})
    ),
    st.booleans(),  # send a stale version
)


def _values_text(session: Session, table: str, after_id: int) -> str:
    sql = f"SELECT string_agg(old_value::text || new_value::text, '') FROM {table} WHERE id > :i"
    return session.scalar(text(sql), {"i": after_id}) or ""


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(operation, min_size=1, max_size=10))
def test_ledger_replay_and_masking(city: Session, vault: Vault, ops: list[Any]) -> None:
    shops = city.scalars(
        select(Customer).where(Customer.status != "closed").order_by(Customer.id).limit(3)
    ).all()
    initial = {s.id: current_record(s) for s in shops}
    base_entry = city.scalar(select(func.max(LedgerEntry.id))) or 0
    base_change = city.scalar(select(func.max(TicketChange.id))) or 0
    users = {
        role: city.scalar(select(User.id).where(User.role == role).order_by(User.id))
        for role in ROLES
    }
    seen: list[Any] = []  # everything any role was shown
    clear: set[str] = set()  # every personal value that was ever in a record or a proposal

    for index, role, own, changes, stale in ops:
        shop = shops[index]
        clear.update(
            str(v)
            for k, v in changes.items()
            if k in {"phone", "bank_account", "id_number", "home_address"}
        )
        # A home address that is also the shop's (non-personal) address is not a leak.
        public = {shop.address, shop.mailing_address}
        clear.update(
            str(getattr(shop, k))
            for k in ("phone", "bank_account", "id_number", "home_address")
            if getattr(shop, k) and getattr(shop, k) not in public
        )
        user_id = shop.customer_manager_id if role == "customer_manager" and own else users[role]
        principal = load_principal(city, user_id)  # type: ignore[arg-type]
        try:
            with city.begin_nested():
                version = shop.version + 1 if stale else shop.version
                result = update_customer(city, principal, shop.id, version, changes, vault=vault)
            seen.append([c.new for c in result.applied])
        except DomainError as err:
            seen.append(str(err))
            seen.extend((e.code, e.message) for e in getattr(err, "errors", ()))
        city.expire_all()
        seen.append(present_customer(shop))
        seen.append([(h.old, h.new) for h in history(city, shop.id)])
        changes_shown = city.scalars(
            select(TicketChange).where(TicketChange.id > base_change)
        ).all()
        seen.append([(shown(c.old_value), shown(c.new_value)) for c in changes_shown])

    # replaying the ledger from the initial records reproduces the current ones exactly
    for shop in shops:
        entries = city.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.customer_id == shop.id, LedgerEntry.id > base_entry)
            .order_by(LedgerEntry.id)
        ).all()
        assert replay(initial[shop.id], entries, vault) == current_record(shop)

    # no personal value is shown unmasked, nor kept in clear in the ledger or tickets
    shown_text = json.dumps(seen, ensure_ascii=False, default=str)
    at_rest = _values_text(city, "ledger_entries", base_entry) + _values_text(
        city, "ticket_changes", base_change
    )
    for value in clear:
        if len(value) >= 6:
            assert value not in shown_text, value
            assert value not in at_rest, value
