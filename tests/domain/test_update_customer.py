"""update_customer: within rights applied with ledger entries, the rest one proposal;
refusals change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from domain.customers.update import update_customer
from domain.errors import DomainError, ValidationFailed
from domain.models import Customer, LedgerEntry, TicketChange, TicketStep
from domain.vault import Vault
from tests.domain.conftest import PrincipalFor, snapshot


def _a_shop(session: Session) -> Customer:
    c = session.scalar(
        select(Customer)
        .where(Customer.status == "active", Customer.phone.is_not(None))
        .order_by(Customer.id)
    )
    assert c is not None
    return c


def test_manager_edit_applies_own_fields_and_proposes_the_rest(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a customer manager and one of the manager's shops
    shop = _a_shop(city)
    cm = principal_for("customer_manager", of_customer=shop)
    old_phone, v0 = shop.phone, shop.version
    # when changing the contact person (own field) and the phone (market dept's, approved by MM)
    result = update_customer(
        city, cm, shop.id, v0, {"contact_person": "李新华", "phone": "13900001111"},
        vault=vault, reason="客户申请",
    )  # fmt: skip
    # then the contact person is applied with one ledger entry and a new version
    assert shop.contact_person == "李新华" and shop.version == v0 + 1
    assert [c.key for c in result.applied] == ["contact_person"]
    entries = city.scalars(select(LedgerEntry).where(LedgerEntry.customer_id == shop.id)).all()
    assert [(e.field_key, e.source, e.actor_id, e.request_id) for e in entries] == [
        ("contact_person", "edit", cm.user_id, cm.request_id)
    ]
    # and the phone became one phone-change ticket built on the new version, not applied
    assert shop.phone == old_phone
    ticket = result.ticket
    assert ticket is not None and ticket.type == "phone_change" and ticket.base_version == v0 + 1
    steps = city.scalars(
        select(TicketStep).where(TicketStep.ticket_id == ticket.id).order_by(TicketStep.position)
    )
    assert [(s.role, s.status) for s in steps] == [
        ("market_manager", "active"),
        ("market_dept", "waiting"),
    ]
    change = city.scalars(select(TicketChange).where(TicketChange.ticket_id == ticket.id)).one()
    assert change.field_key == "phone" and change.new_value["masked"] == "139****1111"
    assert vault.open(change.new_value) == "13900001111"
    raw = city.scalar(
        text("SELECT new_value::text FROM ticket_changes WHERE id = :i"), {"i": change.id}
    )
    assert "13900001111" not in raw


def test_market_dept_edits_the_phone_directly_and_the_ledger_keeps_no_clear_value(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = _a_shop(city)
    old = shop.phone
    update_customer(
        city,
        principal_for("market_dept"),
        shop.id,
        shop.version,
        {"phone": "029-88889999"},
        vault=vault,
    )
    assert shop.phone == "029-88889999"
    raw = city.scalar(
        text(
            "SELECT old_value::text || new_value::text FROM ledger_entries WHERE customer_id = :c"
        ),
        {"c": shop.id},
    )
    assert old not in raw and "029-88889999" not in raw and "029****9999" in raw


def test_a_stale_version_changes_nothing(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = _a_shop(city)
    before = snapshot(city, shop.id)
    with pytest.raises(DomainError) as err:
        update_customer(
            city, principal_for("market_dept"), shop.id, shop.version + 1,
            {"contact_person": "某人"}, vault=vault,
        )  # fmt: skip
    assert (err.value.code, err.value.field) == ("STALE_VERSION", "version")
    assert snapshot(city, shop.id) == before


def test_one_invalid_value_refuses_everything(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = _a_shop(city)
    cm = principal_for("customer_manager", of_customer=shop)
    before = snapshot(city, shop.id)
    with pytest.raises(ValidationFailed) as err:
        update_customer(
            city, cm, shop.id, shop.version,
            {"contact_person": "王五", "phone": "12345", "business_area_m2": -3},
            vault=vault,
        )  # fmt: skip
    assert sorted((e.field, e.code) for e in err.value.errors) == [
        ("business_area_m2", "OUT_OF_RANGE"),
        ("phone", "INVALID_FORMAT"),
    ]
    assert snapshot(city, shop.id) == before


def test_auto_and_unknown_fields_are_refused(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = _a_shop(city)
    before = snapshot(city, shop.id)
    with pytest.raises(ValidationFailed) as err:
        update_customer(
            city, principal_for("market_dept"), shop.id, shop.version,
            {"business_scale": 1, "favourite_colour": "red", "contact_person": "张三"}, vault=vault,
        )  # fmt: skip
    assert sorted((e.field, e.code) for e in err.value.errors) == [
        ("business_scale", "READ_ONLY_FIELD"),
        ("favourite_colour", "UNKNOWN_FIELD"),
    ]
    assert snapshot(city, shop.id) == before


def test_a_shop_outside_the_scope_is_not_found_and_unchanged(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    cm = principal_for("customer_manager")
    other = city.scalar(
        select(Customer).where(Customer.customer_manager_id != cm.user_id).order_by(Customer.id)
    )
    assert other is not None
    before = snapshot(city, other.id)
    with pytest.raises(DomainError) as err:
        update_customer(city, cm, other.id, other.version, {"contact_person": "某人"}, vault=vault)
    assert err.value.code == "NOT_FOUND"
    assert snapshot(city, other.id) == before


def test_an_unchanged_value_writes_nothing(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = _a_shop(city)
    before = snapshot(city, shop.id)
    result = update_customer(
        city,
        principal_for("market_dept"),
        shop.id,
        shop.version,
        {"phone": shop.phone},
        vault=vault,
    )
    assert result.applied == () and result.ticket is None
    assert snapshot(city, shop.id) == before


def test_closing_a_shop_keeps_the_archive_and_takes_it_off_its_route(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = _a_shop(city)
    route = shop.delivery_route_id
    assert route is not None
    now = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    update_customer(
        city,
        principal_for("market_dept"),
        shop.id,
        shop.version,
        {"status": "closed"},
        vault=vault,
        now=now,
    )
    city.expire_all()
    closed = city.get(Customer, shop.id)
    assert closed is not None and closed.status == "closed" and closed.closed_at == now
    assert closed.delivery_route_id is None and closed.delivery_sequence is None
    keys = city.scalars(
        select(LedgerEntry.field_key).where(LedgerEntry.customer_id == shop.id)
    ).all()
    assert sorted(keys) == ["closed_at", "delivery_route", "delivery_sequence", "status"]
    entry = city.scalars(
        select(LedgerEntry).where(
            LedgerEntry.customer_id == shop.id, LedgerEntry.field_key == "delivery_route"
        )
    ).one()
    assert (entry.old_value, entry.new_value) == (route, None)


def test_the_database_refuses_to_update_or_delete_the_ledger(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    shop = _a_shop(city)
    update_customer(
        city,
        principal_for("customer_manager", of_customer=shop),
        shop.id,
        shop.version,
        {"contact_person": "赵六"},
        vault=vault,
    )
    count = city.scalar(select(func.count(LedgerEntry.id)))
    assert count == 1
    for statement in ("UPDATE ledger_entries SET field_key = 'x'", "DELETE FROM ledger_entries"):
        with pytest.raises(Exception, match="ledger_entries is append-only"), city.begin_nested():
            city.execute(text(statement))
    assert city.scalar(select(func.count(LedgerEntry.id))) == count
    assert city.scalar(select(LedgerEntry.new_value)) == "赵六"


def test_customers_are_told_when_their_order_day_or_route_changes(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    from domain.models import Notification

    # given a shop and the delivery dept, which owns the order cycle
    shop = _a_shop(city)
    dd = principal_for("delivery_dept")
    # when its order cycle changes directly, the customer gets one stored notification
    update_customer(city, dd, shop.id, shop.version, {"order_cycle": 14}, vault=vault)
    texts = city.scalars(select(Notification.text).where(Notification.customer_id == shop.id)).all()
    assert texts == [
        f"尊敬的{shop.shop_name}：您的订货周期调整为14天。如有疑问请联系您的客户经理。"
    ]
    # and a change that does not touch ordering or delivery tells nobody
    update_customer(city, dd, shop.id, shop.version, {"delivery_segment": "南段"}, vault=vault)
    assert (
        city.scalar(select(func.count(Notification.id)).where(Notification.customer_id == shop.id))
        == 1
    )
