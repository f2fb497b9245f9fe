"""Helpers of the planner tests: tile arithmetic done independently of the server (plain
Web Mercator in Python), MVT decoding, the shops as stored, and running a queued job."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import mapbox_vector_tile
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from domain.access import Principal, load_principal
from domain.jobs import run_next
from domain.models import Customer, DeliveryRoute, RoutePlan, Ticket, TicketChange, User
from tests.admin.conftest import Demo

EXTENT, BUFFER = 4096, 64


@dataclass(frozen=True)
class Shop:
    id: int
    lng: float
    lat: float
    manager_id: int | None
    route_id: int | None
    depot_id: int | None
    weekday: int | None
    business_format: str | None


def shops(engine: Engine) -> list[Shop]:
    """Every shop with a point that is not closed, as stored (WGS-84)."""
    c, r = Customer, DeliveryRoute
    with Session(engine) as s:
        rows = s.execute(
            select(c.id, func.ST_X(c.location), func.ST_Y(c.location), c.customer_manager_id,
                   c.delivery_route_id, r.depot_id, r.weekday, c.business_format)
            .outerjoin(r, r.id == c.delivery_route_id)
            .where(c.status != "closed", c.location.is_not(None)).order_by(c.id)
        ).all()  # fmt: skip
    return [Shop(*row) for row in rows]


def tile_of(lng: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lng + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tile_px(lng: float, lat: float, z: int, x: int, y: int) -> tuple[float, float]:
    """Where a point falls in tile z/x/y, in tile units (y down)."""
    n = 2**z
    px = ((lng + 180) / 360 * n - x) * EXTENT
    py = ((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n - y) * EXTENT
    return px, py


def in_tile(lng: float, lat: float, z: int, x: int, y: int) -> bool:
    px, py = tile_px(lng, lat, z, x, y)
    return -BUFFER <= px <= EXTENT + BUFFER and -BUFFER <= py <= EXTENT + BUFFER


def decode(data: bytes) -> list[dict[str, Any]]:
    """The features of the ``shops`` layer (tile units, y down); [] for an empty tile."""
    layers = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
    assert set(layers) <= {"shops"}
    return list(layers["shops"]["features"]) if layers else []


def principal_of(engine: Engine, username: str) -> Principal:
    with Session(engine) as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return load_principal(s, uid)


def user_id(engine: Engine, username: str) -> int:
    with Session(engine) as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return int(uid)


def run_job(engine: Engine, job_id: int) -> None:
    """Run queued jobs (as the worker does) until ``job_id`` has run."""
    sessions = sessionmaker(engine)
    for _ in range(20):
        ran = run_next(sessions)
        assert ran is not None, f"job {job_id} was not queued"
        if ran == job_id:
            return
    raise AssertionError(f"job {job_id} did not run")


def selected_ids(html: str) -> list[int]:
    """The ids the selection partial highlights (its data-selected attribute)."""
    found = re.search(r'data-selected="\[([^"]*)\]"', html)
    assert found, html
    return [int(v) for v in found.group(1).split(",") if v.strip()]


def rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def inside(shop: Shop, west: float, south: float, east: float, north: float) -> bool:
    return west <= shop.lng <= east and south <= shop.lat <= north


def tile(client: TestClient, z: int, x: int, y: int, **params: str) -> bytes:
    res = client.get(f"/admin/planner/tiles/{z}/{x}/{y}.pbf", params=params)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert res.headers["cache-control"].startswith("private")
    return res.content


def counts(demo: Demo) -> tuple[int, int, int]:
    return (
        demo.scalar(select(func.count()).select_from(Ticket)),
        demo.scalar(select(func.count()).select_from(TicketChange)),
        demo.scalar(select(func.count()).select_from(RoutePlan)),
    )


def assignment(demo: Demo) -> dict[int, tuple[int | None, int | None, int]]:
    with Session(demo.engine) as s:
        rows = s.execute(select(Customer.id, Customer.delivery_route_id,
                                Customer.delivery_sequence, Customer.version))  # fmt: skip
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def select_shops(client: TestClient, csrf: str, polygon: dict[str, object], **params: str) -> str:
    res = client.post(
        "/admin/planner/select", data={"polygon": json.dumps(polygon), **params},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )  # fmt: skip
    assert res.status_code == 200, res.text
    return res.text


def move(client: TestClient, csrf: str, ids: list[int], route: int | str) -> str:
    res = client.post(
        "/admin/planner/move", data={"customer": ids, "target_route": str(route)},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )  # fmt: skip
    assert res.status_code == 200
    return res.text
