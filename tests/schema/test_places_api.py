"""depots / regions / serviceArea / routes / route, and a customer's history, asOf and
completeness over HTTP: GeoJSON shapes, filters, scoped and ordered stops, route volume,
masking of personal values, and no N+1."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from domain.completeness import customer_completeness
from domain.masking import mask
from domain.models import Customer, DeliveryRoute, Depot, PurchaseRecord, Region, User
from domain.tickets.engine import default_calendar
from schema.scalars import parse_geojson
from tests.schema.conftest import Gql
from tests.support import counted_statements

LNG, LAT = (108.0, 110.0), (33.9, 34.7)


def _positions(coords: Any) -> list[list[float]]:
    if isinstance(coords[0], int | float):
        return [coords]
    return [p for c in coords for p in _positions(c)]


def _in_city(geometry: dict[str, Any]) -> bool:
    """Valid RFC 7946 GeoJSON, longitude first, inside the demo city's box."""
    assert parse_geojson(geometry) == geometry
    return all(
        LNG[0] <= lng <= LNG[1] and LAT[0] <= lat <= LAT[1]
        for lng, lat, *_ in _positions(geometry["coordinates"])
    )


@pytest.mark.parametrize(
    "query",
    [
        "{ depots { id } }",
        "{ regions { id } }",
        "{ serviceArea { name } }",
        "{ routes { id } }",
        "{ route(id: 1) { id } }",
    ],
)
def test_anonymous_callers_are_refused(gql: Gql, query: str) -> None:
    body = gql(query)
    assert body["data"] is None or set(body["data"].values()) == {None}
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_depots_are_points_longitude_first(gql: Gql, username_of: Any, api_db: Engine) -> None:
    body = gql(
        "{ depots { id code name kind address regionId parentId location } }",
        user=username_of("customer_manager"),
    )
    assert "errors" not in body
    depots = body["data"]["depots"]
    with Session(api_db) as s:
        rows = s.execute(
            select(Depot.id, Depot.code, Depot.kind, Depot.region_id, func.ST_X(Depot.location),
                   func.ST_Y(Depot.location)).order_by(Depot.id)
        ).all()  # fmt: skip
    assert [d["id"] for d in depots] == [r.id for r in rows]
    for depot, row in zip(depots, rows, strict=True):
        assert (depot["code"], depot["kind"], depot["regionId"]) == (row[1], row[2], row[3])
        assert depot["location"]["type"] == "Point" and _in_city(depot["location"])
        assert depot["location"]["coordinates"] == pytest.approx([row[4], row[5]], abs=1e-6)
    assert {d["kind"] for d in depots} == {"distribution_centre", "transit_station", "pickup_point"}


def test_regions_and_service_area_are_multipolygons(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    body = gql(
        "{ regions { id code name kind isUrban geometry } serviceArea { name bufferM geometry } }",
        user=username_of("delivery_dept"),
    )
    assert "errors" not in body
    with Session(api_db) as s:
        codes = s.scalars(select(Region.code).order_by(Region.code)).all()
    regions = body["data"]["regions"]
    assert [r["code"] for r in regions] == list(codes)
    for region in regions:
        assert region["geometry"]["type"] == "MultiPolygon" and _in_city(region["geometry"])
    assert {r["kind"] for r in regions if r["isUrban"]} <= {"urban_district", "suburban_district"}
    area = body["data"]["serviceArea"]
    assert area["bufferM"] == 500.0 and area["name"]
    assert area["geometry"]["type"] == "MultiPolygon" and _in_city(area["geometry"])


def test_routes_filter_by_depot_and_weekday(gql: Gql, username_of: Any, api_db: Engine) -> None:
    user = username_of("delivery_dept")
    with Session(api_db) as s:
        total = s.scalar(select(func.count(DeliveryRoute.id)))
        expected = s.scalars(
            select(DeliveryRoute.code)
            .where(DeliveryRoute.depot_id == 2, DeliveryRoute.weekday == 3)
            .order_by(DeliveryRoute.code)
        ).all()
        route = s.scalar(select(DeliveryRoute).where(DeliveryRoute.vehicle_id.is_not(None)))
        assert route is not None and expected
        depot = s.get(Depot, route.depot_id)
        assert depot is not None
    everything = gql("{ routes { id } }", user=user)["data"]["routes"]
    assert len(everything) == total
    some = gql(
        "{ routes(depotId: 2, weekday: 3) { code depotId weekday depot { id code } } }", user=user
    )["data"]["routes"]
    assert [r["code"] for r in some] == list(expected)
    assert {(r["depotId"], r["weekday"], r["depot"]["id"]) for r in some} == {(2, 3, 2)}
    one = gql(
        "query($i: Int!) { route(id: $i) { code depot { code location } vehicle {"
        " code plate capacityCartons shiftStart shiftEnd } } }",
        {"i": route.id},
        user=user,
    )["data"]["route"]
    assert one["code"] == route.code and one["depot"]["code"] == depot.code
    assert one["vehicle"]["capacityCartons"] > 0
    assert one["vehicle"]["shiftStart"] < one["vehicle"]["shiftEnd"]
    assert gql("{ route(id: 987654) { id } }", user=user) == {"data": {"route": None}}
    bad = gql("{ routes(weekday: 8) { id } }", user=user)
    assert bad["data"] is None
    assert bad["errors"][0]["extensions"] == {"code": "INVALID", "field": "weekday"}


STOPS = """query($i: Int!) { route(id: $i) { stats { stops volume }
  stops { id customerCode deliverySequence customerManagerId phone } } }"""


def test_stops_are_ordered_by_sequence_and_scoped(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    with Session(api_db) as s:
        route_id = s.scalar(
            select(Customer.delivery_route_id)
            .group_by(Customer.delivery_route_id)
            .having(func.count(func.distinct(Customer.customer_manager_id)) > 1)
            .order_by(Customer.delivery_route_id)
            .limit(1)
        )
        assert route_id is not None
        shops = s.scalars(
            select(Customer)
            .where(Customer.delivery_route_id == route_id)
            .order_by(Customer.delivery_sequence)
        ).all()
        manager = s.get(User, shops[-1].customer_manager_id)
        assert manager is not None
    whole = gql(STOPS, {"i": route_id}, user=username_of("market_dept"))["data"]["route"]
    assert [c["id"] for c in whole["stops"]] == [c.id for c in shops]
    sequences = [c["deliverySequence"] for c in whole["stops"]]
    assert sequences == sorted(sequences)
    assert whole["stats"]["stops"] == len(shops) == len(whole["stops"])
    assert all(c["phone"] is None or "****" in c["phone"] for c in whole["stops"])
    own = gql(STOPS, {"i": route_id}, user=manager.username)["data"]["route"]
    assert [c["id"] for c in own["stops"]] == [
        c.id for c in shops if c.customer_manager_id == manager.id
    ]
    assert 0 < len(own["stops"]) < len(shops)
    # The route's figures are the route's, whoever asks.
    assert own["stats"] == whole["stats"]


def test_volume_is_average_weekly_cartons_of_the_last_3_purchase_months(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    with Session(api_db) as s:
        latest = s.scalar(select(func.max(PurchaseRecord.month)))
        assert latest is not None
        months = {dt.date(latest.year, latest.month, 1)}
        for _ in range(2):
            first = min(months) - dt.timedelta(days=1)
            months.add(first.replace(day=1))
        rows = s.execute(
            select(Customer.delivery_route_id, PurchaseRecord.month, PurchaseRecord.cartons).join(
                PurchaseRecord, PurchaseRecord.customer_id == Customer.id
            )
        ).all()
    cartons: dict[int, Decimal] = {}
    for route_id, month, n in rows:
        if month in months:
            cartons[route_id] = cartons.get(route_id, Decimal(0)) + n
    routes = gql("{ routes { id stats { stops volume } } }", user=username_of("sales_dept"))
    got = {r["id"]: r["stats"]["volume"] for r in routes["data"]["routes"]}
    assert got == pytest.approx(
        {k: round(float(cartons.get(k, 0)) / 13, 1) for k in got}, abs=0.051
    )
    assert all(v > 0 for k, v in got.items() if cartons.get(k, 0) >= 1)
    assert sum(v > 0 for v in got.values()) > 0.9 * len(got)
    assert sum(r["stats"]["stops"] for r in routes["data"]["routes"]) == 300


HISTORY = """query($i: Int!, $at: DateTime!) { customer(id: $i) {
  phone bankName asOf(at: $at)
  history(limit: 5) { at actor source ticketId field label old new } } }"""
UPDATE = """mutation($i: Int!, $v: Int!, $c: [FieldChangeInput!]!) {
  updateCustomer(id: $i, version: $v, changes: $c) { applied errors { code } } }"""


def test_history_and_as_of_show_personal_values_masked(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    md = username_of("market_dept")
    with Session(api_db) as s:
        shop = s.scalar(
            select(Customer).where(Customer.phone.is_not(None)).order_by(Customer.id.desc())
        )
        assert shop is not None
        shop_id, version, old_phone, old_bank = (
            shop.id, shop.version, shop.phone, shop.bank_name,
        )  # fmt: skip
    before = dt.datetime.now(dt.UTC)
    new_phone = "13912345678" if old_phone != "13912345678" else "13812345678"
    changes = [
        {"field": "phone", "value": new_phone},
        {"field": "bank_name", "value": "新开户银行"},
    ]
    done = gql(UPDATE, {"i": shop_id, "v": version, "c": changes}, user=md)["data"]
    assert done["updateCustomer"] == {"applied": ["phone", "bank_name"], "errors": []}

    body = gql(HISTORY, {"i": shop_id, "at": before.isoformat()}, user=md)
    assert "errors" not in body
    customer = body["data"]["customer"]
    entries = {e["field"]: e for e in customer["history"]}
    assert set(entries) == {"phone", "bank_name"}
    phone = entries["phone"]
    assert (phone["old"], phone["new"]) == (mask("phone", old_phone), mask("phone", new_phone))
    assert new_phone not in str(customer) and old_phone not in str(customer)
    assert phone["label"] == "订货电话" and phone["source"] == "edit"
    assert phone["actor"] and phone["ticketId"] is None
    assert entries["bank_name"]["new"] == "新开户银行"
    assert customer["bankName"] == "新开户银行"
    # as of just before the change: the old values, personal ones masked
    assert customer["asOf"]["phone"] == mask("phone", old_phone)
    assert customer["asOf"]["bank_name"] == old_bank
    now = gql(HISTORY, {"i": shop_id, "at": dt.datetime.now(dt.UTC).isoformat()}, user=md)
    assert now["data"]["customer"]["asOf"]["phone"] == mask("phone", new_phone)

    naive = gql(HISTORY, {"i": shop_id, "at": "2026-01-01T08:00:00"}, user=md)
    assert naive["errors"][0]["extensions"] == {"code": "INVALID", "field": "at"}
    limit = gql("query($i: Int!) { customer(id: $i) { history(limit: 0) { at } } }",
                {"i": shop_id}, user=md)  # fmt: skip
    assert limit["errors"][0]["extensions"] == {"code": "INVALID", "field": "limit"}
    one = gql("query($i: Int!) { customer(id: $i) { history(limit: 1) { field } } }",
              {"i": shop_id}, user=md)  # fmt: skip
    assert len(one["data"]["customer"]["history"]) == 1


def test_completeness_matches_the_domain(gql: Gql, username_of: Any, api_db: Engine) -> None:
    body = gql(
        "{ customers(first: 60) { edges { node { id completeness { nationalFilled"
        " nationalTotal provincialFilled provincialTotal ratio missing dueOn overdue } } } } }",
        user=username_of("market_dept"),
    )
    assert "errors" not in body
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    calendar = default_calendar()
    incomplete = 0
    with Session(api_db) as s:
        for edge in body["data"]["customers"]["edges"]:
            row = s.get(Customer, edge["node"]["id"])
            assert row is not None
            c = customer_completeness(row, calendar=calendar, today=today)
            assert edge["node"]["completeness"] == {
                "nationalFilled": c.national_filled, "nationalTotal": c.national_total,
                "provincialFilled": c.provincial_filled, "provincialTotal": c.provincial_total,
                "ratio": pytest.approx(c.ratio), "missing": list(c.missing),
                "dueOn": c.due_on.isoformat() if c.due_on else None, "overdue": c.overdue,
            }  # fmt: skip
            incomplete += bool(c.missing)
    assert incomplete > 0


NESTED = """query($d: Int) { routes(depotId: $d) { code
  stops { customerCode deliverySequence route { code } }
  depot { name } vehicle { plate } stats { stops volume } } }"""


def test_nested_routes_issue_the_same_statements_for_few_and_many(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    user = username_of("delivery_dept")
    gql("{ __typename }", user=user)  # the token is made outside the count
    counts, sizes = [], []
    for depot_id in (2, None):
        with counted_statements(api_db) as statements:
            body = gql(NESTED, {"d": depot_id}, user=user)
        assert "errors" not in body
        routes = body["data"]["routes"]
        assert all(len(r["stops"]) == r["stats"]["stops"] for r in routes)
        sizes.append((len(routes), sum(len(r["stops"]) for r in routes)))
        counts.append(len(statements))
    assert sizes[0][0] < sizes[1][0] and sizes[1][1] == 300, sizes
    assert counts[0] == counts[1] <= 12, counts


def test_history_and_completeness_in_a_customer_list_add_no_statement_per_row(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    md = username_of("market_dept")
    query = """query($n: Int!) { customers(first: $n) { edges { node { id
      completeness { ratio missing } history(limit: 3) { field old new } } } } }"""
    gql("{ __typename }", user=md)
    counts = []
    for n in (5, 100):
        with counted_statements(api_db) as statements:
            body = gql(query, {"n": n}, user=md)
        assert "errors" not in body and len(body["data"]["customers"]["edges"]) == n
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 10, counts
