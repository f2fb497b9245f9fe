"""Writing the accepted rows: customers by COPY, then their ledger entries by COPY.

Ids are drawn from the customers' sequence first, so both streams are rendered in Python
without a round trip per row. Each record gets one ledger entry (source ``import``) per
non-empty field, in the same stored form as every other path (``stored_form``: JSON, and
personal values sealed by the vault), and the import's request id ties them to its row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.catalogue import FieldSpec
from domain.demo.pgcopy import NULL, copy_text, escape
from domain.imports.rows import Row
from domain.imports.sqlconn import driver
from domain.ledger import stored_form
from domain.models import Import
from domain.vault import Vault

CHUNK = 2_000
LEDGER_COLUMNS = ("customer_id", "actor_id", "request_id", "source", "field_key", "new_value")
Tick = Callable[[int], None]


def copy_value(value: Any) -> str:
    """A stored value in COPY text format."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, WKTElement):
        return f"SRID={value.srid};{value.data}"
    if isinstance(value, dict):
        return escape(json.dumps(value, ensure_ascii=False))
    return escape(str(value))


def _json(value: Any) -> str:
    return escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def allocate_ids(session: Session, n: int) -> list[int]:
    sql = text(
        "SELECT nextval(pg_get_serial_sequence('customers', 'id')) FROM generate_series(1, :n)"
    )
    return [int(i) for i in session.scalars(sql, {"n": n})]


def _customer_lines(
    rows: Sequence[Row], ids: Sequence[int], specs: Sequence[FieldSpec]
) -> Iterator[str]:
    for lo in range(0, len(rows), CHUNK):
        lines = []
        for row, cid in zip(rows[lo : lo + CHUNK], ids[lo : lo + CHUNK], strict=True):
            cells = [str(cid), *(copy_value(row.values.get(s.key)) for s in specs)]
            cells.append(copy_value(row.location_input))
            lines.append("\t".join(cells))
        yield "\n".join(lines) + "\n"


def _ledger_lines(
    rows: Sequence[Row], ids: Sequence[int], specs: Sequence[FieldSpec], head: str,
    vault: Vault, tick: Tick | None,
) -> Iterator[str]:  # fmt: skip
    for lo in range(0, len(rows), CHUNK):
        lines = []
        for row, cid in zip(rows[lo : lo + CHUNK], ids[lo : lo + CHUNK], strict=True):
            for spec in specs:
                value = row.values.get(spec.key)
                if value is not None:
                    stored = _json(stored_form(spec, value, vault))
                    lines.append(f"{cid}\t{head}\t{spec.key}\t{stored}")
        yield "\n".join(lines) + "\n" if lines else ""
        if tick is not None:
            tick(min(len(rows), lo + CHUNK))


def insert_rows(
    session: Session,
    rows: Sequence[Row],
    specs: Sequence[FieldSpec],
    *,
    run: Import,
    vault: Vault,
    tick: Tick | None = None,
) -> list[int]:
    """Insert the rows as new customers with their ledger; their ids, in row order."""
    if not rows:
        return []
    used = [s for s in specs if any(s.key in r.values for r in rows)]
    ids = allocate_ids(session, len(rows))
    raw = driver(session)
    names = ["id", *(s.column for s in used), "location_input"]
    copy_text(raw, "customers", names, _customer_lines(rows, ids, used))
    actor = NULL if run.actor_id is None else str(run.actor_id)
    tail = f"{actor}\t{run.request_id}\timport"
    lines = _ledger_lines(rows, ids, used, tail, vault, tick)
    # ``at`` is left to the column default: the transaction's time, one for the whole import
    copy_text(raw, "ledger_entries", LEDGER_COLUMNS, lines)
    return ids
