"""The approval queue (/admin/queue) and a ticket's page with its decisions, through the
in-process client: filters, counts and scope agree with the domain's queue; the diff masks
personal values; approve, reject, return and bulk approval go through the domain services;
a refusal or a POST without the CSRF header changes nothing."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from domain.access import load_principal
from domain.ledger import tracked_fields
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
from domain.tickets.engine import default_calendar
from domain.tickets.queue import queue
from tests.admin.conftest import VAULT, Demo, SignIn
from tests.admin.queue_support import (
    location_of,
    new_location_ticket,
    ticket_state,
    ticket_status,
    user_id,
)

ROW = re.compile(r'<tr class="[^"]*" data-ticket="(\d+)">')


def _rows(html: str) -> list[int]:
    return [int(x) for x in ROW.findall(html)]


def _domain_queue(demo: Demo, username: str, **filters: object) -> tuple[list[int], int]:
    with Session(demo.engine) as s:
        who = load_principal(s, user_id(demo, username))
        items, total = queue(
            s, who, now=dt.datetime.now(dt.UTC), calendar=default_calendar(), limit=20,
            **filters,  # type: ignore[arg-type]
        )  # fmt: skip
        return [i.ticket_id for i in items], total


def _first_ticket(demo: Demo, kind: str) -> int:
    found: int = demo.scalar(select(func.min(Ticket.id)).where(Ticket.type == kind))
    return found


# -- the list ------------------------------------------------------------------------------


def test_queue_lists_my_roles_steps_with_counts_and_filters(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    name = admin_demo.user("delivery_dept", 1)
    # given a fresh location change (due in a working day) beside the demo's overdue ones
    fresh, _ = new_location_ticket(admin_demo)
    sign_in(name)
    # when the delivery department opens its queue
    page = browser_client.get("/admin/queue")
    # then it lists what the domain's queue holds for it, soonest due first, with counts
    assert page.status_code == 200
    ids, total = _domain_queue(admin_demo, name)
    assert _rows(page.text) == ids and fresh in ids
    assert f'<b id="count-all">{total}</b>' in page.text
    _, overdue = _domain_queue(admin_demo, name, overdue_only=True)
    assert f'<b id="count-overdue">{overdue}</b>' in page.text
    assert 'hx-trigger="every 60s, queue-changed from:body"' in page.text
    # and a demo step long past due is red with how long
    old = _first_ticket(admin_demo, "location_change")
    row = re.search(rf'data-ticket="{old}">.*?</tr>', page.text, re.S)
    assert row and "overdue-row" in page.text and '<span class="overdue">已超时' in row.group(0)
    # when filtered to location changes by htmx, only the list comes back, filtered
    part = browser_client.get("/admin/queue?type=location_change", headers={"HX-Request": "true"})
    assert part.status_code == 200 and "<html" not in part.text
    assert part.text.lstrip().startswith('<div id="queue-results"')
    ids, total = _domain_queue(admin_demo, name, type_key="location_change")
    assert _rows(part.text) == ids and fresh in ids and total == len(ids)
    assert 'hx-get="/admin/queue?type=location_change"' in part.text  # the poll keeps it
    route = _first_ticket(admin_demo, "route_change")
    assert route not in _rows(part.text)
    # and overdue only leaves the fresh ticket out; due today matches the domain
    late = browser_client.get("/admin/queue?overdue=1")
    assert fresh not in _rows(late.text) and old in _rows(late.text)
    today = browser_client.get("/admin/queue?due=today")
    assert _rows(today.text) == _domain_queue(admin_demo, name, due_today=True)[0]


def test_status_and_department_filters(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    name = admin_demo.user("market_dept")
    sign_in(name)
    everything = _rows(browser_client.get("/admin/queue").text)
    region = admin_demo.scalar(select(Ticket.region_id).where(Ticket.id == everything[0]))
    # when the market department narrows its queue to one county's department
    page = browser_client.get(f"/admin/queue?region={region}")
    # then only that county's tickets are listed, as the domain filters them
    shown = _rows(page.text)
    assert shown == _domain_queue(admin_demo, name, region_id=region)[0]
    assert shown and set(shown) < set(everything)
    regions = {admin_demo.scalar(select(Ticket.region_id).where(Ticket.id == t)) for t in shown}
    assert regions == {region}
    county = admin_demo.scalar(select(OrgUnit.name).where(OrgUnit.region_id == region))
    assert f'<option value="{region}" selected>{county}</option>' in page.text
    # and the status filter: nothing applied awaits verification by the market department
    assert (
        _rows(browser_client.get("/admin/queue?status=applied").text)
        == (_domain_queue(admin_demo, name, status="applied")[0])
    )
    assert set(_rows(browser_client.get("/admin/queue?status=open").text)) == set(everything)


def test_a_county_user_sees_only_the_county_and_never_their_own_ticket(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    # given the demo's city-initiated changes waiting for the county departments
    with Session(admin_demo.engine) as s:
        waiting = s.execute(
            select(Ticket.id, Ticket.region_id)
            .join(TicketStep, TicketStep.ticket_id == Ticket.id)
            .where(TicketStep.status == "active", TicketStep.role == "county_dept")
            .order_by(Ticket.id)
        ).all()
        mine_id, region = waiting[0]
        county_user = s.scalar(
            select(User.username)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(OrgUnit.region_id == region, User.role == "county_dept")
            .order_by(User.id)
        )
    others = {t for t, r in waiting if r != region}
    assert others
    sign_in(county_user)
    # when the county user opens the queue, their county's ticket is there, no other
    shown = set(_rows(browser_client.get("/admin/queue").text))
    assert mine_id in shown and not shown & others
    # and another county's ticket cannot even be opened
    assert browser_client.get(f"/admin/queue/{min(others)}").status_code == 404
    # and the department filter is not offered (one county only)
    assert 'name="region"' not in browser_client.get("/admin/queue").text


def test_the_maker_never_sees_the_own_ticket_to_approve(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    maker = admin_demo.user("delivery_dept", 0)
    ticket_id, _ = new_location_ticket(admin_demo, maker=maker)
    token = sign_in(maker)
    # the maker's queue does not hold it; the page shows it without the decision form
    assert ticket_id not in _rows(browser_client.get("/admin/queue?type=location_change").text)
    page = browser_client.get(f"/admin/queue/{ticket_id}")
    assert page.status_code == 200 and 'id="decision-form"' not in page.text
    assert "制单人不能审批自己的工单" in page.text
    # and an approval posted anyway is refused, nothing changed
    before = ticket_state(admin_demo, ticket_id)
    res = browser_client.post(
        f"/admin/queue/{ticket_id}/approve", headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert res.status_code == 200 and "制单人不能审批自己的工单" in res.text
    assert ticket_state(admin_demo, ticket_id) == before


# -- a ticket's page -----------------------------------------------------------------------


def test_the_diff_masks_personal_values(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    ticket_id = _first_ticket(admin_demo, "phone_change")
    with Session(admin_demo.engine) as s:
        change = s.scalar(select(TicketChange).where(TicketChange.ticket_id == ticket_id))
        assert change is not None
        clear = [VAULT.open(change.old_value), VAULT.open(change.new_value)]
        masked = [change.old_value["masked"], change.new_value["masked"]]
    sign_in(admin_demo.user("market_dept"))
    page = browser_client.get(f"/admin/queue/{ticket_id}")
    assert page.status_code == 200
    label = tracked_fields()["phone"].label_zh
    row = re.search(r'<tr data-field="phone">.*?</tr>', page.text, re.S)
    assert row is not None
    assert label in row.group(0) and "已脱敏" in row.group(0)
    assert f'<td class="old">{masked[0]}</td>' in row.group(0)
    assert f'<td class="new">{masked[1]}</td>' in row.group(0)
    assert not any(c in page.text for c in clear)


def test_a_location_change_shows_both_points_the_distance_and_the_crs_warning(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    ticket_id, customer = new_location_ticket(admin_demo, crs_mixup=True)
    sign_in(admin_demo.user("delivery_dept", 1))
    page = browser_client.get(f"/admin/queue/{ticket_id}")
    assert page.status_code == 200
    assert 'data-code="LIKELY_CRS_MIXUP"' in page.text and "坐标系弄混" in page.text
    found = re.search(r'data-map="([^"]+)"', page.text)
    assert found and found.group(1).count("&#34;label&#34;") == 2
    distance = re.search(r"新旧位置相距 <b>(\d+)</b> 米", page.text)
    assert distance and 300 <= int(distance.group(1)) <= 800  # the GCJ-02 offset in Xi'an
    # and such a ticket is not offered for bulk approval
    listing = browser_client.get("/admin/queue?type=location_change").text
    row = re.search(rf'data-ticket="{ticket_id}">.*?</tr>', listing, re.S)
    assert row and "disabled" in row.group(0) and 'name="ticket"' not in row.group(0)
    assert location_of(admin_demo, customer)  # unchanged record still has its point


def test_a_route_change_shows_the_routes_before_and_after(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    ticket_id = _first_ticket(admin_demo, "route_change")
    with Session(admin_demo.engine) as s:
        old_route, new_route = s.execute(
            select(TicketChange.old_value, TicketChange.new_value).where(
                TicketChange.ticket_id == ticket_id, TicketChange.field_key == "delivery_route"
            )
        ).one()
        stops = {
            r: s.scalar(
                select(func.count()).where(
                    Customer.delivery_route_id == r, Customer.status != "closed",
                    Customer.location.is_not(None),
                )
            )
            for r in (old_route, new_route)
        }  # fmt: skip
    sign_in(admin_demo.user("delivery_dept", 1))
    page = browser_client.get(f"/admin/queue/{ticket_id}")
    assert page.status_code == 200 and "线路调整前后对比" in page.text
    # the old route loses the shop, the new one gains it
    for route, delta in ((old_route, -1), (new_route, 1)):
        row = re.search(rf'<tr data-route="{route}">(.*?)</tr>', page.text, re.S)
        assert row is not None
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
        assert int(cells[1]) == stops[route] and int(cells[5]) == stops[route] + delta
    assert page.text.count("&#34;kind&#34;:&#34;line&#34;") == 4  # 2 routes, before and after


# -- decisions -----------------------------------------------------------------------------


def test_approve_applies_the_location_change(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    ticket_id, customer = new_location_ticket(admin_demo)
    before = location_of(admin_demo, customer)
    token = sign_in(admin_demo.user("delivery_dept", 1))
    res = browser_client.post(
        f"/admin/queue/{ticket_id}/approve", data={"comment": "现场核实无误"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )  # fmt: skip
    assert res.status_code == 200 and "<html" not in res.text
    assert "已通过，工单已办结，变更已执行并记入修改台帐" in res.text
    assert ticket_status(admin_demo, ticket_id) == "applied"
    assert location_of(admin_demo, customer) != before
    entry = admin_demo.scalar(
        select(LedgerEntry).where(
            LedgerEntry.ticket_id == ticket_id, LedgerEntry.field_key == "location"
        )
    )
    assert entry is not None and entry.actor_id == user_id(
        admin_demo, admin_demo.user("delivery_dept", 1)
    )
    step = admin_demo.scalar(select(TicketStep).where(TicketStep.ticket_id == ticket_id))
    assert (step.decision, step.comment) == ("approve", "现场核实无误")


def test_reject_or_return_without_a_reason_changes_nothing(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    ticket_id, _ = new_location_ticket(admin_demo)
    token = sign_in(admin_demo.user("delivery_dept", 1))
    before = ticket_state(admin_demo, ticket_id)
    for action, message in (("reject", "驳回须填写理由"), ("return", "退回须填写理由")):
        res = browser_client.post(
            f"/admin/queue/{ticket_id}/{action}", data={"comment": "   "},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )  # fmt: skip
        assert res.status_code == 200
        # the error stands right after the comment box
        assert re.search(rf'</textarea>\s*<span class="field-error">{message}</span>', res.text), (
            res.text
        )
        assert ticket_state(admin_demo, ticket_id) == before


def test_return_with_a_comment_goes_back_to_the_maker(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    ticket_id, _ = new_location_ticket(admin_demo)
    maker = admin_demo.scalar(select(Ticket.maker_id).where(Ticket.id == ticket_id))
    token = sign_in(admin_demo.user("delivery_dept", 1))
    res = browser_client.post(
        f"/admin/queue/{ticket_id}/return", data={"comment": "请补充新门面照片"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )  # fmt: skip
    assert res.status_code == 200 and "已退回制单人修改" in res.text
    state = ticket_state(admin_demo, ticket_id)
    assert state["status"] == "returned"
    assert state["steps"][0][2:5] == (
        "return",
        user_id(admin_demo, admin_demo.user("delivery_dept", 1)),
        "请补充新门面照片",
    )
    note = admin_demo.scalar(
        select(Notification.text).where(
            Notification.ticket_id == ticket_id, Notification.user_id == maker
        )
    )
    assert note and "请补充新门面照片" in note
    # and it left the queue
    assert ticket_id not in _rows(browser_client.get("/admin/queue?type=location_change").text)


def test_a_stale_ticket_is_not_applied_and_says_so(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    ticket_id, customer = new_location_ticket(admin_demo)
    with admin_demo.engine.begin() as conn:  # the record moved on since the proposal
        conn.execute(
            update(Customer).where(Customer.id == customer).values(version=Customer.version + 1)
        )
    before = location_of(admin_demo, customer)
    token = sign_in(admin_demo.user("delivery_dept", 1))
    res = browser_client.post(
        f"/admin/queue/{ticket_id}/approve", headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert "客户档案在工单提交后已有更新，本工单已失效" in res.text
    assert ticket_status(admin_demo, ticket_id) == "stale"
    assert location_of(admin_demo, customer) == before
    assert "已失效" in browser_client.get(f"/admin/queue/{ticket_id}").text


def test_bulk_approval_of_two_tickets_shows_each_outcome(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    first, c1 = new_location_ticket(admin_demo)
    second, c2 = new_location_ticket(admin_demo)
    warned, _ = new_location_ticket(admin_demo, crs_mixup=True)
    token = sign_in(admin_demo.user("delivery_dept", 1))
    page = browser_client.get("/admin/queue?type=location_change").text
    assert 'data-select-all="ticket"' in page
    before = ticket_state(admin_demo, warned)
    # when the two plain ones and the warned one (posted anyway) are approved at once
    res = browser_client.post(
        "/admin/queue/approve",
        data={"ticket": [str(first), str(second), str(warned)], "type": "location_change"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    # then the list comes back in place with a message and one outcome per ticket
    assert res.status_code == 200 and res.text.lstrip().startswith('<div id="queue-results"')
    assert "已批量通过 2 张工单，1 张未通过" in res.text
    for t in (first, second):
        assert re.search(rf'<li class="ok" data-ticket="{t}">.*?已通过，变更已执行', res.text, re.S)
        assert ticket_status(admin_demo, t) == "applied"
        assert t not in _rows(res.text)
    assert re.search(rf'<li class="error" data-ticket="{warned}">.*?未通过', res.text, re.S)
    assert ticket_state(admin_demo, warned) == before
    for c in (c1, c2):
        assert (
            admin_demo.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.customer_id == c)
            )
            == 1
        )


def test_posts_without_the_csrf_header_are_refused(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    ticket_id, _ = new_location_ticket(admin_demo)
    sign_in(admin_demo.user("delivery_dept", 1))
    before = ticket_state(admin_demo, ticket_id)
    for url, data in (
        (f"/admin/queue/{ticket_id}/approve", {}),
        (f"/admin/queue/{ticket_id}/reject", {"comment": "不同意"}),
        ("/admin/queue/approve", {"ticket": str(ticket_id)}),
    ):
        res = browser_client.post(url, data=data, headers={"HX-Request": "true"})
        assert res.status_code == 403, url
    assert ticket_state(admin_demo, ticket_id) == before
