"""Row sinks for exports: CSV (UTF-8 with BOM, so Excel shows the Chinese) or XLSX in
openpyxl's write-only mode (rows go to the file as they come; nothing is kept per row)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol

from domain.errors import INVALID, DomainError

FORMATS = ("xlsx", "csv")


class Sink(Protocol):
    def row(self, cells: Sequence[Any]) -> None: ...

    def close(self) -> None: ...


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise DomainError(INVALID, f"导出格式须为 xlsx 或 csv，不能是“{fmt}”", "format")
    return fmt


class CsvSink:
    def __init__(self, out: BinaryIO) -> None:
        self.text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        self.writer = csv.writer(self.text)

    def row(self, cells: Sequence[Any]) -> None:
        self.writer.writerow(["" if c is None else c for c in cells])

    def close(self) -> None:
        self.text.flush()
        self.text.detach()  # the caller owns ``out``; leave it open


class XlsxSink:
    def __init__(self, out: BinaryIO, title: str) -> None:
        import openpyxl  # imported here: only XLSX exports pay for it

        self.out = out
        self.book = openpyxl.Workbook(write_only=True)
        self.sheet = self.book.create_sheet(title)

    def row(self, cells: Sequence[Any]) -> None:
        self.sheet.append(list(cells))

    def close(self) -> None:
        self.book.save(self.out)


def open_sink(out: BinaryIO, fmt: str, title: str) -> Sink:
    """A sink writing ``fmt`` (xlsx or csv) to the binary stream ``out``."""
    if check_format(fmt) == "csv":
        return CsvSink(out)
    return XlsxSink(out, title)
