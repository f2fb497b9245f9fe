"""Credit rating (诚信等级评定): initial rating → public notice of at least 7 working days
(pinned on the 2026 calendar: National Day 10-01..07 off, Saturday 10-10 worked) with
appeals → final rating by another licensing officer, applied through the ledger."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.customers.update import update_customer
from domain.errors import (
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    READ_ONLY_FIELD,
    DomainError,
    ValidationFailed,
)
from domain.models import Customer, LedgerEntry, Ticket, TicketChange, TicketStep, User
from domain.tickets.decisions import approve_ticket
from domain.tickets.engine import default_calendar
from domain.tickets.rating import (
    approve_rating_step,
    file_appeal,
    proposed_rating,
    resolve_appeal,
    start_rating,
)
from domain.vault import Vault
from domain.workcal import DEFAULT_TZ
from tests.domain.conftest import PrincipalFor, snapshot


def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=DEFAULT_TZ)


START = at(9, 29, 10)  # Tuesday before the National Day holiday
NOTICE_DUE = at(10, 14, 10)  # 09-30, 10-08, 10-09, 10-10 (Sat, worked), 10-12, 10-13, 10-14


@pytest.fixture
def shop(city: Session) -> Customer:
    found = city.scalar(
        select(Customer)
        .where(Customer.status == "active", Customer.credit_rating == "A")
        .order_by(Customer.id)
    )
    assert found is not None
    return found


@pytest.fixture
def officer(city: Session, principal_for: PrincipalFor) -> Principal:
    """A second licensing officer: the final rating is never the maker's own."""
    first = principal_for("licensing")
    user = User(
        username="licensing2", display_name="专管员乙", role="licensing",
        org_unit_id=first.org_unit_id,
    )  # fmt: skip
    city.add(user)
    city.flush()
    return load_principal(city, user.id)


def _steps(city: Session, ticket_id: int) -> list[TicketStep]:
    stmt = select(TicketStep).where(TicketStep.ticket_id == ticket_id)
    return list(city.scalars(stmt.order_by(TicketStep.position)))


def _start(city: Session, principal_for: PrincipalFor, shop: Customer, vault: Vault) -> Ticket:
    return start_rating(
        city, principal_for("licensing"), shop.id, proposed="C",
        evidence="2026-09 检查发现违规销售，已责令整改", vault=vault, now=START,
    )  # fmt: skip


def test_the_full_procedure_waits_out_the_notice_and_applies_through_the_ledger(
    city: Session, principal_for: PrincipalFor, vault: Vault, shop: Customer, officer: Principal
) -> None:
    # Given licensing proposing C for a shop rated A
    licensing = principal_for("licensing")
    # When the rating starts
    ticket = _start(city, principal_for, shop, vault)
    # Then the initial step is done, the notice runs 7 working days over the holiday
    steps = _steps(city, ticket.id)
    assert [(s.key, s.kind, s.status) for s in steps] == [
        ("initial", "approve", "done"), ("notice", "notice", "active"),
        ("final", "approve", "waiting"),
    ]  # fmt: skip
    notice = steps[1]
    assert notice.due_at == NOTICE_DUE
    cal = default_calendar()
    assert cal.working_days_between(START.date(), NOTICE_DUE.date()) == 7
    assert cal.working_time_between(START, NOTICE_DUE) == 7 * cal.day_total
    # and the proposal is the ticket's one change; the record keeps its rating meanwhile
    change = city.scalars(select(TicketChange).where(TicketChange.ticket_id == ticket.id)).one()
    assert (change.field_key, change.old_value, change.new_value) == ("credit_rating", "A", "C")
    assert shop.credit_rating == "A" and ticket.payload is not None
    assert ticket.payload["evidence"].startswith("2026-09") and ticket.payload["appeals"] == []

    # When another officer tries to end the notice a minute early / Then it is refused
    before, version = snapshot(city, shop.id), shop.version
    with pytest.raises(DomainError) as early:
        approve_ticket(
            city, officer, ticket.id, vault=vault, now=NOTICE_DUE - dt.timedelta(minutes=1)
        )
    assert early.value.code == INVALID and "公示期未满" in early.value.message
    assert snapshot(city, shop.id) == before
    # When the notice is over (the scheduler or an officer ends it)
    approve_ticket(city, officer, ticket.id, vault=vault, now=NOTICE_DUE)
    # Then the final step waits for licensing; the maker may not decide it
    with pytest.raises(DomainError) as own:
        approve_rating_step(city, licensing, ticket.id, vault=vault, now=at(10, 15, 9))
    assert own.value.code == FORBIDDEN
    # When the other officer approves the final rating
    approve_rating_step(city, officer, ticket.id, vault=vault, now=at(10, 15, 9))
    # Then the rating is applied once, through the ledger with the ticket id
    city.expire_all()
    assert (ticket.status, shop.credit_rating, shop.version) == ("applied", "C", version + 1)
    entry = city.scalars(
        select(LedgerEntry).where(
            LedgerEntry.customer_id == shop.id, LedgerEntry.ticket_id == ticket.id
        )
    ).one()
    assert (entry.field_key, entry.old_value, entry.new_value, entry.source, entry.actor_id) == (
        "credit_rating", "A", "C", "ticket", officer.user_id,
    )  # fmt: skip


def test_an_edit_of_another_field_during_the_notice_does_not_void_the_rating(
    city: Session, principal_for: PrincipalFor, vault: Vault, shop: Customer, officer: Principal
) -> None:
    # Given a rating in its notice period and the manager editing the contact person meanwhile
    ticket = _start(city, principal_for, shop, vault)
    cm = principal_for("customer_manager", of_customer=shop)
    update_customer(city, cm, shop.id, shop.version, {"contact_person": "孙建国"}, vault=vault)
    # When the notice ends and the final rating is approved
    approve_ticket(city, officer, ticket.id, vault=vault, now=NOTICE_DUE)
    approve_rating_step(city, officer, ticket.id, vault=vault, now=NOTICE_DUE)
    # Then the rating still applies (it concerns the rating only)
    city.expire_all()
    assert (ticket.status, shop.credit_rating, shop.contact_person) == ("applied", "C", "孙建国")


def test_an_appeal_upheld_changes_the_rating_and_holds_the_notice_until_resolved(
    city: Session, principal_for: PrincipalFor, vault: Vault, shop: Customer, officer: Principal
) -> None:
    # Given a rating in its notice period
    ticket = _start(city, principal_for, shop, vault)
    cm = principal_for("customer_manager", of_customer=shop)
    # When the shop's customer manager appeals during the notice
    file_appeal(city, cm, ticket.id, text="违规情节轻微且已整改，申请评为B级", now=at(10, 9, 10))
    # Then the appeal is kept and holds the notice open past its due time
    assert ticket.payload is not None and ticket.payload["appeal_open"] is True
    assert [(a["by"], a["status"]) for a in ticket.payload["appeals"]] == [(cm.user_id, "open")]
    with pytest.raises(DomainError) as held:
        approve_ticket(city, officer, ticket.id, vault=vault, now=at(10, 15, 9))
    assert held.value.code == INVALID and "申诉" in held.value.message
    # and a second appeal waits for the first
    with pytest.raises(DomainError) as again:
        file_appeal(city, cm, ticket.id, text="补充材料", now=at(10, 9, 11))
    assert again.value.code == INVALID
    # When licensing upholds it with rating B
    resolve_appeal(city, officer, ticket.id, upheld=True, new_rating="B", now=at(10, 15, 10))
    # Then the proposal is B, the appeal closed, and the notice can end
    assert proposed_rating(city, ticket.id) == "B"
    assert ticket.payload["appeal_open"] is False
    assert ticket.payload["appeals"][0]["status"] == "upheld"
    approve_ticket(city, officer, ticket.id, vault=vault, now=at(10, 15, 11))
    approve_rating_step(city, officer, ticket.id, vault=vault, now=at(10, 15, 14))
    city.expire_all()
    assert (ticket.status, shop.credit_rating) == ("applied", "B")


def test_a_rejected_appeal_keeps_the_proposed_rating(
    city: Session, principal_for: PrincipalFor, vault: Vault, shop: Customer, officer: Principal
) -> None:
    ticket = _start(city, principal_for, shop, vault)
    file_appeal(city, officer, ticket.id, text="店主对评定有异议", now=at(10, 8, 9))
    # an upheld appeal needs a new rating, a rejected one takes none
    with pytest.raises(DomainError) as missing:
        resolve_appeal(city, officer, ticket.id, upheld=True, now=at(10, 8, 10))
    assert (missing.value.code, missing.value.field) == (INVALID, "newRating")
    with pytest.raises(DomainError) as bad:
        resolve_appeal(city, officer, ticket.id, upheld=True, new_rating="E", now=at(10, 8, 10))
    assert (bad.value.code, bad.value.field) == (INVALID, "newRating")
    # only licensing resolves
    with pytest.raises(DomainError) as who:
        resolve_appeal(
            city, principal_for("market_dept"), ticket.id, upheld=False, now=at(10, 8, 10)
        )
    assert who.value.code == FORBIDDEN
    resolve_appeal(city, officer, ticket.id, upheld=False, now=at(10, 8, 10))
    assert proposed_rating(city, ticket.id) == "C"
    assert ticket.payload is not None and ticket.payload["appeals"][0]["status"] == "rejected"
    approve_ticket(city, officer, ticket.id, vault=vault, now=NOTICE_DUE)
    approve_rating_step(city, officer, ticket.id, vault=vault, now=NOTICE_DUE)
    city.expire_all()
    assert shop.credit_rating == "C"


def test_appeals_outside_the_notice_period_or_by_others_are_refused(
    city: Session, principal_for: PrincipalFor, vault: Vault, shop: Customer, officer: Principal
) -> None:
    ticket = _start(city, principal_for, shop, vault)
    cm = principal_for("customer_manager", of_customer=shop)
    before = snapshot(city, shop.id)
    payload = dict(ticket.payload or {})
    # at the end of the notice period: too late
    with pytest.raises(DomainError) as late:
        file_appeal(city, cm, ticket.id, text="申诉", now=NOTICE_DUE)
    assert (late.value.code, late.value.message) == (INVALID, "只能在公示期内提出申诉")
    # another manager does not see the ticket; the market dept may not appeal
    other = city.scalar(
        select(User.id).where(User.role == "customer_manager", User.id != cm.user_id)
    )
    assert other is not None
    with pytest.raises(DomainError) as stranger:
        file_appeal(city, load_principal(city, other), ticket.id, text="申诉", now=at(10, 8, 9))
    assert stranger.value.code == NOT_FOUND
    with pytest.raises(DomainError) as market:
        file_appeal(city, principal_for("market_dept"), ticket.id, text="申诉", now=at(10, 8, 9))
    assert market.value.code == FORBIDDEN
    with pytest.raises(DomainError) as blank:
        file_appeal(city, cm, ticket.id, text="  ", now=at(10, 8, 9))
    assert (blank.value.code, blank.value.field) == (INVALID, "text")
    assert snapshot(city, shop.id) == before and ticket.payload == payload
    # after the notice step has ended: refused as well
    approve_ticket(city, officer, ticket.id, vault=vault, now=NOTICE_DUE)
    with pytest.raises(DomainError) as after:
        file_appeal(city, cm, ticket.id, text="申诉", now=NOTICE_DUE)
    assert after.value.code == INVALID


def test_starting_is_for_licensing_with_a_valid_rating_and_evidence_once_per_shop(
    city: Session, principal_for: PrincipalFor, vault: Vault, shop: Customer
) -> None:
    before = snapshot(city, shop.id)

    def start(role: str, proposed: str = "B", evidence: str = "年度复评") -> None:
        start_rating(
            city, principal_for(role), shop.id, proposed=proposed, evidence=evidence,
            vault=vault, now=START,
        )  # fmt: skip

    for role, proposed, evidence, code, where in (
        ("market_dept", "B", "年度复评", FORBIDDEN, None),
        ("licensing", "E", "年度复评", INVALID, "proposed"),
        ("licensing", "B", " ", INVALID, "evidence"),
    ):
        with pytest.raises(DomainError) as err:
            start(role, proposed, evidence)
        assert (err.value.code, err.value.field) == (code, where)
    assert snapshot(city, shop.id) == before
    # a Chinese label is accepted as the code; a second procedure for the shop is refused
    ticket = _start(city, principal_for, shop, vault)
    assert proposed_rating(city, ticket.id) == "C"
    tickets = city.scalar(select(func.count()).select_from(Ticket))
    with pytest.raises(DomainError) as twice:
        start("licensing", "B级 基本守法")
    assert (twice.value.code, twice.value.field) == (INVALID, "customerId")
    assert city.scalar(select(func.count()).select_from(Ticket)) == tickets


def test_update_customer_refuses_the_rating_even_to_licensing(
    city: Session, principal_for: PrincipalFor, vault: Vault, shop: Customer
) -> None:
    before = snapshot(city, shop.id)
    for role in ("licensing", "market_dept"):
        with pytest.raises(ValidationFailed) as err:
            update_customer(
                city, principal_for(role), shop.id, shop.version, {"credit_rating": "D"},
                vault=vault,
            )  # fmt: skip
        assert [(e.code, e.field) for e in err.value.errors] == [(READ_ONLY_FIELD, "credit_rating")]
    assert snapshot(city, shop.id) == before


def test_bulk_approval_uses_the_rating_procedure(
    city: Session, principal_for: PrincipalFor, vault: Vault, shop: Customer, officer: Principal
) -> None:
    from domain.tickets.approval import bulk_approve

    # Given a rating whose shop was edited during the notice (plain approval would go stale)
    ticket = _start(city, principal_for, shop, vault)
    cm = principal_for("customer_manager", of_customer=shop)
    update_customer(city, cm, shop.id, shop.version, {"contact_person": "孙建国"}, vault=vault)
    approve_ticket(city, officer, ticket.id, vault=vault, now=NOTICE_DUE)
    # When the final step is approved in bulk
    outcomes = bulk_approve(city, officer, [ticket.id], vault=vault, now=NOTICE_DUE)
    # Then the rating procedure ran: applied, not stale
    assert [(o.ok, o.status) for o in outcomes] == [(True, "applied")]
    city.expire_all()
    assert shop.credit_rating == "C"
