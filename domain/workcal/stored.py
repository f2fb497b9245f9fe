"""The years IT entered in the admin (``calendar_years``), as the process's calendars see
them: one registry per process, filled by a loader the application installs (the web
app, the worker, the command line), so that a schedule entered in one process reaches the
deadlines of every other within ``TTL_S`` seconds, and at once where a deadline would
otherwise fall in a year no source covers (the loader is asked again before
``CALENDAR_NOT_COVERED`` is raised: one small query, on a path that ends in an error).

Calendars built with ``stored=True`` (``domain.tickets.engine.default_calendar``) consult
it before the repository's overrides file; other calendars (tests pinning dates) do not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from domain.workcal.overrides import YearOverride

log = logging.getLogger("retailgis.workcal")
TTL_S = 30.0
MISS_RETRY_S = 0.0
# (stamp, years): the stamp changes whenever a year is entered (the table's largest id)
Loader = Callable[[], tuple[int | None, Mapping[int, YearOverride]]]


class StoredYears:
    def __init__(self) -> None:
        self._loader: Loader | None = None
        self._years: dict[int, YearOverride] = {}
        self._stamp: int | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self.generation = 0  # bumped when the years change: calendars drop their caches

    @property
    def loader(self) -> Loader | None:
        return self._loader

    def install(self, loader: Loader | None) -> Loader | None:
        """Use ``loader`` from now on (None: no stored years); returns the previous one."""
        with self._lock:
            previous, self._loader = self._loader, loader
            self._checked = float("-inf")
            if loader is None and (self._years or self._stamp is not None):
                self._years, self._stamp = {}, None
                self.generation += 1
        return previous

    def refresh(self, *, within: float = TTL_S) -> None:
        """Ask the loader again unless it was asked less than ``within`` seconds ago."""
        loader = self._loader
        if loader is None or time.monotonic() - self._checked < within:
            return
        with self._lock:
            if time.monotonic() - self._checked < within:
                return
            self._checked = time.monotonic()
            try:
                stamp, years = loader()
            except Exception as exc:  # the database away: keep what was read last
                log.warning("working calendar: the entered years could not be read (%s); "
                            "keeping the last ones read", type(exc).__name__)  # fmt: skip
                return
            if stamp != self._stamp:
                self._years, self._stamp = dict(years), stamp
                self.generation += 1

    def get(self, year: int) -> YearOverride | None:
        return self._years.get(year)


STORED = StoredYears()
