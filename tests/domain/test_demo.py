"""The deterministic demo city: generated with numpy, loaded with COPY into real PostGIS."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from domain.access import load_principal
from domain.catalogue import catalogue
from domain.demo import DemoSummary, database_is_empty, load_demo
from domain.demo.common import hilbert_index, largest_remainder
from domain.demo.gaps import OCCASIONAL_GAPS, ONBOARDING_GAPS
from domain.demo.load import business_tables
from domain.demo.numbers import id_check_char
from domain.demo.purchases import purchase_months, season_factors
from domain.models import Customer, LedgerEntry, Ticket, TicketChange, User
from domain.models.org import ROLES
from domain.passwords import verify_password
from domain.tickets.decisions import approve_ticket
from domain.tickets.types import ticket_types
from domain.vault import Vault
from domain.workcal import DEFAULT_TZ

AS_OF = dt.date(2025, 3, 18)
VAULT = Vault(b"retailgis-demo-test-secret-0123456789")
# Route and visit plans become tickets only from a computed plan (domain/planning); the
# demo opens tickets of every other type.
TICKET_TYPES = frozenset(ticket_types()) - {"route_plan", "visit_plan"}
SMALL = 1200
NEVER_EMPTY = ("customer_code", "shop_name", "licence_no", "location", "admin_region_id", "status",
               "delivery_route_id", "delivery_sequence", "customer_manager_id")  # fmt: skip
CUSTOMER_FINGERPRINT = """
    SELECT md5(string_agg(concat_ws('|', id, customer_code, shop_name, licence_no, phone,
        id_number, bank_account, ST_AsEWKT(location), admin_region_id, business_format,
        market_type, status, joined_on, customer_manager_id, delivery_route_id,
        delivery_sequence, visit_batch, order_batch, purchase_qty, purchase_amount,
        business_scale, classification, credit_rating, sales_structure::text), ',' ORDER BY id))
    FROM customers
"""
PURCHASE_FINGERPRINT = """
    SELECT md5(string_agg(concat_ws('|', customer_id, month, cartons, amount_yuan, brand_count),
        ',' ORDER BY customer_id, month))
    FROM purchase_records
"""


def scalar(conn: Connection, sql: str, **params: object) -> Any:
    return conn.execute(text(sql), params).scalar_one()


def rows(conn: Connection, sql: str, **params: object) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(text(sql), params).all()]


def fingerprint(conn: Connection) -> tuple[Any, Any]:
    return scalar(conn, CUSTOMER_FINGERPRINT), scalar(conn, PURCHASE_FINGERPRINT)


@pytest.fixture
def small_city(db_conn: Connection) -> DemoSummary:
    return load_demo(db_conn, shops=SMALL, seed=7, as_of=AS_OF, vault=VAULT)


# -- the acceptance city ------------------------------------------------------------------------


def test_default_city_meets_the_acceptance_checks(db_conn: Connection) -> None:
    # Given a database (the load replaces whatever is there)
    messages: list[str] = []

    # When the default demo city (5,000 shops) is loaded
    summary = load_demo(db_conn, as_of=AS_OF, progress=messages.append, vault=VAULT)

    # Then there are 5,000 shops, each on a route with a gapless sequence 1..n per route
    assert summary.shops == 5000 == scalar(db_conn, "SELECT count(*) FROM customers")
    assert scalar(db_conn, "SELECT count(*) FROM customers WHERE delivery_route_id IS NULL") == 0
    gaps = rows(db_conn, """
        SELECT delivery_route_id FROM customers GROUP BY delivery_route_id
        HAVING min(delivery_sequence) <> 1 OR max(delivery_sequence) <> count(*)
            OR count(DISTINCT delivery_sequence) <> count(*)""")  # fmt: skip
    assert gaps == []
    # and 12 months of purchases per shop, the 12 full months before as_of's month
    assert (
        summary.purchase_records
        == 60_000
        == scalar(db_conn, "SELECT count(*) FROM purchase_records")
    )
    per_shop = rows(
        db_conn,
        "SELECT count(*), min(month), max(month) FROM purchase_records GROUP BY customer_id",
    )
    assert {r for r in per_shop} == {(12, dt.date(2024, 3, 1), dt.date(2025, 2, 1))}
    # and every location inside its region and inside the service area
    outside = scalar(db_conn, """
        SELECT count(*) FROM customers c JOIN regions r ON r.id = c.admin_region_id
        WHERE NOT ST_Contains(r.geom, c.location)
           OR NOT ST_Contains((SELECT geom FROM service_areas), c.location)""")  # fmt: skip
    assert outside == 0
    # and customer managers own 150-250 shops each, all inside one county
    per_manager = rows(
        db_conn,
        """
        SELECT count(*), count(DISTINCT admin_region_id) FROM customers
        GROUP BY customer_manager_id""",
    )
    assert all(150 <= n <= 250 and regions == 1 for n, regions in per_manager)
    managers = scalar(db_conn, "SELECT count(*) FROM users WHERE role = 'customer_manager'")
    assert managers == len(per_manager) == 25
    # and 30-45 vehicles, five weekday routes each
    assert 30 <= summary.vehicles <= 45
    assert summary.routes == 5 * summary.vehicles
    # and open tickets of every type
    types = {
        t for (t,) in rows(db_conn, "SELECT DISTINCT type::text FROM tickets WHERE status = 'open'")
    }
    assert types == set(TICKET_TYPES)
    assert messages[-1] == "完成" and any("5000" in m for m in messages)
    assert not database_is_empty(db_conn)


# -- counts and structure -----------------------------------------------------------------------


def test_summary_matches_the_tables(db_conn: Connection, small_city: DemoSummary) -> None:
    # Given a small city / When its summary is compared with the tables / Then they agree
    counts = {
        "shops": "customers", "regions": "regions", "depots": "depots", "vehicles": "vehicles",
        "routes": "delivery_routes", "users": "users", "purchase_records": "purchase_records",
        "tickets": "tickets",
    }  # fmt: skip
    for attr, table in counts.items():
        assert getattr(small_city, attr) == scalar(db_conn, f"SELECT count(*) FROM {table}"), table
    assert 8 <= small_city.regions <= 10
    assert small_city.purchase_records == 12 * SMALL
    assert scalar(db_conn, "SELECT count(*) FROM service_areas") == 1
    assert (
        scalar(
            db_conn,
            "SELECT count(*) FROM org_units WHERE kind = 'county' AND region_id IS NOT NULL",
        )
        == small_city.regions
    )
    assert scalar(db_conn, "SELECT count(*) FROM departments") == 5


def test_regions_tile_the_service_area(db_conn: Connection, small_city: DemoSummary) -> None:
    # Given the demo regions / Then they do not overlap and their union is the service area
    overlap = scalar(db_conn, """
        SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom))), 0)
        FROM regions a JOIN regions b
            ON a.id < b.id AND ST_Intersects(a.geom, b.geom)""")  # fmt: skip
    total = scalar(db_conn, "SELECT sum(ST_Area(geom)) FROM regions")
    area = scalar(db_conn, "SELECT ST_Area(geom) FROM service_areas")
    assert float(overlap) < 1e-9
    assert math.isclose(float(total), float(area), rel_tol=1e-6)
    assert scalar(db_conn, "SELECT count(*) FROM regions WHERE code !~ '^6101[0-9]{2}$'") == 0
    depots_outside = scalar(db_conn, """
        SELECT count(*) FROM depots d JOIN regions r ON r.id = d.region_id
        WHERE NOT ST_Contains(r.geom, d.location)""")  # fmt: skip
    assert depots_outside == 0


def test_people_and_org_units(db_conn: Connection, small_city: DemoSummary) -> None:
    # Given a small city
    roles = dict(rows(db_conn, "SELECT role::text, count(*) FROM users GROUP BY role"))
    # Then every role has users, market areas have one market manager each
    assert set(roles) == set(ROLES)
    areas = scalar(db_conn, "SELECT count(*) FROM org_units WHERE kind = 'market_area'")
    assert roles["market_manager"] == areas
    # two accounts per county and per city role, so a maker is never the only checker
    assert roles["county_dept"] == 2 * small_city.regions
    for role in ("market_dept", "delivery_dept", "sales_dept", "licensing", "it_admin"):
        assert roles[role] == 2, role
    # and customer managers sit in a market area of the county of their shops
    wrong = scalar(db_conn, """
        SELECT count(*) FROM customers c JOIN users u ON u.id = c.customer_manager_id
        JOIN org_units a ON a.id = u.org_unit_id JOIN org_units k ON k.id = a.parent_id
        WHERE u.role <> 'customer_manager' OR a.kind <> 'market_area'
           OR k.region_id <> c.admin_region_id""")  # fmt: skip
    assert wrong == 0
    # and city department users belong to their department
    depts = rows(db_conn, """
        SELECT u.username, d.code::text FROM users u JOIN departments d ON d.id = u.department_id
        ORDER BY u.username""")  # fmt: skip
    assert ("it_admin", "it") in depts and ("licensing", "licensing") in depts
    # and visit batches are weekdays 1..5, order batch the weekday before delivery
    assert rows(db_conn, "SELECT DISTINCT visit_batch FROM customers ORDER BY 1") == [
        (1,),
        (2,),
        (3,),
        (4,),
        (5,),
    ]
    mismatched = scalar(db_conn, """
        SELECT count(*) FROM customers c JOIN delivery_routes r ON r.id = c.delivery_route_id
        WHERE c.order_batch <> CASE WHEN r.weekday = 1 THEN 5 ELSE r.weekday - 1 END
           OR c.call_batch <> c.order_batch""")  # fmt: skip
    assert mismatched == 0


def test_one_shared_password_and_credentials(db_conn: Connection, small_city: DemoSummary) -> None:
    # Given a small city / Then all users share one argon2 hash of the returned password
    hashes = rows(db_conn, "SELECT DISTINCT password_hash FROM users")
    assert len(hashes) == 1
    assert verify_password(str(hashes[0][0]), small_city.password)
    # and the credentials list one account per role plus a few managers
    creds = small_city.credentials
    by_role = {role: [c for c in creds if c.role == role] for role in ROLES}
    assert [c.username for c in by_role["customer_manager"]] == ["cm001", "cm002", "cm003"]
    assert [c.username for c in by_role["market_manager"]] == ["mm01", "mm02"]
    assert all(
        len(by_role[r]) == 1 for r in ROLES if r not in ("customer_manager", "market_manager")
    )
    names = dict(rows(db_conn, "SELECT username, display_name FROM users"))
    assert all(names[c.username] == c.display_name and c.scope for c in creds)


# -- determinism and replacement ----------------------------------------------------------------


def test_same_seed_same_city_other_seed_differs(db_conn: Connection) -> None:
    # Given a city loaded with seed 7
    first = load_demo(db_conn, shops=SMALL, seed=7, as_of=AS_OF, vault=VAULT)
    a = fingerprint(db_conn)
    # When it is loaded again with the same seed and date
    second = load_demo(db_conn, shops=SMALL, seed=7, as_of=AS_OF, vault=VAULT)
    # Then customers and purchases are identical (only the random password differs)
    assert fingerprint(db_conn) == a
    assert first.credentials == second.credentials
    # When another seed is used / Then the city differs
    load_demo(db_conn, shops=SMALL, seed=8, as_of=AS_OF)
    b = fingerprint(db_conn)
    assert b[0] != a[0] and b[1] != a[1]


def test_loading_replaces_all_business_data(db_conn: Connection) -> None:
    # Given a loaded city, and a field catalogue that must survive
    catalogue_rows = scalar(db_conn, "SELECT count(*) FROM field_catalogue")
    load_demo(db_conn, shops=SMALL, seed=1, as_of=AS_OF, vault=VAULT)
    assert not database_is_empty(db_conn)
    # When a smaller city is loaded over it
    summary = load_demo(db_conn, shops=300, seed=2, as_of=AS_OF, vault=VAULT)
    # Then only the second city remains
    assert scalar(db_conn, "SELECT count(*) FROM customers") == 300
    assert scalar(db_conn, "SELECT max(id) FROM customers") == 300
    assert scalar(db_conn, "SELECT count(*) FROM purchase_records") == 3600
    assert scalar(db_conn, "SELECT count(*) FROM tickets") == summary.tickets
    assert scalar(db_conn, "SELECT count(*) FROM field_catalogue") == catalogue_rows
    # and sequences continue after the explicit ids
    next_id = scalar(db_conn, "SELECT nextval(pg_get_serial_sequence('customers', 'id'))")
    assert next_id == 301
    # When everything is truncated / Then the database is empty again
    db_conn.execute(text(f"TRUNCATE {', '.join(business_tables())} CASCADE"))
    assert database_is_empty(db_conn)


# -- field formats ------------------------------------------------------------------------------


def test_field_formats(db_conn: Connection, small_city: DemoSummary) -> None:
    # Given a small city
    shops = rows(db_conn, """
        SELECT customer_code, licence_no, phone, id_number, bank_account, tax_id,
               licence_issued_on, licence_expires_on, joined_on
        FROM customers ORDER BY id""")  # fmt: skip
    codes = [s[0] for s in shops]
    licences = [s[1] for s in shops]
    # Then codes and licence numbers are 12 digits, unique, and differ from each other
    assert all(re.fullmatch(r"[0-9]{12}", str(c)) for c in codes + licences)
    assert len(set(codes)) == len(codes) and len(set(licences)) == len(licences)
    assert all(c != lic for c, lic in zip(codes, licences, strict=True))
    phone = re.compile(r"^1[3-9][0-9]{9}$|^029-8[0-9]{7}$")
    for _code, _lic, tel, id_no, bank, tax, issued, expires, joined in shops:
        assert tel is None or phone.match(str(tel)), tel
        if id_no is not None:
            assert re.fullmatch(r"[0-9]{17}[0-9X]", str(id_no)) and str(id_no)[-1] == id_check_char(
                str(id_no)[:17]
            )
        if bank is not None:
            digits = [int(d) for d in str(bank)][::-1]
            luhn = sum(
                d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(digits)
            )
            assert len(digits) == 19 and luhn % 10 == 0, bank
        assert tax is None or re.fullmatch(r"9[12]6101[0-9]{2}[0-9A-Z]{10}", str(tax)), tax
        assert expires is None or issued is None or expires > issued
        assert isinstance(joined, dt.date) and joined < AS_OF
    # and most phones are mobiles, a few landlines
    landlines = sum(1 for s in shops if str(s[2]).startswith("029-"))
    assert 0 < landlines < len(shops) * 0.2


def test_catalogue_fields_are_filled(db_conn: Connection, small_city: DemoSummary) -> None:
    # Given a small city
    columns = [spec.column for spec in catalogue()]
    assert len(columns) == 68
    filled = db_conn.execute(
        text("SELECT " + ", ".join(f"count({c})" for c in columns) + " FROM customers")
    ).one()
    by_column = dict(zip(columns, filled, strict=True))
    # Then the never-empty fields are always set
    assert all(by_column[c] == SMALL for c in NEVER_EMPTY)
    # and every field is set for most shops (pickup point only for pickup shops)
    for column, count in by_column.items():
        if column != "pickup_point_id":
            assert count >= SMALL * 0.9, column
    pickup = rows(db_conn, """
        SELECT fulfilment_mode::text, count(*), count(pickup_point_id) FROM customers
        GROUP BY 1 ORDER BY 1""")  # fmt: skip
    assert pickup[0][0] == "delivery" and pickup[0][2] == 0
    assert pickup[1][0] == "pickup" and pickup[1][1] == pickup[1][2] > 0
    # and some shops are incomplete, the newest ones most of all
    gap_columns = sorted(set(OCCASIONAL_GAPS) | set(ONBOARDING_GAPS))
    missing = " + ".join(f"({c} IS NULL)::int" for c in gap_columns)
    incomplete = rows(db_conn, f"SELECT joined_on, {missing} FROM customers WHERE {missing} > 0")
    assert 0.02 * SMALL < len(incomplete) < 0.1 * SMALL
    newest = [m for joined, m in incomplete if joined >= AS_OF - dt.timedelta(days=7)]
    assert newest and min(newest) >= 10


def test_enum_values_come_from_the_catalogue(db_conn: Connection, small_city: DemoSummary) -> None:
    # Given a small city / Then every enum column holds catalogue codes only, using several
    for spec in catalogue():
        if spec.type != "enum":
            continue
        used = {v for (v,) in rows(db_conn, f"SELECT DISTINCT {spec.column}::text FROM customers")}
        assert used - {None} <= set(spec.choice_codes), spec.key
        assert len(used - {None}) >= min(2, len(spec.choice_codes)) or spec.key == "licence_type"


# -- purchases and the business level -----------------------------------------------------------


def test_purchases_drive_the_auto_fields(db_conn: Connection, small_city: DemoSummary) -> None:
    # Given a small city / Then the auto fields are the sums of the 12 months
    wrong = scalar(db_conn, """
        SELECT count(*) FROM customers c JOIN (
            SELECT customer_id, sum(cartons) q, sum(amount_yuan) a, max(brand_count) b
            FROM purchase_records GROUP BY customer_id) p ON p.customer_id = c.id
        WHERE c.purchase_qty <> p.q OR c.purchase_amount <> p.a OR c.brand_count <> p.b
           OR (p.q > 0 AND abs(c.avg_price - p.a / p.q) > 0.006)""")  # fmt: skip
    assert wrong == 0
    prices = rows(db_conn, "SELECT min(avg_price), max(avg_price) FROM customers")[0]
    assert float(prices[0]) >= 100 and float(prices[1]) <= 480
    # and sales structures are shares of the five price classes summing to 1
    for (structure,) in rows(db_conn, "SELECT sales_structure FROM customers LIMIT 200"):
        assert isinstance(structure, dict) and len(structure) == 5
        assert math.isclose(sum(structure.values()), 1.0, abs_tol=1e-9)
    # and the classification is market type, format and scale
    bad = scalar(
        db_conn,
        """
        SELECT count(*) FROM customers
        WHERE classification <> market_type || '-' || business_format || '-' || business_scale""",
    )
    assert bad == 0
    # and the Spring Festival month is the busiest
    monthly = rows(
        db_conn, "SELECT month, sum(cartons) FROM purchase_records GROUP BY 1 ORDER BY 2 DESC"
    )
    assert monthly[0][0] == dt.date(2025, 1, 1)


def test_business_scale_is_20_60_20_within_each_format(
    db_conn: Connection, small_city: DemoSummary
) -> None:
    # Given a small city
    shares = rows(db_conn, """
        SELECT business_format::text, count(*), count(*) FILTER (WHERE business_scale = 1),
               count(*) FILTER (WHERE business_scale = 3)
        FROM customers GROUP BY 1""")  # fmt: skip
    # Then each format has its top 20% at scale 1 and bottom 20% at scale 3
    for fmt, n, large, small in shares:
        expected = math.floor(0.2 * n + 0.5)
        assert large == small == expected, fmt
    # and scale 1 shops out-buy scale 3 shops of the same format
    order = rows(db_conn, """
        SELECT business_format::text FROM customers GROUP BY 1
        HAVING min(purchase_qty) FILTER (WHERE business_scale = 1)
             < max(purchase_qty) FILTER (WHERE business_scale = 3)
           AND min(purchase_amount) FILTER (WHERE business_scale = 1)
             < max(purchase_amount) FILTER (WHERE business_scale = 3)""")  # fmt: skip
    assert order == []


def test_status_and_ratings_mix(db_conn: Connection) -> None:
    # Given the default-size city's mix (5,000 shops give stable shares)
    load_demo(db_conn, shops=5000, seed=3, as_of=AS_OF)
    share = dict(rows(db_conn, "SELECT status::text, count(*) / 5000.0 FROM customers GROUP BY 1"))
    # Then ≈97% are active, 2% suspended, 1% closed, and ratings ≈ 60/30/8/2
    assert 0.95 < share["active"] < 0.99 and 0.01 < share["suspended"] < 0.03
    rating = dict(
        rows(db_conn, "SELECT credit_rating::text, count(*) / 5000.0 FROM customers GROUP BY 1")
    )
    assert 0.55 < rating["A"] < 0.65 and 0.25 < rating["B"] < 0.35 and 0.005 < rating["D"] < 0.04
    market = dict(rows(db_conn, "SELECT market_type::text, count(*) FROM customers GROUP BY 1"))
    assert market["urban"] > market["rural"] > 0
    recent = scalar(
        db_conn,
        "SELECT count(*) FROM customers WHERE joined_on >= :d",
        d=AS_OF - dt.timedelta(days=7),
    )
    oldest = scalar(db_conn, "SELECT min(joined_on) FROM customers")
    assert 3 <= recent < 100
    assert oldest < AS_OF - dt.timedelta(days=9 * 365)


# -- tickets ------------------------------------------------------------------------------------


def test_tickets_propose_changes_to_current_records(
    db_conn: Connection, small_city: DemoSummary
) -> None:
    # Given a small city
    per_type = dict(
        rows(db_conn, "SELECT type::text, count(*) FROM tickets WHERE status = 'open' GROUP BY 1")
    )
    # Then there are 2-3 open tickets of each type
    assert set(per_type) == set(TICKET_TYPES) and all(2 <= n <= 3 for n in per_type.values())
    # and each has the steps of its type from types.toml, one of them applying, and exactly
    # one active step with a due time; the steps before it are done, the later ones waiting
    steps = rows(db_conn, """
        SELECT t.id, t.type::text, s.position, s.key, s.status::text, s.applies,
               s.started_at IS NOT NULL, s.due_at > s.started_at, s.limit_unit::text
        FROM tickets t JOIN ticket_steps s ON s.ticket_id = t.id
        ORDER BY t.id, s.position""")  # fmt: skip
    by_ticket: dict[int, list[tuple[Any, ...]]] = {}
    for row in steps:
        by_ticket.setdefault(row[0], []).append(row)
    assert len(by_ticket) == small_city.tickets
    types = ticket_types()
    for ticket_steps in by_ticket.values():
        kind = ticket_steps[0][1]
        type_keys = [s.key for s in types[kind].steps]
        base = [r[3].split(":")[0] for r in ticket_steps]  # "apply:market_dept" -> "apply"
        assert set(base) <= set(type_keys) and base == sorted(base, key=type_keys.index)
        assert sum(r[5] for r in ticket_steps) == 1
        statuses = [r[4] for r in ticket_steps]
        assert statuses.count("active") == 1
        active = statuses.index("active")
        assert statuses[:active] == ["done"] * active
        assert statuses[active + 1 :] == ["waiting"] * (len(statuses) - active - 1)
        assert ticket_steps[active][6] and ticket_steps[active][7]
        # the maker's own first step is submitted for onboarding and ratings only
        assert (active == 1) == (kind in ("onboarding", "credit_rating"))
        assert all((r[8] == "half_hour") == (kind == "emergency_change") for r in ticket_steps)
    day_start = dt.datetime.combine(AS_OF, dt.time(0), tzinfo=dt.timezone(dt.timedelta(hours=8)))
    overdue = scalar(
        db_conn,
        "SELECT count(*) FROM ticket_steps WHERE status = 'active' AND due_at < :t",
        t=day_start,
    )
    assert 2 <= overdue <= 4
    # and phone changes start from the current phone, sealed (compared by fingerprint)
    phones = rows(db_conn, """
        SELECT ch.old_value, c.phone, ch.new_value FROM ticket_changes ch
        JOIN tickets t ON t.id = ch.ticket_id JOIN customers c ON c.id = ch.customer_id
        WHERE t.type = 'phone_change'""")  # fmt: skip
    assert phones
    for old, current, new in phones:
        assert old["fp"] == VAULT.fingerprint(current) != new["fp"]
        assert VAULT.open(old) == current and current not in json.dumps(old)
    # and location changes move the current point by 50-300 m
    moves = rows(db_conn, """
        SELECT ST_Distance(ST_GeomFromGeoJSON(ch.old_value)::geography, c.location::geography),
               ST_Distance(ST_GeomFromGeoJSON(ch.new_value)::geography, c.location::geography)
        FROM ticket_changes ch JOIN tickets t ON t.id = ch.ticket_id
        JOIN customers c ON c.id = ch.customer_id WHERE t.type = 'location_change'""")  # fmt: skip
    assert moves and all(old < 0.01 and 45 < new < 305 for old, new in moves)
    # and route changes go to another route of the same depot and weekday
    routes = rows(db_conn, """
        SELECT a.depot_id = b.depot_id AND a.weekday = b.weekday AND a.id <> b.id,
               c.delivery_route_id = a.id
        FROM ticket_changes ch JOIN tickets t ON t.id = ch.ticket_id
        JOIN customers c ON c.id = ch.customer_id
        JOIN delivery_routes a ON a.id = (ch.old_value #>> '{}')::int
        JOIN delivery_routes b ON b.id = (ch.new_value #>> '{}')::int
        WHERE t.type = 'route_change' AND ch.field_key = 'delivery_route'""")  # fmt: skip
    assert routes and all(same and current for same, current in routes)
    # and every change names a catalogue field; single-shop tickets carry base_version 1
    keys = {spec.key for spec in catalogue()}
    assert {k for (k,) in rows(db_conn, "SELECT DISTINCT field_key FROM ticket_changes")} <= keys
    assert (
        scalar(
            db_conn,
            """
        SELECT count(*) FROM tickets WHERE (customer_id IS NULL) <> (base_version IS NULL)""",
        )
        == 0
    )


def test_personal_values_in_ticket_changes_are_sealed(
    db_conn: Connection, small_city: DemoSummary
) -> None:
    # Given a small city / Then every personal value a ticket proposes is a vault envelope
    personal = [spec.key for spec in catalogue() if spec.personal]
    changes = rows(
        db_conn,
        "SELECT field_key, old_value, new_value FROM ticket_changes WHERE field_key = ANY(:k)",
        k=personal,
    )
    assert {key for key, _, _ in changes} >= {"phone", "bank_account"}
    for _key, old, new in changes:
        for value in (old, new):
            assert value is None or (
                set(value) == {"masked", "fp", "enc"} and "*" in value["masked"]
            )
            if value is not None:
                assert VAULT.open(value) not in json.dumps(value)


def test_without_a_vault_the_city_has_no_tickets(db_conn: Connection) -> None:
    # Given no vault / When a city is loaded / Then its customers are the same, without tickets
    summary = load_demo(db_conn, shops=300, seed=7, as_of=AS_OF)
    without = fingerprint(db_conn)
    assert summary.tickets == 0 == scalar(db_conn, "SELECT count(*) FROM tickets")
    with_vault = load_demo(db_conn, shops=300, seed=7, as_of=AS_OF, vault=VAULT)
    assert with_vault.tickets > 0 and fingerprint(db_conn) == without


def test_a_demo_phone_change_is_approved_and_applied(
    db_conn: Connection, small_city: DemoSummary
) -> None:
    # Given the demo's phone change tickets
    with Session(bind=db_conn, join_transaction_mode="create_savepoint") as session:
        ticket = session.scalars(
            select(Ticket).where(Ticket.type == "phone_change").order_by(Ticket.id)
        ).first()
        assert ticket is not None and ticket.customer_id is not None
        shop = session.get(Customer, ticket.customer_id)
        assert shop is not None
        change = session.scalars(
            select(TicketChange).where(TicketChange.ticket_id == ticket.id)
        ).one()
        # When the market manager of the shop's team and the market dept approve it
        manager = session.get(User, shop.customer_manager_id)
        assert manager is not None
        approver = session.scalar(
            select(User.id).where(
                User.role == "market_manager", User.org_unit_id == manager.org_unit_id
            )
        )
        assert approver is not None
        now = dt.datetime.combine(AS_OF, dt.time(10), tzinfo=DEFAULT_TZ)
        for user_id in (approver, small_city_user(session, "market_dept")):
            approve_ticket(session, load_principal(session, user_id), ticket.id, vault=VAULT,
                           now=now)  # fmt: skip
        # Then the new phone is on the record, with a ledger entry of the ticket
        assert ticket.status == "applied" and shop.phone == VAULT.open(change.new_value)
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.ticket_id == ticket.id)).one()
        assert (entry.field_key, entry.new_value["fp"]) == ("phone", change.new_value["fp"])


def small_city_user(session: Session, role: str) -> int:
    user_id = session.scalar(select(User.id).where(User.role == role).order_by(User.id))
    assert user_id is not None
    return user_id


def test_onboarding_tickets_concern_the_newest_incomplete_shops(
    db_conn: Connection, small_city: DemoSummary
) -> None:
    # Given a small city / Then onboarding tickets fill fields still empty on a new shop
    changes = rows(db_conn, """
        SELECT c.joined_on, ch.old_value, ch.new_value FROM ticket_changes ch
        JOIN tickets t ON t.id = ch.ticket_id JOIN customers c ON c.id = t.customer_id
        WHERE t.type = 'onboarding'""")  # fmt: skip
    assert changes
    for joined, old, new in changes:
        assert joined >= AS_OF - dt.timedelta(days=7)
        assert old is None and new is not None
        json.dumps(new)


# -- pure helpers -------------------------------------------------------------------------------


def test_helpers() -> None:
    # Given the helpers / Then they behave as documented
    assert purchase_months(dt.date(2025, 1, 5))[0] == dt.date(2024, 1, 1)
    assert purchase_months(dt.date(2025, 1, 5))[-1] == dt.date(2024, 12, 1)
    assert season_factors(purchase_months(AS_OF)).argmax() == 10  # January 2025
    assert largest_remainder(10, [1, 1, 1]).tolist() == [4, 3, 3]
    assert largest_remainder(5, [0, 100, 1], minimum=1).tolist() == [0, 4, 1]
    assert id_check_char("11010519491231002") == "X"
    xs = np.array([0.0, 0.0, 1.0, 1.0])
    ys = np.array([0.0, 1.0, 1.0, 0.0])
    assert hilbert_index(xs, ys, order=1).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("size", [1, 7, 60])
def test_tiny_cities_load(db_conn: Connection, size: int) -> None:
    # Given a tiny size / When it is loaded / Then every shop is still routed and managed
    summary = load_demo(db_conn, shops=size, seed=5, as_of=AS_OF, vault=VAULT)
    assert summary.shops == size
    assert (
        scalar(
            db_conn,
            """
        SELECT count(*) FROM customers WHERE delivery_route_id IS NULL
            OR customer_manager_id IS NULL OR admin_region_id IS NULL""",
        )
        == 0
    )
    assert scalar(db_conn, "SELECT count(*) FROM purchase_records") == 12 * size
