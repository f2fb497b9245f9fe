"""Applying a classification diff: one guarded UPDATE of the shops and their ledger rows."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.classification.compute import compute_classification
from domain.classification.diff import ClassificationDiff
from domain.errors import STALE_VERSION, DomainError
from domain.models import Customer

DIFF_ROWS = """
    unnest(CAST(:ids AS bigint[]), CAST(:old_scales AS smallint[]),
           CAST(:new_scales AS smallint[]), CAST(:old_classes AS text[]),
           CAST(:new_classes AS text[]))
        AS d(id, old_scale, new_scale, old_class, new_class)
"""

# Lock the shops in primary-key order, then count those no longer as the diff found them:
# scale or code changed since, closed, or a new market type or format the new code lacks.
STALE_SQL = text(f"""
    SELECT count(*) FILTER (
               WHERE c.status = 'closed'
                  OR c.business_scale IS DISTINCT FROM c.old_scale
                  OR c.classification IS DISTINCT FROM c.old_class
                  OR c.new_class IS DISTINCT FROM
                     c.market_type || '-' || c.business_format || '-' || c.new_scale) AS stale,
           count(*) AS found
    FROM (
        SELECT c.id, c.status, c.business_scale, c.classification, c.market_type::text,
               c.business_format::text, d.old_scale, d.old_class, d.new_scale, d.new_class
        FROM customers c JOIN {DIFF_ROWS} ON d.id = c.id
        ORDER BY c.id
        FOR UPDATE OF c
    ) c
""")

# One UPDATE ... FROM the diff and one INSERT ... SELECT of the ledger rows (one per field
# whose value changes: normally both business_scale and classification), in one statement.
APPLY_SQL = text(f"""
    WITH updated AS (
        UPDATE customers c
        SET business_scale = d.new_scale, classification = d.new_class,
            version = c.version + 1, updated_at = now()
        FROM {DIFF_ROWS}
        WHERE c.id = d.id
        RETURNING c.id, d.old_scale, d.new_scale, d.old_class, d.new_class
    ),
    ledger AS (
        INSERT INTO ledger_entries
            (actor_id, request_id, ticket_id, source, customer_id, field_key, old_value,
             new_value)
        SELECT CAST(:actor_id AS integer), CAST(:request_id AS uuid),
               CAST(:ticket_id AS bigint), CAST('classification' AS ledger_source),
               u.id, v.field_key, v.old_value, v.new_value
        FROM updated u
        CROSS JOIN LATERAL (VALUES
            ('business_scale', to_jsonb(u.old_scale), to_jsonb(u.new_scale)),
            ('classification', to_jsonb(u.old_class), to_jsonb(u.new_class))
        ) AS v(field_key, old_value, new_value)
        WHERE v.old_value IS DISTINCT FROM v.new_value
        ORDER BY u.id, v.field_key
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM updated) AS shops, (SELECT count(*) FROM ledger) AS entries
""")


def apply_classification(
    session: Session,
    diff: ClassificationDiff,
    *,
    actor_id: int | None,
    request_id: uuid.UUID | None = None,
    ticket_id: int | None = None,
) -> int:
    """Write the diff's new scales and codes (version + 1) and their ledger rows (source
    'classification'); return the number of shops changed. Does not commit.

    Refuses with ``STALE_VERSION`` (writing nothing) when any shop is no longer as the diff
    found it: recompute and apply again.
    """
    if not diff.changes:
        return 0
    session.flush()
    changes = sorted(diff.changes, key=lambda c: c.customer_id)  # key order: fewer page hops
    params: dict[str, object] = {
        "ids": [c.customer_id for c in changes],
        "old_scales": [c.old_scale for c in changes],
        "new_scales": [c.new_scale for c in changes],
        "old_classes": [c.old_classification for c in changes],
        "new_classes": [c.new_classification for c in changes],
    }
    stale, found = session.execute(STALE_SQL, params).one()
    if stale or found != len(changes):
        raise DomainError(
            STALE_VERSION,
            f"有 {stale + len(changes) - found} 户的经营规模或分类在计算后已变化，请重新计算",
            field="period",
        )
    params |= {"actor_id": actor_id, "request_id": request_id, "ticket_id": ticket_id}
    shops, _entries = session.execute(APPLY_SQL, params).one()
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Customer):
            session.expire(obj)
    return int(shops)


def recompute_classification(
    session: Session,
    *,
    period_start: dt.date,
    period_end: dt.date,
    as_of: dt.date,
    actor_id: int | None,
    request_id: uuid.UUID | None = None,
    apply: bool = True,
) -> ClassificationDiff:
    """Compute the diff and, when ``apply``, write it. Does not commit."""
    diff = compute_classification(
        session, period_start=period_start, period_end=period_end, as_of=as_of
    )
    if apply:
        apply_classification(session, diff, actor_id=actor_id, request_id=request_id)
    return diff
