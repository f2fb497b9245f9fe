"""Report workbooks: sheets of a Chinese title, a header row and rows (openpyxl write-only)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from domain.errors import INVALID, DomainError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Sheet:
    title: str
    header: tuple[str, ...]
    rows: Sequence[Sequence[Any]]


def parse_month(text: str) -> dt.date:
    """``YYYY-MM`` as the first day of that month."""
    m = _MONTH.match(text.strip())
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise DomainError(INVALID, f"月份须为 YYYY-MM 格式，不能是“{text}”", "month")
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: dt.date) -> dt.date:
    return dt.date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def write_book(out: BinaryIO, sheets: Sequence[Sheet]) -> None:
    import openpyxl  # imported here: only report writers pay for it

    book = openpyxl.Workbook(write_only=True)
    for sheet in sheets:
        ws = book.create_sheet(sheet.title)
        ws.append(list(sheet.header))
        for row in sheet.rows:
            ws.append(list(row))
    book.save(out)
