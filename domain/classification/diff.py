"""What a classification recompute would change: the diff and the reason given per shop."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SCALE_LABELS: dict[int, str] = {1: "大", 2: "中", 3: "小"}
BAND_LABELS: dict[int, str] = {1: "前20%", 2: "中间60%", 3: "后20%"}
PROVISIONAL_PREFIX = "入网不足一季度"


@dataclass(frozen=True)
class ScaleChange:
    """One shop whose business scale or classification code changes.

    ``rank`` is the place by score among the established (non-provisional) shops of the
    format, 1 = highest; for a provisional shop it is the place its monthly-average score
    would take (1 + how many established shops score higher), 0 when it has no purchase
    month yet. ``format_count`` is the number of established shops ranked in the format.
    """

    customer_id: int
    customer_code: str
    shop_name: str
    business_format: str
    old_scale: int | None
    new_scale: int
    old_classification: str | None
    new_classification: str
    score: float
    rank: int
    format_count: int
    provisional: bool
    reason: str


@dataclass(frozen=True)
class ClassificationDiff:
    period_start: dt.date
    period_end: dt.date
    as_of: dt.date
    shops_scored: int
    changes: tuple[ScaleChange, ...]  # only shops whose scale or classification changes
    counts_by_scale: dict[str, dict[int, int]]  # per business_format, after the recompute


def classification_code(market_type: str, business_format: str, scale: int) -> str:
    """The classification code, e.g. ``urban-convenience-2``."""
    return f"{market_type}-{business_format}-{scale}"


def established_reason(*, scale: int, rank: int, format_count: int, bought: bool) -> str:
    """E.g. ``业态内得分排名 12/480（前20%）→ 大``."""
    ranking = f"业态内得分排名 {rank}/{format_count}（{BAND_LABELS[scale]}）→ {SCALE_LABELS[scale]}"
    return ranking if bought else f"统计期内无进货，得分为 0；{ranking}"


def provisional_reason(*, scale: int, rank: int, format_count: int, months: int) -> str:
    """E.g. ``入网不足一季度，按月均进货暂定为 中（折合业态内排名 120/480）``."""
    label = SCALE_LABELS[scale]
    if format_count == 0:
        return f"{PROVISIONAL_PREFIX}，业态内暂无可比的老客户，暂定为 {label}"
    if months == 0:
        return f"{PROVISIONAL_PREFIX}，统计期内尚无进货月份，暂定为 {label}"
    return f"{PROVISIONAL_PREFIX}，按月均进货暂定为 {label}（折合业态内排名 {rank}/{format_count}）"
