"""Route planning end to end in the domain: request → job → stored plan → ticket →
approval applies through the ledger (or goes stale); refusals change nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select, update

from domain import planning
from domain.errors import DomainError, ValidationFailed
from domain.jobs import request_cancel, run_next
from domain.models import (
    Customer,
    DeliveryRoute,
    Job,
    LedgerEntry,
    Notification,
    RoutePlan,
    RoutePlanItem,
    Ticket,
)
from domain.planning.quarterly import order_day
from domain.tickets.approval import approve
from tests.domain.planning_city import NOW, VAULT, PlanCity, plan_city

__all__ = ["plan_city"]

FAST = 1.0  # seconds of solver time: the instances are a few dozen shops


def start(city: PlanCity, **kwargs: Any) -> int:
    with city.sessions.begin() as s:
        req = planning.PlanRequest(time_limit_s=FAST, **kwargs)
        return planning.start_route_plan(s, city.principal("delivery_dept"), req).id


def computed(city: PlanCity, plan_id: int) -> RoutePlan:
    assert run_next(city.sessions) is not None
    with city.sessions() as s:
        plan = s.get(RoutePlan, plan_id)
        assert plan is not None
        s.expunge(plan)
        return plan


def items(city: PlanCity, plan_id: int) -> list[RoutePlanItem]:
    with city.sessions() as s:
        rows = list(s.scalars(select(RoutePlanItem).where(RoutePlanItem.plan_id == plan_id)))
        s.expunge_all()
        return rows


def counts(city: PlanCity) -> tuple[int, ...]:
    with city.sessions() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(t)) or 0
            for t in (Job, RoutePlan, RoutePlanItem, Ticket, LedgerEntry)
        )


def after_assignment(city: PlanCity, plan_id: int) -> dict[int, tuple[int | None, int | None]]:
    """Every shop's (route, sequence) if the plan were applied."""
    now = {cid: (v[0], v[1]) for cid, v in city.assignment().items()}
    for item in items(city, plan_id):
        now[item.customer_id] = (item.new_route_id, item.new_sequence)
    return now


def test_a_day_plan_is_computed_in_a_job_and_meets_every_constraint(plan_city: PlanCity) -> None:
    # given the busiest depot-day, with a limit of stops per route
    depot, weekday = plan_city.busiest_day()
    before = plan_city.assignment()
    # when a planner asks for a plan, the request only queues it
    plan_id = start(plan_city, depot_id=depot, weekday=weekday, max_stops=12)
    with plan_city.sessions() as s:
        queued = s.get(RoutePlan, plan_id)
        assert queued is not None and queued.status == "computing"
        job = s.get(Job, queued.job_id)
        assert job is not None and (job.status, job.progress) == ("queued", 0.0)
    # then the worker computes it: ready, every route feasible, nothing applied yet
    plan = computed(plan_city, plan_id)
    assert plan.status == "ready" and plan.summary is not None
    after = plan.summary["after"]
    assert after["violations"] == [] and all(r["feasible"] for r in after["routes"])
    assert all(r["stops"] <= 12 and r["load"] <= r["capacity"] for r in after["routes"])
    assert plan_city.assignment() == before
    # and the plan covers the same shops, each exactly once, with sequences 1..n per route
    new = after_assignment(plan_city, plan_id)
    day_routes = {r["routeId"] for r in after["routes"]}
    on_day_before = {c for c, v in before.items() if v[0] in day_routes}
    on_day_after = {c for c, v in new.items() if v[0] in day_routes}
    assert on_day_after == on_day_before
    for route_id in day_routes:
        seqs = sorted(v[1] for v in new.values() if v[0] == route_id)
        assert seqs == list(range(1, len(seqs) + 1))
    with plan_city.sessions() as s:
        job = s.get(Job, plan.job_id)
        assert job is not None and (job.status, job.progress) == ("done", 1.0)


def test_locked_routes_keep_their_stops_and_order(plan_city: PlanCity) -> None:
    depot, weekday = plan_city.busiest_day()
    with plan_city.sessions() as s:
        routes = s.scalars(
            select(DeliveryRoute.id)
            .where(DeliveryRoute.depot_id == depot, DeliveryRoute.weekday == weekday)
            .order_by(DeliveryRoute.id)
        ).all()
    locked = routes[:2]
    before = plan_city.assignment()
    plan = computed(plan_city, start(plan_city, depot_id=depot, weekday=weekday,
                                     locked_route_ids=tuple(locked)))  # fmt: skip
    moved = items(plan_city, plan.id)
    assert not [i for i in moved if i.old_route_id in locked or i.new_route_id in locked]
    new = after_assignment(plan_city, plan.id)
    for cid, v in before.items():
        if v[0] in locked:
            assert new[cid] == (v[0], v[1])


def test_a_new_shop_is_inserted_without_reshuffling_other_routes(plan_city: PlanCity) -> None:
    # given a shop taken off its route (a newly licensed shop has none)
    depot, weekday = plan_city.busiest_day()
    with plan_city.sessions.begin() as s:
        shop = s.scalars(
            select(Customer).join(DeliveryRoute, DeliveryRoute.id == Customer.delivery_route_id)
            .where(DeliveryRoute.depot_id == depot, DeliveryRoute.weekday == weekday)
            .order_by(Customer.id)
        ).first()  # fmt: skip
        assert shop is not None
        old_route, old_seq = shop.delivery_route_id, shop.delivery_sequence
        s.execute(
            update(Customer).where(Customer.delivery_route_id == old_route,
                                   Customer.delivery_sequence > old_seq)
            .values(delivery_sequence=Customer.delivery_sequence - 1)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        shop.delivery_route_id, shop.delivery_sequence = None, None
        shop_id = shop.id
    before = plan_city.assignment()
    # when it is inserted
    plan = computed(plan_city, start(plan_city, mode="insert", depot_id=depot, weekday=weekday,
                                     customer_ids=(shop_id,)))  # fmt: skip
    assert plan.status == "ready"
    moved = items(plan_city, plan.id)
    target = next(i.new_route_id for i in moved if i.customer_id == shop_id)
    # then only its target route changes: the others' stops and order are untouched
    assert {i.new_route_id for i in moved} == {target}
    assert {i.old_route_id for i in moved} <= {target, None}
    new = after_assignment(plan_city, plan.id)
    for cid, v in before.items():
        if cid != shop_id and v[0] != target:
            assert new[cid] == (v[0], v[1])
    # and the target route keeps its previous stops in the same relative order
    old_order = sorted((v[1], c) for c, v in before.items() if v[0] == target)
    new_order = sorted((v[1], c) for c, v in new.items() if v[0] == target)
    assert [c for _, c in new_order if c != shop_id] == [c for _, c in old_order]


def test_a_route_is_resequenced_on_its_own(plan_city: PlanCity) -> None:
    depot, weekday = plan_city.busiest_day()
    with plan_city.sessions() as s:
        route_id = s.scalar(
            select(Customer.delivery_route_id)
            .join(DeliveryRoute, DeliveryRoute.id == Customer.delivery_route_id)
            .where(DeliveryRoute.depot_id == depot, DeliveryRoute.weekday == weekday)
            .group_by(Customer.delivery_route_id).order_by(func.count().desc()).limit(1)
        )  # fmt: skip
    before = plan_city.assignment()
    plan = computed(plan_city, start(plan_city, mode="resequence", route_id=route_id))
    assert plan.status == "ready" and (plan.depot_id, plan.weekday) == (depot, weekday)
    moved = items(plan_city, plan.id)
    assert all(i.old_route_id == i.new_route_id == route_id for i in moved)
    stops = {c for c, v in before.items() if v[0] == route_id}
    assert {c for c, v in after_assignment(plan_city, plan.id).items() if v[0] == route_id} == stops
    summary = plan.summary or {}
    assert summary["after"]["travelS"] <= summary["before"]["travelS"]


def test_refusals_name_the_argument_and_change_nothing(plan_city: PlanCity) -> None:
    before = counts(plan_city)
    with plan_city.sessions() as s:
        manager = plan_city.principal("customer_manager")
        with pytest.raises(DomainError) as denied:
            planning.start_route_plan(s, manager, planning.PlanRequest(depot_id=1, weekday=1))
        assert (denied.value.code, denied.value.field) == ("FORBIDDEN", "input")
        planner = plan_city.principal("delivery_dept")
        with pytest.raises(ValidationFailed) as bad:
            planning.start_route_plan(
                s, planner, planning.PlanRequest(depot_id=None, weekday=9, max_stops=0)
            )
        assert [(e.code, e.field) for e in bad.value.errors] == [
            ("INVALID", "depotId"), ("INVALID", "weekday"), ("INVALID", "maxStops"),
        ]  # fmt: skip
        with pytest.raises(DomainError) as missing:
            planning.start_route_plan(
                s, planner, planning.PlanRequest(mode="resequence", route_id=10**6)
            )
        assert (missing.value.code, missing.value.field) == ("NOT_FOUND", "routeId")
        with pytest.raises(DomainError) as unknown:
            planning.start_route_plan(
                s, planner,
                planning.PlanRequest(mode="insert", depot_id=1, weekday=1, customer_ids=(10**9,)),
            )  # fmt: skip
        assert (unknown.value.code, unknown.value.field) == ("NOT_FOUND", "customerIds")
        s.rollback()
    assert counts(plan_city) == before


def test_a_submitted_plan_is_applied_once_by_another_planner(plan_city: PlanCity) -> None:
    depot, weekday = plan_city.busiest_day()
    plan = computed(plan_city, start(plan_city, depot_id=depot, weekday=weekday))
    moved = items(plan_city, plan.id)
    assert moved, "the sweep routes of the demo are improvable"
    maker, checker = plan_city.principal("delivery_dept"), plan_city.principal("delivery_dept", 1)
    with plan_city.sessions.begin() as s:
        ticket = planning.submit_plan(s, maker, plan.id, reason="季度调整", vault=VAULT, now=NOW)
        ticket_id = ticket.id
    # the maker cannot approve, and submitting twice is refused
    with plan_city.sessions() as s:
        with pytest.raises(DomainError) as own:
            approve(s, maker, ticket_id, vault=VAULT, now=NOW)
        assert own.value.code == "FORBIDDEN"
        with pytest.raises(DomainError) as again:
            planning.submit_plan(s, maker, plan.id, reason=None, vault=VAULT, now=NOW)
        assert again.value.code == "INVALID"
        s.rollback()
    with plan_city.sessions.begin() as s:
        ledger_before = s.scalar(select(func.count()).select_from(LedgerEntry))
        approve(s, checker, ticket_id, vault=VAULT, now=NOW)
    now = plan_city.assignment()
    for item in moved:
        assert now[item.customer_id][:2] == (item.new_route_id, item.new_sequence)
    with plan_city.sessions() as s:
        applied = s.get(Ticket, ticket_id)
        stored = s.get(RoutePlan, plan.id)
        assert applied is not None and stored is not None
        assert (applied.status, stored.status) == ("applied", "applied")
        entries = s.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.ticket_id == ticket_id)
        )
        fields = sum((i.old_route_id != i.new_route_id) + (i.old_sequence != i.new_sequence)
                     for i in moved)  # fmt: skip
        assert entries == fields and s.scalar(select(func.count()).select_from(LedgerEntry)) == (
            (ledger_before or 0) + fields
        )
        told = s.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.ticket_id == ticket_id, Notification.customer_id.is_not(None))
        )
        assert told == sum(1 for i in moved if i.old_route_id != i.new_route_id)


def test_a_plan_whose_shops_changed_meanwhile_goes_stale(plan_city: PlanCity) -> None:
    depot, weekday = plan_city.busiest_day()
    plan = computed(plan_city, start(plan_city, depot_id=depot, weekday=weekday, seed=5))
    moved = items(plan_city, plan.id)
    maker, checker = plan_city.principal("delivery_dept"), plan_city.principal("delivery_dept", 1)
    with plan_city.sessions.begin() as s:
        ticket_id = planning.submit_plan(s, maker, plan.id, reason=None, vault=VAULT, now=NOW).id
        # a shop of the plan is edited after the plan was made
        s.execute(update(Customer).where(Customer.id == moved[0].customer_id)
                  .values(version=Customer.version + 1))  # fmt: skip
    before = plan_city.assignment()
    with plan_city.sessions.begin() as s:
        approve(s, checker, ticket_id, vault=VAULT, now=NOW)
    assert plan_city.assignment() == before
    with plan_city.sessions() as s:
        t, p = s.get(Ticket, ticket_id), s.get(RoutePlan, plan.id)
        assert t is not None and p is not None and (t.status, p.status) == ("stale", "stale")


def test_a_queued_plan_can_be_cancelled(plan_city: PlanCity) -> None:
    depot, weekday = plan_city.busiest_day()
    plan_id = start(plan_city, depot_id=depot, weekday=weekday)
    with plan_city.sessions.begin() as s:
        plan = s.get(RoutePlan, plan_id)
        assert plan is not None and plan.job_id is not None
        job = request_cancel(s, plan_city.principal("delivery_dept"), plan.job_id)
        assert job.status == "cancelled"
    with plan_city.sessions() as s:
        plan = s.get(RoutePlan, plan_id)
        assert plan is not None and plan.status == "cancelled"
        with pytest.raises(DomainError) as done:
            request_cancel(s, plan_city.principal("delivery_dept"), plan.job_id or 0)
        assert done.value.code == "INVALID"


def test_quarterly_replan_balances_days_and_orders_before_delivery(plan_city: PlanCity) -> None:
    depot, _ = plan_city.busiest_day()
    before = plan_city.assignment()
    plan = computed(plan_city, start(plan_city, mode="quarterly", depot_id=depot))
    assert plan.status == "ready" and plan.summary is not None
    days = plan.summary["days"]
    sizes = [d["shops"] for d in days]
    mean = sum(sizes) / len(sizes)
    assert all(abs(n - mean) <= 0.10 * mean + 1 for n in sizes)
    assert plan.summary["after"]["violations"] == []
    with plan_city.sessions() as s:
        weekday = dict(s.execute(select(DeliveryRoute.id, DeliveryRoute.weekday)).all())
    for item in items(plan_city, plan.id):
        assert item.new_route_id is not None
        assert item.new_order_batch == order_day(weekday[item.new_route_id])
    new = after_assignment(plan_city, plan.id)
    depot_shops = {c for c, v in before.items() if v[0] in {r["routeId"] for r in
                   plan.summary["before"]["routes"]}}  # fmt: skip
    assert Counter(new[c][0] is not None for c in depot_shops) == Counter({True: len(depot_shops)})


def test_visit_batches_are_balanced_and_cover_every_shop_once(plan_city: PlanCity) -> None:
    with plan_city.sessions() as s:
        manager_id = s.scalar(
            select(Customer.customer_manager_id).where(Customer.status != "closed")
            .group_by(Customer.customer_manager_id).order_by(func.count().desc()).limit(1)
        )  # fmt: skip
        shops = set(s.scalars(select(Customer.id).where(
            Customer.customer_manager_id == manager_id, Customer.status != "closed")))  # fmt: skip
    with plan_city.sessions.begin() as s:
        plan_id = planning.start_visit_batches(
            s, plan_city.principal("delivery_dept"), manager_id, 5
        ).id
    plan = computed(plan_city, plan_id)
    assert plan.status == "ready" and plan.summary is not None
    visit = {c: v[3] for c, v in plan_city.assignment().items() if c in shops}
    for item in items(plan_city, plan.id):
        visit[item.customer_id] = item.new_visit_batch
    sizes = Counter(visit.values())
    assert set(sizes) == {1, 2, 3, 4, 5}
    mean = len(shops) / 5
    assert all(abs(n - mean) <= 0.10 * mean + 1 for n in sizes.values())
    before = counts(plan_city)
    with plan_city.sessions() as s, pytest.raises(DomainError) as bad:
        planning.start_visit_batches(s, plan_city.principal("delivery_dept"), manager_id, 9)
    assert (bad.value.code, bad.value.field) == ("INVALID", "batches")
    assert counts(plan_city) == before


def test_the_batch_check_lists_an_order_day_that_does_not_precede_delivery(
    plan_city: PlanCity,
) -> None:
    with plan_city.sessions.begin() as s:
        shop, weekday = s.execute(
            select(Customer, DeliveryRoute.weekday)
            .join(DeliveryRoute, DeliveryRoute.id == Customer.delivery_route_id)
            .where(DeliveryRoute.weekday > 1).order_by(Customer.id).limit(1)
        ).one()  # fmt: skip
        shop.order_batch = weekday
        shop_id = shop.id
    with plan_city.sessions() as s:
        found = planning.batch_violations(s, plan_city.principal("market_dept"))
    assert {"customerId": shop_id, "kind": "order_not_before_delivery"}.items() <= next(
        v for v in found if v["customerId"] == shop_id
    ).items()
