"""Balanced k-means: groups compact on the map whose sizes (or weight sums) are even.

Lloyd's k-means alternates "move each centre to the mean of its points" with "assign
points to centres". Here the assignment step is a transportation problem -- minimise the
total squared distance subject to every group's size staying inside the band -- solved
exactly by cycle cancelling on the small graph of groups (Klein's algorithm): an edge
a -> b carries the cheapest point to move from a to b, an extra node Z lets a group
above the lower bound give one point to a group below the upper bound, and a negative
cycle is an improving exchange. No negative cycle left means the assignment is optimal
for the current centres (for unit weights; with weights an exchange that would leave
the band is refused, so the result is a good rather than a proven optimum).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]
_ROUNDS = 30
_EPS = 1e-9


def balanced_clusters(
    points: npt.ArrayLike,
    k: int,
    *,
    tolerance: float = 0.10,
    weights: npt.ArrayLike | None = None,
    seed: int = 1,
) -> Labels:
    """Labels 0..k-1 for ``points`` (m x 2, planar x/y in metres; project lng/lat first,
    e.g. with ``lnglat_to_xy``), compact on the map, every group's size -- or sum of
    ``weights`` -- within ``mean * (1 ± tolerance)`` (whole-point sizes are rounded inwards
    but always admit floor/ceil of the mean). Deterministic for a seed. Raises
    ``ValueError`` when the weights cannot be balanced that tightly."""
    xy = np.asarray(points, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError("points must be an m x 2 array")
    m = len(xy)
    if not 1 <= k <= max(m, 1):
        raise ValueError(f"k must be between 1 and the number of points ({m})")
    w = np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (m,) or (w <= 0).any():
        raise ValueError("weights must be one positive number per point")
    low, high = _band(w, k, tolerance, unit=weights is None)
    rng = np.random.default_rng(seed)
    centres = _plus_plus(xy, k, rng)
    labels = _greedy(_cost(xy, centres), w, w.sum() / k, high)
    for _ in range(_ROUNDS):
        labels = _exchange(_cost(xy, centres), w, labels, low, high)
        moved = np.array([xy[labels == c].mean(axis=0) for c in range(k)])
        if np.allclose(moved, centres, atol=1e-6):
            break
        centres = moved
    sums = np.bincount(labels, weights=w, minlength=k)
    if (sums < low - _EPS).any() or (sums > high + _EPS).any():
        raise ValueError("the weights cannot be split that evenly; raise the tolerance")
    return labels


def lnglat_to_xy(lnglat: npt.ArrayLike) -> Floats:
    """Longitude/latitude degrees to local planar metres (equirectangular around the mean
    latitude): accurate to well under a percent across a city, which is all clustering
    needs."""
    ll = np.asarray(lnglat, dtype=np.float64)
    radius = 6_371_008.8
    lat0 = math.radians(float(ll[:, 1].mean())) if len(ll) else 0.0
    return np.column_stack(
        [np.radians(ll[:, 0]) * radius * math.cos(lat0), np.radians(ll[:, 1]) * radius]
    )


def _band(w: Floats, k: int, tolerance: float, unit: bool) -> tuple[float, float]:
    mean = w.sum() / k
    low, high = mean * (1 - tolerance), mean * (1 + tolerance)
    if not unit:
        return low, high
    return (
        float(min(math.floor(mean + _EPS), math.ceil(low - _EPS))),
        float(max(math.ceil(mean - _EPS), math.floor(high + _EPS))),
    )


def _cost(xy: Floats, centres: Floats) -> Floats:
    delta = xy[:, None, :] - centres[None, :, :]
    return np.asarray((delta**2).sum(axis=2))


def _plus_plus(xy: Floats, k: int, rng: np.random.Generator) -> Floats:
    """k-means++ seeding: spread-out starting centres."""
    chosen = [int(rng.integers(len(xy)))]
    nearest = ((xy - xy[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = nearest.sum()
        pick = (
            int(rng.choice(len(xy), p=nearest / total)) if total > 0 else int(rng.integers(len(xy)))
        )
        chosen.append(pick)
        nearest = np.minimum(nearest, ((xy - xy[pick]) ** 2).sum(axis=1))
    return xy[chosen].copy()


def _greedy(cost: Floats, w: Floats, target: float, high: float) -> Labels:
    """A first assignment near even: cheapest (point, group) pairs first, each group
    filled up to the mean; what is left goes to the group with most room."""
    m, k = cost.shape
    labels = np.full(m, -1, dtype=np.int64)
    sums = np.zeros(k)
    for flat in np.argsort(cost, axis=None, kind="stable"):
        i, c = divmod(int(flat), k)
        if labels[i] < 0 and sums[c] + w[i] <= max(target, w[i]) + _EPS:
            labels[i], sums[c] = c, sums[c] + w[i]
    for i in np.flatnonzero(labels < 0):
        c = int(np.argmin(sums))
        labels[i], sums[c] = c, sums[c] + w[i]
    return labels


def _exchange(cost: Floats, w: Floats, labels: Labels, low: float, high: float) -> Labels:
    """Cancel negative exchange cycles until none is left (see the module docstring)."""
    m, k = cost.shape
    labels = labels.copy()
    sums = np.bincount(labels, weights=w, minlength=k)
    scale = max(float(cost.max()), 1.0) * _EPS
    banned = np.zeros((k + 1, k + 1), dtype=bool)
    gain, who = np.full((k, k), np.inf), np.zeros((k, k), dtype=np.int64)
    for a in range(k):
        _edges_from(cost, labels, a, gain, who)
    for _ in range(20 * m):
        graph = np.full((k + 1, k + 1), np.inf)
        graph[:k, :k] = gain
        graph[:k, k] = np.where(sums < high - _EPS, 0.0, np.inf)  # a group with room
        graph[k, :k] = np.where(sums > low + _EPS, 0.0, np.inf)  # a group that can spare
        graph[banned] = np.inf
        cycle = _negative_cycle(graph, scale)
        if cycle is None:
            return labels
        moves = [(int(who[a, b]), a, b) for a, b in cycle if a < k and b < k]
        after = sums.copy()
        for i, a, b in moves:
            after[a] -= w[i]
            after[b] += w[i]
        if (after < low - _EPS).any() or (after > high + _EPS).any():
            banned[cycle[0]] = True  # weighted: this exchange would leave the band
            continue
        for i, _, b in moves:
            labels[i] = b
        sums, banned[:] = after, False
        for group in {c for _, a, b in moves for c in (a, b)}:
            _edges_from(cost, labels, group, gain, who)
    return labels


def _edges_from(cost: Floats, labels: Labels, a: int, gain: Floats, who: Labels) -> None:
    """Row a of the exchange graph: gain[a, b] is the least extra cost of moving one point
    of group a to group b, who[a, b] that point."""
    members = np.flatnonzero(labels == a)
    gain[a] = np.inf
    if len(members):
        delta = cost[members] - cost[members, a][:, None]
        best = delta.argmin(axis=0)
        gain[a], who[a] = delta[best, np.arange(len(gain))], members[best]
    gain[a, a] = np.inf


def _negative_cycle(graph: Floats, tolerance: float) -> list[tuple[int, int]] | None:
    """The edges of a negative cycle (Bellman-Ford from a virtual source), or None."""
    n = len(graph)
    dist = np.zeros(n)
    pred = np.full(n, -1, dtype=np.int64)
    last = -1
    for _ in range(n):
        through = dist[:, None] + graph
        best = through.argmin(axis=0)
        value = through[best, np.arange(n)]
        better = value < dist - tolerance
        if not better.any():
            return None
        dist[better], pred[better] = value[better], best[better]
        last = int(np.flatnonzero(better)[0])
    for _ in range(n):
        last = int(pred[last])
    cycle, node = [], last
    while True:
        cycle.append((int(pred[node]), node))
        node = int(pred[node])
        if node == last:
            break
    negative = sum(graph[a, b] for a, b in cycle) < -tolerance
    return cycle[::-1] if negative else None
