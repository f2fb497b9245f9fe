"""Onboarding (新入网): the record exists from the licence on (suspended), seven steps fill it
as ticket changes, the close step applies everything and activates the shop; the 5-working-
day completeness deadline across the 2026 National Day holiday (10-01..07 off, Saturday
10-10 worked)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.catalogue import catalogue
from domain.customers.update import update_customer
from domain.errors import (
    DUPLICATE,
    FORBIDDEN,
    INCONSISTENT,
    REQUIRED,
    DomainError,
    ValidationFailed,
)
from domain.models import Customer, LedgerEntry, OrgUnit, Ticket, TicketChange, TicketStep, User
from domain.tickets.onboarding import (
    RECORD_KEYS,
    approve_onboarding_step,
    onboarding_status,
    start_onboarding,
)
from domain.tickets.types import ticket_type
from domain.values import to_json
from domain.vault import Vault
from domain.workcal import DEFAULT_TZ
from tests.domain.conftest import PrincipalFor, snapshot

D = dt.date


def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=DEFAULT_TZ)


# Tuesday 2026-09-29, the last working days before the National Day holiday.
START = at(9, 29, 10)


def _neighbour(city: Session) -> Customer:
    """An active shop on a route: the new shop opens next door, in its manager's area."""
    shop = city.scalar(
        select(Customer)
        .where(Customer.status == "active", Customer.delivery_route_id.is_not(None))
        .order_by(Customer.id)
    )
    assert shop is not None and shop.location is not None
    return shop


def _licence(city: Session, near: Customer, **over: Any) -> dict[str, Any]:
    point = to_json(next(s for s in catalogue() if s.key == "location"), near.location)
    licence: dict[str, Any] = {
        "customer_code": "610199000001", "shop_name": "新城便民烟酒店",
        "licence_no": "610199880001", "licence_type": "retail",
        "licence_issued_on": "2026-09-20", "licence_expires_on": "2031-09-19",
        "responsible_person": "赵新民", "address": "新城区长乐中路 88 号",
        "location": point, "customer_manager": near.customer_manager_id,
        "issuing_bureau": "西安市烟草专卖局", "business_scope": "卷烟零售",
        "id_number": "11010519491231002X",
    }  # fmt: skip
    licence.update(over)
    return {k: v for k, v in licence.items() if v is not None}


def _county(city: Session, region_id: int | None) -> Principal:
    user_id = city.scalar(
        select(User.id)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.role == "county_dept", OrgUnit.region_id == region_id)
    )
    assert user_id is not None
    return load_principal(city, user_id)


def _counts(city: Session) -> tuple[int | None, ...]:
    return tuple(
        city.scalar(select(func.count()).select_from(t))
        for t in (Customer, Ticket, TicketStep, TicketChange, LedgerEntry)
    )


def _steps(city: Session, ticket_id: int) -> list[TicketStep]:
    stmt = select(TicketStep).where(TicketStep.ticket_id == ticket_id)
    return list(city.scalars(stmt.order_by(TicketStep.position)))


STEP_VALUES: dict[str, dict[str, Any]] = {
    "visit": {
        "contact_person": "赵小红", "business_area_m2": "35.5", "display_form": "counter_shelf",
        "registered_capital": "50000", "home_address": "新城区幸福路 12 号 3 单元",
        "photo_shopfront": "photos/610199000001-front.jpg",
        "photo_counter": "photos/610199000001-counter.jpg",
    },
    "market": {
        "business_format": "convenience", "market_type": "urban", "phone": "13991234567",
        "bank_name": "中国工商银行西安长乐路支行", "bank_account": "6222021234567890123",
        "order_method": "online", "settlement_method": "electronic",
        "tax_id": "92610102MA6TXXXX01", "tax_type": "small_scale",
    },
    "delivery": {"order_batch": 2, "visit_batch": 2},
    "sales": {"total_limit": 40, "item_limit": 5, "call_batch": 2, "phone_order_clerk": "钱丽"},
}  # fmt: skip


def test_the_whole_onboarding_fills_each_step_and_the_close_applies_everything(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # Given licensing with a new licence next to a shop on a route
    near = _neighbour(city)
    licensing = principal_for("licensing")
    route_id = near.delivery_route_id
    last = city.scalar(
        select(func.max(Customer.delivery_sequence)).where(Customer.delivery_route_id == route_id)
    )
    # When licensing starts the onboarding
    ticket = start_onboarding(city, licensing, licence=_licence(city, near), vault=vault, now=START)
    shop = city.get(Customer, ticket.customer_id)
    assert shop is not None
    # Then the record exists at once, suspended, joined today, with the new-shop defaults
    assert (shop.status, shop.joined_on, shop.version) == ("suspended", D(2026, 9, 29), 1)
    assert (shop.order_frequency, shop.order_method, shop.settlement_method) == (
        "weekly", "online", "electronic",
    )  # fmt: skip
    assert shop.admin_region_id == near.admin_region_id
    assert shop.customer_manager_id == near.customer_manager_id
    assert (shop.licence_type, shop.id_number) == (None, None)  # the licence fills wait
    assert ticket.base_version == 1 and ticket.maker_id == licensing.user_id
    # and one ledger entry per initial value, from the ticket
    entries = city.scalars(select(LedgerEntry).where(LedgerEntry.customer_id == shop.id)).all()
    assert {e.field_key for e in entries} == {
        *RECORD_KEYS, "status", "joined_on", "order_method", "settlement_method",
        "order_frequency",
    }  # fmt: skip
    assert {(e.source, e.ticket_id, e.actor_id) for e in entries} == {
        ("ticket", ticket.id, licensing.user_id)
    }
    assert all(e.old_value is None for e in entries)
    # and the licence step is done (the maker's submission), the visit due a working day later
    steps = _steps(city, ticket.id)
    assert [s.key for s in steps] == [s.key for s in ticket_type("onboarding").steps]
    assert (steps[0].status, steps[0].decided_by_id) == ("done", None)
    assert (steps[1].key, steps[1].status, steps[1].due_at) == ("visit", "active", at(9, 30, 10))
    # and the ID number waits sealed in the ticket
    id_change = city.scalars(
        select(TicketChange).where(
            TicketChange.ticket_id == ticket.id, TicketChange.field_key == "id_number"
        )
    ).one()
    assert "11010519491231002X" not in str(id_change.new_value)
    assert vault.open(id_change.new_value) == "11010519491231002X"

    # When each step is approved by its role, filling its fields
    deciders = {
        "visit": principal_for("customer_manager", of_customer=shop),
        "county": _county(city, shop.admin_region_id),
        "market": principal_for("market_dept"),
        "delivery": principal_for("delivery_dept"),
        "sales": principal_for("sales_dept"),
        "close": principal_for("sales_dept"),
    }
    now = START
    for key, who in deciders.items():
        now += dt.timedelta(hours=1)
        values = {**STEP_VALUES.get(key, {})}
        if key == "delivery":
            values["delivery_route"] = route_id
        assert shop.status == "suspended" and shop.version == 1  # nothing applied before close
        approve_onboarding_step(city, who, ticket.id, vault=vault, now=now, values=values or None)

    # Then the ticket is applied and closed, the shop active and on the route at its end
    city.expire_all()
    assert (ticket.status, ticket.closed_at) == ("applied", now)
    assert all(s.status == "done" for s in _steps(city, ticket.id))
    assert (shop.status, shop.version) == ("active", 2)
    assert (shop.delivery_route_id, shop.delivery_sequence) == (route_id, (last or 0) + 1)
    # and everything the steps filled is on the record
    assert (shop.licence_type, shop.issuing_bureau, shop.id_number) == (
        "retail", "西安市烟草专卖局", "11010519491231002X",
    )  # fmt: skip
    assert shop.business_area_m2 == Decimal("35.5") and shop.display_form == "counter_shelf"
    assert (shop.phone, shop.bank_account) == ("13991234567", "6222021234567890123")
    assert (shop.business_format, shop.market_type, shop.tax_type) == (
        "convenience", "urban", "small_scale",
    )  # fmt: skip
    assert (shop.order_batch, shop.visit_batch, shop.call_batch) == (2, 2, 2)
    assert (shop.total_limit, shop.item_limit, shop.phone_order_clerk) == (40, 5, "钱丽")
    # and the close wrote the ledger with the ticket id, personal values sealed
    applied = city.scalars(
        select(LedgerEntry).where(
            LedgerEntry.customer_id == shop.id, LedgerEntry.actor_id == deciders["close"].user_id
        )
    ).all()
    assert {e.ticket_id for e in applied} == {ticket.id}
    same = {"order_method", "settlement_method"}  # already the defaults: no entry
    given = {k for v in STEP_VALUES.values() for k in v} - same
    licence_fills = {"licence_type", "issuing_bureau", "business_scope", "id_number"}
    assert {e.field_key for e in applied} == given | licence_fills | {
        "delivery_route", "delivery_sequence", "status",
    }  # fmt: skip
    phone = next(e for e in applied if e.field_key == "phone")
    assert phone.new_value["masked"] == "139****4567" and "13991234567" not in str(phone.new_value)
    status = next(e for e in applied if e.field_key == "status")
    assert (status.old_value, status.new_value) == ("suspended", "active")
    # and the record is complete except for what no onboarding step fills
    state = onboarding_status(city, ticket.id, now)
    filled = {f for s in ticket_type("onboarding").steps for f in s.fills}
    filled |= {*RECORD_KEYS, "status", "joined_on", "order_frequency"}
    assert set(state.missing) == {s.key for s in catalogue()} - filled - {"pickup_point"}
    assert (state.finished, state.overdue, state.step_key) == (True, False, None)


def test_the_deadline_is_five_working_days_after_joining_across_national_day(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # Given an onboarding started on Tuesday 2026-09-29
    near = _neighbour(city)
    ticket = start_onboarding(
        city, principal_for("licensing"), licence=_licence(city, near), vault=vault, now=START
    )
    # When its status is read
    state = onboarding_status(city, ticket.id, at(9, 29, 11))
    # Then the deadline skips the holiday: 09-30, 10-08, 10-09, 10-10 (worked Saturday), 10-12
    assert (state.joined_on, state.deadline) == (D(2026, 9, 29), D(2026, 10, 12))
    assert (state.step_key, state.step_role, state.step_due_at) == (
        "visit", "customer_manager", at(9, 30, 10),
    )  # fmt: skip
    assert not state.overdue and not state.step_overdue and not state.finished
    # and on the deadline it is not overdue yet, the next day it is
    assert not onboarding_status(city, ticket.id, at(10, 12, 17)).overdue
    late = onboarding_status(city, ticket.id, at(10, 13, 9))
    assert late.overdue and late.step_overdue


def test_only_licensing_may_start_and_nothing_is_created(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    near = _neighbour(city)
    before = _counts(city)
    for role in ("market_dept", "customer_manager", "county_dept"):
        with pytest.raises(DomainError) as err:
            start_onboarding(
                city, principal_for(role), licence=_licence(city, near), vault=vault, now=START
            )
        assert err.value.code == FORBIDDEN
    assert _counts(city) == before


def test_invalid_licence_data_gives_field_errors_and_creates_nothing(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # Given licence data without a shop name and manager, with dates the wrong way round
    near = _neighbour(city)
    before = _counts(city)
    licence = _licence(
        city, near, shop_name=None, customer_manager=None, licence_expires_on="2026-01-01"
    )
    # When licensing starts the onboarding / Then every error is reported, nothing created
    with pytest.raises(ValidationFailed) as err:
        start_onboarding(city, principal_for("licensing"), licence=licence, vault=vault, now=START)
    assert sorted((e.field or "", e.code) for e in err.value.errors) == [
        ("customer_manager", REQUIRED), ("licence_expires_on", INCONSISTENT),
        ("shop_name", REQUIRED),
    ]  # fmt: skip
    assert _counts(city) == before
    # and a licence number already used by an active shop is a duplicate
    with pytest.raises(ValidationFailed) as dup:
        start_onboarding(
            city, principal_for("licensing"),
            licence=_licence(city, near, licence_no=near.licence_no), vault=vault, now=START,
        )  # fmt: skip
    assert [(e.field, e.code) for e in dup.value.errors] == [("licence_no", DUPLICATE)]
    # and a field outside the licence (the phone) is not for licensing to give
    with pytest.raises(DomainError) as outside:
        start_onboarding(
            city, principal_for("licensing"), licence=_licence(city, near, phone="13991234567"),
            vault=vault, now=START,
        )  # fmt: skip
    assert (outside.value.code, outside.value.field) == (FORBIDDEN, "phone")
    assert _counts(city) == before


def test_a_step_filling_a_field_not_its_own_is_refused_and_changes_nothing(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # Given an onboarding at the visit step
    near = _neighbour(city)
    ticket = start_onboarding(
        city, principal_for("licensing"), licence=_licence(city, near), vault=vault, now=START
    )
    assert ticket.customer_id is not None
    cm = principal_for("customer_manager", of_customer=near)
    before = snapshot(city, ticket.customer_id)
    # When the customer manager fills the phone (the market step's field)
    with pytest.raises(DomainError) as err:
        approve_onboarding_step(
            city, cm, ticket.id, vault=vault, now=START, values={"phone": "13991234567"}
        )
    # Then it is forbidden and nothing changed; the visit is still active
    assert (err.value.code, err.value.field) == (FORBIDDEN, "phone")
    assert snapshot(city, ticket.customer_id) == before
    assert [s.status for s in _steps(city, ticket.id)][:2] == ["done", "active"]
    # and the delivery dept cannot act at the visit step
    with pytest.raises(DomainError) as wrong:
        approve_onboarding_step(
            city, principal_for("delivery_dept"), ticket.id, vault=vault, now=START,
            values={"delivery_route": near.delivery_route_id},
        )  # fmt: skip
    assert wrong.value.code == FORBIDDEN
    assert snapshot(city, ticket.customer_id) == before


def _to_delivery(
    city: Session, principal_for: PrincipalFor, vault: Vault, near: Customer
) -> tuple[Ticket, Customer]:
    ticket = start_onboarding(
        city, principal_for("licensing"), licence=_licence(city, near), vault=vault, now=START
    )
    shop = city.get(Customer, ticket.customer_id)
    assert shop is not None
    for who in (
        principal_for("customer_manager", of_customer=shop),
        _county(city, shop.admin_region_id),
        principal_for("market_dept"),
    ):
        approve_onboarding_step(city, who, ticket.id, vault=vault, now=START)
    return ticket, shop


def test_a_place_taken_on_the_route_meanwhile_moves_the_new_shop_to_the_end(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # Given the delivery step put the new shop at the end of a route (place n + 1)
    near = _neighbour(city)
    ticket, shop = _to_delivery(city, principal_for, vault, near)
    route_id = near.delivery_route_id
    delivery = principal_for("delivery_dept")
    approve_onboarding_step(
        city, delivery, ticket.id, vault=vault, now=START, values={"delivery_route": route_id}
    )
    planned = city.scalars(
        select(TicketChange.new_value).where(
            TicketChange.ticket_id == ticket.id, TicketChange.field_key == "delivery_sequence"
        )
    ).one()
    # When another shop is moved onto that place before the close
    other = city.scalar(
        select(Customer)
        .where(Customer.delivery_route_id != route_id, Customer.status == "active")
        .order_by(Customer.id)
    )
    assert other is not None
    update_customer(
        city, delivery, other.id, other.version,
        {"delivery_route": route_id, "delivery_sequence": planned}, vault=vault,
    )  # fmt: skip
    sales = principal_for("sales_dept")
    approve_onboarding_step(city, sales, ticket.id, vault=vault, now=START)
    approve_onboarding_step(city, sales, ticket.id, vault=vault, now=START)
    # Then the new shop goes after it, at the new end of the route
    city.expire_all()
    assert ticket.status == "applied"
    assert (shop.delivery_route_id, shop.delivery_sequence) == (route_id, planned + 1)


def test_a_direct_edit_during_onboarding_makes_the_close_stale(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # Given an onboarding at the delivery step and the market dept editing the record directly
    near = _neighbour(city)
    ticket, shop = _to_delivery(city, principal_for, vault, near)
    market = principal_for("market_dept")
    update_customer(city, market, shop.id, shop.version, {"address": "新城区长乐中路 90 号"},
                    vault=vault)  # fmt: skip
    delivery, sales = principal_for("delivery_dept"), principal_for("sales_dept")
    approve_onboarding_step(
        city, delivery, ticket.id, vault=vault, now=START,
        values={"delivery_route": near.delivery_route_id},
    )  # fmt: skip
    approve_onboarding_step(city, sales, ticket.id, vault=vault, now=START)
    # When the close step is approved
    approve_onboarding_step(city, sales, ticket.id, vault=vault, now=START)
    # Then nothing is applied over the newer record: the ticket is stale, the shop suspended
    city.expire_all()
    assert ticket.status == "stale"
    assert (shop.status, shop.delivery_route_id) == ("suspended", None)
