"""Checks of an input point: refusals with their reasons, conversion, CRS mix-up warning."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geo.crs import Crs, bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from geo.points import (
    EARTH_RADIUS_M,
    CheckedPoint,
    PointError,
    check_point,
    haversine_m,
    likely_crs_mixup,
)

XIAN = (108.94, 34.34)
BEIJING = (116.3975, 39.9087)
URUMQI = (87.6168, 43.8256)
HAIKOU = (110.3312, 20.0311)
PLACES = [XIAN, BEIJING, URUMQI, HAIKOU]
PLACE_IDS = ["xian", "beijing", "urumqi", "haikou"]


def moved(point: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    """``point`` moved by metres east and north (small moves, spherical Earth)."""
    lng, lat = point
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlng = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lng + dlng, lat + dlat


def refused(lng: float, lat: float, crs: Crs = Crs.WGS84) -> PointError:
    with pytest.raises(PointError) as caught:
        check_point(lng, lat, crs)
    return caught.value


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lng", "lat"),
    [(math.nan, 34.34), (108.94, math.nan), (math.inf, 34.34), (108.94, -math.inf)],
)
def test_non_finite_coordinates_are_refused(lng: float, lat: float) -> None:
    # Given a NaN or infinite coordinate / When checked / Then refused as not_finite
    error = refused(lng, lat)
    assert error.reason == "not_finite"
    assert error.message == f"coordinates must be finite numbers: lng={lng}, lat={lat}"
    assert str(error) == error.message and isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("lng", "lat"), [(180.5, 34.0), (-181.0, 0.0), (108.94, 90.01), (0.0, -95.0), (500.0, 500.0)]
)
def test_coordinates_beyond_the_globe_are_refused(lng: float, lat: float) -> None:
    # Given |lng| > 180 or |lat| > 90 (and not a swapped Chinese pair)
    # When checked in any system / Then refused as out_of_range
    for crs in Crs:
        error = refused(lng, lat, crs)
        assert error.reason == "out_of_range"
    assert refused(180.5, 34.0).message == (
        "longitude must be within ±180 and latitude within ±90: lng=180.5, lat=34"
    )


def test_swapped_pair_is_refused_with_the_probable_meaning() -> None:
    # Given Xi'an sent as (lng=34.34, lat=108.94): out of range, but obviously swapped
    error = refused(34.34, 108.94)
    # Then the reason is swapped, and the message says what was probably meant
    assert error.reason == "swapped"
    assert error.message == (
        "longitude and latitude look swapped: did you mean lng=108.94, lat=34.34?"
    )


@pytest.mark.parametrize(("lng", "lat"), PLACES, ids=PLACE_IDS)
def test_swapped_pairs_anywhere_in_china_are_refused_as_swapped(lng: float, lat: float) -> None:
    # Given a Chinese city with its coordinates swapped, in any system
    for crs in Crs:
        error = refused(lat, lng, crs)
        # Then it is refused as swapped, with the intended pair in the message
        assert error.reason == "swapped"
        assert f"did you mean lng={lng:.10g}, lat={lat:.10g}?" in error.message


def test_swapped_pair_within_range_is_still_refused() -> None:
    # Given (lng=34, lat=80): in range, but (lat, lng) = (80, 34) lies in China's box
    # Then swapped (a shop of a Chinese city cannot be at 80 N 34 E)
    assert refused(34.0, 80.0).reason == "swapped"


# -- accepted points --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lng", "lat"),
    [
        *PLACES,
        (73.5, 39.5),
        (135.0, 48.4),
        (139.6917, 35.6895),  # Tokyo
        (2.3522, 48.8566),  # Paris
        (0.0, 0.0),
        (180.0, 90.0),
        (-180.0, -90.0),
        (20.0, 60.0),  # lng in China's latitude range, lat not in its longitude range
    ],
)
def test_good_points_pass_and_keep_their_raw_values(lng: float, lat: float) -> None:
    # Given a well-formed point in WGS-84 / When checked / Then unchanged, raw kept
    assert check_point(lng, lat) == CheckedPoint(lng, lat, lng, lat, Crs.WGS84)


@pytest.mark.parametrize(("lng", "lat"), PLACES, ids=PLACE_IDS)
def test_good_points_are_converted_to_wgs84(lng: float, lat: float) -> None:
    # Given a point sent in GCJ-02 or BD-09 / When checked
    gcj = check_point(lng, lat, Crs.GCJ02)
    bd = check_point(lng, lat, Crs.BD09)
    # Then lng/lat are WGS-84, and the raw values and the declared system are kept
    assert (gcj.lng, gcj.lat) == gcj02_to_wgs84(lng, lat)
    assert (bd.lng, bd.lat) == bd09_to_wgs84(lng, lat)
    assert (gcj.raw_lng, gcj.raw_lat, gcj.crs) == (lng, lat, Crs.GCJ02)
    assert (bd.raw_lng, bd.raw_lat, bd.crs) == (lng, lat, Crs.BD09)
    assert 100 < haversine_m(lng, lat, gcj.lng, gcj.lat) < 700


def test_checked_point_is_frozen() -> None:
    point = check_point(*XIAN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.lng = 0.0  # type: ignore[misc]
    assert point.lng == XIAN[0]


@settings(max_examples=300, deadline=None)
@given(st.floats(-180.0, 180.0), st.floats(-90.0, 90.0))
def test_every_in_range_pair_passes_unless_it_is_a_swapped_chinese_pair(
    lng: float, lat: float
) -> None:
    # Given any finite in-range pair that is not a Chinese (lat, lng)
    assume(not (18.0 <= lng <= 54.0 and 73.0 <= lat <= 136.0))
    # When checked / Then it passes unchanged
    assert check_point(lng, lat) == CheckedPoint(lng, lat, lng, lat, Crs.WGS84)


@settings(max_examples=200, deadline=None)
@given(st.floats(73.0, 136.0), st.floats(18.0, 54.0))
def test_every_chinese_pair_passes_and_its_swap_is_refused(lng: float, lat: float) -> None:
    # Given any point in China's box / Then it passes, and swapped it is refused as swapped
    assert check_point(lng, lat).lng == lng
    assert refused(lat, lng).reason == "swapped"


# -- likely coordinate-system mix-up ----------------------------------------------------------


@pytest.mark.parametrize("current", PLACES, ids=PLACE_IDS)
def test_gcj02_sent_as_wgs84_is_flagged(current: tuple[float, float]) -> None:
    # Given a shop at ``current`` and an AMap (GCJ-02) reading of the same place, with 10 m of
    # GPS noise, sent labelled WGS-84
    proposed = check_point(*moved(wgs84_to_gcj02(*current), 6.0, -8.0), Crs.WGS84)
    # When checked for a mix-up / Then the client most likely used GCJ-02
    assert likely_crs_mixup(current, proposed) is Crs.GCJ02


@pytest.mark.parametrize("current", PLACES, ids=PLACE_IDS)
def test_bd09_sent_as_wgs84_is_flagged(current: tuple[float, float]) -> None:
    # Given a Baidu (BD-09) reading of the shop's place sent labelled WGS-84
    proposed = check_point(*wgs84_to_bd09(*current), Crs.WGS84)
    # Then the client most likely used BD-09
    assert likely_crs_mixup(current, proposed) is Crs.BD09


@pytest.mark.parametrize("current", PLACES, ids=PLACE_IDS)
def test_wgs84_sent_as_gcj02_is_flagged(current: tuple[float, float]) -> None:
    # Given the reverse: a GPS (WGS-84) reading of the shop's place sent labelled GCJ-02,
    # so the system converts it once too often
    proposed = check_point(*current, Crs.GCJ02)
    assert haversine_m(*current, proposed.lng, proposed.lat) > 200
    # Then the client most likely used WGS-84
    assert likely_crs_mixup(current, proposed) is Crs.WGS84


def test_gcj02_sent_as_bd09_is_flagged() -> None:
    # Given an AMap (GCJ-02) reading sent labelled BD-09 / Then GCJ-02 is the likely system
    proposed = check_point(*wgs84_to_gcj02(*XIAN), Crs.BD09)
    assert likely_crs_mixup(XIAN, proposed) is Crs.GCJ02


@pytest.mark.parametrize("current", PLACES, ids=PLACE_IDS)
@pytest.mark.parametrize(
    ("east_m", "north_m"),
    [(0.0, 100.0), (-100.0, 0.0), (0.0, -1000.0), (-1000.0, 0.0), (700.0, 700.0), (-400, -300)],
)
def test_genuine_moves_are_not_flagged(
    current: tuple[float, float], east_m: float, north_m: float
) -> None:
    # Given a real move of 100 m to 1 km in a direction other than the offsets', sent in any
    # system correctly labelled
    target = moved(current, east_m, north_m)
    sent = {Crs.WGS84: target, Crs.GCJ02: wgs84_to_gcj02(*target), Crs.BD09: wgs84_to_bd09(*target)}
    for crs, raw in sent.items():
        proposed = check_point(*raw, crs)
        assert haversine_m(*target, proposed.lng, proposed.lat) < 0.01
        # Then no mix-up is suspected
        assert likely_crs_mixup(current, proposed) is None


def test_offset_sized_move_in_the_opposite_direction_is_not_flagged() -> None:
    # Given a move as long as the GCJ-02 offset at Xi'an (~461 m) but westwards
    gcj = wgs84_to_gcj02(*XIAN)
    mirrored = (2 * XIAN[0] - gcj[0], 2 * XIAN[1] - gcj[1])
    proposed = check_point(*mirrored)
    assert 400 < haversine_m(*XIAN, proposed.lng, proposed.lat) < 520
    # Then it is a move, not a mix-up
    assert likely_crs_mixup(XIAN, proposed) is None


def test_short_moves_no_current_point_and_abroad_are_not_flagged() -> None:
    # Given a 50 m move (below 2 x 30 m), a shop with no point yet, and a shop in Tokyo
    assert likely_crs_mixup(XIAN, check_point(*moved(XIAN, 50.0, 0.0))) is None
    assert likely_crs_mixup(None, check_point(*wgs84_to_gcj02(*XIAN))) is None
    tokyo = (139.6917, 35.6895)
    assert likely_crs_mixup(tokyo, check_point(*moved(tokyo, 400.0, 0.0), Crs.GCJ02)) is None


def test_tolerance_decides_how_close_the_offset_must_match() -> None:
    # Given a GCJ-02 reading 50 m off the exact offset
    proposed = check_point(*moved(wgs84_to_gcj02(*XIAN), 0.0, 50.0))
    # When / Then flagged with a 60 m tolerance, not with the default 30 m
    assert likely_crs_mixup(XIAN, proposed) is None
    assert likely_crs_mixup(XIAN, proposed, tolerance_m=60.0) is Crs.GCJ02
    with pytest.raises(ValueError, match=r"^tolerance_m must be positive, not 0\.0$"):
        likely_crs_mixup(XIAN, proposed, tolerance_m=0.0)


# -- haversine --------------------------------------------------------------------------------


def test_haversine_known_distances() -> None:
    # Given one degree along a meridian and along the equator, and antipodes
    one_degree = EARTH_RADIUS_M * math.pi / 180  # 111195.08 m
    assert haversine_m(108.94, 34.0, 108.94, 35.0) == pytest.approx(one_degree, abs=1e-6)
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(one_degree, abs=1e-6)
    assert haversine_m(0.0, 0.0, 180.0, 0.0) == pytest.approx(math.pi * EARTH_RADIUS_M, abs=1e-6)
    assert haversine_m(*XIAN, *XIAN) == 0.0
    assert haversine_m(*XIAN, *BEIJING) == haversine_m(*BEIJING, *XIAN)
    assert round(one_degree, 2) == 111195.08
