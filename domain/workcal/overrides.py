"""The overrides file: holidays and swapped working days (调休) kept in the repository.

Each winter the State Council (国务院办公厅) publishes the next year's holiday schedule;
IT adds it to ``overrides.toml`` beside this module before the ``chinese_calendar`` package
ships it. A year looks like::

    [years.2027]
    source = "国办发明电〔2026〕N号"   # optional, for the reader
    holidays = ["2027-01-01", ...]     # days off (weekends inside a holiday may be listed)
    workdays = ["2027-02-07", ...]     # weekends that are working days (调休上班)
    complete = true                    # the whole year's schedule is in this file

A ``complete`` year is authoritative: the library is not consulted for it. An incomplete
year only corrects the dates it lists; its other dates come from the library, or are
"not covered" when the library does not know the year either. A malformed file raises
:class:`OverridesError` naming the file, so a typo stops the start rather than a deadline.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_OVERRIDES_FILE = Path(__file__).with_name("overrides.toml")
YEAR_KEYS = frozenset({"holidays", "workdays", "complete", "source"})


class OverridesError(ValueError):
    """The overrides file cannot be used as it is; the message names the file and the place."""


@dataclass(frozen=True)
class YearOverride:
    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    complete: bool
    source: str = ""

    def lookup(self, day: dt.date) -> bool | None:
        """True/False when the file decides ``day`` (working or not), None when it does not."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if self.complete:
            return day.weekday() < 5
        return None


def load_overrides(path: Path | None) -> dict[int, YearOverride]:
    """Read and check the overrides file; ``None`` means no overrides at all."""
    if path is None:
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise OverridesError(f"{path}: {exc}") from exc
    years = data.get("years", {})
    unknown = set(data) - {"years"}
    if unknown or not isinstance(years, Mapping):
        raise OverridesError(f"{path}: only [years.<YYYY>] tables are allowed")
    return {y.year: y for y in (_parse_year(path, key, table) for key, table in years.items())}


def _parse_year(path: Path, key: str, table: Any) -> YearOverride:
    where = f"{path}: [years.{key}]"
    if not (key.isdigit() and len(key) == 4) or not isinstance(table, Mapping):
        raise OverridesError(f"{where}: expected a table named by a four-digit year")
    year = int(key)
    unknown = set(table) - YEAR_KEYS
    if unknown:
        raise OverridesError(f"{where}: unknown keys {sorted(unknown)}")
    complete = table.get("complete", False)
    source = table.get("source", "")
    if not isinstance(complete, bool) or not isinstance(source, str):
        raise OverridesError(f"{where}: complete must be true/false and source a string")
    holidays = _parse_dates(where, "holidays", year, table.get("holidays", []))
    workdays = _parse_dates(where, "workdays", year, table.get("workdays", []))
    both = holidays & workdays
    if both:
        raise OverridesError(f"{where}: {min(both).isoformat()} is both a holiday and a workday")
    return YearOverride(year, holidays, workdays, complete, source)


def _parse_dates(where: str, name: str, year: int, raw: Any) -> frozenset[dt.date]:
    if not isinstance(raw, list):
        raise OverridesError(f"{where}: {name} must be a list of dates")
    out: set[dt.date] = set()
    for item in raw:
        day = _as_date(item)
        if day is None:
            raise OverridesError(f"{where}: {name}: {item!r} is not a date (YYYY-MM-DD)")
        if day.year != year:
            raise OverridesError(f"{where}: {name}: {day.isoformat()} is not in {year}")
        out.add(day)
    return frozenset(out)


def _as_date(item: Any) -> dt.date | None:
    if isinstance(item, dt.datetime):
        return None
    if isinstance(item, dt.date):
        return item
    if isinstance(item, str):
        try:
            return dt.date.fromisoformat(item.strip())
        except ValueError:
            return None
    return None
