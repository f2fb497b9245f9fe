"""``load_demo``: replace all business data with the deterministic demo city, via COPY."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import shapely
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from domain.demo.common import CHINA_TZ, stream
from domain.demo.gaps import apply_gaps
from domain.demo.geography import (
    SERVICE_AREA_BUFFER_M,
    SERVICE_AREA_NAME,
    City,
    build_city,
    polygon_ewkb,
)
from domain.demo.levels import apply_levels
from domain.demo.locations import generate_places
from domain.demo.people import People, build_people
from domain.demo.pgcopy import Column, copy_columns, copy_rows, copy_text
from domain.demo.purchases import generate_purchases, purchase_chunks
from domain.demo.routing import Fleet, plan_routes
from domain.demo.shops import Shops, generate_shops
from domain.demo.summary import DemoCredential, DemoSummary
from domain.demo.tickets import Plan, open_tickets, plan_tickets
from domain.models import Base
from domain.models.org import ROLES
from domain.passwords import generate_password, hash_password
from domain.tickets.engine import default_calendar
from domain.vault import Vault
from domain.workcal import WorkingCalendar

KEEP_TABLES = frozenset({"field_catalogue", "alembic_version"})
ID_TABLES = (
    "regions", "service_areas", "org_units", "departments", "users", "depots", "vehicles",
    "delivery_routes", "customers",
)  # fmt: skip
USER_COLUMNS = (
    "id", "username", "display_name", "role", "org_unit_id", "department_id", "phone",
    "password_hash", "is_active", "created_at",
)  # fmt: skip
DEPOT_COLUMNS = ("id", "code", "name", "kind", "address", "region_id", "parent_id", "location")
VEHICLE_COLUMNS = (
    "id", "code", "plate", "depot_id", "driver_name", "capacity_cartons", "shift_start",
    "shift_end", "is_active",
)  # fmt: skip
ROUTE_COLUMNS = (
    "id", "code", "name", "depot_id", "vehicle_id", "weekday", "service_min_per_stop",
    "is_active", "version", "created_at",
)  # fmt: skip
PURCHASE_COLUMNS = ("customer_id", "month", "cartons", "amount_yuan", "brand_count")
ANALYZE_TABLES = (
    "customers",
    "purchase_records",
    "delivery_routes",
    "users",
    "org_units",
    "regions",
)
SHIFT = (dt.time(8, 0), dt.time(17, 0))
FIRST_OF_ROLE = {"customer_manager": 3, "market_manager": 2}
MAX_SHOPS = 999_999  # customer codes carry a six-digit sequence

Progress = Callable[[str], None]


def database_is_empty(conn: Connection) -> bool:
    """True when there are no customers and no org units (a fresh or emptied database)."""
    row = conn.execute(
        text("SELECT NOT EXISTS (SELECT 1 FROM customers) AND NOT EXISTS (SELECT 1 FROM org_units)")
    ).scalar_one()
    return bool(row)


def business_tables() -> list[str]:
    return [t.name for t in Base.metadata.sorted_tables if t.name not in KEEP_TABLES]


def load_demo(
    conn: Connection,
    *,
    shops: int = 5000,
    seed: int = 42,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    vault: Vault | None = None,
    calendar: WorkingCalendar | None = None,
) -> DemoSummary:
    """Replace all business data with the demo city (deterministic for shops, seed, as_of).

    ``vault``: the application's vault (``make_vault(settings)``). The open tickets are
    opened through the ticket engine and seal the personal values they propose with it, so
    only the same vault can apply them later; without a vault the city has no tickets.
    ``calendar``: the working calendar for their due times (default: the engine's).
    Customers and purchases do not depend on either. Does not commit: the caller owns the
    transaction.
    """
    if not 1 <= shops <= MAX_SHOPS:
        raise ValueError(f"shops must be between 1 and {MAX_SHOPS}, not {shops}")
    as_of = as_of or dt.date.today()
    say: Progress = progress or (lambda _msg: None)

    say("清空业务数据…")
    conn.execute(text(f"TRUNCATE TABLE {', '.join(business_tables())} RESTART IDENTITY CASCADE"))

    say("生成行政区域和配送中心…")
    city = build_city()
    say(f"生成商户 {shops}…")
    places = generate_places(city, shops, stream(seed, "places"))
    shop = generate_shops(city, places, as_of, stream(seed, "shops"))
    del places  # the shops hold the reordered copy
    say(f"生成进货记录 {shops * 12}…")
    purchases, price = generate_purchases(shop, stream(seed, "purchases"))
    apply_levels(shop, purchases, price, stream(seed, "levels"))
    say("分配客户经理和市场部…")
    people = build_people(city, shop, stream(seed, "people"))
    say("规划送货线路…")
    weekly = purchases.cartons.sum(axis=1).astype(np.float64) / 52.0
    fleet = plan_routes(city, shop, weekly, stream(seed, "routing"))
    apply_gaps(shop, stream(seed, "gaps"))
    shop.cols["location"] = Column("raw", _point_ewkb(shop))
    cal = calendar or default_calendar()
    plans = (
        []
        if vault is None
        else plan_tickets(city, shop, people, fleet, stream(seed, "tickets"), cal)
    )

    password = generate_password()
    password_hash = hash_password(password)
    raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    say("写入组织、用户和线路…")
    _write_reference(raw, city, people, fleet, password_hash, as_of)
    say(f"写入商户 {shops}…")
    copy_columns(raw, "customers", shop.cols, shop.n)
    say(f"写入进货记录 {purchases.rows}…")
    copy_text(raw, "purchase_records", PURCHASE_COLUMNS, purchase_chunks(purchases))
    say("更新序列和统计信息…")
    for table in ID_TABLES:
        conn.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
        )
    conn.execute(text(f"ANALYZE {', '.join(ANALYZE_TABLES)}"))
    tickets = 0
    if vault is not None:
        say(f"创建工单 {len(plans)}…")
        tickets = _open_tickets(conn, plans, vault, cal)
    say("完成")
    return DemoSummary(
        shops=shop.n,
        regions=len(city.regions),
        depots=len(city.depots),
        vehicles=len(fleet.vehicles),
        routes=len(fleet.routes),
        users=len(people.users),
        purchase_records=purchases.rows,
        tickets=tickets,
        password=password,
        credentials=_credentials(people),
    )


def _point_ewkb(shop: Shops) -> list[str]:
    points = shapely.set_srid(shapely.points(shop.places.lng, shop.places.lat), 4326)
    return [str(v) for v in shapely.to_wkb(points, hex=True, include_srid=True).tolist()]


def _write_reference(
    raw: psycopg.Connection[Any],
    city: City,
    people: People,
    fleet: Fleet,
    password_hash: str,
    as_of: dt.date,
) -> None:
    regions = [
        (r.id, r.spec.code, r.spec.name, r.spec.kind, r.spec.is_urban, polygon_ewkb(r.geom))
        for r in city.regions
    ]
    copy_rows(raw, "regions", ("id", "code", "name", "kind", "is_urban", "geom"), regions)
    area = (1, SERVICE_AREA_NAME, SERVICE_AREA_BUFFER_M, polygon_ewkb(city.service_area))
    copy_rows(raw, "service_areas", ("id", "name", "buffer_m", "geom"), [area])
    units = [(u.id, u.code, u.name, u.kind, u.parent_id, u.region_id) for u in people.org_units]
    copy_rows(raw, "org_units", ("id", "code", "name", "kind", "parent_id", "region_id"), units)
    copy_rows(raw, "departments", ("id", "code", "name", "org_unit_id"), people.departments)
    created = dt.datetime.combine(as_of - dt.timedelta(days=365), dt.time(9, 0), tzinfo=CHINA_TZ)
    users = [
        (u.id, u.username, u.display_name, u.role, u.org_unit_id, u.department_id, u.phone,
         password_hash, True, created)
        for u in people.users
    ]  # fmt: skip
    copy_rows(raw, "users", USER_COLUMNS, users)
    points = shapely.points([d.spec.lng for d in city.depots], [d.spec.lat for d in city.depots])
    wkb = shapely.to_wkb(shapely.set_srid(points, 4326), hex=True, include_srid=True).tolist()
    depots = [
        (d.id, d.spec.code, d.spec.name, d.spec.kind, d.spec.address, d.region_id, d.parent_id,
         str(w))
        for d, w in zip(city.depots, wkb, strict=True)
    ]  # fmt: skip
    copy_rows(raw, "depots", DEPOT_COLUMNS, depots)
    vehicles = [
        (v.id, v.code, v.plate, v.depot_id, v.driver, v.capacity, SHIFT[0], SHIFT[1], True)
        for v in fleet.vehicles
    ]
    copy_rows(raw, "vehicles", VEHICLE_COLUMNS, vehicles)
    quarter = dt.date(as_of.year, (as_of.month - 1) // 3 * 3 + 1, 1)
    planned = dt.datetime.combine(quarter, dt.time(9, 0), tzinfo=CHINA_TZ)
    routes = [
        (r.id, r.code, r.name, r.depot_id, r.vehicle_id, r.weekday, 5, True, 1, planned)
        for r in fleet.routes
    ]
    copy_rows(raw, "delivery_routes", ROUTE_COLUMNS, routes)


def _open_tickets(
    conn: Connection, plans: list[Plan], vault: Vault, calendar: WorkingCalendar
) -> int:
    """Open the planned tickets through the engine on an ORM session over the loader's
    connection; its commit releases a savepoint, the caller's transaction keeps the rows."""
    with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        count = open_tickets(session, plans, vault, calendar)
        session.commit()
    return count


def _credentials(people: People) -> tuple[DemoCredential, ...]:
    out: list[DemoCredential] = []
    for role in ROLES:
        members = [u for u in people.users if u.role == role][: FIRST_OF_ROLE.get(role, 1)]
        out.extend(
            DemoCredential(u.username, u.display_name, u.role, people.unit(u.org_unit_id).name)
            for u in members
        )
    return tuple(out)
