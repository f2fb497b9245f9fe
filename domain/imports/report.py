"""Per-row, per-field findings of an import, and the report file written from them."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from domain.errors import INVALID_FORMAT, DomainError

REPORT_HEADER = ("行号", "字段", "字段名称", "错误代码", "说明")
HEADER_ROW = 1


@dataclass(frozen=True)
class RowIssue:
    """One finding: the row as numbered in the file (1 = the header), the field at fault
    (catalogue key, or the column as written when it is not one), its Chinese label, an
    error code of ``domain.errors`` and the message for the user."""

    row: int
    field: str
    label_zh: str
    code: str
    message: str

    def cells(self) -> tuple[int, str, str, str, str]:
        return (self.row, self.field, self.label_zh, self.code, self.message)


def issue_from(row: int, err: DomainError, labels: dict[str, str]) -> RowIssue:
    key = err.field or ""
    return RowIssue(row, key, labels.get(key, key), err.code, err.message)


def sorted_issues(issues: Iterable[RowIssue], order: dict[str, int]) -> tuple[RowIssue, ...]:
    """By row, then by the field's place in the catalogue (unknown fields last)."""
    return tuple(sorted(issues, key=lambda i: (i.row, order.get(i.field, 10_000), i.field)))


def write_report(path: Path, issues: Sequence[RowIssue]) -> None:
    """The findings as CSV (UTF-8 with BOM, so Excel shows the Chinese) or XLSX."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(REPORT_HEADER)
            writer.writerows(i.cells() for i in issues)
    elif suffix == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("导入校验报告")
        sheet.append(list(REPORT_HEADER))
        for issue in issues:
            sheet.append(list(issue.cells()))
        book.save(path)
    else:
        raise DomainError(INVALID_FORMAT, "报告文件须为 .csv 或 .xlsx")
