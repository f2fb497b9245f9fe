"""Bulk change from a file: per-row findings and nothing created on a refusal; one ticket
with the exact diff; the market department's signature applies it all through the ledger;
a shop changed meanwhile makes it stale; the county verifies (the 300-shop demo city)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.bulkchange import create_bulk_change
from domain.customers.apply import apply_values
from domain.errors import FORBIDDEN, DomainError
from domain.imports import read_table
from domain.models import (
    Customer,
    LedgerEntry,
    Notification,
    OrgUnit,
    Ticket,
    TicketChange,
    TicketStep,
    User,
)
from domain.tickets.approval import approve
from domain.vault import Vault
from tests.domain.conftest import PrincipalFor
from tests.import_data import write_csv

NOW = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=2)
HEADER = ["客户代码", "订货方式", "营业面积", "订货电话"]
LABELS = {"online": "网上", "phone": "电话", "mobile": "手机"}


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _county_users(session: Session) -> tuple[Principal, Principal, int]:
    """Two users of one county department (maker and verifier) and its region."""
    county = session.scalars(
        select(User).where(User.role == "county_dept").order_by(User.id)
    ).first()
    assert county is not None
    unit = session.get(OrgUnit, county.org_unit_id)
    assert unit is not None and unit.region_id is not None
    other = User(
        username="county_checker", display_name="县区复核", role="county_dept",
        org_unit_id=county.org_unit_id,
    )  # fmt: skip
    session.add(other)
    session.flush()
    return load_principal(session, county.id), load_principal(session, other.id), unit.region_id


def _shops(session: Session, region_id: int, n: int, *, other: bool = False) -> list[Customer]:
    where = (
        Customer.admin_region_id != region_id if other else Customer.admin_region_id == region_id
    )
    stmt = (
        select(Customer)
        .where(where, Customer.status == "active", Customer.order_method != "wechat")
        .order_by(Customer.id)
        .limit(n)
    )
    shops = list(session.scalars(stmt))
    assert len(shops) == n
    return shops


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(t)) or 0
        for t in (Ticket, TicketChange, LedgerEntry, TicketStep, Notification)
    )


def _records(session: Session, shops: list[Customer]) -> list[tuple[Any, ...]]:
    session.expire_all()
    return [
        (c.version, c.order_method, c.business_area_m2, c.phone)
        for c in (session.get(Customer, s.id) for s in shops)
        if c is not None
    ]


def _create(session: Session, p: Principal, path: Path, vault: Vault, **kw: Any) -> Any:
    return create_bulk_change(session, p, read_table(path), vault=vault, now=NOW, **kw)


def test_a_file_with_bad_rows_is_refused_per_row_and_field_and_creates_nothing(
    city: Session, vault: Vault, tmp_path: Path
) -> None:
    # given a county user and a file with good and bad rows
    maker, _, region_id = _county_users(city)
    a, b, c = _shops(city, region_id, 3)
    (foreign,) = _shops(city, region_id, 1, other=True)
    rows = [
        [a.customer_code, "微信", "", ""],  # row 2: fine
        [b.customer_code, "传真", "-5", "12345"],  # row 3: three bad fields
        ["999999999999", "网上", "", ""],  # row 4: no such shop
        [foreign.customer_code, "网上", "", ""],  # row 5: another county's shop
        [a.customer_code, "电话", "", ""],  # row 6: the same shop again
        ["", "网上", "", ""],  # row 7: no code
        [c.customer_code, "", "30", ""],  # row 8: fine
    ]
    path = write_csv(tmp_path / "bulk.csv", HEADER, rows)
    before, records = _counts(city), _records(city, [a, b, c, foreign])
    # when the county submits it
    result = _create(city, maker, path, vault)
    # then every finding is reported by row and field, and nothing was created
    assert result.ticket_id is None
    found = [(i.row, i.field, i.code, i.message) for i in result.issues]
    assert found == [
        (3, "business_area_m2", "OUT_OF_RANGE", "营业面积不能小于0"),
        (3, "phone", "INVALID_FORMAT", found[1][3]),
        (3, "order_method", "NOT_ALLOWED_VALUE", "订货方式须为以下之一：网上、电话、手机、微信"),
        (4, "customer_code", "NOT_FOUND", "客户代码 999999999999 不存在，或不在您的管辖范围内"),
        (5, "customer_code", "NOT_FOUND",
         f"客户代码 {foreign.customer_code} 不存在，或不在您的管辖范围内"),
        (6, "customer_code", "DUPLICATE", "客户代码与第2行重复，每家客户只能占一行"),
        (7, "customer_code", "REQUIRED", "客户代码不能为空"),
    ]  # fmt: skip
    assert found[1][3].startswith("订货电话")
    assert _counts(city) == before
    assert _records(city, [a, b, c, foreign]) == records


def test_columns_the_file_may_not_change_are_refused_on_the_header(
    city: Session, vault: Vault, tmp_path: Path
) -> None:
    maker, _, region_id = _county_users(city)
    (a,) = _shops(city, region_id, 1)
    header = ["客户代码", "经营规模", "备注", "送货线路", "订货方式"]
    path = write_csv(tmp_path / "bulk.csv", header, [[a.customer_code, "1", "x", "3", "网上"]])
    before = _counts(city)
    result = _create(city, maker, path, vault)
    assert result.ticket_id is None
    assert [(i.row, i.field, i.code, i.message) for i in result.issues] == [
        (1, "business_scale", "READ_ONLY_FIELD", "经营规模由系统自动生成，不能批量变更"),
        (1, "delivery_route", "READ_ONLY_FIELD", "送货线路不能批量变更，请通过线路调整工单办理"),
        (1, "备注", "UNKNOWN_FIELD", "未知列「备注」"),
    ]
    assert _counts(city) == before


def test_a_customer_manager_may_not_file_a_bulk_change(
    city: Session, principal_for: PrincipalFor, vault: Vault, tmp_path: Path
) -> None:
    p = principal_for("customer_manager")
    path = write_csv(tmp_path / "bulk.csv", HEADER, [["000000000001", "网上", "", ""]])
    before = _counts(city)
    with pytest.raises(DomainError) as err:
        _create(city, p, path, vault)
    assert (err.value.code, err.value.message) == (
        FORBIDDEN,
        "批量变更单由县区营销部或营销中心提交",
    )
    assert _counts(city) == before


def _valid_file(
    session: Session, tmp_path: Path, region_id: int
) -> tuple[Path, list[Customer], list[tuple[Any, ...]]]:
    a, b, c = _shops(session, region_id, 3)
    rows = [
        [a.customer_code, "微信", "", "13900001111"],
        [b.customer_code, "", "88.5", ""],
        # c: the order method it already has is no change; only the area changes
        [c.customer_code, LABELS[c.order_method or "online"], "12", ""],
    ]  # fmt: skip
    olds = [(s.order_method, s.business_area_m2, s.phone, s.version) for s in (a, b, c)]
    return write_csv(tmp_path / "bulk.csv", HEADER, rows), [a, b, c], olds


def _diff(session: Session, ticket_id: int, vault: Vault) -> list[tuple[Any, ...]]:
    stmt = select(TicketChange).where(TicketChange.ticket_id == ticket_id).order_by(TicketChange.id)
    return [
        (c.customer_id, c.field_key, vault.open(c.old_value), vault.open(c.new_value))
        for c in session.scalars(stmt)
    ]


def test_a_valid_file_becomes_one_ticket_with_the_exact_diff(
    city: Session, vault: Vault, tmp_path: Path
) -> None:
    # given a county user's valid file
    maker, _, region_id = _county_users(city)
    path, (a, b, c), olds = _valid_file(city, tmp_path, region_id)
    ledger_before = city.scalar(select(func.count()).select_from(LedgerEntry))
    # when submitted
    result = _create(city, maker, path, vault, title="雁塔区订货方式调整")
    # then one ticket with one change per (shop, field), old -> new
    assert (result.rows, result.shops, result.changes, result.issues) == (3, 3, 4, ())
    ticket = city.get(Ticket, result.ticket_id)
    assert ticket is not None
    assert (ticket.type, ticket.status, ticket.title, ticket.region_id, ticket.customer_id) == (
        "bulk_change", "open", "雁塔区订货方式调整", region_id, None,
    )  # fmt: skip
    assert _diff(city, ticket.id, vault) == [
        (a.id, "order_method", olds[0][0], "wechat"),
        (a.id, "phone", olds[0][2], "13900001111"),
        (b.id, "business_area_m2", _decimal(olds[1][1]), "88.5"),
        (c.id, "business_area_m2", _decimal(olds[2][1]), "12"),
    ]  # fmt: skip
    # and the personal value is sealed in the ticket, not stored in clear
    phone = city.scalars(
        select(TicketChange.new_value).where(
            TicketChange.ticket_id == ticket.id, TicketChange.field_key == "phone"
        )
    ).one()
    assert phone["masked"] == "139****1111" and "13900001111" not in str(phone)
    assert ticket.payload is not None
    assert ticket.payload["versions"] == {
        str(s.id): o[3] for s, o in zip((a, b, c), olds, strict=True)
    }
    steps = city.scalars(
        select(TicketStep).where(TicketStep.ticket_id == ticket.id).order_by(TicketStep.position)
    ).all()
    assert [(s.key, s.role, s.status, s.applies) for s in steps] == [
        ("sign", "market_dept", "active", True),
        ("verify", "county_dept", "waiting", False),
    ]
    # and nothing is applied yet
    assert city.scalar(select(func.count()).select_from(LedgerEntry)) == ledger_before
    assert [r[1:] for r in _records(city, [a, b, c])] == [o[:3] for o in olds]


def test_the_market_dept_signature_applies_everything_and_the_county_verifies(
    city: Session, principal_for: PrincipalFor, vault: Vault, tmp_path: Path
) -> None:
    # given an open bulk-change ticket of a county
    maker, checker, region_id = _county_users(city)
    path, (a, b, c), olds = _valid_file(city, tmp_path, region_id)
    ticket_id = _create(city, maker, path, vault).ticket_id
    signer = principal_for("market_dept")
    # when the market department manager signs
    ticket = approve(city, signer, ticket_id, vault=vault, now=LATER)
    # then every change is applied, each shop's version bumped once, with ledger entries
    assert ticket.status == "applied"
    records = _records(city, [a, b, c])
    assert [r[0] for r in records] == [o[3] + 1 for o in olds]
    assert records[0][1:] == ("wechat", olds[0][1], "13900001111")
    assert str(records[1][2]) == "88.5" and str(records[2][2]) == "12.0"
    ledger = city.execute(
        select(LedgerEntry.customer_id, LedgerEntry.field_key, LedgerEntry.source,
               LedgerEntry.actor_id)
        .where(LedgerEntry.ticket_id == ticket_id)
        .order_by(LedgerEntry.customer_id, LedgerEntry.field_key)
    ).all()  # fmt: skip
    assert [tuple(r) for r in ledger] == sorted(
        [(a.id, "order_method", "ticket", signer.user_id),
         (a.id, "phone", "ticket", signer.user_id),
         (b.id, "business_area_m2", "ticket", signer.user_id),
         (c.id, "business_area_m2", "ticket", signer.user_id)]
    )  # fmt: skip
    # and the county's verification is next; the maker may not verify the own ticket
    with pytest.raises(DomainError) as err:
        approve(city, maker, ticket_id, vault=vault, now=LATER)
    assert err.value.code == FORBIDDEN
    ticket = approve(city, checker, ticket_id, vault=vault, now=LATER + dt.timedelta(hours=1))
    assert ticket.status == "applied" and ticket.closed_at is not None
    steps = city.scalars(
        select(TicketStep).where(TicketStep.ticket_id == ticket_id).order_by(TicketStep.position)
    ).all()
    assert [(s.status, s.decision, s.decided_by_id) for s in steps] == [
        ("done", "approve", signer.user_id),
        ("done", "approve", checker.user_id),
    ]


def test_a_shop_changed_meanwhile_makes_the_ticket_stale_and_nothing_is_applied(
    city: Session, principal_for: PrincipalFor, vault: Vault, tmp_path: Path
) -> None:
    # given an open bulk-change ticket, then one of its shops edited directly
    maker, _, region_id = _county_users(city)
    path, (a, b, c), _ = _valid_file(city, tmp_path, region_id)
    ticket_id = _create(city, maker, path, vault).ticket_id
    fresh_b = city.get(Customer, b.id)
    assert fresh_b is not None
    apply_values(
        city, fresh_b, {"contact_person": "新联系人"}, actor_id=maker.user_id, request_id=None,
        source="edit", vault=vault, now=NOW,
    )  # fmt: skip
    signer = principal_for("market_dept")
    records = _records(city, [a, b, c])
    # when the market department signs
    ticket = approve(city, signer, ticket_id, vault=vault, now=LATER)
    # then the ticket is stale, no shop changed, no ledger entry for the ticket
    assert ticket.status == "stale" and ticket.closed_at == LATER
    assert _records(city, [a, b, c]) == records
    assert (
        city.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.ticket_id == ticket_id)
        )
        == 0
    )
    note = city.scalars(
        select(Notification.text).where(
            Notification.ticket_id == ticket_id, Notification.kind == "ticket_stale"
        )
    ).one()
    assert "有 1 家客户的档案已变更" in note
    # and the verification step never starts
    steps = city.scalars(
        select(TicketStep.status).where(TicketStep.ticket_id == ticket_id)
        .order_by(TicketStep.position)
    ).all()  # fmt: skip
    assert list(steps) == ["done", "waiting"]
