"""Route planning for delivery days: PyVRP plans them, plain Python checks them.

``solve`` plans a whole day, ``insert`` places one new shop, ``resequence`` reorders one
route, ``evaluate`` checks any set of routes independently of the solver,
``balanced_clusters`` splits points into compact groups of even size, and
``load_vrplib`` reads public benchmarks.

Conventions: matrices are (n+1)x(n+1) integers with 0 = the depot and i + 1 = stop i;
times are seconds (since midnight for clock times); a window bounds the *start* of
service; a route leaves the depot at/after shift start and must be back by shift end;
its duration runs from leaving to returning, with service and waiting, and the departure
is as late as possible without arriving anywhere later. The objective is total travel
time. See ``Balance`` for exactly what a balance tolerance bounds. The package is pure:
numpy and PyVRP only, no database, no domain types.
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
