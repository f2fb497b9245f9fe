"""Shared helpers of the demo generator: array types, random streams, local metres, splits."""

from __future__ import annotations

import datetime as dt
import math
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
DateArray = npt.NDArray[np.datetime64]
AnyArray = npt.NDArray[Any]

# The Bell Tower (钟楼), centre of Xi'an's street grid and of the local metric projection.
CENTRE_LNG = 108.9402
CENTRE_LAT = 34.2610
M_PER_DEG_LAT = 110_950.0
M_PER_DEG_LNG = 111_320.0 * math.cos(math.radians(CENTRE_LAT))

CHINA_TZ = dt.timezone(dt.timedelta(hours=8))
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator per purpose, stable for (seed, name) across runs."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def to_metres(lng: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Local equirectangular metres around the city centre (good to ~0.1% over the city)."""
    return (lng - CENTRE_LNG) * M_PER_DEG_LNG, (lat - CENTRE_LAT) * M_PER_DEG_LAT


def from_metres(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    return x / M_PER_DEG_LNG + CENTRE_LNG, y / M_PER_DEG_LAT + CENTRE_LAT


def largest_remainder(total: int, weights: npt.ArrayLike, minimum: int = 0) -> IntArray:
    """Split ``total`` into integer parts proportional to ``weights`` (ties by position).

    Every part with a positive weight gets at least ``minimum`` when the total allows it.
    """
    w = np.asarray(weights, dtype=np.float64)
    out = np.zeros(len(w), dtype=np.int64)
    if total <= 0 or w.sum() <= 0:
        return out
    positive = w > 0
    floor_min = min(minimum, total // max(int(positive.sum()), 1))
    out[positive] = floor_min
    rest = total - int(out.sum())
    exact = w / w.sum() * rest
    base = np.floor(exact).astype(np.int64)
    out += base
    left = rest - int(base.sum())
    if left > 0:
        order = np.lexsort((np.arange(len(w)), -(exact - base)))
        out[order[:left]] += 1
    return out


def chunk_index(size: int, parts: int) -> IntArray:
    """For positions 0..size-1, the index of the equal-ish consecutive chunk (of ``parts``)."""
    if size == 0:
        return np.zeros(0, dtype=np.int64)
    pos = np.arange(size, dtype=np.int64)
    return (pos * parts) // size


def hilbert_index(x: FloatArray, y: FloatArray, order: int = 16) -> IntArray:
    """Position of each point along a Hilbert curve over the points' (square) bounding box."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    n = 1 << order
    x0, y0 = float(x.min()), float(y.min())
    span = max(float(x.max()) - x0, float(y.max()) - y0, 1e-9)
    xi = np.minimum(((x - x0) / span * (n - 1)).astype(np.int64), n - 1)
    yi = np.minimum(((y - y0) / span * (n - 1)).astype(np.int64), n - 1)
    d = np.zeros(len(x), dtype=np.int64)
    s = n >> 1
    while s > 0:
        rx = (xi & s) > 0
        ry = (yi & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = ~ry & rx
        xi = np.where(flip, n - 1 - xi, xi)
        yi = np.where(flip, n - 1 - yi, yi)
        swap = ~ry
        xi, yi = np.where(swap, yi, xi), np.where(swap, xi, yi)
        s >>= 1
    return d


def cn_number(k: int) -> str:
    """Chinese numeral for 1..99 (第一, 第十二 ...)."""
    digits = "零一二三四五六七八九"
    if k < 10:
        return digits[k]
    tens, ones = divmod(k, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")
