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
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from geo.vrp.model import Problem

Floats = npt.NDArray[np.float64]
Zone = tuple[list[int], list[int]]  # stops, vehicles
MIN_STOPS = 1500  # below this one joint search does at least as well
ZONE_STOPS = 700  # aim for about this many stops per zone
_MIN_VEHICLES = 3  # per zone


def is_large(stops: Sequence[int], vehicles: Sequence[int]) -> bool:
    """Whether a day is worth splitting: enough stops, and vehicles for two zones."""
    return len(stops) >= MIN_STOPS and _zone_count(stops, vehicles) >= 2


def _zone_count(stops: Sequence[int], vehicles: Sequence[int]) -> int:
    return min(round(len(stops) / ZONE_STOPS), len(vehicles) // _MIN_VEHICLES)


def zones(
    problem: Problem, stops: Sequence[int], vehicles: Sequence[int], xy: Floats
) -> list[Zone]:
    """Angular zones (``xy`` from ``positions``) with their vehicles, or [] when the day
    is small enough as it is."""
    if not is_large(stops, vehicles):
        return []
    count = _zone_count(stops, vehicles)
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


def route_groups(
    routes: Mapping[int, Sequence[int]], xy: Floats, stops_per_group: int, offset: int
) -> list[list[int]]:
    """Used vehicles in groups of neighbouring routes (by the angle of each route's
    centre around the depot ``xy[0]``), about ``stops_per_group`` stops a group;
    ``offset`` 1 shifts the group borders by half a group."""
    used = [v for v, route in routes.items() if route]
    if len(used) < 2:
        return [used] if used else []
    size = max(2, round(stops_per_group * len(used) / sum(len(routes[v]) for v in used)))
    centre = {v: xy[np.asarray(routes[v]) + 1].mean(axis=0) - xy[0] for v in used}
    ring = sorted(used, key=lambda v: math.atan2(centre[v][1], centre[v][0]))
    shift = (size // 2) * offset
    ring = ring[shift:] + ring[:shift]
    return [ring[i : i + size] for i in range(0, len(ring), size)]


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
    gram = matrix.astype(np.float64)  # built in place: a 5,000-stop day is 200 MB a copy
    gram += matrix.T
    gram *= 0.5
    gram *= gram
    row = gram.mean(axis=1)
    gram -= row[:, None]
    gram -= row[None, :]
    gram += row.mean()
    gram *= -0.5
    basis = np.random.default_rng(seed).normal(size=(len(gram), 2))
    for _ in range(rounds):
        basis, _ = np.linalg.qr(gram @ basis)
    values = np.einsum("ij,ij->j", basis, gram @ basis)
    return np.asarray(basis * np.sqrt(np.maximum(values, 0.0)))
