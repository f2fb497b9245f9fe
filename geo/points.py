"""Checks of a point a client sends, before the domain stores it or tests its service area.

Pure: the service-area containment is PostGIS's job (in the domain), not this module's.
Messages are plain English; the domain maps ``PointError.reason`` to its own (Chinese) text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from geo.crs import Crs, from_wgs84, to_wgs84

EARTH_RADIUS_M = 6371008.8  # mean Earth radius (IUGG)

PointErrorReason = Literal["not_finite", "out_of_range", "swapped"]

# Where a shop of a Chinese city can be (mainland and Hainan). The two ranges do not
# overlap, so a pair whose longitude lies in the latitude range and whose latitude lies in
# the longitude range can only be a swapped pair. It refuses the few real places with such
# values (the Arctic at 18-54 E, 73-90 N: Svalbard, Franz Josef Land), none in a service area.
CHINA_LNG_RANGE = (73.0, 136.0)
CHINA_LAT_RANGE = (18.0, 54.0)


class PointError(ValueError):
    """An input point refused; ``reason`` is machine-readable, ``message`` for people."""

    def __init__(self, reason: PointErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason: PointErrorReason = reason
        self.message = message


@dataclass(frozen=True)
class CheckedPoint:
    """A point that passed ``check_point``: WGS-84 ``lng``/``lat``, and what was sent."""

    lng: float
    lat: float
    raw_lng: float
    raw_lat: float
    crs: Crs


def _in_china(lng: float, lat: float) -> bool:
    return (
        CHINA_LNG_RANGE[0] <= lng <= CHINA_LNG_RANGE[1]
        and CHINA_LAT_RANGE[0] <= lat <= CHINA_LAT_RANGE[1]
    )


def _num(value: float) -> str:
    return f"{value:.10g}"


def check_point(lng: float, lat: float, crs: Crs = Crs.WGS84) -> CheckedPoint:
    """Refuse a malformed point, else convert it to WGS-84 and keep the raw values.

    Order matters: a swapped pair is reported as ``swapped`` even when its "latitude" is
    beyond 90 degrees (lng=34, lat=108), because that is the answer that helps the caller.
    """
    if not (math.isfinite(lng) and math.isfinite(lat)):
        raise PointError("not_finite", f"coordinates must be finite numbers: lng={lng}, lat={lat}")
    if _in_china(lat, lng) and not _in_china(lng, lat):
        raise PointError(
            "swapped",
            f"longitude and latitude look swapped: did you mean lng={_num(lat)}, lat={_num(lng)}?",
        )
    if abs(lng) > 180.0 or abs(lat) > 90.0:
        raise PointError(
            "out_of_range",
            f"longitude must be within ±180 and latitude within ±90: lng={_num(lng)}, "
            f"lat={_num(lat)}",
        )
    wgs_lng, wgs_lat = to_wgs84(lng, lat, crs)
    return CheckedPoint(lng=wgs_lng, lat=wgs_lat, raw_lng=lng, raw_lat=lat, crs=crs)


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres on a sphere of the mean Earth radius."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def likely_crs_mixup(
    current: tuple[float, float] | None, proposed: CheckedPoint, tolerance_m: float = 30.0
) -> Crs | None:
    """The coordinate system the client probably used, when it is not the one it declared.

    ``current`` is the shop's stored WGS-84 (lng, lat). If the raw coordinates of
    ``proposed`` are, within ``tolerance_m``, what another system ``T`` would give for the
    *current* location, the "move" is most likely no move at all: the client read the point
    in ``T`` and labelled it ``proposed.crs``. The result is that ``T`` (e.g. ``GCJ02`` for
    AMap coordinates sent as WGS-84; ``WGS84`` for GPS coordinates sent as GCJ-02). ``None``
    means no mix-up is likely: no current point, a move of at most 2 x ``tolerance_m``
    (too short to tell apart from the offsets' own noise), or a move that matches no offset.

    The comparison is done in WGS-84, as the domain sees the move: the proposed point
    against ``to_wgs84(from_wgs84(current, T), proposed.crs)``. When several systems match,
    the nearest wins (in China the candidates lie hundreds of metres apart).
    """
    if not tolerance_m > 0.0:
        raise ValueError(f"tolerance_m must be positive, not {tolerance_m}")
    if current is None:
        return None
    cur_lng, cur_lat = current
    if haversine_m(cur_lng, cur_lat, proposed.lng, proposed.lat) <= 2.0 * tolerance_m:
        return None
    best: tuple[float, Crs] | None = None
    for system in Crs:
        if system is proposed.crs:
            continue
        as_sent = from_wgs84(cur_lng, cur_lat, system)
        as_read = to_wgs84(*as_sent, proposed.crs)
        gap = haversine_m(as_read[0], as_read[1], proposed.lng, proposed.lat)
        if gap <= tolerance_m and (best is None or gap < best[0]):
            best = (gap, system)
    return None if best is None else best[1]
