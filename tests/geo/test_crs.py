"""WGS-84 / GCJ-02 / BD-09 conversion: reference pairs, round trips, pass-through abroad."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.crs import (
    Crs,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    from_wgs84_many,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    to_wgs84_many,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

F = npt.NDArray[np.float64]
R = 6371008.8
ALL_SIX = [
    wgs84_to_gcj02,
    gcj02_to_wgs84,
    gcj02_to_bd09,
    bd09_to_gcj02,
    wgs84_to_bd09,
    bd09_to_wgs84,
]
ABROAD = [
    (139.6917, 35.6895),
    (2.3522, 48.8566),
    (0.0, 0.0),
    (-74.006, 40.7128),
    (151.2093, -33.8688),
]


def metres(lng1: F | float, lat1: F | float, lng2: F | float, lat2: F | float) -> F:
    """Haversine on the mean sphere, written here so the tests do not lean on geo.points."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lng2 - lng1) / 2) ** 2
    )
    return np.asarray(2 * R * np.arcsin(np.sqrt(h)), dtype=np.float64)


def china_grid(step: float) -> tuple[F, F]:
    """A grid over mainland China's bounding box (73.5-135 E, 18-53.5 N)."""
    lng, lat = np.meshgrid(np.arange(73.5, 135.0 + 1e-9, step), np.arange(18.0, 53.5 + 1e-9, step))
    return lng.ravel(), lat.ravel()


# -- published reference pairs ----------------------------------------------------------------


# googollee/eviltransform, python/test.py (MIT): (wgs lat, wgs lng, gcj lat, gcj lng).
EVILTRANSFORM_WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


@pytest.mark.parametrize(("wlat", "wlng", "glat", "glng"), EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform(
    wlat: float, wlng: float, glat: float, glng: float
) -> None:
    # Given a WGS-84 point from eviltransform's suite / When converted / Then its GCJ-02 pair
    lng, lat = wgs84_to_gcj02(wlng, wlat)
    assert abs(lng - glng) < 1e-9 and abs(lat - glat) < 1e-9
    # And the iterative inverse lands on the WGS-84 point to well under a millimetre
    assert metres(*gcj02_to_wgs84(glng, glat), wlng, wlat) < 1e-3


def test_tiananmen_pairs_match_wandergis_coordtransform() -> None:
    # Given 116.404, 39.915 (Tiananmen; the centre of Baidu's own API demos), with the
    # results printed in wandergis/coordtransform, test/app.js (MIT)
    # When / Then the forward formulas agree to 1e-9 degrees
    assert np.allclose(
        wgs84_to_gcj02(116.404, 39.915), (116.41024449916938, 39.91640428150164), rtol=0, atol=1e-9
    )
    assert np.allclose(
        gcj02_to_bd09(116.404, 39.915), (116.41036949371029, 39.92133699351021), rtol=0, atol=1e-9
    )
    # And their one-step inverses (bd09togcj02, gcj02towgs84) are within 0.1 m of our exact
    # ones, whose forward images give back the input within 1e-9 degrees
    gcj = bd09_to_gcj02(116.404, 39.915)
    assert metres(*gcj, 116.39762729119315, 39.90865673957631) < 0.1
    assert np.allclose(gcj02_to_bd09(*gcj), (116.404, 39.915), rtol=0, atol=1e-9)
    wgs = gcj02_to_wgs84(116.404, 39.915)
    assert metres(*wgs, 116.39775550083061, 39.91359571849836) < 0.1
    assert np.allclose(wgs84_to_gcj02(*wgs), (116.404, 39.915), rtol=0, atol=1e-9)


def test_beijing_railway_station_matches_geochina() -> None:
    # Given Beijing railway station as published (5 decimals) in caijun/geoChina's bd2gcj
    # documentation (CRAN package geoChina): GCJ-02 (39.90245, 116.42703), BD-09 (39.90851,
    # 116.43351)
    # When / Then both directions agree to the published precision
    bd = gcj02_to_bd09(116.42703, 39.90245)
    assert abs(bd[0] - 116.43351) <= 1e-5 and abs(bd[1] - 39.90851) <= 1e-5
    gcj = bd09_to_gcj02(116.43351, 39.90851)
    assert abs(gcj[0] - 116.42703) <= 1e-5 and abs(gcj[1] - 39.90245) <= 1e-5


def test_offsets_inside_china_are_in_the_known_ranges() -> None:
    # Given a 0.5-degree grid over mainland China
    lng, lat = china_grid(0.5)
    # When converted to GCJ-02 and BD-09
    gcj = metres(lng, lat, *from_wgs84_many(lng, lat, Crs.GCJ02))
    bd = metres(lng, lat, *from_wgs84_many(lng, lat, Crs.BD09))
    # Then the GCJ-02 shift is at most ~700 m and BD-09 adds hundreds of metres more
    assert gcj.min() > 0 and gcj.max() < 720
    assert bd.min() > 680 and bd.max() < 1530


# -- round trips ------------------------------------------------------------------------------


def test_dense_grid_round_trips_within_half_a_metre() -> None:
    # Given a 0.1-degree (~10 km) grid over mainland China (~220,000 points)
    lng, lat = china_grid(0.1)
    # When converted WGS->GCJ->WGS, WGS->BD->WGS, GCJ->BD->GCJ and BD->GCJ->BD
    wgs_gcj = to_wgs84_many(*from_wgs84_many(lng, lat, Crs.GCJ02), Crs.GCJ02)
    wgs_bd = to_wgs84_many(*from_wgs84_many(lng, lat, Crs.BD09), Crs.BD09)
    # Then every point comes back within 0.5 m (in fact within a millimetre)
    for back in (wgs_gcj, wgs_bd):
        err = metres(lng, lat, *back)
        assert err.max() < 0.5
        assert err.max() < 1e-3


def test_grid_round_trips_through_the_scalar_functions() -> None:
    # Given a 2-degree grid, point by point
    for lng, lat in zip(*china_grid(2.0), strict=True):
        # When / Then WGS->GCJ->WGS, BD->GCJ->BD and GCJ->WGS->GCJ come back within 0.5 m
        assert metres(*gcj02_to_wgs84(*wgs84_to_gcj02(lng, lat)), lng, lat) < 0.5
        assert metres(*gcj02_to_bd09(*bd09_to_gcj02(lng, lat)), lng, lat) < 0.5
        assert metres(*wgs84_to_gcj02(*gcj02_to_wgs84(lng, lat)), lng, lat) < 0.5


china_lng = st.floats(73.5, 135.0, allow_nan=False)
china_lat = st.floats(18.0, 53.5, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(china_lng, china_lat)
def test_round_trips_at_random_points_in_china(lng: float, lat: float) -> None:
    # Given any point in China / When converted there and back / Then within 0.5 m
    assert metres(*gcj02_to_wgs84(*wgs84_to_gcj02(lng, lat)), lng, lat) < 0.5
    assert metres(*bd09_to_wgs84(*wgs84_to_bd09(lng, lat)), lng, lat) < 0.5
    assert metres(*gcj02_to_bd09(*bd09_to_gcj02(lng, lat)), lng, lat) < 0.5
    assert metres(*bd09_to_gcj02(*gcj02_to_bd09(lng, lat)), lng, lat) < 0.5
    # And the inverse's forward image meets the iteration's tolerance
    back = wgs84_to_gcj02(*gcj02_to_wgs84(lng, lat))
    assert abs(back[0] - lng) <= 1e-9 and abs(back[1] - lat) <= 1e-9


# -- outside China ------------------------------------------------------------------------------


@pytest.mark.parametrize(("lng", "lat"), ABROAD)
def test_points_outside_china_pass_through_unchanged(lng: float, lat: float) -> None:
    # Given Tokyo, Paris, 0/0, New York or Sydney
    assert out_of_china(lng, lat)
    # When / Then every conversion returns the point exactly as it was
    for convert in ALL_SIX:
        assert convert(lng, lat) == (lng, lat)
    for crs in Crs:
        assert to_wgs84(lng, lat, crs) == (lng, lat) == from_wgs84(lng, lat, crs)


def test_out_of_china_is_the_reference_rectangle() -> None:
    # Given the rectangle 72.004-137.8347 E, 0.8293-55.8271 N / Then its edges are inside
    assert not out_of_china(72.004, 30.0) and not out_of_china(137.8347, 30.0)
    assert not out_of_china(100.0, 0.8293) and not out_of_china(100.0, 55.8271)
    assert out_of_china(72.0039, 30.0) and out_of_china(137.8348, 30.0)
    assert out_of_china(100.0, 0.8292) and out_of_china(100.0, 55.8272)
    assert not out_of_china(108.94, 34.34)


# -- vectorised -------------------------------------------------------------------------------


def test_vectorised_equals_scalar() -> None:
    # Given 400 points, some in China and some abroad, in a 2-D array
    rng = np.random.default_rng(6)
    lng = rng.uniform(60.0, 150.0, (20, 20))
    lat = rng.uniform(-5.0, 60.0, (20, 20))
    before = (lng.copy(), lat.copy())
    for crs in Crs:
        # When converted to and from WGS-84 as arrays
        to_lng, to_lat = to_wgs84_many(lng, lat, crs)
        from_lng, from_lat = from_wgs84_many(lng, lat, crs)
        # Then each element equals the scalar result, to 1e-10 degrees (~10 µm): the batch
        # iterates until its slowest point converges, so it may take one step more
        assert to_lng.shape == from_lat.shape == (20, 20) and to_lng.dtype == np.float64
        for i, j in np.ndindex(20, 20):
            scalar_to = to_wgs84(float(lng[i, j]), float(lat[i, j]), crs)
            scalar_from = from_wgs84(float(lng[i, j]), float(lat[i, j]), crs)
            assert np.allclose(scalar_to, (to_lng[i, j], to_lat[i, j]), rtol=0, atol=1e-10)
            assert np.allclose(scalar_from, (from_lng[i, j], from_lat[i, j]), rtol=0, atol=1e-10)
    # And the inputs are untouched
    assert np.array_equal(lng, before[0]) and np.array_equal(lat, before[1])


def test_vectorised_accepts_lists_and_empty_input_and_refuses_mismatched_shapes() -> None:
    # Given lists, empty arrays, and arrays of different shapes
    lngs, lats = to_wgs84_many([108.94, 2.35], [34.34, 48.85], Crs.GCJ02)
    assert (lngs[1], lats[1]) == (2.35, 48.85)
    assert (lngs[0], lats[0]) == gcj02_to_wgs84(108.94, 34.34)
    empty = from_wgs84_many(np.array([]), np.array([]), Crs.BD09)
    assert empty[0].shape == (0,) and empty[1].shape == (0,)
    with pytest.raises(ValueError, match=r"lngs and lats differ in shape: \(2,\) != \(3,\)"):
        from_wgs84_many([1.0, 2.0], [1.0, 2.0, 3.0], Crs.GCJ02)


def test_nan_comes_back_as_nan_without_looping_forever() -> None:
    # Given NaN coordinates / When converted / Then NaN comes back (no exception, no hang)
    for crs in Crs:
        assert all(math.isnan(v) for v in to_wgs84(math.nan, math.nan, crs))
        assert math.isnan(from_wgs84(math.nan, 34.0, crs)[0])


def test_crs_values_are_the_api_names() -> None:
    assert [c.value for c in Crs] == ["WGS84", "GCJ02", "BD09"]
    assert Crs("GCJ02") is Crs.GCJ02 and Crs.BD09 == "BD09"
