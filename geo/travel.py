"""Travel costs between points behind one interface (issue 6, part 4a).

Route planning asks a ``TravelCosts`` for an n x n matrix of metres and seconds. Two engines
answer: ``StraightLineCosts`` here (no road data needed, instant; good for a first plan and
for tests) and the road-network ``RoadCosts`` (pgRouting) in ``geo/roads.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from geo.points import EARTH_RADIUS_M

IntMatrix = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_BLOCK_ROWS = 256  # rows per block: keeps the temporaries at ~10 MB for 5,000 points


@dataclass(frozen=True)
class Matrix:
    """Square ``int64`` matrices with a zero diagonal: ``[i, j]`` is the leg from i to j."""

    distance_m: IntMatrix
    duration_s: IntMatrix


class TravelCosts(Protocol):
    """What a route planner needs from a travel-cost engine."""

    def matrix(
        self, points: Sequence[tuple[float, float]], urban: Sequence[bool] | None = None
    ) -> Matrix:
        """Costs between WGS-84 (lng, lat) points; ``urban[i]``: point i is in 城网 (urban)
        rather than 农网 (rural); ``None`` means all urban."""
        ...


def _unit_vectors(points: Sequence[tuple[float, float]]) -> FloatArray:
    """Points as unit vectors (n x 3); refuses anything but finite (lng, lat) pairs."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 3), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must be (lng, lat) pairs, got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("points must be finite numbers")
    lng, lat = np.radians(arr[:, 0]), np.radians(arr[:, 1])
    return np.column_stack((np.cos(lat) * np.cos(lng), np.cos(lat) * np.sin(lng), np.sin(lat)))


def _urban_flags(urban: Sequence[bool] | None, n: int) -> npt.NDArray[np.bool_]:
    if urban is None:
        return np.ones(n, dtype=np.bool_)
    flags = np.asarray(urban, dtype=np.bool_)
    if flags.shape != (n,):
        raise ValueError(f"urban must have one flag per point: {flags.shape} for {n} points")
    return flags


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class StraightLineCosts(TravelCosts):
    """Great-circle distance stretched by a circuity factor, driven at a fixed speed.

    distance = round(haversine x ``circuity``) in whole metres; duration = round(distance /
    speed) in whole seconds, from the rounded distance (so a 3 m hop may take 0 s). A leg is
    driven at ``urban_kmh`` when both ends are urban, else at ``rural_kmh`` (a leg that
    leaves town is mostly country road). Rounding is numpy's ``rint`` (to nearest).
    """

    circuity: float = 1.3
    urban_kmh: float = 25.0
    rural_kmh: float = 45.0

    def __post_init__(self) -> None:
        # A circuity below 1 would make roads shorter than the straight line: refused too.
        if not (_finite_number(self.circuity) and self.circuity >= 1.0):
            raise ValueError(f"circuity must be a finite number >= 1, not {self.circuity!r}")
        for name in ("urban_kmh", "rural_kmh"):
            value = getattr(self, name)
            if not (_finite_number(value) and value > 0.0):
                raise ValueError(f"{name} must be a finite number > 0, not {value!r}")

    def matrix(
        self, points: Sequence[tuple[float, float]], urban: Sequence[bool] | None = None
    ) -> Matrix:
        half = 0.5 * _unit_vectors(points)
        n = len(half)
        flags = _urban_flags(urban, n)
        rural_pace = 3.6 / self.rural_kmh  # seconds per metre
        # An urban row drives at the urban pace to urban columns only; a rural row never does.
        urban_row_pace = np.where(flags, 3.6 / self.urban_kmh, rural_pace)
        distance = np.empty((n, n), dtype=np.int64)
        duration = np.empty((n, n), dtype=np.int64)
        acc = np.empty((min(n, _BLOCK_ROWS), n), dtype=np.float64)
        tmp = np.empty_like(acc)
        for start in range(0, n, _BLOCK_ROWS):
            stop = min(start + _BLOCK_ROWS, n)
            rows = stop - start
            metres = self._metres(half[start:stop], half, acc[:rows], tmp[:rows])
            distance[start:stop] = metres
            seconds = np.multiply(metres, urban_row_pace, out=tmp[:rows])
            rural_rows = ~flags[start:stop]
            seconds[rural_rows] = metres[rural_rows] * rural_pace
            duration[start:stop] = np.rint(seconds, out=seconds)
        return Matrix(distance_m=distance, duration_s=duration)

    def _metres(
        self, rows: FloatArray, cols: FloatArray, acc: FloatArray, tmp: FloatArray
    ) -> FloatArray:
        """Rounded road metres from ``rows`` to ``cols``, given as half unit vectors.

        Half the chord is summed from coordinate differences, not from 1 - cos: that keeps
        centimetre precision for neighbouring shops, and (a - b)^2 == (b - a)^2 exactly, so
        the matrix is exactly symmetric with an exact zero diagonal. arc = 2 asin(chord / 2)
        is the haversine distance. Works in place in ``acc`` (returned) and ``tmp``.
        """
        np.subtract.outer(rows[:, 0], cols[:, 0], out=acc)
        np.square(acc, out=acc)
        for k in (1, 2):
            np.subtract.outer(rows[:, k], cols[:, k], out=tmp)
            np.square(tmp, out=tmp)
            acc += tmp
        np.sqrt(acc, out=acc)
        np.minimum(acc, 1.0, out=acc)  # rounding could push antipodes past 1 (NaN in asin)
        np.arcsin(acc, out=acc)
        acc *= 2.0 * EARTH_RADIUS_M * self.circuity
        return np.rint(acc, out=acc)
