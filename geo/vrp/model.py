"""The data the route planner reads and writes: plain frozen dataclasses, no solver types.

Times are whole seconds (since midnight for clock times), loads whole cartons, distances
whole metres. Matrices are indexed with 0 = the depot and i + 1 = ``stops[i]``; everywhere
else a stop is named by its index ``i`` in ``Problem.stops``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

IntMatrix = npt.NDArray[np.int64]
BalanceRule = Literal["none", "stops", "duration"]
ViolationKind = Literal[
    "capacity", "shift", "max_stops", "window", "unassigned", "duplicate", "balance"
]


class Cancelled(Exception):
    """The caller's progress callback asked the solver to stop; no plan is returned."""


class NoFeasibleInsertion(Exception):
    """No route can take the stop without breaking one of its constraints."""


@dataclass(frozen=True)
class Stop:
    """One delivery. ``window`` bounds the *start* of service (receiving hours)."""

    demand: int
    service_s: int
    window: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.demand < 0 or self.service_s < 0:
            raise ValueError("stop demand and service time must not be negative")
        if self.window is not None and not 0 <= self.window[0] <= self.window[1]:
            raise ValueError(f"stop window {self.window} is not an interval of the day")


@dataclass(frozen=True)
class Vehicle:
    """One vehicle on one day: leaves the depot at/after ``shift_start_s``, back by the end."""

    capacity: int
    shift_start_s: int
    shift_end_s: int
    max_stops: int | None = None

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise ValueError("vehicle capacity must not be negative")
        if not 0 <= self.shift_start_s <= self.shift_end_s:
            raise ValueError("vehicle shift must start before it ends")
        if self.max_stops is not None and self.max_stops < 0:
            raise ValueError("vehicle max_stops must not be negative")


@dataclass(frozen=True)
class Balance:
    """How evenly the work is spread over the vehicles a plan uses.

    ``tolerance`` bounds every *used* (non-empty, not locked) route's measure -- its number
    of stops for ``"stops"``, its duration (leaving the depot to return, with service and
    waiting) for ``"duration"`` -- to ``[mean * (1 - tolerance), mean * (1 + tolerance)]``,
    where ``mean`` is the average of that measure over those routes. For ``"stops"`` the
    bounds are rounded inwards to whole stops but always admit ``floor(mean)`` and
    ``ceil(mean)``. Empty and locked vehicles are not measured. ``"none"`` bounds nothing.
    Per-vehicle limits (``max_stops``, shift) still apply inside the band. ``solve`` keeps
    the band whenever feasible moves allow (under "stops" it spreads the stops over about
    all free vehicles); where it cannot, ``evaluate`` reports "balance" violations.
    """

    rule: BalanceRule = "stops"
    tolerance: float = 0.15

    def __post_init__(self) -> None:
        if self.rule not in ("none", "stops", "duration"):
            raise ValueError(f"unknown balance rule {self.rule!r}")
        if not 0 <= self.tolerance < 1:
            raise ValueError("balance tolerance must be in [0, 1)")


@dataclass(frozen=True, eq=False)
class Problem:
    """One depot, its stops and its vehicles for one delivery day.

    ``xy`` (optional, (n+1)x2 planar metres, row 0 the depot) lets the solver split very
    large problems into zones; without it the solver works from the matrices alone.
    """

    duration_s: IntMatrix
    distance_m: IntMatrix
    stops: Sequence[Stop]
    vehicles: Sequence[Vehicle]
    balance: Balance = field(default_factory=Balance)
    xy: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        size = len(self.stops) + 1
        for name in ("duration_s", "distance_m"):
            matrix = getattr(self, name)
            if matrix.shape != (size, size):
                raise ValueError(f"{name} must be {size}x{size}, got {matrix.shape}")
            if not np.issubdtype(matrix.dtype, np.integer):
                raise ValueError(f"{name} must hold integers")
            if (matrix < 0).any():
                raise ValueError(f"{name} must not be negative")
        if self.xy is not None and self.xy.shape != (size, 2):
            raise ValueError(f"xy must be {size}x2, got {self.xy.shape}")

    @property
    def n(self) -> int:
        """Number of stops."""
        return len(self.stops)


@dataclass(frozen=True)
class RouteStats:
    """Figures of one route as scheduled by ``evaluate``."""

    stops: int
    load: int
    distance_m: int
    duration_s: int  # from leaving the depot to returning, incl. service and waiting
    travel_s: int
    start_s: int  # departure from the depot (as late as possible without arriving later)
    end_s: int  # return to the depot


@dataclass(frozen=True)
class Violation:
    """A broken constraint; ``vehicle``/``stop`` name what it concerns, when one thing does."""

    vehicle: int | None
    stop: int | None
    kind: ViolationKind
    detail: str


@dataclass(frozen=True)
class Plan:
    """A solution: one route per vehicle, in ``problem.vehicles`` order."""

    routes: tuple[tuple[int, ...], ...]
    stats: tuple[RouteStats, ...]
    unassigned: tuple[int, ...]
    travel_s: int
    distance_m: int
    violations: tuple[Violation, ...]
    solver_s: float
