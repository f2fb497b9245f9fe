"""The time budget of one solve, shared by its phases, with progress reports and cancel."""

from __future__ import annotations

import time
from collections.abc import Callable

from pyvrp.stop import StoppingCriterion

from geo.vrp.model import Cancelled

Progress = Callable[[float], bool]
_REPORT_EVERY_S = 0.25


class Clock:
    """Splits ``limit_s`` over phases and relays progress to the caller's callback.

    PyVRP asks its stopping criterion once per iteration (a millisecond or so), which makes
    the criterion the natural place both to report progress and to notice a cancel.
    """

    def __init__(self, limit_s: float, on_progress: Progress | None) -> None:
        if limit_s <= 0:
            raise ValueError("time_limit_s must be positive")
        self.limit_s = limit_s
        self._callback = on_progress
        self._start = time.perf_counter()
        self._last = -_REPORT_EVERY_S
        self.cancelled = False

    def elapsed(self) -> float:
        """Seconds since the solve began."""
        return time.perf_counter() - self._start

    def fraction(self) -> float:
        """Share of the budget used, 0..1."""
        return min(1.0, self.elapsed() / self.limit_s)

    def report(self, fraction: float | None = None) -> None:
        """Tell the caller where we are; raise ``Cancelled`` when it says stop."""
        if self._callback is not None and not self._callback(
            self.fraction() if fraction is None else fraction
        ):
            self.cancelled = True
        if self.cancelled:
            raise Cancelled("the route planning was cancelled")

    def until(self, share: float) -> StoppingCriterion:
        """A PyVRP stopping criterion that ends when ``share`` of the budget is used, or
        on cancel (the caller then checks ``cancelled``)."""

        def stop(best_cost: int) -> bool:
            now = self.elapsed()
            if self._callback is not None and now - self._last >= _REPORT_EVERY_S:
                self._last = now
                if not self._callback(min(1.0, now / self.limit_s)):
                    self.cancelled = True
            return self.cancelled or now >= share * self.limit_s

        return stop
