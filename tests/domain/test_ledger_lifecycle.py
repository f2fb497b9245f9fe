"""History and the record as of a past date; reveal of personal data; merge and close."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.customers.lifecycle import merge_customers
from domain.customers.present import present_customer, present_record, reveal_personal
from domain.customers.update import update_customer
from domain.errors import DomainError
from domain.ledger import current_record, history, record_as_of
from domain.models import Customer, LedgerEntry, PersonalDataReveal
from domain.vault import Vault
from tests.domain.conftest import PrincipalFor, snapshot

T1 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 11, 9, 9, 0, tzinfo=dt.UTC)


def _shops(session: Session, n: int) -> list[Customer]:
    rows = session.scalars(
        select(Customer)
        .where(Customer.status == "active", Customer.phone.is_not(None))
        .order_by(Customer.id)
        .limit(n)
    ).all()
    assert len(rows) == n
    return list(rows)


def test_history_and_record_as_of_any_date(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given a shop changed twice a week apart
    (shop,) = _shops(city, 1)
    md = principal_for("market_dept")
    original = current_record(shop)
    update_customer(
        city,
        md,
        shop.id,
        shop.version,
        {"phone": "13911112222", "address": "西安市碑林区测试路1号"},
        vault=vault,
        now=T1,
    )
    middle = current_record(shop)
    update_customer(city, md, shop.id, shop.version, {"phone": "13933334444"}, vault=vault, now=T2)
    # then the record as of each moment is reconstructed from the ledger
    assert record_as_of(city, shop, T1 - dt.timedelta(seconds=1), vault) == original
    assert record_as_of(city, shop, T1, vault) == middle
    assert record_as_of(city, shop, T2 + dt.timedelta(days=1), vault) == current_record(shop)
    assert middle["phone"] == "13911112222"
    # and a view of a past record is masked like any other
    assert present_record(record_as_of(city, shop, T1, vault))["phone"] == "139****2222"
    # and the history lists the changes newest first, personal values masked
    entries = history(city, shop.id)
    assert [(e.field_key, e.old, e.new) for e in entries] == [
        ("phone", "139****2222", "139****4444"),
        ("address", original["address"], "西安市碑林区测试路1号"),
        ("phone", f"{original['phone'][:3]}****{original['phone'][-4:]}", "139****2222"),
    ]
    assert entries[0].actor is not None and entries[0].label_zh == "订货电话"


def test_views_mask_personal_fields(city: Session) -> None:
    (shop,) = _shops(city, 1)
    view = present_customer(shop)
    assert view["phone"] == f"{shop.phone[:3]}****{shop.phone[-4:]}"  # type: ignore[index]
    assert shop.bank_account and view["bank_account"] == "****" + shop.bank_account[-4:]
    assert shop.id_number and view["id_number"] != shop.id_number
    assert view["shop_name"] == shop.shop_name


def test_reveal_is_allowed_by_grant_and_logged(city: Session, principal_for: PrincipalFor) -> None:
    (shop,) = _shops(city, 1)
    cm = principal_for("customer_manager", of_customer=shop)
    # a customer manager may reveal the phone of an own shop; the reveal is logged
    assert reveal_personal(city, cm, shop.id, "phone", purpose="上门回访") == shop.phone
    logged = city.scalars(select(PersonalDataReveal)).all()
    assert [(r.user_id, r.customer_id, r.field_key, r.purpose) for r in logged] == [
        (cm.user_id, shop.id, "phone", "上门回访")
    ]
    # refusals: no grant for bank accounts, no grant at all for IT, no purpose, not personal
    cases = [
        (cm, "bank_account", "核对", "FORBIDDEN"),
        (principal_for("it_admin"), "phone", "核对", "FORBIDDEN"),
        (cm, "phone", "  ", "INVALID"),
        (cm, "shop_name", "核对", "INVALID"),
    ]
    for who, key, purpose, code in cases:
        with pytest.raises(DomainError) as err:
            reveal_personal(city, who, shop.id, key, purpose=purpose)
        assert err.value.code == code
    assert city.scalar(select(func.count(PersonalDataReveal.id))) == 1


def test_merge_closes_the_duplicate_and_keeps_both_archives(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    survivor, duplicate = _shops(city, 2)
    md = principal_for("market_dept")
    dup_contact = duplicate.contact_person
    result = merge_customers(
        city, md, duplicate_id=duplicate.id, duplicate_version=duplicate.version,
        survivor_id=survivor.id, survivor_version=survivor.version,
        take=["contact_person"], vault=vault,
    )  # fmt: skip
    city.expire_all()
    dup, surv = city.get(Customer, duplicate.id), city.get(Customer, survivor.id)
    assert dup is not None and surv is not None
    assert (dup.status, dup.merged_into_id, dup.delivery_route_id) == ("closed", survivor.id, None)
    assert surv.contact_person == dup_contact and surv.status == "active"
    assert {c.key for c in result.duplicate_changes} >= {"status", "merged_into", "closed_at"}
    sources = city.scalars(
        select(LedgerEntry.source).where(LedgerEntry.customer_id.in_([dup.id, surv.id]))
    )
    assert set(sources) == {"merge"}


def test_merge_refusals_change_nothing(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    survivor, duplicate = _shops(city, 2)
    md = principal_for("market_dept")
    before = (snapshot(city, survivor.id), snapshot(city, duplicate.id))
    base = {
        "duplicate_id": duplicate.id, "duplicate_version": duplicate.version,
        "survivor_id": survivor.id, "survivor_version": survivor.version, "vault": vault,
    }  # fmt: skip
    cases = [
        (principal_for("customer_manager", of_customer=survivor), {}, "FORBIDDEN"),
        (md, {"survivor_id": duplicate.id, "survivor_version": duplicate.version}, "INVALID"),
        (md, {"survivor_version": survivor.version + 5}, "STALE_VERSION"),
        (md, {"take": ["business_scale"]}, "INVALID"),
        (md, {"survivor_id": 10**9}, "NOT_FOUND"),
    ]
    for who, override, code in cases:
        with pytest.raises(DomainError) as err:
            merge_customers(city, who, **{**base, **override})  # type: ignore[arg-type]
        assert err.value.code == code
        assert (snapshot(city, survivor.id), snapshot(city, duplicate.id)) == before
