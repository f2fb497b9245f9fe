"""Benchmark: route planning through our pipeline on the demo city, against the sweep
baseline, the same solver ten times longer, and the solver alone; plus Solomon RC208.

Usage: ``python bench/route_planning.py`` (no arguments). It starts (or reuses) the
bench-only embedded cluster (``<data dir>/bench-pg``, port 54339), loads a 20,000-shop demo
city (seed 42) once into ``plan_bench_base`` and, per scenario, plans on a fresh copy:

(a) the distribution centre on Monday: the 1,000 shops nearest to it on 10 vehicles;
(b) the same with 2,000 shops on 15 vehicles;
(c) the quarterly re-plan of the 5,000 shops nearest to it: 10 vehicles, Monday–Friday.

A scenario's shops are first put on sweep routes, as the demo city's loader makes them
(sectors by angle around the depot, stops by nearest neighbour): that is the baseline.
Service 2 minutes per stop, the vehicles' shift 08:00–17:00, capacity 1.2× the mean
route load, balance ±15 % of stops, straight-line travel (×1.3 at 25/45 km/h).

Per scenario: the pipeline's wall time (request → job → solver → plan stored), total travel
time and distance before (sweep) and after, balance (min/max stops and duration per route)
and constraint violations. For (a) and (b): the solver called directly on the same
matrix with the same budget (pipeline overhead = pipeline wall ÷ solver wall) and with ten
times the budget (the reference best; our cost ÷ its cost). RC208 (best known 776.1)
through our engine with a 10 s budget. Ends with one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from benchdb import bench_cluster  # noqa: E402
from sqlalchemy import Engine, create_engine, func, select, text, update  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from api.db import migrate  # noqa: E402
from domain import planning  # noqa: E402
from domain.access import load_principal  # noqa: E402
from domain.demo import load_demo  # noqa: E402
from domain.demo.routing import nearest_neighbour  # noqa: E402
from domain.jobs import run_next  # noqa: E402
from domain.models import Customer, DeliveryRoute, Depot, RoutePlan, Vehicle  # noqa: E402
from domain.planning.problem import day_problem  # noqa: E402
from domain.planning.volumes import shop_volumes  # noqa: E402
from domain.tickets.approval import approve  # noqa: E402
from domain.vault import Vault  # noqa: E402
from geo import vrp  # noqa: E402

VAULT = Vault(b"bench-plan-" + b"x" * 32)

CITY_SHOPS = 20_000
BASE = "plan_bench_base"
DEPOT = "DC-XA"
SERVICE_MIN = 2
CAPACITY_SLACK = 1.2
RC208 = Path("/work/shared/bench-data/RC208.vrp")
RC208_BEST = 776.1
SETTINGS = planning.PlanningSettings()
SCENARIOS = {
    "a": {"shops": 1000, "vehicles": 10, "days": (1,)},
    "b": {"shops": 2000, "vehicles": 15, "days": (1,)},
    "c": {"shops": 5000, "vehicles": 10, "days": (1, 2, 3, 4, 5)},
}
# BENCH_SMOKE=1: tiny scenarios and 2 s budgets, to check the script itself quickly.
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
if SMOKE:
    SCENARIOS = {k: {**v, "shops": v["shops"] // 10, "vehicles": 3} for k, v in SCENARIOS.items()}
    SETTINGS = planning.PlanningSettings(min_budget_s=2.0, max_budget_s=2.0)
planning.SETTINGS["planning"] = SETTINGS


def base_city(cluster: Any) -> None:
    cluster.ensure_database(BASE)
    url = cluster.url(BASE)
    migrate(url)
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(Customer))
    if count != CITY_SHOPS:
        print(f"loading the {CITY_SHOPS:,}-shop demo city into {BASE} …", flush=True)
        if count:
            engine.dispose()
            cluster.drop_database(BASE)
            return base_city(cluster)
        with engine.begin() as conn:
            load_demo(conn, shops=CITY_SHOPS, seed=42, vault=VAULT)
    engine.dispose()


def scenario_db(cluster: Any, name: str) -> Engine:
    cluster.drop_database(name)
    cluster.create_database(name, template=BASE)
    return create_engine(cluster.url(name), poolclass=NullPool)


def sweep(
    session: Session,
    depot_xy: tuple[float, float],
    ids: list[int],
    xy: np.ndarray,
    routes: list[int],
) -> None:
    """The demo's sweep: sectors by angle around the depot, stops by nearest neighbour."""
    angle = np.arctan2(xy[:, 1] - depot_xy[1], xy[:, 0] - depot_xy[0])
    order = np.argsort(angle, kind="stable")
    for k, chunk in enumerate(np.array_split(order, len(routes))):
        visit = nearest_neighbour(xy[chunk, 0], xy[chunk, 1], *depot_xy)
        for seq, i in enumerate(chunk[visit], start=1):
            session.execute(
                update(Customer)
                .where(Customer.id == ids[i])
                .values(delivery_route_id=routes[k], delivery_sequence=seq)
            )


def setup(engine: Engine, shops: int, vehicles: int, days: tuple[int, ...]) -> int:
    """The scenario on its own database copy; returns the depot id."""
    with Session(engine) as s, s.begin():
        depot = s.scalar(select(Depot).where(Depot.code == DEPOT))
        assert depot is not None
        dlng, dlat = s.execute(select(func.ST_X(depot.location), func.ST_Y(depot.location))).one()
        fleet = s.scalars(
            select(Vehicle.id)
            .where(Vehicle.depot_id == depot.id)
            .order_by(Vehicle.id)
            .limit(vehicles)
        ).all()
        assert len(fleet) == vehicles, f"{DEPOT} has only {len(fleet)} vehicles"
        s.execute(
            update(DeliveryRoute)
            .where(DeliveryRoute.depot_id == depot.id)
            .values(
                is_active=DeliveryRoute.vehicle_id.in_(fleet) & DeliveryRoute.weekday.in_(days),
                service_min_per_stop=SERVICE_MIN,
            )
        )
        active = {
            (r.vehicle_id, r.weekday): r.id
            for r in s.scalars(
                select(DeliveryRoute).where(
                    DeliveryRoute.depot_id == depot.id, DeliveryRoute.is_active
                )
            )
        }
        depot_routes = select(DeliveryRoute.id).where(DeliveryRoute.depot_id == depot.id)
        rows = s.execute(
            select(Customer.id, func.ST_X(Customer.location), func.ST_Y(Customer.location))
            .where(Customer.delivery_route_id.in_(depot_routes), Customer.status != "closed")
            .order_by(func.ST_Distance(Customer.location, depot.location), Customer.id)
            .limit(shops)
        ).all()
        ids = [r[0] for r in rows]
        # everyone else leaves the scenario's routes (they are served elsewhere)
        s.execute(
            update(Customer)
            .where(Customer.delivery_route_id.in_(list(active.values())))
            .values(delivery_route_id=None, delivery_sequence=None)
        )
        lng = np.array([r[1] for r in rows] + [dlng])
        lat = np.array([r[2] for r in rows] + [dlat])
        xy = vrp.lnglat_to_xy(np.column_stack((lng, lat)))
        routes = [active[(v, d)] for v in fleet for d in days]  # a vehicle's days side by side
        sweep(s, (float(xy[-1, 0]), float(xy[-1, 1])), ids, xy[:-1], routes)
        if len(days) > 1:
            for (_, d), route_id in active.items():
                s.execute(
                    update(Customer)
                    .where(Customer.delivery_route_id == route_id)
                    .values(order_batch=d - 1 if d > 1 else 5)
                )
        demand = sum(max(1, math.ceil(v - 1e-9)) for v in shop_volumes(s, ids).values())
        capacity = math.ceil(demand / len(routes) * CAPACITY_SLACK / 10) * 10
        s.execute(update(Vehicle).where(Vehicle.id.in_(fleet)).values(capacity_cartons=capacity))
        return int(depot.id)


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    used = [r for r in raw["routes"] if r["stops"]]
    return {
        "travel_h": round(raw["travelS"] / 3600, 2),
        "distance_km": round(raw["distanceM"] / 1000, 1),
        "stops_min_max": [min(r["stops"] for r in used), max(r["stops"] for r in used)],
        "duration_min_max_min": [
            round(min(r["durationS"] for r in used) / 60),
            round(max(r["durationS"] for r in used) / 60),
        ],
        "violations": len(raw["violations"]),
    }


def run_pipeline(engine: Engine, depot: int, mode: str, weekday: int | None) -> dict[str, Any]:
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as s:
        planner_id = s.scalar(text("SELECT id FROM users WHERE role = 'delivery_dept' ORDER BY id"))
        principal = load_principal(s, planner_id)
        started = time.perf_counter()
        plan = planning.start_route_plan(
            s, principal, planning.PlanRequest(mode=mode, depot_id=depot, weekday=weekday)
        )  # type: ignore[arg-type]
        plan_id = plan.id
    run_next(sessions)
    wall = time.perf_counter() - started
    with sessions() as s:
        stored = s.get(RoutePlan, plan_id)
        assert stored is not None and stored.status == "ready", stored and stored.status
        summary = stored.summary or {}
    return {"wall_s": round(wall, 2), "summary": summary, "plan_id": plan_id}


def submit_and_apply(engine: Engine, plan_id: int) -> dict[str, float]:
    """The plan becomes a ticket; another planner's approval applies it (ledger, notices)."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    now = dt.datetime.now(dt.UTC)
    with sessions.begin() as s:
        ids = s.scalars(text("SELECT id FROM users WHERE role = 'delivery_dept' ORDER BY id")).all()
        maker, checker = load_principal(s, ids[0]), load_principal(s, ids[1])
        started = time.perf_counter()
        ticket = planning.submit_plan(s, maker, plan_id, reason="季度调整", vault=VAULT, now=now)
    submit_s = time.perf_counter() - started
    started = time.perf_counter()
    with sessions.begin() as s:
        approve(s, checker, ticket.id, vault=VAULT, now=now)
    apply_s = time.perf_counter() - started
    with sessions() as s:
        status = s.scalar(
            text("SELECT status::text FROM tickets WHERE id = :id"), {"id": ticket.id}
        )
    assert status == "applied", status
    return {"submit_s": round(submit_s, 2), "apply_s": round(apply_s, 2)}


def direct(engine: Engine, depot: int, weekday: int, budget: float) -> tuple[float, int]:
    """The solver alone on the same problem (matrix built before the clock starts)."""
    with Session(engine) as s:
        day = day_problem(SETTINGS, s, depot, weekday, balance=vrp.Balance("stops", 0.15))
    started = time.perf_counter()
    plan = vrp.solve(day.problem, time_limit_s=budget, seed=1)
    return time.perf_counter() - started, plan.travel_s


def day_scenario(cluster: Any, key: str, spec: dict[str, Any], reference: bool) -> dict[str, Any]:
    engine = scenario_db(cluster, f"plan_bench_{key}")
    depot = setup(engine, spec["shops"], spec["vehicles"], spec["days"])
    out = run_pipeline(engine, depot, "day", 1)
    summary = out.pop("summary")
    budget = summary["budgetS"]
    before, after = figures(summary["before"]), figures(summary["after"])
    result = {
        "wall_s": out["wall_s"],
        "budget_s": budget,
        "before": before,
        "after": after,
        "saving_vs_sweep": round(1 - summary["after"]["travelS"] / summary["before"]["travelS"], 4),
        "unassigned": len(summary["unassigned"]),
    }
    solver_s, _ = direct(engine, depot, 1, budget)
    result["solver_alone_s"] = round(solver_s, 2)
    result["overhead_ratio"] = round(out["wall_s"] / solver_s, 3)
    if reference:
        _, best = direct(engine, depot, 1, budget * 10)
        result["reference_travel_h"] = round(best / 3600, 2)
        result["ratio_vs_reference"] = round(summary["after"]["travelS"] / best, 4)
    print(f"({key}) {json.dumps(result, ensure_ascii=False)}", flush=True)
    engine.dispose()
    cluster.drop_database(f"plan_bench_{key}")
    return result


def quarterly(cluster: Any, spec: dict[str, Any]) -> dict[str, Any]:
    engine = scenario_db(cluster, "plan_bench_c")
    depot = setup(engine, spec["shops"], spec["vehicles"], spec["days"])
    out = run_pipeline(engine, depot, "quarterly", None)
    summary = out["summary"]
    result = {
        "wall_s": out["wall_s"],
        "before": figures(summary["before"]),
        "after": figures(summary["after"]),
        "shops_per_day": [d["shops"] for d in summary["days"]],
        "shops_changing_day": summary["shopsChangingDay"],
        "saving_vs_sweep": round(1 - summary["after"]["travelS"] / summary["before"]["travelS"], 4),
        "unassigned": len(summary["unassigned"]),
        "moves": summary["moves"],
    }
    result.update(submit_and_apply(engine, out["plan_id"]))
    print(f"(c) {json.dumps(result, ensure_ascii=False)}", flush=True)
    engine.dispose()
    cluster.drop_database("plan_bench_c")
    return result


def rc208() -> dict[str, Any]:
    problem, scale = vrp.load_vrplib(RC208)
    started = time.perf_counter()
    plan = vrp.solve(problem, time_limit_s=10.0, seed=1)
    cost = plan.distance_m / scale
    result = {
        "cost": round(cost, 1),
        "gap": round(cost / RC208_BEST - 1, 4),
        "wall_s": round(time.perf_counter() - started, 2),
        "routes": sum(1 for r in plan.routes if r),
        "violations": len(plan.violations),
    }
    print(f"RC208 {json.dumps(result)}", flush=True)
    return result


def main() -> None:
    with bench_cluster() as cluster:
        base_city(cluster)
        a = day_scenario(cluster, "a", SCENARIOS["a"], reference=True)
        b = day_scenario(cluster, "b", SCENARIOS["b"], reference=True)
        c = quarterly(cluster, SCENARIOS["c"])
    rc = rc208()
    violations = sum(x["after"]["violations"] + x["unassigned"] for x in (a, b, c))
    print(
        json.dumps(
            {
                "a_wall_s": a["wall_s"],
                "b_wall_s": b["wall_s"],
                "c_wall_s": c["wall_s"],
                "b_saving_vs_sweep": b["saving_vs_sweep"],
                "c_saving_vs_sweep": c["saving_vs_sweep"],
                "b_ratio_vs_reference": b["ratio_vs_reference"],
                "rc208_gap": rc["gap"],
                "violations": violations + rc["violations"],
                "overhead_ratio": b["overhead_ratio"],
            }
        )
    )


if __name__ == "__main__":
    main()
