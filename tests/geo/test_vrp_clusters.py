"""balanced_clusters(): compact groups of even size, every point in exactly one."""

from __future__ import annotations

import numpy as np
import pytest

from geo.vrp import balanced_clusters, lnglat_to_xy
from tests.geo.vrp_instances import city_points


def spread(xy: np.ndarray, labels: np.ndarray) -> float:
    """Within-group sum of squared distances to the group's centroid."""
    return float(sum(((xy[labels == c] - xy[labels == c].mean(axis=0)) ** 2).sum()
                     for c in np.unique(labels)))  # fmt: skip


@pytest.fixture(scope="module")
def city() -> np.ndarray:
    return city_points(5000, seed=3)


def test_5000_shops_split_into_six_even_compact_batches(city: np.ndarray) -> None:
    # when 5,000 shops are split into 6 batches within +-10 %
    labels = balanced_clusters(city, 6, tolerance=0.10, seed=1)
    # then every shop has exactly one label 0..5, every batch holds 750..916 shops
    assert labels.shape == (5000,) and labels.dtype == np.int64
    sizes = np.bincount(labels, minlength=6)
    assert len(sizes) == 6 and sizes.sum() == 5000
    assert sizes.min() >= 750 and sizes.max() <= 916, sizes
    # and the batches are compact: far less spread than a random even split
    rand = np.random.default_rng(0).permutation(np.arange(5000) % 6)
    assert spread(city, labels) < 0.35 * spread(city, rand)


def test_the_balance_does_not_cost_much_compactness(city: np.ndarray) -> None:
    # given plain k-means-like groups (tolerance so wide that any size goes)
    free = balanced_clusters(city, 6, tolerance=0.99, seed=1)
    tight = balanced_clusters(city, 6, tolerance=0.02, seed=1)
    # then the +-2 % split is at most 25 % less compact, and really is +-2 %
    assert spread(city, tight) < 1.25 * spread(city, free)
    sizes = np.bincount(tight)
    assert sizes.min() >= 817 and sizes.max() <= 850, sizes


def test_weights_are_balanced_instead_of_counts(city: np.ndarray) -> None:
    weights = np.random.default_rng(2).integers(1, 31, size=5000).astype(float)
    labels = balanced_clusters(city, 5, tolerance=0.10, weights=weights, seed=1)
    sums = np.bincount(labels, weights=weights, minlength=5)
    mean = weights.sum() / 5
    assert (sums >= 0.9 * mean).all() and (sums <= 1.1 * mean).all(), sums


def test_the_same_seed_gives_the_same_split(city: np.ndarray) -> None:
    first = balanced_clusters(city[:800], 4, seed=7)
    assert np.array_equal(first, balanced_clusters(city[:800], 4, seed=7))


def test_small_and_degenerate_inputs() -> None:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [11.0, 0.0]])
    assert balanced_clusters(points, 1).tolist() == [0, 0, 0, 0]
    labels = balanced_clusters(points, 2, tolerance=0.0)
    assert labels[0] == labels[1] != labels[2] == labels[3]
    assert sorted(balanced_clusters(points, 4).tolist()) == [0, 1, 2, 3]


def test_impossible_requests_are_refused() -> None:
    points = np.zeros((3, 2))
    with pytest.raises(ValueError, match="k must be between 1 and the number of points"):
        balanced_clusters(points, 4)
    with pytest.raises(ValueError, match="points must be an m x 2 array"):
        balanced_clusters(np.zeros((3, 3)), 2)
    with pytest.raises(ValueError, match="weights must be one positive number per point"):
        balanced_clusters(points, 2, weights=[1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="cannot be split that evenly"):
        balanced_clusters(points, 2, tolerance=0.05, weights=[10.0, 1.0, 1.0])


def test_lnglat_becomes_local_metres() -> None:
    xy = lnglat_to_xy(np.array([[116.0, 39.0], [116.0, 40.0], [117.0, 39.0]]))
    assert np.hypot(*(xy[1] - xy[0])) == pytest.approx(111_195, rel=1e-3)
    east = 111_195 * np.cos(np.radians(39 + 1 / 3))  # around the mean latitude
    assert np.hypot(*(xy[2] - xy[0])) == pytest.approx(east, rel=1e-3)
