"""The import's ledger: one entry per new customer holding its whole imported record
(``domain.ledger.IMPORT_RECORD``), built by the database from the rows just inserted: one
INSERT … SELECT instead of millions of values rendered in Python.

Each value is the JSON form ``domain.values.to_json`` gives (dates as ISO strings,
decimals as exact strings without trailing zeros, points as GeoJSON with the stored
doubles, references as ids); a test compares the two for every imported field. Fields the
database cannot render (personal ones, sealed by the vault as everywhere else, and types
it does not know) are rendered in Python and sent by COPY into a temporary table
(``RENDERED``, one row per record: the chunk being written), whose object is merged into
the record. Empty fields are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.catalogue import FieldSpec
from domain.ledger import IMPORT_RECORD

PAIRS_PER_CALL = 40  # jsonb_build_object takes at most 100 arguments
SQL_TYPES = frozenset(
    {"code12", "digits12", "text", "image", "date", "point", "enum", "decimal", "int"}
    | {"weekday", "scale", "bank_account", "phone", "id_number", "json", "bool"}
)
RENDERED = "import_rendered"  # (customer_id, fields): the values rendered in Python


def sql_json(spec: FieldSpec) -> str:
    """The SQL expression of a customer column's JSON form (``c`` is the customer)."""
    column = f"c.{spec.column}"
    if spec.type == "point":
        return (
            f"CASE WHEN {column} IS NOT NULL THEN jsonb_build_object('type', 'Point',"
            f" 'coordinates', jsonb_build_array(ST_X({column}), ST_Y({column}))) END"
        )
    if spec.type == "decimal":
        return f"trim_scale({column})::text"
    return column


def by_database(spec: FieldSpec) -> bool:
    """Whether the field's ledger value can be built in SQL (not personal, a known type)."""
    return not spec.personal and (spec.type in SQL_TYPES or spec.type.startswith("ref:"))


def create_rendered(session: Session) -> None:
    """The temporary table of one chunk of records: a row for each (``fields`` may be NULL)."""
    session.execute(
        text(f"CREATE TEMP TABLE {RENDERED} (customer_id bigint, fields jsonb) ON COMMIT DROP")
    )


def record_sql(specs: Sequence[FieldSpec]) -> str:
    """The SQL of a new customer's imported record: a JSON object of its non-empty fields."""
    scalar = [s for s in specs if s.type != "json"]
    parts = []
    for lo in range(0, len(scalar), PAIRS_PER_CALL):
        pairs = ", ".join(f"'{s.key}', {sql_json(s)}" for s in scalar[lo : lo + PAIRS_PER_CALL])
        # no nested null in these values (scalars and GeoJSON points): stripping is top-level
        parts.append(f"jsonb_strip_nulls(jsonb_build_object({pairs}))")
    for spec in specs:
        if spec.type == "json":  # kept as is, nested nulls included; JSON null is empty
            column = sql_json(spec)
            parts.append(
                f"CASE WHEN jsonb_typeof({column}) <> 'null'"
                f" THEN jsonb_build_object('{spec.key}', {column}) ELSE '{{}}'::jsonb END"
            )
    parts.append("COALESCE(r.fields, '{}'::jsonb)")
    return " || ".join(parts)


def write_import_records(
    session: Session,
    specs: Sequence[FieldSpec],
    *,
    actor_id: int | None,
    request_id: uuid.UUID,
) -> None:
    """One entry (source ``import``, key ``IMPORT_RECORD``) per customer in ``RENDERED``: its
    fields of ``specs`` built here merged with its rendered ones; empties ``RENDERED``."""
    sql = f"""
        INSERT INTO ledger_entries (customer_id, actor_id, request_id, source, field_key, new_value)
        SELECT c.id, CAST(:actor AS integer), CAST(:request AS uuid), 'import', :key,
               {record_sql(specs)}
        FROM {RENDERED} r JOIN customers c ON c.id = r.customer_id"""
    params = {"actor": actor_id, "request": request_id, "key": IMPORT_RECORD}
    session.execute(text(sql), params)
    session.execute(text(f"TRUNCATE {RENDERED}"))
