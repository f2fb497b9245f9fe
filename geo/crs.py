"""WGS-84, GCJ-02 and BD-09: the three coordinate systems Chinese field apps send.

The store is WGS-84 (SRID 4326). GPS receivers give WGS-84; AMap and Tencent use GCJ-02
(WGS-84 plus a deliberate offset of 100-700 m); Baidu uses BD-09 (GCJ-02 plus a second
offset). Points are converted to WGS-84 on input and from it for display.

Why our own implementation rather than a PyPI package: the formulas are short, public and
the same in every implementation (Krasovsky ellipsoid a = 6378245.0, ee =
0.00669342162296594323; BD-09 with x_pi = pi * 3000 / 180), but none of the candidates on
the index fits. ``coordtransform`` inverts GCJ-02 in one step (metre-level error, over the
0.5 m target) and tests a narrower China box (73.66-135.05 E, 3.86-53.55 N) than the
reference implementations; ``prcoords`` (2019), ``eviltransform`` (2018) and
``coord-convert`` (2019) are unmaintained, scalar only, take (lat, lng) and iterate to about
1e-5 or 1e-6 degrees at best (``prcoords`` also warns on every point outside China). We need
numpy vectorisation for thousands of shops anyway, so one numpy implementation serves both
the scalar and the vectorised functions.

GCJ-02 and BD-09 have no closed-form inverse: ``gcj02_to_wgs84`` and ``bd09_to_gcj02``
iterate ``x <- x - (forward(x) - target)`` until the forward image matches the input within
``INVERSE_TOLERANCE_DEG`` (1e-9 degrees, about 0.1 mm), at most ``MAX_ITERATIONS`` times.
The forward offsets change by well under 1 % of themselves per degree, so each step gains
about two digits and three to five steps suffice.

Outside the rectangle of ``out_of_china`` every conversion passes points through unchanged,
as the reference implementations do (Baidu and AMap serve WGS-84 abroad). Each step tests
its own input, so a point within ~700 m of the rectangle's edge (open sea or far-off
deserts, nowhere near a shop) may be shifted by one direction and not the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Transform = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]


class Crs(StrEnum):
    """A coordinate system a client may send points in."""

    WGS84 = "WGS84"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


# The rectangle the reference implementations (eviltransform, prcoords, ...) call "China".
CHINA_MIN_LNG = 72.004
CHINA_MAX_LNG = 137.8347
CHINA_MIN_LAT = 0.8293
CHINA_MAX_LAT = 55.8271

# Krasovsky 1940 ellipsoid, as GCJ-02 uses it.
_A = 6378245.0
_EE = 0.00669342162296594323
# BD-09's rotation/scale factor and its fixed shift.
_X_PI = math.pi * 3000.0 / 180.0
_BD_DLNG = 0.0065
_BD_DLAT = 0.006

INVERSE_TOLERANCE_DEG = 1e-9
MAX_ITERATIONS = 30


def out_of_china(lng: float, lat: float) -> bool:
    """True outside the rectangle where GCJ-02/BD-09 offsets apply (the de-facto standard)."""
    return not (CHINA_MIN_LNG <= lng <= CHINA_MAX_LNG and CHINA_MIN_LAT <= lat <= CHINA_MAX_LAT)


def _outside(lng: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    """Vectorised ``out_of_china``; NaN counts as inside, so it stays NaN through the maths."""
    return (
        (lng < CHINA_MIN_LNG)
        | (lng > CHINA_MAX_LNG)
        | (lat < CHINA_MIN_LAT)
        | (lat > CHINA_MAX_LAT)
    )


def _offset_m(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02's published distortion in metres (east, north) at x = lng - 105, y = lat - 35."""
    shared = 20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)
    east = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    east += shared * 2.0 / 3.0
    east += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    east += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    north = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    north += shared * 2.0 / 3.0
    north += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    north += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return east, north


def _wgs_to_gcj_raw(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 forward formula without the rectangle test (the inverse iterates on it)."""
    east, north = _offset_m(lng - 105.0, lat - 35.0)
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (north * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (east * 180.0) / (_A / sqrt_magic * np.cos(rad) * math.pi)
    return lng + dlng, lat + dlat


def _gcj_to_bd_raw(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The BD-09 forward formula (Baidu's perturbed polar coordinates, then a shift)."""
    z = np.hypot(lng, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lng) + 0.000003 * np.cos(lng * _X_PI)
    return z * np.cos(theta) + _BD_DLNG, z * np.sin(theta) + _BD_DLAT


def _bd_to_gcj_guess(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The usual one-step BD-09 inverse (up to ~1 m off): the start of the iteration."""
    x = lng - _BD_DLNG
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Transform, lng: FloatArray, lat: FloatArray, guess: tuple[FloatArray, FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """Fixed-point inverse: step until forward(x) matches the target within the tolerance.

    NaN residuals count as converged (``not >``), so NaN input cannot keep the loop going.
    """
    x, y = guess
    for _ in range(MAX_ITERATIONS):
        fx, fy = forward(x, y)
        rx, ry = fx - lng, fy - lat
        x, y = x - rx, y - ry
        if not (
            np.any(np.abs(rx) > INVERSE_TOLERANCE_DEG) or np.any(np.abs(ry) > INVERSE_TOLERANCE_DEG)
        ):
            break
    return x, y


def _inside_only(transform: Transform) -> Transform:
    """Apply ``transform`` to the points inside the rectangle, pass the others through."""

    def apply(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        out_lng, out_lat = lng.copy(), lat.copy()
        inside = ~_outside(lng, lat)
        if np.any(inside):
            out_lng[inside], out_lat[inside] = transform(lng[inside], lat[inside])
        return out_lng, out_lat

    return apply


def _gcj_to_wgs_raw(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _invert(_wgs_to_gcj_raw, lng, lat, (lng, lat))


def _bd_to_gcj_raw(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _invert(_gcj_to_bd_raw, lng, lat, _bd_to_gcj_guess(lng, lat))


_wgs_to_gcj = _inside_only(_wgs_to_gcj_raw)
_gcj_to_wgs = _inside_only(_gcj_to_wgs_raw)
_gcj_to_bd = _inside_only(_gcj_to_bd_raw)
_bd_to_gcj = _inside_only(_bd_to_gcj_raw)


def _wgs_to_bd(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj_to_bd(*_wgs_to_gcj(lng, lat))


def _bd_to_wgs(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _gcj_to_wgs(*_bd_to_gcj(lng, lat))


def _identity(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return lng.copy(), lat.copy()


_TO_WGS84: dict[Crs, Transform] = {
    Crs.WGS84: _identity,
    Crs.GCJ02: _gcj_to_wgs,
    Crs.BD09: _bd_to_wgs,
}
_FROM_WGS84: dict[Crs, Transform] = {
    Crs.WGS84: _identity,
    Crs.GCJ02: _wgs_to_gcj,
    Crs.BD09: _wgs_to_bd,
}


def _scalar(transform: Transform, lng: float, lat: float) -> tuple[float, float]:
    x, y = transform(np.array([lng], dtype=np.float64), np.array([lat], dtype=np.float64))
    return float(x[0]), float(y[0])


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """GPS coordinates to AMap/Tencent coordinates."""
    return _scalar(_wgs_to_gcj, lng, lat)


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """AMap/Tencent coordinates to GPS coordinates (iterative, error far below 1 mm)."""
    return _scalar(_gcj_to_wgs, lng, lat)


def gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """AMap/Tencent coordinates to Baidu coordinates."""
    return _scalar(_gcj_to_bd, lng, lat)


def bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """Baidu coordinates to AMap/Tencent coordinates (iterative, error far below 1 mm)."""
    return _scalar(_bd_to_gcj, lng, lat)


def wgs84_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """GPS coordinates to Baidu coordinates (through GCJ-02)."""
    return _scalar(_wgs_to_bd, lng, lat)


def bd09_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """Baidu coordinates to GPS coordinates (through GCJ-02)."""
    return _scalar(_bd_to_wgs, lng, lat)


def to_wgs84(lng: float, lat: float, crs: Crs) -> tuple[float, float]:
    """A point a client sent in ``crs``, in the stored system (WGS-84)."""
    return _scalar(_TO_WGS84[crs], lng, lat)


def from_wgs84(lng: float, lat: float, crs: Crs) -> tuple[float, float]:
    """A stored (WGS-84) point in ``crs``, for display on that system's basemap."""
    return _scalar(_FROM_WGS84[crs], lng, lat)


def _arrays(lngs: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    lng = np.asarray(lngs, dtype=np.float64)
    lat = np.asarray(lats, dtype=np.float64)
    if lng.shape != lat.shape:
        raise ValueError(f"lngs and lats differ in shape: {lng.shape} != {lat.shape}")
    return lng, lat


def to_wgs84_many(
    lngs: npt.ArrayLike, lats: npt.ArrayLike, crs: Crs
) -> tuple[FloatArray, FloatArray]:
    """``to_wgs84`` for arrays of any (equal) shape; returns new float64 arrays."""
    return _TO_WGS84[crs](*_arrays(lngs, lats))


def from_wgs84_many(
    lngs: npt.ArrayLike, lats: npt.ArrayLike, crs: Crs
) -> tuple[FloatArray, FloatArray]:
    """``from_wgs84`` for arrays of any (equal) shape, e.g. thousands of shops on AMap."""
    return _FROM_WGS84[crs](*_arrays(lngs, lats))
