# ruff: noqa: UP031  (GraphQL documents read better with %-formatting than with {{ }})
"""Geo input through the API: every point input (proposeLocation, updateCustomer's
location, onboardCustomer, the `near` filter) and the GeoJSON `within` filter refuse
non-finite, out-of-range and swapped coordinates, points outside the service area,
bow-tie polygons, open rings, a `crs` member and oversized geometries, with a typed error,
and nothing is stored."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.fuzz.conftest import City
from tests.fuzz.support import check_answer

PAYLOAD = "errors { field code message }"
GEO = settings(max_examples=25, derandomize=True, database=None, deadline=None,
               suppress_health_check=list(HealthCheck))  # fmt: skip
RANGE = "地理位置(经纬度)的经度须在-180到180之间、纬度须在-90到90之间"
OUTSIDE = "地理位置(经纬度)不在公司服务区域内"
XIAN = (108.94, 34.26)


def _shop(city: City) -> dict[str, Any]:
    """A shop of the first customer manager, with its version, location and manager."""
    with city.engine.connect() as c:
        row = c.execute(text(
            "SELECT c.id, c.version, ST_AsText(c.location) AS loc, c.customer_manager_id AS mgr"
            " FROM customers c JOIN users u ON u.id = c.customer_manager_id"
            " WHERE u.role = 'customer_manager' ORDER BY u.id, c.id LIMIT 1"
        )).mappings().one()  # fmt: skip
    return dict(row)


def _state(city: City, customer_id: int) -> dict[str, Any]:
    tables = ("customers", "tickets", "ticket_changes", "ledger_entries")
    with city.engine.connect() as c:
        state: dict[str, Any] = {t: c.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables}
        state["location"] = c.scalar(
            text("SELECT ST_AsText(location) || version FROM customers WHERE id = :i"),
            {"i": customer_id},
        )
    return state


def _calls(
    shop: dict[str, Any], value: dict[str, Any]
) -> list[tuple[str, str, dict[str, Any], str]]:
    """(name, query, variables, role) of each mutation that takes a point."""
    onboard = (
        'customerCode: "610100999001", shopName: "新店", licenceNo: "610100999001",'
        ' licenceIssuedOn: "2026-10-01", licenceExpiresOn: "2031-09-30",'
        f' responsiblePerson: "王五", address: "西安市", customerManagerId: {shop["mgr"]}'
    )
    update = (f'updateCustomer(id: {shop["id"]}, version: {shop["version"]}, changes: '
              '[{field: "location", value: $v}])')  # fmt: skip
    return [
        ("proposeLocation", "mutation($v: PointInput!) { proposeLocation(customerId: %d,"
         " point: $v) { ticket { id } %s } }" % (shop["id"], PAYLOAD), value, "customer_manager"),
        ("updateCustomer", f"mutation($v: JSON) {{ {update} {{ applied ticket {{ id }} {PAYLOAD}"
         " } }", value, "customer_manager"),
        ("updateCustomer", f"mutation($v: JSON) {{ {update} {{ applied ticket {{ id }} {PAYLOAD}"
         " } }", {"type": "Point", "coordinates": [value["lng"], value["lat"]]},
         "customer_manager"),
        ("onboardCustomer", f"mutation($v: PointInput!) {{ onboardCustomer(input: {{{onboard},"
         f" location: $v}}) {{ customer {{ id }} {PAYLOAD} }} }}", value, "licensing"),
    ]  # fmt: skip


FIELD = {"proposeLocation": "point", "updateCustomer": "location", "onboardCustomer": "location"}


def _refused(city: City, shop: dict[str, Any], value: dict[str, Any]) -> list[dict[str, Any]]:
    """Each point mutation's answer for ``value``; nothing stored by any of them."""
    before = _state(city, shop["id"])
    answers = []
    for name, query, variables, role in _calls(shop, value):
        body = check_answer(city.post({"query": query, "variables": {"v": variables}}, role))
        answers.append({"name": name, **body})
    assert _state(city, shop["id"]) == before
    return answers


def _payload_errors(answers: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(a["name"], a["data"][a["name"]]["errors"]) for a in answers]


def _near(city: City, lng: Any, lat: Any) -> dict[str, Any]:
    q = "query($p: PointInput!) { customers(filter: {near: {point: $p, radiusM: 500}})" \
        " { totalCount } }"  # fmt: skip
    return check_answer(city.post({"query": q, "variables": {"p": {"lng": lng, "lat": lat}}},
                                  "county_dept"))  # fmt: skip


# --- points -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_coordinates_as_strings(private_city: City, bad: str) -> None:
    shop = _shop(private_city)
    for lng, lat in ((bad, 34.26), (108.94, bad)):
        answers = _refused(private_city, shop, {"lng": lng, "lat": lat})
        axis = "lng" if lng == bad else "lat"
        # a PointInput refuses it as a Float; the JSON location value as not a number
        float_error = (f"Variable '$v' has invalid value at .{axis}: Float cannot represent"
                       f" non numeric value: '{bad}'")  # fmt: skip
        for a in answers:
            if a["name"] == "updateCustomer":
                assert a["data"]["updateCustomer"]["errors"] == [
                    {
                        "field": "location",
                        "code": "INVALID_FORMAT",
                        "message": "地理位置(经纬度)须为数字",
                    }
                ]
            else:
                assert a["data"] is None and [e["message"] for e in a["errors"]] == [float_error]
        assert [e["message"] for e in _near(private_city, lng, lat)["errors"]] == [
            float_error.replace("'$v' has invalid value at .", "'$p' has invalid value at .")
        ]


@pytest.mark.parametrize("bad", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_in_the_body_are_not_json(private_city: City, bad: bytes) -> None:
    # given NaN/Infinity as bare JSON numbers (Python writes them; JSON has none)
    shop = _shop(private_city)
    before = _state(private_city, shop["id"])
    for _, query, _, role in _calls(shop, {"lng": 0, "lat": 0}):
        body = (b'{"query": ' + json.dumps(query).encode() + b', "variables": {"v": {"lng": '
                + bad + b', "lat": 34.26}}}')  # fmt: skip
        res = private_city.post(body, role, raw=True)
        # then the body is refused as a whole, and nothing is stored
        assert res.status_code == 400
        assert check_answer(res)["errors"][0]["message"] == "请求体不是有效的 JSON"
    assert _state(private_city, shop["id"]) == before


@st.composite
def out_of_range(draw: st.DrawFn) -> tuple[float, float]:
    lng = draw(st.floats(-1e300, 1e300, allow_nan=False))
    lat = draw(st.floats(-1e300, 1e300, allow_nan=False))
    if abs(lng) <= 180 and abs(lat) <= 90:
        lat = draw(st.sampled_from([90.000001, -90.5, 1e9]))
    # a pair that looks swapped for China is reported as swapped (same code, with a hint)
    return lng, lat


def test_out_of_range_coordinates(private_city: City) -> None:
    shop = _shop(private_city)

    @GEO
    @given(point=out_of_range())
    def check(point: tuple[float, float]) -> None:
        answers = _refused(private_city, shop, {"lng": point[0], "lat": point[1]})
        for name, errors in _payload_errors(answers):
            assert [(e["field"], e["code"]) for e in errors] == [(FIELD[name], "OUT_OF_RANGE")]
            assert errors[0]["message"].startswith(RANGE)
        near = _near(private_city, *point)
        assert near["errors"][0]["extensions"] == {"code": "OUT_OF_RANGE", "field": "near.point"}

    check()


def test_swapped_coordinates(private_city: City) -> None:
    shop = _shop(private_city)

    @GEO
    @given(lng=st.floats(107.7, 109.8), lat=st.floats(33.7, 34.7))
    def check(lng: float, lat: float) -> None:
        # given a point of the city sent latitude first
        answers = _refused(private_city, shop, {"lng": lat, "lat": lng})
        hint = f"（经纬度是否颠倒？应先经度后纬度：经度 {lng:g}，纬度 {lat:g}）"
        for name, errors in _payload_errors(answers):
            assert errors == [{"field": FIELD[name], "code": "OUT_OF_RANGE",
                               "message": RANGE + hint}]  # fmt: skip
        near = _near(private_city, lat, lng)
        assert near["errors"] == [{
            "message": "经纬度是否颠倒？应先经度后纬度", "path": ["customers"],
            "extensions": {"code": "OUT_OF_RANGE", "field": "near.point"},
        }]  # fmt: skip

    check()


def test_points_outside_the_service_area(private_city: City) -> None:
    shop = _shop(private_city)

    @GEO
    @given(
        point=st.one_of(
            st.tuples(st.floats(73, 107), st.floats(18, 54)),  # the rest of China (west)
            st.tuples(st.floats(111, 136), st.floats(18, 54)),  # (east)
            st.tuples(st.floats(-180, 72), st.floats(-90, 17)),  # the rest of the world
        )
    )
    def check(point: tuple[float, float]) -> None:
        answers = _refused(private_city, shop, {"lng": point[0], "lat": point[1]})
        for name, errors in _payload_errors(answers):
            assert errors == [{"field": FIELD[name], "code": "OUTSIDE_SERVICE_AREA",
                               "message": OUTSIDE}]  # fmt: skip

    check()


def test_a_point_of_the_city_is_accepted(private_city: City) -> None:
    # the control: the same calls with a good point do go through
    shop = _shop(private_city)
    _name, query, variables, role = _calls(shop, {"lng": 108.9, "lat": 34.25})[0]
    body = check_answer(private_city.post({"query": query, "variables": {"v": variables}}, role))
    assert body["data"]["proposeLocation"]["errors"] == []
    assert body["data"]["proposeLocation"]["ticket"]["id"] > 0


# --- GeoJSON `within` ---------------------------------------------------------------------

WITHIN = "query($v: GeoJSON) { customers(filter: {within: $v}) { totalCount } }"


def _within(city: City, geometry: Any) -> list[str]:
    body = check_answer(city.post({"query": WITHIN, "variables": {"v": geometry}}, "county_dept"))
    assert body.get("data") is None
    return [e["message"] for e in body["errors"]]


def _scalar_error(reason: str) -> str:
    """graphql-core's message for a GeoJSON variable that the scalar refuses (up to the
    value it quotes)."""
    return (f"Variable '$v' has invalid value: Expected value of type 'GeoJSON', but"
            f" encountered error '{reason}'; found: ")  # fmt: skip


def test_a_valid_polygon_is_accepted(city: City) -> None:
    square = {"type": "Polygon", "coordinates": [[[108.9, 34.2], [109.0, 34.2], [109.0, 34.3],
                                                  [108.9, 34.3], [108.9, 34.2]]]}  # fmt: skip
    body = check_answer(city.post({"query": WITHIN, "variables": {"v": square}}, "county_dept"))
    assert "errors" not in body and body["data"]["customers"]["totalCount"] > 0


@st.composite
def bow_ties(draw: st.DrawFn) -> dict[str, Any]:
    x0, y0 = draw(st.floats(107.8, 109.5)), draw(st.floats(33.8, 34.5))
    w, h = draw(st.floats(0.001, 0.5)), draw(st.floats(0.001, 0.5))
    ring = [[x0, y0], [x0 + w, y0 + h], [x0 + w, y0], [x0, y0 + h], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_self_intersecting_polygons_are_refused(city: City) -> None:
    @GEO
    @given(polygon=bow_ties(), multi=st.booleans())
    def check(polygon: dict[str, Any], multi: bool) -> None:
        if multi:
            polygon = {"type": "MultiPolygon", "coordinates": [polygon["coordinates"]]}
        (message,) = _within(city, polygon)
        prefix = _scalar_error("polygon is not valid: self-intersection[")[: -len("'; found: ")]
        assert message.startswith(prefix), message
        assert re.match(r"[-0-9.e]+ [-0-9.e]+\]'; found: ", message[len(prefix) :]), message

    check()


def test_unclosed_rings_are_refused(city: City) -> None:
    @GEO
    @given(ring=st.lists(st.tuples(st.floats(108, 109.5), st.floats(33.8, 34.6)).map(list),
                         min_size=3, max_size=12, unique_by=tuple))  # fmt: skip
    def check(ring: list[list[float]]) -> None:
        (message,) = _within(city, {"type": "Polygon", "coordinates": [ring]})
        reason = "polygon rings must be closed and have at least 4 positions"
        assert message.startswith(_scalar_error(reason))

    check()


def test_a_crs_member_is_refused(city: City) -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}
    for geometry in (
        {"type": "Point", "coordinates": list(XIAN), "crs": crs},
        {"type": "Polygon", "crs": crs, "coordinates": [[[108.9, 34.2], [109.0, 34.2],
                                                          [109.0, 34.3], [108.9, 34.2]]]},
    ):  # fmt: skip
        (message,) = _within(city, geometry)
        reason = "RFC 7946 GeoJSON has no `crs` member: coordinates are WGS-84"
        assert message.startswith(_scalar_error(reason))


@pytest.mark.parametrize("bad", ["NaN", "Infinity", 1e300, 200.0, [1.0], "108.9", None, True])
def test_bad_positions_in_geojson_are_refused(city: City, bad: Any) -> None:
    ring = [[108.9, 34.2], [109.0, 34.2], [bad, 34.3], [108.9, 34.2]]
    (message,) = _within(city, {"type": "Polygon", "coordinates": [ring]})
    in_range = "longitude must be within ±180 and latitude within ±90"
    reason = in_range if bad in (200.0, 1e300) and not isinstance(bad, bool) else ""
    assert message.startswith(_scalar_error(reason or "coordinates must be numbers")), message


@pytest.mark.parametrize("position", [[], [108.9], [108.9, 34.2, 0.0, 1.0], "108.9,34.2"])
def test_positions_of_the_wrong_shape_are_refused(city: City, position: Any) -> None:
    (message,) = _within(city, {"type": "Point", "coordinates": position})
    assert message.startswith(_scalar_error("a position is [longitude, latitude]")), message


def test_oversized_geometries_are_refused(city: City) -> None:
    # given more positions than the scalar takes, within the body limit (short numbers)
    ring = [[1, 1]] * 10_001
    (message,) = _within(city, {"type": "LineString", "coordinates": ring})
    assert message.startswith(_scalar_error("geometry has more than 10000 positions"))
    # and a body above 100 KB is refused before it is read as GraphQL
    big = [[108.123456789 + i * 1e-7, 34.123456789] for i in range(5000)]
    big.append(big[0])
    res = city.post({"query": WITHIN, "variables": {"v": {"type": "Polygon",
                                                            "coordinates": [big]}}},
                    "county_dept")  # fmt: skip
    assert res.status_code == 413 and check_answer(res)["errors"][0]["message"] == (
        "请求体超过 100000 字节"
    )


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        # a GeoJSON literal in the document (not a variable) was an INTERNAL error
        (
            '{type: "Point", coordinates: [-2.6e-58, 91.0]}',
            "longitude must be within ±180 and latitude within ±90",
        ),
        (
            '{type: "Point", coordinates: [108.9, 34.2], crs: {type: "name"}}',
            "RFC 7946 GeoJSON has no `crs` member: coordinates are WGS-84",
        ),
        (
            '{type: "Polygon", coordinates: [[[108.9, 34.2], [109.0, 34.3], [109.0, 34.2],'
            " [108.9, 34.3], [108.9, 34.2]]]}",
            "polygon is not valid: self-intersection[108.95 34.25]",
        ),
        ('{type: "Circle", coordinates: [108.9, 34.2]}', "unsupported geometry type 'Circle'"),
    ],
)
def test_geojson_literals_are_refused_like_variables(city: City, literal: str, reason: str) -> None:
    query = "{ customers(filter: {within: %s}) { totalCount } }" % literal
    body = check_answer(city.post({"query": query}, "county_dept"), query)
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [
        f"Expected value of type 'GeoJSON', but encountered error '{reason}'"
    ]
