"""The balance band: which measure of a route is balanced and the bounds around the mean."""

from __future__ import annotations

import math
from collections.abc import Sequence

from geo.vrp.model import BalanceRule, RouteStats

_EPS = 1e-9  # so that 100 * 1.15 counts as 115, not 114.99999999999999


def route_measure(rule: BalanceRule, stats: RouteStats) -> int:
    """The balanced quantity of one route: its stop count or its duration in seconds."""
    return stats.stops if rule == "stops" else stats.duration_s


def balance_bounds(
    rule: BalanceRule, tolerance: float, values: Sequence[int]
) -> tuple[float, float]:
    """``[mean * (1 - tolerance), mean * (1 + tolerance)]`` over ``values``.

    Stop counts are whole numbers, so their bounds are rounded inwards to whole stops but
    always admit ``floor(mean)`` and ``ceil(mean)``: a tolerance of 0 then means "as even
    as whole stops allow" rather than "impossible".
    """
    mean = sum(values) / len(values)
    low, high = mean * (1 - tolerance), mean * (1 + tolerance)
    if rule != "stops":
        return low, high
    return (
        float(min(math.floor(mean + _EPS), math.ceil(low - _EPS))),
        float(max(math.ceil(mean - _EPS), math.floor(high + _EPS))),
    )


def stop_cap(tolerance: float, stops: int, vehicles: int) -> int:
    """The most stops any one of ``vehicles`` may take so that, were all of them used,
    no route would exceed the upper balance bound."""
    mean = stops / vehicles
    return max(math.ceil(mean - _EPS), math.floor(mean * (1 + tolerance) + _EPS))
