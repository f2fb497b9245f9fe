"""Shops selected on the map moved to a route: one plan (kind ``move``) computed at once,
one ticket on submission, applied through the ledger on approval (or stale when a shop
changed meanwhile); refusals leave no plan, no ticket and no change."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from domain import planning
from domain.access import scope as access_scope
from domain.errors import DomainError, ValidationFailed
from domain.models import (
    Customer,
    DeliveryRoute,
    LedgerEntry,
    Notification,
    RoutePlan,
    RoutePlanItem,
    Ticket,
    TicketChange,
)
from domain.planning.quarterly import order_day
from domain.planning.stats import route_figures
from domain.tickets.approval import approve
from domain.tickets.proposals import MAX_ROUTE_CUSTOMERS
from domain.tickets.route_review import route_review
from tests.domain.planning_city import NOW, VAULT, PlanCity, plan_city

__all__ = ["plan_city"]

SETTINGS = planning.PlanningSettings()


def day_routes(city: PlanCity) -> list[int]:
    """The busiest depot-day's routes whose shops are all open and located (so that every
    shop is a stop), the most stops first."""
    depot, weekday = city.busiest_day()
    c = Customer
    with city.sessions() as s:
        return list(
            s.scalars(
                select(DeliveryRoute.id)
                .join(c, c.delivery_route_id == DeliveryRoute.id)
                .where(DeliveryRoute.depot_id == depot, DeliveryRoute.weekday == weekday)
                .group_by(DeliveryRoute.id)
                .having(func.bool_and((c.status != "closed") & c.location.is_not(None)))
                .order_by(func.count().desc(), DeliveryRoute.id)
            )
        )


def stops_of(city: PlanCity, route_id: int) -> list[int]:
    """The shops of a route by delivery sequence."""
    now = city.assignment()
    return [c for _, c in sorted((v[1], c) for c, v in now.items() if v[0] == route_id)]


def counts(s: Session) -> tuple[int, ...]:
    return tuple(
        s.scalar(select(func.count()).select_from(t)) or 0
        for t in (RoutePlan, RoutePlanItem, Ticket, TicketChange, LedgerEntry)
    )


def plan_items(s: Session, plan_id: int) -> list[RoutePlanItem]:
    return list(s.scalars(select(RoutePlanItem).where(RoutePlanItem.plan_id == plan_id)))


def by_route(part: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["routeId"]: r for r in part["routes"]}


def test_moved_shops_become_one_ready_plan_with_the_routes_before_and_after(
    plan_city: PlanCity,
) -> None:
    # given a shop of each of three routes and a fourth route of the same day
    target, *sources = day_routes(plan_city)[:4]
    moved = [stops_of(plan_city, r)[0] for r in sources]
    on_target = stops_of(plan_city, target)
    before = plan_city.assignment()
    # when they are moved to the fourth route
    with plan_city.sessions.begin() as s:
        plan = planning.plan_move(
            s, plan_city.principal("delivery_dept"), moved, target, now=NOW, settings=SETTINGS
        )
        plan_id, summary = plan.id, plan.summary or {}
        assert (plan.kind, plan.status, plan.ticket_id) == ("move", "ready", None)
        items = {i.customer_id: i for i in plan_items(s, plan_id)}
        s.expunge_all()
    # then nothing is applied, and every moved shop has an item onto the target route
    assert plan_city.assignment() == before
    assert set(moved) <= set(items)
    assert [items[c].old_route_id for c in moved] == sources
    assert all(i.new_route_id == target for i in items.values())
    assert all(items[c].new_order_batch == items[c].old_order_batch for c in moved)
    # the other items are target stops whose sequence shifted; the source routes' other
    # shops are untouched (a gap in their sequence changes nothing on the road)
    assert set(items) - set(moved) <= set(on_target)
    # the target runs 1..n with its own stops in their previous order
    new_seq = {c: before[c][1] for c in on_target} | {c: i.new_sequence for c, i in items.items()}
    assert sorted(new_seq.values()) == list(range(1, len(on_target) + len(moved) + 1))
    ordered = sorted(new_seq, key=lambda c: new_seq[c])
    assert [c for c in ordered if c in on_target] == on_target
    # the figures of the four routes before and after
    b, a = by_route(summary["before"]), by_route(summary["after"])
    assert set(b) == set(a) == {target, *sources}
    assert all(b[r]["stops"] == len(stops_of(plan_city, r)) for r in b)
    assert all(a[r]["stops"] == b[r]["stops"] - 1 for r in sources)
    assert a[target]["stops"] == b[target]["stops"] + 3
    assert sum(r["load"] for r in a.values()) == sum(r["load"] for r in b.values())
    assert a[target]["distanceM"] > b[target]["distanceM"]
    assert summary["moves"] == len(items) and summary["routeChanges"] == 3
    assert all(r["code"] and r["capacity"] > 0 and r["shiftS"] > 0 for r in a.values())


def cheapest_positions(city: PlanCity, shops: list[int], target: int) -> list[int]:
    """Each shop moved alone to the route: checks that the plan's route takes no more travel
    than any feasible position scored independently (the later stops shifted), and returns
    the best positions."""
    on_target = stops_of(city, target)
    before = city.assignment()
    positions = []
    for shop in shops:
        with city.sessions() as s:
            plan = planning.plan_move(
                s, city.principal("delivery_dept"), [shop], target, now=NOW, settings=SETTINGS
            )
            chosen = by_route((plan.summary or {})["after"])[target]["travelS"]
            options = []
            for p in range(1, len(on_target) + 2):
                shifted = {c: (target, before[c][1] + 1) for c in on_target if before[c][1] >= p}
                f = route_figures(SETTINGS, s, [target], moves={shop: (target, p), **shifted})
                options.append((f[target].travel_s if f[target].feasible else None, p))
            s.rollback()
        best, position = min((t, p) for t, p in options if t is not None)
        assert chosen == best, (shop, options)
        positions.append(position)
    return positions


def test_a_moved_shop_takes_the_cheapest_position_of_the_route(plan_city: PlanCity) -> None:
    # given a route of the day and other shops of its depot (any day)
    target = day_routes(plan_city)[5]
    with plan_city.sessions() as s:
        depot = s.scalar(select(DeliveryRoute.depot_id).where(DeliveryRoute.id == target))
        others = list(s.scalars(
            select(Customer.id).join(DeliveryRoute, DeliveryRoute.id == Customer.delivery_route_id)
            .where(DeliveryRoute.depot_id == depot, DeliveryRoute.id != target,
                   Customer.status != "closed", Customer.location.is_not(None))
            .order_by(Customer.id).limit(12)
        ))  # fmt: skip
    # when each is moved alone to the route, it goes where it adds the least travel
    forward = cheapest_positions(plan_city, others, target)
    # and when the route runs the other way round, the same shops follow its direction
    stops = stops_of(plan_city, target)
    with plan_city.sessions.begin() as s:
        for seq, cid in enumerate(reversed(stops), start=1):
            s.execute(update(Customer).where(Customer.id == cid).values(delivery_sequence=seq))
    backward = cheapest_positions(plan_city, others, target)
    assert len(set(forward) | set(backward)) > 1, (forward, backward)  # not always the end


def test_a_shop_moved_to_another_weekday_gets_an_order_day_before_it(
    plan_city: PlanCity,
) -> None:
    # given a shop ordering on day d (2..6) and a route of its depot delivering on day d
    here = aliased(DeliveryRoute)
    with plan_city.sessions() as s:
        shop_id, order, route_id = s.execute(
            select(Customer.id, Customer.order_batch, DeliveryRoute.id)
            .join(here, here.id == Customer.delivery_route_id)
            .join(DeliveryRoute, (DeliveryRoute.depot_id == here.depot_id)
                  & (DeliveryRoute.weekday == Customer.order_batch))
            .where(Customer.status != "closed", Customer.order_batch.between(2, 6))
            .order_by(Customer.id, DeliveryRoute.id).limit(1)
        ).one()  # fmt: skip
        # when it is moved there, its order day no longer precedes delivery
        plan = planning.plan_move(
            s, plan_city.principal("delivery_dept"), [shop_id], route_id, now=NOW,
            settings=SETTINGS,
        )  # fmt: skip
        got = {(i.old_order_batch, i.new_order_batch) for i in plan_items(s, plan.id)
               if i.customer_id == shop_id}  # fmt: skip
        s.rollback()
    # then it orders the working day before the new delivery day
    assert got == {(order, order_day(order))}


def test_refusals_name_the_argument_and_leave_no_plan_and_no_ticket(
    plan_city: PlanCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = day_routes(plan_city)[:2]
    shop, on_target = stops_of(plan_city, source)[0], stops_of(plan_city, target)[0]
    planner = plan_city.principal("delivery_dept")
    before = plan_city.assignment()

    def refused(who: Any, ids: list[int], route_id: int) -> list[tuple[str, str, str | None]]:
        with plan_city.sessions() as s:
            was = counts(s)
            with pytest.raises(DomainError) as err:
                planning.plan_move(s, who, ids, route_id, now=NOW, settings=SETTINGS)
            assert counts(s) == was  # nothing written, even inside the transaction
            s.rollback()
        errors = err.value.errors if isinstance(err.value, ValidationFailed) else [err.value]
        return [(e.code, e.message, e.field) for e in errors]

    # no right: only the delivery department plans routes
    manager = plan_city.principal("customer_manager")
    assert refused(manager, [shop], target) == [
        ("FORBIDDEN", "只有配送部可以进行线路规划", "input")
    ]
    # none, or too many shops
    message = f"请选择 1 到 {MAX_ROUTE_CUSTOMERS} 个客户"
    assert refused(planner, [], target) == [("INVALID", message, "customerIds")]
    many = sorted(before)[: MAX_ROUTE_CUSTOMERS + 1]
    assert refused(planner, many, target) == [("INVALID", message, "customerIds")]
    # a shop not found, every one named
    assert refused(planner, [shop, 10**9, 10**9 + 1], target) == [
        ("NOT_FOUND", f"客户 {n}：找不到该客户，或不在您的管辖范围内", "customerIds")
        for n in (10**9, 10**9 + 1)
    ]
    # a route that does not exist, or is not active
    assert refused(planner, [shop], 10**9) == [("NOT_FOUND", "送货线路不存在", "routeId")]
    with plan_city.sessions.begin() as s:
        s.execute(update(DeliveryRoute).where(DeliveryRoute.id == target).values(is_active=False))
    try:
        assert refused(planner, [shop], target) == [
            ("NOT_ALLOWED_VALUE", "送货线路须为启用状态", "routeId")
        ]
    finally:
        with plan_city.sessions.begin() as s:
            s.execute(
                update(DeliveryRoute).where(DeliveryRoute.id == target).values(is_active=True)
            )
    # a shop already on the route: all or nothing
    with plan_city.sessions() as s:
        code = s.scalar(select(Customer.customer_code).where(Customer.id == on_target))
    assert refused(planner, [shop, on_target], target) == [
        ("NO_CHANGE", f"客户 {code} 已在该线路上", "customerIds")
    ]
    # a closed shop
    with plan_city.sessions() as s:
        closed, closed_code = s.execute(
            select(Customer.id, Customer.customer_code).where(Customer.status == "closed")
            .order_by(Customer.id).limit(1)
        ).one()  # fmt: skip
    assert refused(planner, [shop, closed], target) == [
        ("INVALID", f"客户 {closed_code} 已歇业，不能调整送货线路", "customerIds")
    ]
    # out of scope: were planners limited to their own shops, these would not be found
    real = access_scope.role_rights
    monkeypatch.setattr(
        access_scope, "role_rights", lambda role: dataclasses.replace(real(role), scope="own")
    )
    assert refused(planner, [shop], target) == [
        ("NOT_FOUND", f"客户 {shop}：找不到该客户，或不在您的管辖范围内", "customerIds")
    ]
    monkeypatch.undo()
    assert plan_city.assignment() == before


def submitted_move(city: PlanCity, moved: list[int], target: int) -> tuple[int, int]:
    maker = city.principal("delivery_dept")
    with city.sessions.begin() as s:
        plan = planning.plan_move(s, maker, moved, target, now=NOW, settings=SETTINGS)
        ticket = planning.submit_plan(s, maker, plan.id, reason="均衡线路", vault=VAULT, now=NOW)
        return plan.id, ticket.id


def test_the_approval_of_the_one_ticket_applies_every_move_through_the_ledger(
    plan_city: PlanCity,
) -> None:
    source, target = day_routes(plan_city)[1:3]
    moved = stops_of(plan_city, source)[:2]
    plan_id, ticket_id = submitted_move(plan_city, moved, target)
    with plan_city.sessions() as s:
        items = plan_items(s, plan_id)
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and (ticket.type, ticket.status) == ("route_plan", "open")
        assert ticket.customer_id is None and ticket.title.startswith("地图调整线路")
        # one change per changed field per shop
        changes = s.execute(
            select(TicketChange.customer_id, TicketChange.field_key)
            .where(TicketChange.ticket_id == ticket_id)
        ).all()  # fmt: skip
        fields = {
            (i.customer_id, k) for i in items
            for k, changed in (("delivery_route", i.old_route_id != i.new_route_id),
                               ("delivery_sequence", i.old_sequence != i.new_sequence),
                               ("order_batch", i.old_order_batch != i.new_order_batch))
            if changed
        }  # fmt: skip
        assert sorted(changes) == sorted(fields)
        # the approver sees the shops and both routes before and after
        review = route_review(s, "route_plan", ticket_id)
        assert review is not None and review.shop_count == len(items)
        assert {r.route_id for r in review.routes} == {source, target}
        assert all(r.before and r.after for r in review.routes)
    with plan_city.sessions.begin() as s:
        ledger_before = s.scalar(select(func.count()).select_from(LedgerEntry)) or 0
        approve(s, plan_city.principal("delivery_dept", 1), ticket_id, vault=VAULT, now=NOW)
    now = plan_city.assignment()
    assert all(now[i.customer_id][:2] == (i.new_route_id, i.new_sequence) for i in items)
    assert {c for c, v in now.items() if v[0] == source} & set(moved) == set()
    with plan_city.sessions() as s:
        t, p = s.get(Ticket, ticket_id), s.get(RoutePlan, plan_id)
        assert t is not None and p is not None and (t.status, p.status) == ("applied", "applied")
        entries = s.execute(
            select(LedgerEntry.customer_id, LedgerEntry.field_key)
            .where(LedgerEntry.ticket_id == ticket_id)
        ).all()  # fmt: skip
        assert sorted(entries) == sorted(fields)
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == ledger_before + len(
            fields
        )
        told = s.scalars(
            select(Notification.customer_id).where(
                Notification.ticket_id == ticket_id, Notification.customer_id.is_not(None)
            )
        ).all()
        assert set(moved) <= set(told)


def test_a_move_whose_shop_was_edited_meanwhile_goes_stale(plan_city: PlanCity) -> None:
    source, target = day_routes(plan_city)[2:4]
    moved = stops_of(plan_city, source)[:2]
    plan_id, ticket_id = submitted_move(plan_city, moved, target)
    with plan_city.sessions.begin() as s:  # the shop is edited after the move was planned
        s.execute(update(Customer).where(Customer.id == moved[1])
                  .values(version=Customer.version + 1))  # fmt: skip
    before = plan_city.assignment()
    with plan_city.sessions.begin() as s:
        approve(s, plan_city.principal("delivery_dept", 1), ticket_id, vault=VAULT, now=NOW)
    assert plan_city.assignment() == before
    with plan_city.sessions() as s:
        t, p = s.get(Ticket, ticket_id), s.get(RoutePlan, plan_id)
        assert t is not None and p is not None and (t.status, p.status) == ("stale", "stale")
        assert (
            s.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.ticket_id == ticket_id)
            )
            == 0
        )


def test_two_moves_onto_one_route_the_second_approved_goes_stale(plan_city: PlanCity) -> None:
    # given two moves onto the same route, both submitted before either is approved
    target, first, second = day_routes(plan_city)[6:9]
    x, y = stops_of(plan_city, first)[0], stops_of(plan_city, second)[0]
    one = submitted_move(plan_city, [x], target)
    two = submitted_move(plan_city, [y], target)
    checker = plan_city.principal("delivery_dept", 1)
    with plan_city.sessions.begin() as s:
        approve(s, checker, one[1], vault=VAULT, now=NOW)
    before = plan_city.assignment()
    # when the second is approved, its places on the route are held by the first's shops
    with plan_city.sessions.begin() as s:
        approve(s, checker, two[1], vault=VAULT, now=NOW)
    # then it goes stale instead of breaking the route's unique sequence
    assert plan_city.assignment() == before
    seqs = sorted(v[1] for v in before.values() if v[0] == target)
    assert seqs == list(range(1, len(seqs) + 1)) and before[x][0] == target
    with plan_city.sessions() as s:
        t = s.get(Ticket, two[1])
        assert t is not None and t.status == "stale"
