"""Planning settings: travel costs, defaults for service time and solver budgets.

Built once by the composition root (``api.settings``) from the environment and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TravelEngine = Literal["straight", "roads"]


@dataclass(frozen=True)
class PlanningSettings:
    # "straight": haversine × circuity at market-type speeds; "roads": pgRouting over the
    # network imported with `retailgis roads import` (schema ``roads``).
    travel: TravelEngine = "straight"
    circuity: float = 1.3
    urban_kmh: float = 25.0
    rural_kmh: float = 45.0
    # Service time per stop when a route has none of its own (minutes).
    service_min: int = 5
    # Solver budget when the caller gives none: seconds per stop, within [min, max].
    seconds_per_stop: float = 0.04
    min_budget_s: float = 5.0
    max_budget_s: float = 40.0

    def budget_s(self, stops: int, asked: float | None = None) -> float:
        if asked is not None:
            return asked
        return min(max(stops * self.seconds_per_stop, self.min_budget_s), self.max_budget_s)
