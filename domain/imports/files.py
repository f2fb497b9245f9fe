"""Reading an import file (CSV or XLSX) into a header and numbered rows of cell values.

The whole file is read once into memory: its sha256 identifies it (a file imported twice
is refused), and 100,000 rows of an archive export fit easily. Row numbers are those a
user sees when opening the file (the header is row 1), so a report points at the cell.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import INVALID_FORMAT, DomainError

Cells = tuple[Any, ...]


@dataclass(frozen=True)
class Table:
    """A file's first sheet: header cells and the non-blank data rows with their numbers."""

    name: str
    sha256: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, Cells], ...]


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030: what Excel in China saves CSV as."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise DomainError(INVALID_FORMAT, "CSV文件编码无法识别（须为UTF-8或GBK）") from None


def _csv_rows(data: bytes) -> Iterator[Cells]:
    for row in csv.reader(io.StringIO(_decode(data), newline="")):
        yield tuple(None if cell == "" else cell for cell in row)


def _xlsx_cell(cell: Any) -> Any:
    # Excel keeps every number as a float: whole ones (codes, counts) are read back as ints;
    # calamine gives an empty cell as "".
    if isinstance(cell, float) and cell.is_integer():
        return int(cell)
    if cell == "":
        return None
    return cell


def _xlsx_rows(data: bytes) -> Iterator[Cells]:
    """The first sheet's rows, read by calamine (Rust; openpyxl took about 22 s for
    100,000 rows of the basic-information table)."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            return
        rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except (CalamineError, ValueError, OSError):
        raise DomainError(INVALID_FORMAT, "无法读取XLSX文件（文件损坏或不是Excel文件）") from None
    for row in rows:  # from A1, so row numbers are Excel's
        yield tuple(_xlsx_cell(c) for c in row)


def parse_table(name: str, data: bytes) -> Table:
    """The table of a file's bytes; the format comes from the name (.csv / .xlsx)."""
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(data)
    elif suffix == ".xlsx":
        rows = _xlsx_rows(data)
    else:
        raise DomainError(INVALID_FORMAT, "只能导入CSV或XLSX文件")
    header: tuple[str, ...] | None = None
    body: list[tuple[int, Cells]] = []
    for number, cells in enumerate(rows, start=1):
        if header is None:
            header = tuple("" if _blank(c) else str(c).strip() for c in cells)
            continue
        if not all(_blank(c) for c in cells):
            body.append((number, cells))
    if not header or not any(header):
        raise DomainError(INVALID_FORMAT, "文件为空或缺少表头（第1行须为列名）")
    digest = hashlib.sha256(data).hexdigest()
    return Table(name=Path(name).name, sha256=digest, header=header, rows=tuple(body))


def read_table(path: Path) -> Table:
    return parse_table(path.name, path.read_bytes())
