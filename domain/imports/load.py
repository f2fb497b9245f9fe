"""Writing the accepted rows: customers by COPY, then their ledger.

Ids are drawn from the customers' sequence first, so the rows are rendered in Python
without a round trip per row. Each record gets one ledger entry (source ``import``) per
non-empty field, in the stored form of every other path, and the import's request id ties
them to its row: fields that are not personal by one INSERT … SELECT over the new rows
(``domain.imports.ledger_sql``), personal ones sealed by the vault (``stored_form``) in a
thread while the database runs that INSERT, then sent by COPY.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg
from geoalchemy2 import WKTElement
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.access.rowsecurity import city_copy
from domain.catalogue import FieldSpec
from domain.demo.pgcopy import NULL, escape
from domain.imports.ledger_sql import by_database, write_ledger_sql
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


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def copy_chunks(
    raw: psycopg.Connection[Any], table: str, names: Sequence[str], chunks: Iterator[str]
) -> None:
    """COPY with the sending done by a thread, so the next chunk is rendered while the
    server digests the last one."""
    sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
    with raw.cursor() as cur, cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
        for data in chunks:
            copy.write(data)


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
    vault: Vault,
) -> Iterator[str]:  # fmt: skip
    for lo in range(0, len(rows), CHUNK):
        lines = []
        for row, cid in zip(rows[lo : lo + CHUNK], ids[lo : lo + CHUNK], strict=True):
            for spec in specs:
                value = row.values.get(spec.key)
                if value is not None:
                    stored = escape(_ENCODE(stored_form(spec, value, vault)))
                    lines.append(f"{cid}\t{head}\t{spec.key}\t{stored}")
        yield "\n".join(lines) + "\n" if lines else ""


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
    with city_copy(session):  # COPY is refused under row-level security (city roles only)
        copy_chunks(raw, "customers", names, _customer_lines(rows, ids, used))
    actor = NULL if run.actor_id is None else str(run.actor_id)
    tail = f"{actor}\t{run.request_id}\timport"
    in_sql = [s for s in used if by_database(s)]
    sealed = [s for s in used if not by_database(s)]
    # Sealing is Python's work and the SQL ledger the server's: a thread seals meanwhile.
    with ThreadPoolExecutor(max_workers=1) as pool:
        rendered = pool.submit(lambda: list(_ledger_lines(rows, ids, sealed, tail, vault)))
        write_ledger_sql(session, ids, in_sql, actor_id=run.actor_id, request_id=run.request_id)
        chunks = rendered.result()
    # ``at`` is left to the column default: the transaction's time, one for the whole import
    copy_chunks(raw, "ledger_entries", LEDGER_COLUMNS, iter(chunks))
    if tick is not None:
        tick(len(rows))
    return ids
