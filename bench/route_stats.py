"""Benchmark: a route's figures and a depot's day of routes with figures, through the API.

Usage: ``python bench/route_stats.py`` (no arguments). It starts (or reuses) the bench-only
embedded cluster (``bench/benchdb.py``), migrates it, and reuses the 100,000-shop demo
city there (loaded when missing, as ``graphql_load.py`` does). A dispatch screen asks for

(a) one route: ``route(id) { stats { stops volume distanceKm durationMin feasible } }``,
(b) a depot's routes of one weekday with the same figures (the busiest depot and day:
    73 routes, about 11,000 shops in the 100,000-shop city),

as the ``market_dept`` user (city scope). Each through the production app in this process
(the ASGI app called directly, ``graphql_inprocess.per_request``): p50 wall and CPU
milliseconds of 60 requests after 10 warm-up ones. The figures are computed for every
request (volumes from the last three purchase months, travel by the configured model,
the schedule against the vehicle's shift): nothing is cached between requests.

Ends with one JSON line: ``{"route_p50_ms": ..., "depot_day_p50_ms": ..., "routes": ...,
"shops": ...}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import graphql_inprocess as inproc  # noqa: E402
from benchdb import bench_database, ensure_demo_city  # noqa: E402
from graphql_load import AS_OF, SHOPS, make_token  # noqa: E402
from sqlalchemy import create_engine, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from domain.models import Customer, DeliveryRoute  # noqa: E402

FIGURES = "stats { stops volume distanceKm durationMin feasible }"
ROUTE = "query($id: Int!) { route(id: $id) { code " + FIGURES + " } }"
DAY = "query($d: Int!, $w: Int!) { routes(depotId: $d, weekday: $w) { code " + FIGURES + " } }"


def busiest_day(url: str) -> tuple[int, int, int, int, int]:
    """The depot and weekday with the most routes, one route of it, its route and shop
    counts."""
    engine = create_engine(url, poolclass=NullPool)
    with Session(engine) as s:
        depot, weekday, routes = s.execute(
            select(DeliveryRoute.depot_id, DeliveryRoute.weekday, func.count())
            .group_by(DeliveryRoute.depot_id, DeliveryRoute.weekday)
            .order_by(func.count().desc(), DeliveryRoute.depot_id, DeliveryRoute.weekday)
            .limit(1)
        ).one()
        ids = select(DeliveryRoute.id).where(
            DeliveryRoute.depot_id == depot, DeliveryRoute.weekday == weekday
        )
        route = s.scalar(ids.order_by(DeliveryRoute.id).limit(1))
        shops = s.scalar(
            select(func.count()).where(Customer.delivery_route_id.in_(ids.scalar_subquery()))
        )
    engine.dispose()
    return depot, weekday, route, routes, shops


def main() -> None:
    with bench_database() as url:
        ensure_demo_city(url, SHOPS, as_of=AS_OF)
        token = make_token(url)
        depot, weekday, route, routes, shops = busiest_day(url)
        print(f"depot {depot}, weekday {weekday}: {routes} routes, {shops:,} shops; "
              f"one route: {route}")  # fmt: skip
        queries = {
            "route": (ROUTE, {"id": route}),
            "depot_day": (DAY, {"d": depot, "w": weekday}),
        }
        found = inproc.per_request(url, token, queries)
    for (path, name), figures in found.items():
        print(f"  {path:12} {name:9} wall {figures['wall_ms']:8.2f} ms   "
              f"CPU {figures['cpu_ms']:8.2f} ms")  # fmt: skip
    print(json.dumps({
        "route_p50_ms": found[("served", "route")]["wall_ms"],
        "depot_day_p50_ms": found[("served", "depot_day")]["wall_ms"],
        "routes": routes, "shops": shops,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
