"""Split a very large day into angular zones around the depot, each with its own vehicles.

PyVRP's per-iteration overhead grows with the number of stops, so on days of a few
thousand stops a short budget buys few iterations. Solving pie slices first (vehicles in
proportion to each slice's work) and only then the whole day from their union gives the
joint search a good start. Slices follow the polar angle around the depot because every
route leaves from and returns to it: a route rarely crosses a slice border.

Positions come from ``Problem.xy`` when given, else from a classical multidimensional
scaling of the travel-time matrix (two leading eigenvectors by subspace iteration), which
is plenty to tell directions apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from geo.vrp.model import Problem

Floats = npt.NDArray[np.float64]
Zone = tuple[list[int], list[int]]  # stops, vehicles
MIN_STOPS = 1500  # below this one joint search does at least as well
ZONE_STOPS = 700  # aim for about this many stops per zone
_MIN_VEHICLES = 3  # per zone


def zones(problem: Problem, stops: Sequence[int], vehicles: Sequence[int]) -> list[Zone]:
    """Angular zones with their vehicles, or [] when the day is small enough as it is."""
    count = min(round(len(stops) / ZONE_STOPS), len(vehicles) // _MIN_VEHICLES)
    if len(stops) < MIN_STOPS or count < 2:
        return []
    xy = positions(problem)
    depot = xy[0]
    chosen = np.asarray(stops, dtype=np.int64)
    angle = np.arctan2(xy[chosen + 1, 1] - depot[1], xy[chosen + 1, 0] - depot[0])
    order = chosen[_from_widest_gap(angle)]
    fleet = sorted(vehicles, key=lambda v: -problem.vehicles[v].capacity)
    teams = [fleet[z::count] for z in range(count)]
    share = np.array([sum(problem.vehicles[v].capacity for v in team) for team in teams])
    work = _work(problem, order)
    cuts = np.searchsorted(np.cumsum(work) / work.sum(), np.cumsum(share / share.sum())[:-1])
    slices = np.split(order, cuts)
    return [([int(s) for s in part], team) for part, team in zip(slices, teams, strict=True)]


def _from_widest_gap(angle: Floats) -> npt.NDArray[np.int64]:
    """Indices sorted by angle, starting just after the widest empty sector, so that no
    zone is cut through a crowded direction at the arbitrary -pi seam."""
    order = np.argsort(angle, kind="stable")
    ranked = angle[order]
    gaps = np.diff(np.append(ranked, ranked[0] + 2 * math.pi))
    start = (int(np.argmax(gaps)) + 1) % len(order)
    return np.roll(order, -start)


def _work(problem: Problem, stops: npt.NDArray[np.int64]) -> Floats:
    """Share of the day's work per stop: half its cartons, half its visit."""
    demand = np.array([problem.stops[int(s)].demand for s in stops], dtype=np.float64)
    total = demand.sum()
    by_load = demand / total if total > 0 else np.zeros(len(stops))
    return np.asarray(0.5 * by_load + 0.5 / len(stops))


def positions(problem: Problem) -> Floats:
    """(n+1) x 2 planar positions: ``problem.xy``, or an embedding of the travel times."""
    if problem.xy is not None:
        return np.asarray(problem.xy, dtype=np.float64)
    return embed(problem.duration_s)


def embed(matrix: npt.NDArray[np.int64], rounds: int = 60, seed: int = 1) -> Floats:
    """Classical MDS: points in the plane whose distances approximate ``matrix``."""
    d = (matrix.astype(np.float64) + matrix.T) / 2
    squared = d * d
    row = squared.mean(axis=1)
    gram = -0.5 * (squared - row[:, None] - row[None, :] + row.mean())
    basis = np.random.default_rng(seed).normal(size=(len(d), 2))
    for _ in range(rounds):
        basis, _ = np.linalg.qr(gram @ basis)
    values = np.einsum("ij,ij->j", basis, gram @ basis)
    return np.asarray(basis * np.sqrt(np.maximum(values, 0.0)))
