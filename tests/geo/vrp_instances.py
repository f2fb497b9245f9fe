"""Synthetic delivery days shaped like a Chinese city, for the route-planner tests and bench.

Shops crowd a centre and thin out towards the edge; the depot sits off-centre. Roads are
modelled as straight lines times a detour factor of 1.3 driven at 25 km/h.
"""

from __future__ import annotations

import math

import numpy as np

from geo.vrp import Balance, Problem, Stop, Vehicle

SPEED_M_S = 25 / 3.6
DETOUR = 1.3
SHIFT = (8 * 3600, 18 * 3600)
WINDOWS = ((9 * 3600, 12 * 3600), (14 * 3600, 17 * 3600), (8 * 3600, 11 * 3600))


def city_points(n: int, seed: int = 1, radius_m: float = 9000.0) -> np.ndarray:
    """``n`` shop positions in metres: 60 % around the centre, 40 % spread over a disc."""
    rng = np.random.default_rng(seed)
    dense = int(n * 0.6)
    core = rng.normal(0.0, radius_m / 3.5, size=(dense, 2))
    angle = rng.uniform(0, 2 * math.pi, n - dense)
    reach = radius_m * np.sqrt(rng.uniform(0, 1, n - dense))
    outer = np.column_stack([reach * np.cos(angle), reach * np.sin(angle)])
    points = np.vstack([core, outer])
    return np.asarray(points[rng.permutation(n)], dtype=np.float64)


def matrices(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Road-like distance (m) and duration (s) matrices from planar points."""
    delta = xy[:, None, :] - xy[None, :, :]
    road = np.sqrt((delta**2).sum(axis=2)) * DETOUR
    return np.rint(road / SPEED_M_S).astype(np.int64), np.rint(road).astype(np.int64)


def city_problem(
    n: int,
    vehicles: int,
    *,
    seed: int = 1,
    balance: Balance | None = None,
    window_share: float = 0.0,
    slack: float = 1.2,
    radius_m: float = 9000.0,
) -> Problem:
    """A delivery day: ``n`` shops (180 s service, 1-30 cartons), ``vehicles`` vehicles with
    ``slack`` x the mean load as capacity and ``slack`` x n/vehicles as stop limit, shift
    08:00-18:00; ``window_share`` of the shops get receiving hours."""
    rng = np.random.default_rng(seed + 1000)
    xy = np.vstack([[[1500.0, -1000.0]], city_points(n, seed, radius_m)])
    duration, distance = matrices(xy)
    demand = rng.integers(1, 31, size=n)
    windowed = rng.uniform(0, 1, n) < window_share
    picks = rng.integers(0, len(WINDOWS), size=n)
    stops = [
        Stop(int(demand[i]), 180, WINDOWS[picks[i]] if windowed[i] else None) for i in range(n)
    ]
    capacity = math.ceil(slack * demand.sum() / vehicles)
    max_stops = math.ceil(slack * n / vehicles)
    fleet = [Vehicle(capacity, SHIFT[0], SHIFT[1], max_stops) for _ in range(vehicles)]
    return Problem(duration, distance, stops, fleet, balance or Balance("none"), xy)
