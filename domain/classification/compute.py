"""``compute_classification``: score, rank and scale every shop in one set-based query.

The rule (the package docstring has the full text): per business format, over the period's
purchases, ``score = (qty / format qty + amount / format amount) / 2``; established shops
are ranked by score (ties by customer id) and cut 20/60/20 with ``k = floor(0.2·n + 0.5)``;
provisional shops (joined within three months of ``as_of``) are placed by their
monthly-average score against the established shops' cut-off scores.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from domain.classification.diff import (
    ClassificationDiff,
    ScaleChange,
    established_reason,
    provisional_reason,
)
from domain.errors import INVALID, DomainError

PERIOD_MONTHS_SQL = text("""
    SELECT DISTINCT month FROM purchase_records
    WHERE month >= :first AND month <= :last
    ORDER BY month
""")

# One statement, one result set: the changed shops (kind 'change') followed by the number
# of shops per format and new scale (kind 'count'). Read-only.
RECOMPUTE_SQL = text("""
WITH candidates AS (
    SELECT c.id, c.customer_code, c.shop_name,
           c.business_format::text AS fmt, c.market_type::text AS market,
           c.business_scale AS old_scale, c.classification AS old_class,
           coalesce(c.joined_on > CAST(:as_of AS date) - interval '3 months', false)
               AS provisional,
           c.joined_on
    FROM customers c
    WHERE c.status IN ('active', 'suspended')
      AND c.business_format IS NOT NULL AND c.market_type IS NOT NULL
),
sums AS (
    SELECT p.customer_id, sum(p.cartons)::float8 AS q, sum(p.amount_yuan)::float8 AS a
    FROM purchase_records p
    WHERE p.month >= :first AND p.month <= :last
    GROUP BY p.customer_id
),
shops AS MATERIALIZED (
    SELECT s.*, coalesce(u.q, 0) AS q, coalesce(u.a, 0) AS a,
           coalesce(u.q > 0 OR u.a > 0, false) AS bought
    FROM candidates s LEFT JOIN sums u ON u.customer_id = s.id
),
totals AS (
    SELECT fmt, count(*)::int AS n, floor(0.2 * count(*) + 0.5)::int AS k,
           sum(q) AS tq, sum(a) AS ta
    FROM shops WHERE NOT provisional GROUP BY fmt
),
months_in AS (
    SELECT s.*, CASE WHEN s.provisional THEN (
               SELECT count(*)::int FROM unnest(CAST(:months AS date[])) AS pm(m)
               WHERE pm.m >= date_trunc('month', s.joined_on)
           ) END AS months
    FROM shops s
),
scored AS (
    SELECT s.*, coalesce(t.n, 0) AS n, coalesce(t.k, 0) AS k,
           CASE
               WHEN NOT s.provisional THEN
                   (coalesce(s.q / nullif(t.tq, 0), 0) + coalesce(s.a / nullif(t.ta, 0), 0)) / 2
               WHEN s.months > 0 THEN
                   (coalesce(s.q / s.months / nullif(t.tq / :n_months, 0), 0)
                    + coalesce(s.a / s.months / nullif(t.ta / :n_months, 0), 0)) / 2
           END AS score
    FROM months_in s LEFT JOIN totals t USING (fmt)
),
ranked AS (
    SELECT s.*, count(*) FILTER (WHERE NOT s.provisional) OVER (
               PARTITION BY s.fmt ORDER BY s.score DESC NULLS LAST, s.provisional DESC, s.id
               ROWS UNBOUNDED PRECEDING
           ) AS ahead
    FROM scored s
),
cutoffs AS (
    SELECT fmt,
           min(score) FILTER (WHERE NOT provisional AND ahead <= k) AS c1,
           max(score) FILTER (WHERE NOT provisional AND ahead > n - k) AS c3
    FROM ranked GROUP BY fmt
),
placed AS (
    SELECT r.*,
           CASE WHEN NOT r.provisional THEN r.ahead
                WHEN r.score IS NULL THEN 0
                ELSE r.ahead + 1 END AS rank,
           CASE
               WHEN NOT r.provisional THEN
                   CASE WHEN r.ahead <= r.k THEN 1 WHEN r.ahead > r.n - r.k THEN 3 ELSE 2 END
               WHEN r.score IS NULL THEN 2
               WHEN r.score >= co.c1 AND (co.c3 IS NULL OR r.score > co.c3) THEN 1
               WHEN r.score <= co.c3 THEN 3
               ELSE 2
           END AS new_scale
    FROM ranked r JOIN cutoffs co USING (fmt)
),
final AS (
    SELECT p.*, p.market || '-' || p.fmt || '-' || p.new_scale AS new_class FROM placed p
)
SELECT 'change' AS kind, f.fmt, f.new_scale, NULL::bigint AS shops,
       f.id, f.customer_code, f.shop_name, f.old_scale, f.old_class, f.new_class,
       coalesce(f.score, 0) AS score, f.rank::int AS rank, f.n, f.provisional, f.bought,
       coalesce(f.months, 0) AS months
FROM final f
WHERE f.new_scale IS DISTINCT FROM f.old_scale OR f.new_class IS DISTINCT FROM f.old_class
UNION ALL
SELECT 'count', f.fmt, f.new_scale, count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL
FROM final f GROUP BY f.fmt, f.new_scale
""")


def _invalid(message: str) -> DomainError:
    return DomainError(INVALID, message, field="period")


def period_months(session: Session, period_start: dt.date, period_end: dt.date) -> list[dt.date]:
    """The months (1st of month) touching the period that hold any purchase record."""
    if period_end < period_start:
        raise _invalid(f"统计期结束日 {period_end} 早于开始日 {period_start}")
    first = period_start.replace(day=1)
    months = list(session.scalars(PERIOD_MONTHS_SQL, {"first": first, "last": period_end}))
    if not months:
        raise _invalid(f"统计期 {period_start} 至 {period_end} 内没有任何进货记录月份")
    return months


def compute_classification(
    session: Session, *, period_start: dt.date, period_end: dt.date, as_of: dt.date
) -> ClassificationDiff:
    """What the recompute would set; writes nothing.

    A month counts when its 1st lies in [1st of period_start's month, period_end].
    Raises ``DomainError(INVALID, field="period")`` for an inverted period or one without
    any purchase month.
    """
    months = period_months(session, period_start, period_end)
    params = {
        "first": months[0],
        "last": period_end,
        "as_of": as_of,
        "months": months,
        "n_months": len(months),
    }
    changes: list[ScaleChange] = []
    counts: dict[str, dict[int, int]] = {}
    for row in session.execute(RECOMPUTE_SQL, params).mappings():
        if row["kind"] == "count":
            per_format = counts.setdefault(row["fmt"], {1: 0, 2: 0, 3: 0})
            per_format[int(row["new_scale"])] = int(row["shops"])
        else:
            changes.append(_change(row))
    changes.sort(key=lambda c: (c.business_format, c.provisional, c.rank, c.customer_id))
    return ClassificationDiff(
        period_start=period_start,
        period_end=period_end,
        as_of=as_of,
        shops_scored=sum(sum(c.values()) for c in counts.values()),
        changes=tuple(changes),
        counts_by_scale=dict(sorted(counts.items())),
    )


def _change(row: Any) -> ScaleChange:
    scale, rank, n = int(row["new_scale"]), int(row["rank"]), int(row["n"])
    if row["provisional"]:
        reason = provisional_reason(scale=scale, rank=rank, format_count=n, months=row["months"])
    else:
        reason = established_reason(scale=scale, rank=rank, format_count=n, bought=row["bought"])
    return ScaleChange(
        customer_id=int(row["id"]),
        customer_code=row["customer_code"],
        shop_name=row["shop_name"],
        business_format=row["fmt"],
        old_scale=row["old_scale"],
        new_scale=scale,
        old_classification=row["old_class"],
        new_classification=row["new_class"],
        score=float(row["score"]),
        rank=rank,
        format_count=n,
        provisional=bool(row["provisional"]),
        reason=reason,
    )
