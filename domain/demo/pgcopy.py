"""COPY helpers: columnar data rendered to PostgreSQL text format and streamed in chunks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from domain.demo.common import AnyArray, BoolArray

NULL = "\\N"
CHUNK_ROWS = 5_000
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def escape(text: str) -> str:
    """Escape a value for COPY text format."""
    return text.translate(_ESCAPES)


@dataclass(frozen=True)
class Column:
    """One column's values for COPY.

    kind: ``int`` / ``dec1`` / ``dec2`` (numbers), ``bool``, ``date`` (datetime64[D]),
    ``enum`` (indexes into ``labels``), ``text`` (str, escaped), ``raw`` (str already safe),
    ``template`` (``labels[0]`` formatted with each value; dates as ISO strings).
    ``null`` marks rows written as NULL (``None`` in text columns is NULL as well).
    """

    kind: str
    values: AnyArray | Sequence[str | None]
    null: BoolArray | None = None
    labels: tuple[str, ...] = ()

    def get(self, i: int, *, ignore_null: bool = False) -> object:
        """Row ``i`` as a JSON-ready Python value (None when NULL)."""
        if not ignore_null and self.null is not None and bool(self.null[i]):
            return None
        value = self.values[i]
        if value is None or self.kind in ("text", "raw"):
            return value
        if self.kind == "int":
            return int(value)
        if self.kind == "dec1":
            return round(float(value), 1)
        if self.kind == "dec2":
            return round(float(value), 2)
        if self.kind == "bool":
            return bool(value)
        if self.kind == "date":
            return str(np.datetime_as_string(np.datetime64(value, "D"), unit="D"))
        if self.kind == "enum":
            return self.labels[int(value)]
        if self.kind == "template":
            return self._template([value])[0]
        raise ValueError(f"unknown column kind {self.kind!r}")

    def _template(self, items: Sequence[object] | AnyArray) -> list[str]:
        arr = np.asarray(items)
        if np.issubdtype(arr.dtype, np.datetime64):
            items = np.datetime_as_string(arr, unit="D").tolist()
        template = self.labels[0]
        return [template.format(v) for v in items]

    def with_nulls(self, mask: BoolArray) -> Column:
        """The same values with the rows of ``mask`` written as NULL as well."""
        null = mask if self.null is None else (self.null | mask)
        return Column(self.kind, self.values, null, self.labels)


def _render_values(col: Column, lo: int, hi: int) -> list[str]:
    kind = col.kind
    if kind in ("text", "raw"):
        items = col.values[lo:hi]
        if kind == "text":
            return [NULL if v is None else escape(v) for v in items]
        return [NULL if v is None else v for v in items]
    arr = np.asarray(col.values[lo:hi])
    if kind == "int":
        return [str(v) for v in arr.astype(np.int64).tolist()]
    if kind == "dec1":
        return [f"{v:.1f}" for v in arr.astype(np.float64).tolist()]
    if kind == "dec2":
        return [f"{v:.2f}" for v in arr.astype(np.float64).tolist()]
    if kind == "bool":
        return ["t" if v else "f" for v in arr.astype(bool).tolist()]
    if kind == "date":
        return [str(v) for v in np.datetime_as_string(arr, unit="D").tolist()]
    if kind == "enum":
        labels = col.labels
        return [labels[i] for i in arr.astype(np.int64).tolist()]
    if kind == "template":
        return col._template(arr)
    raise ValueError(f"unknown column kind {kind!r}")


def render(col: Column, lo: int, hi: int) -> list[str]:
    out = _render_values(col, lo, hi)
    if col.null is not None:
        mask = col.null[lo:hi].tolist()
        out = [NULL if m else v for v, m in zip(out, mask, strict=True)]
    return out


def table_lines(columns: Sequence[Column], n: int, chunk: int = CHUNK_ROWS) -> Iterable[str]:
    """COPY text of ``n`` rows, one string per chunk of rows."""
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        rendered = [render(c, lo, hi) for c in columns]
        yield "".join("\t".join(row) + "\n" for row in zip(*rendered, strict=True))


def copy_text(
    raw: psycopg.Connection[Any], table: str, names: Sequence[str], chunks: Iterable[str]
) -> None:
    """Stream pre-rendered COPY text (rows of tab-separated values) into ``table``."""
    sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
    with raw.cursor() as cur, cur.copy(sql) as copy:
        for data in chunks:
            copy.write(data)


def copy_columns(
    raw: psycopg.Connection[Any], table: str, columns: dict[str, Column], n: int
) -> None:
    for name, col in columns.items():
        if len(col.values) != n:
            raise ValueError(f"{table}.{name}: {len(col.values)} values for {n} rows")
    copy_text(raw, table, list(columns), table_lines(list(columns.values()), n))


def copy_rows(
    raw: psycopg.Connection[Any], table: str, names: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """COPY small tables row by row (psycopg adapts dates, numbers, None)."""
    sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
    with raw.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
