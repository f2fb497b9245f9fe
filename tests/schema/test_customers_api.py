"""customers / customer / me / fieldCatalogue / updateCustomer over HTTP, with real tokens:
scope, masking, filters, pagination limits, error codes, no N+1."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from domain.errors import ERROR_CODES
from domain.models import Customer, LedgerEntry, User
from schema.errors import ErrorCode
from tests.schema.conftest import Gql
from tests.support import counted_statements

NESTED = """query($n: Int!) { customers(first: $n) { totalCount edges { node {
  id customerCode phone customerManager { name } route { name stats { stops } }
  tickets { status } } } } }"""


def _cm_with_shops(api_db: Engine) -> tuple[str, int]:
    with Session(api_db) as s:
        row = s.execute(
            select(User.username, User.id)
            .join(Customer, Customer.customer_manager_id == User.id)
            .group_by(User.id)
            .order_by(User.id)
        ).first()
        assert row is not None
        return row[0], row[1]


def test_error_codes_mirror_the_domain() -> None:
    assert {c.value for c in ErrorCode} == set(ERROR_CODES)


def test_anonymous_callers_get_typename_but_no_data(gql: Gql, client: TestClient) -> None:
    assert gql("{ __typename }") == {"data": {"__typename": "Query"}}
    body = gql("{ customers { totalCount } }")
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    res = client.post(
        "/graphql", json={"query": "{ me { role } }"}, headers={"Authorization": "Bearer nope"}
    )
    assert res.status_code == 401


def test_a_customer_manager_sees_only_own_shops_by_every_path(gql: Gql, api_db: Engine) -> None:
    username, user_id = _cm_with_shops(api_db)
    with Session(api_db) as s:
        own = s.scalar(select(func.count()).where(Customer.customer_manager_id == user_id))
        other = s.scalar(select(Customer).where(Customer.customer_manager_id != user_id).limit(1))
        assert other is not None
    body = gql(
        "{ me { role scope } customers(first: 200) {"
        " totalCount edges { node { customerManagerId } } } }",
        user=username,
    )
    assert body["data"]["me"] == {"role": "customer_manager", "scope": "own"}
    assert body["data"]["customers"]["totalCount"] == own
    assert {e["node"]["customerManagerId"] for e in body["data"]["customers"]["edges"]} == {user_id}
    by_id = gql("query($i: Int!) { customer(id: $i) { id } }", {"i": other.id}, user=username)
    by_code = gql(
        "query($c: String!) { customer(code: $c) { id } }",
        {"c": other.customer_code},
        user=username,
    )
    assert by_id["data"]["customer"] is None and by_code["data"]["customer"] is None


def test_personal_fields_are_masked(gql: Gql, username_of: Any, api_db: Engine) -> None:
    body = gql(
        "{ customers(first: 5) { edges { node { id phone bankAccount idNumber } } } }",
        user=username_of("market_dept"),
    )
    with Session(api_db) as s:
        for edge in body["data"]["customers"]["edges"]:
            node, row = edge["node"], s.get(Customer, edge["node"]["id"])
            assert (
                row is not None
                and row.phone
                and node["phone"] != row.phone
                and "****" in node["phone"]
            )
            assert row.bank_account and node["bankAccount"] == "****" + row.bank_account[-4:]


def test_filters_near_bbox_within_search(gql: Gql, username_of: Any, api_db: Engine) -> None:
    md = username_of("market_dept")
    with Session(api_db) as s:
        row = s.scalar(select(Customer).order_by(Customer.id).limit(1))
        assert row is not None
        lng, lat = s.execute(
            select(func.ST_X(Customer.location), func.ST_Y(Customer.location)).where(
                Customer.id == row.id
            )
        ).one()
        within_500 = s.scalar(
            select(func.count()).where(
                func.ST_DWithin(
                    func.geography(Customer.location),
                    func.geography(func.ST_SetSRID(func.ST_MakePoint(lng, lat), 4326)),
                    500,
                )
            )
        )
    near = gql(
        "query($p: PointInput!) {"
        " customers(filter: {near: {point: $p, radiusM: 500}}) { totalCount } }",
        {"p": {"lng": lng, "lat": lat}},
        user=md,
    )
    assert near["data"]["customers"]["totalCount"] == within_500 >= 1
    box = [lng - 0.001, lat - 0.001, lng + 0.001, lat + 0.001]
    bbox = gql(
        "query($b: [Float!]) { customers(filter: {bbox: $b}) { edges { node { id } } } }",
        {"b": box},
        user=md,
    )
    assert row.id in {e["node"]["id"] for e in bbox["data"]["customers"]["edges"]}
    ring = [
        [box[0], box[1]],
        [box[2], box[1]],
        [box[2], box[3]],
        [box[0], box[3]],
        [box[0], box[1]],
    ]
    within = gql(
        "query($g: GeoJSON) { customers(filter: {within: $g}) { edges { node { id } } } }",
        {"g": {"type": "Polygon", "coordinates": [ring]}},
        user=md,
    )
    assert row.id in {e["node"]["id"] for e in within["data"]["customers"]["edges"]}
    search = gql(
        "query($q: String) { customers(filter: {search: $q}) { edges { node { id } } } }",
        {"q": row.customer_code},
        user=md,
    )
    assert [e["node"]["id"] for e in search["data"]["customers"]["edges"]] == [row.id]


def test_catalogue_filters_take_codes_or_labels_and_refuse_what_the_column_cannot_hold(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    md = username_of("market_dept")
    query = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
    with Session(api_db) as s:
        convenience = s.scalar(
            select(func.count()).where(Customer.business_format == "convenience")
        )
        rated_a = s.scalar(select(func.count()).where(Customer.credit_rating == "A"))
    # a code, its Chinese label, or the code in another case all filter the same
    for f, count in (
        ({"businessFormat": "convenience"}, convenience),
        ({"businessFormat": "便利店"}, convenience),
        ({"creditRating": "a"}, rated_a),
    ):
        assert gql(query, {"f": f}, user=md)["data"]["customers"]["totalCount"] == count, f
    # and a value the column cannot hold is a clear error on that filter field (it was a
    # 500: PostgreSQL refused the enum's text, or the small integer's range)
    for f, code, message in (
        ({"creditRating": "Z"}, "NOT_ALLOWED_VALUE", "诚信等级须为以下之一：A级 守法诚信"),
        ({"status": "停业"}, "NOT_ALLOWED_VALUE", "客户状态须为以下之一：正常、暂停经营、歇业"),
        ({"businessScale": 40000}, "OUT_OF_RANGE", "经营规模须在1到3之间"),
        ({"businessScale": 0}, "OUT_OF_RANGE", "经营规模须在1到3之间"),
        ({"businessFormat": ""}, "INVALID", "零售业态筛选值为空；不按此项筛选时请省略"),
    ):
        body = gql(query, {"f": f}, user=md)
        assert body["data"] is None, f
        (error,) = body["errors"]
        assert error["extensions"] == {"code": code, "field": next(iter(f))}
        assert error["message"].startswith(message), error


def test_bad_geojson_and_limits_are_refused(
    gql: Gql, username_of: Any, client: TestClient, token_for: Any
) -> None:
    md = username_of("market_dept")
    for geometry in (
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]},  # unclosed
        {"type": "Point", "coordinates": [0, 0], "crs": {"type": "name"}},
        {"type": "Circle", "coordinates": [0, 0]},
    ):
        body = gql(
            "query($g: GeoJSON) { customers(filter: {within: $g}) { totalCount } }",
            {"g": geometry},
            user=md,
        )
        assert body["data"] is None and "GeoJSON" in body["errors"][0]["message"]
    # a number beyond a float (Python's parser would read 1e999 as infinity) is not taken
    raw = (
        '{"query": "query($g: GeoJSON) { customers(filter: {within: $g}) { totalCount } }",'
        ' "variables": {"g": {"type": "Point", "coordinates": [1e999, 0]}}}'
    )
    res = client.post(
        "/graphql", content=raw.encode(), headers={"Authorization": f"Bearer {token_for(md)}"}
    )
    assert res.status_code == 400 and res.json()["errors"][0]["message"] == "请求体不是有效的 JSON"
    body = gql("{ customers(first: 201) { totalCount } }", user=md)
    assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "first"}


def test_pagination_walks_every_customer_once(gql: Gql, username_of: Any) -> None:
    md, seen, after = username_of("market_dept"), [], None
    while True:
        page = gql(
            "query($a: String) { customers(first: 120, after: $a) {"
            " totalCount pageInfo { hasNextPage endCursor }"
            " edges { node { id } } } }",
            {"a": after},
            user=md,
        )["data"]["customers"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == page["totalCount"] == 300


def test_update_customer_applies_proposes_and_refuses(gql: Gql, api_db: Engine) -> None:
    username, user_id = _cm_with_shops(api_db)
    with Session(api_db) as s:
        shop = s.scalar(
            select(Customer).where(Customer.customer_manager_id == user_id).order_by(Customer.id)
        )
        assert shop is not None
        shop_id, version = shop.id, shop.version
        ledger = s.scalar(select(func.count(LedgerEntry.id)))
    mutation = """mutation($i: Int!, $v: Int!, $c: [FieldChangeInput!]!) {
      updateCustomer(id: $i, version: $v, changes: $c) {
        applied customer { version contactPerson } ticket { type status }
        errors { field code message } } }"""
    stale = gql(
        mutation,
        {"i": shop_id, "v": version + 7, "c": [{"field": "contact_person", "value": "甲"}]},
        user=username,
    )["data"]["updateCustomer"]
    assert [(e["field"], e["code"]) for e in stale["errors"]] == [("version", "STALE_VERSION")]
    bad = gql(
        mutation,
        {
            "i": shop_id,
            "v": version,
            "c": [{"field": "phone", "value": "123"}, {"field": "contact_person", "value": "乙"}],
        },
        user=username,
    )["data"]["updateCustomer"]
    assert [(e["field"], e["code"]) for e in bad["errors"]] == [("phone", "INVALID_FORMAT")]
    with Session(api_db) as s:
        assert s.get(Customer, shop_id).version == version  # type: ignore[union-attr]
        assert s.scalar(select(func.count(LedgerEntry.id))) == ledger
    ok = gql(
        mutation,
        {
            "i": shop_id,
            "v": version,
            "c": [
                {"field": "contact_person", "value": "丙"},
                {"field": "phone", "value": "13700001234"},
            ],
        },
        user=username,
    )["data"]["updateCustomer"]
    assert ok["errors"] == [] and ok["applied"] == ["contact_person"]
    assert ok["customer"] == {"version": version + 1, "contactPerson": "丙"}
    assert ok["ticket"] == {"type": "phone_change", "status": "open"}


def test_nested_customers_issue_the_same_statements_for_10_and_100(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    md = username_of("market_dept")
    gql("{ __typename }", user=md)  # the token is checked (and then cached for a few seconds)
    counts = []
    for n in (10, 100):
        with counted_statements(api_db) as statements:
            body = gql(NESTED, {"n": n}, user=md)
        assert "errors" not in body and len(body["data"]["customers"]["edges"]) == n
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 12, counts


def test_transport_refusals(client: TestClient) -> None:
    assert client.post("/graphql", content=b"{not json").status_code == 400
    batch = client.post("/graphql", json=[{"query": "{ __typename }"}] * 2)
    assert batch.status_code == 400 and "批量" in batch.json()["errors"][0]["message"]
    huge = client.post("/graphql", json={"query": "{ __typename }" + " " * 200_000})
    assert huge.status_code == 413


def test_the_total_is_counted_only_when_asked_for(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    md = username_of("market_dept")
    gql("{ __typename }", user=md)
    with_total = (
        "{ customers(first: 5) { totalCount pageInfo { hasNextPage } edges { node { id } } } }"
    )
    without = (
        "{ customers(first: 5) { ...Page } }"
        " fragment Page on CustomerConnection { pageInfo { hasNextPage } }"
    )
    with counted_statements(api_db) as a:
        body = gql(with_total, user=md)
    with counted_statements(api_db) as b:
        assert gql(without, user=md)["data"]["customers"]["pageInfo"]["hasNextPage"] is True
    assert body["data"]["customers"]["totalCount"] == 300 and len(b) == len(a) - 1
    # the last page knows it is the last without counting
    last = gql(
        '{ customers(first: 200, after: "'
        + _cursor(199)
        + '") { pageInfo { hasNextPage } edges { node { id } } } }',
        user=md,
    )
    assert last["data"]["customers"]["pageInfo"]["hasNextPage"] is False
    assert len(last["data"]["customers"]["edges"]) == 100


def _cursor(offset: int) -> str:
    from schema.pagination import encode_cursor

    return encode_cursor(offset)


def test_near_a_gcj02_point_searches_around_the_point_it_means(
    gql: Gql, username_of: Any, api_db: Engine
) -> None:
    # given a shop and its location as a GCJ-02 map (Amap, Tencent) shows it, some 500 m
    # from the WGS-84 numbers
    from geo.crs import wgs84_to_gcj02

    with Session(api_db) as s:
        cid, lng, lat = s.execute(
            select(Customer.id, func.ST_X(Customer.location), func.ST_Y(Customer.location))
            .where(Customer.location.is_not(None))
            .order_by(Customer.id)
            .limit(1)
        ).one()
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)
    # when searching 30 m around that GCJ-02 point
    found = gql(
        "query($p: PointInput!) { customers(filter: {near: {point: $p, radiusM: 30}}) {"
        " edges { node { id } } } }",
        {"p": {"lng": g_lng, "lat": g_lat, "crs": "GCJ02"}},
        user=username_of("market_dept"),
    )
    # then the shop is found (the index's box is drawn around the converted point)
    assert cid in {e["node"]["id"] for e in found["data"]["customers"]["edges"]}
