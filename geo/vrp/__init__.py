"""Route planning for delivery days: PyVRP plans them, plain Python checks them.

``solve`` plans a whole day, ``insert`` places one new shop, ``resequence`` reorders one
route, ``evaluate`` checks any set of routes independently of the solver, and
``balanced_clusters`` splits points into compact groups of even size.
"""

from geo.vrp.clusters import balanced_clusters, lnglat_to_xy
from geo.vrp.evaluate import evaluate
from geo.vrp.insertion import insert
from geo.vrp.model import (
    Balance,
    Cancelled,
    NoFeasibleInsertion,
    Plan,
    Problem,
    RouteStats,
    Stop,
    Vehicle,
    Violation,
)
from geo.vrp.sequence import resequence
from geo.vrp.solver import solve
from geo.vrp.vrplib_io import load_vrplib

__all__ = [
    "Balance",
    "Cancelled",
    "NoFeasibleInsertion",
    "Plan",
    "Problem",
    "RouteStats",
    "Stop",
    "Vehicle",
    "Violation",
    "balanced_clusters",
    "evaluate",
    "insert",
    "lnglat_to_xy",
    "load_vrplib",
    "resequence",
    "solve",
]
