"""The monthly county classification-adjustment table (分类调整表, due by the 3rd).

The table of month M scores the shops on the three months of purchases before M (as of the
1st of M) with ``domain.classification.compute_classification`` (nothing is written) and
lists, per county, the shops whose business scale or classification code would change, with
a summary per county: shops changed, moved up, moved down, provisional.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from domain.catalogue import field
from domain.classification.compute import compute_classification
from domain.classification.diff import SCALE_LABELS, ScaleChange
from domain.models import Customer, Region
from domain.reports.book import Sheet, previous_month

DETAIL = ("县区", "客户代码", "店铺名称", "零售业态", "原经营规模", "新经营规模", "原分类编码",
          "新分类编码", "业态内排名", "业态户数", "暂定", "调整原因")  # fmt: skip
SUMMARY = ("县区", "调整户数", "规模上调", "规模下调", "暂定规模")


@dataclass(frozen=True)
class CountyChange:
    region: str
    change: ScaleChange


def classification_changes(
    session: Session, month: dt.date, scope: ColumnElement[bool] | None = None
) -> list[CountyChange]:
    """The changes of the table of ``month``, in scope, ordered by county then as computed."""
    start = previous_month(previous_month(previous_month(month)))
    end = month - dt.timedelta(days=1)
    diff = compute_classification(session, period_start=start, period_end=end, as_of=month)
    ids = [c.customer_id for c in diff.changes]
    stmt = (
        select(Customer.id, Region.name)
        .outerjoin(Region, Region.id == Customer.admin_region_id)
        .where(Customer.id.in_(ids), scope if scope is not None else true())
    )
    regions: dict[int, str | None] = {cid: name for cid, name in session.execute(stmt)}
    out = [
        CountyChange(regions[c.customer_id] or "", c)
        for c in diff.changes
        if c.customer_id in regions
    ]
    return sorted(out, key=lambda x: x.region)


def _scale(value: int | None) -> str:
    return "" if value is None else SCALE_LABELS.get(value, str(value))


def classification_sheets(rows: list[CountyChange]) -> list[Sheet]:
    formats = {c.code: c.label_zh for c in field("business_format").choices}
    detail = [
        (r.region, c.customer_code, c.shop_name, formats.get(c.business_format, c.business_format),
         _scale(c.old_scale), _scale(c.new_scale), c.old_classification or "",
         c.new_classification, c.rank, c.format_count, "是" if c.provisional else "否", c.reason)
        for r in rows
        for c in (r.change,)
    ]  # fmt: skip
    counts: dict[str, list[int]] = {}
    for r in rows:
        n = counts.setdefault(r.region, [0, 0, 0, 0])
        c = r.change
        n[0] += 1
        n[1] += c.old_scale is not None and c.new_scale < c.old_scale  # 1 = large: up
        n[2] += c.old_scale is not None and c.new_scale > c.old_scale
        n[3] += c.provisional
    summary = [(region, *n) for region, n in sorted(counts.items())]
    return [Sheet("分类调整汇总", SUMMARY, summary), Sheet("分类调整明细", DETAIL, detail)]
