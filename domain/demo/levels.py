"""Business-level fields from the purchases (scale, classification, limits) and ratings."""

from __future__ import annotations

import numpy as np

from domain.catalogue import choice_codes
from domain.demo.common import FloatArray, IntArray
from domain.demo.pgcopy import Column
from domain.demo.purchases import MEDIAN_CARTONS, Purchases
from domain.demo.shops import FORMATS, Shops, choose

PRICE_CLASSES = ("一类", "二类", "三类", "四类", "五类")
CREDIT_P = {"A": 0.60, "B": 0.30, "C": 0.08, "D": 0.02}
QUOTA_THRESHOLDS = ((150, "A"), (80, "B"), (35, "C"))
ITEM_LIMITS = {"A": 10, "B": 6, "C": 4, "D": 2}


def business_scale(fmt: IntArray, qty: FloatArray, amount: FloatArray, ids: IntArray) -> IntArray:
    """Per format: score = (qty share + amount share) / 2; top 20% → 1, bottom 20% → 3."""
    scale = np.full(len(fmt), 2, dtype=np.int64)
    for f in np.unique(fmt).tolist():
        members = np.flatnonzero(fmt == f)
        total_q, total_a = qty[members].sum(), amount[members].sum()
        score = (qty[members] / max(total_q, 1e-9) + amount[members] / max(total_a, 1e-9)) / 2
        order = members[np.lexsort((ids[members], -score))]
        k = len(members)
        cut = int(np.floor(0.2 * k + 0.5))
        scale[order[:cut]] = 1
        scale[order[k - cut :]] = 3
    return scale


def sales_structures(price: FloatArray) -> list[str]:
    """JSON share of purchases by price class (一类 dearest), summing to exactly 1.000."""
    mu = np.clip((450.0 - price) / (450.0 - 120.0) * 4.0, 0.0, 4.0)
    k = np.arange(len(PRICE_CLASSES))[None, :]
    w = np.exp(-((k - mu[:, None]) ** 2) / 2.0)
    milli = np.rint(w / w.sum(axis=1, keepdims=True) * 1000).astype(np.int64)
    top = np.argmax(milli, axis=1)
    milli[np.arange(len(price)), top] += 1000 - milli.sum(axis=1)
    out = []
    for row in milli.tolist():
        parts = ", ".join(f'"{c}": {v / 1000:.3f}' for c, v in zip(PRICE_CLASSES, row, strict=True))
        out.append("{" + parts + "}")
    return out


def apply_levels(
    shops: Shops, purchases: Purchases, price: FloatArray, rng: np.random.Generator
) -> IntArray:
    """Set the auto and business-level columns; return the business scale (1..3)."""
    cols, n = shops.cols, shops.n
    qty = purchases.cartons.sum(axis=1).astype(np.float64)
    cents = purchases.cents.sum(axis=1)
    amount = cents.astype(np.float64) / 100.0
    none = qty <= 0
    cols["purchase_qty"] = Column("dec1", qty)
    cols["purchase_amount"] = Column("dec2", amount)
    cols["avg_price"] = Column(
        "dec2", np.where(none, 0.0, amount / np.maximum(qty, 1.0)), null=none
    )
    cols["brand_count"] = Column("int", purchases.brands.max(axis=1))
    cols["sales_structure"] = Column("raw", sales_structures(price))
    scale = business_scale(shops.fmt, qty, amount, shops.ids)
    cols["business_scale"] = Column("int", scale)
    markets = choice_codes("market_type")
    market = np.where(shops.urban, 0, 1).tolist()
    cols["classification"] = Column(
        "raw",
        [
            f"{markets[m]}-{FORMATS[f]}-{s}"
            for m, f, s in zip(market, shops.fmt.tolist(), scale.tolist(), strict=True)
        ],
    )
    active_months = np.maximum((purchases.cartons > 0).sum(axis=1), 1)
    medians = np.array([MEDIAN_CARTONS[f] for f in FORMATS], dtype=np.float64)
    provisional = np.where(shops.urban, medians[shops.fmt, 0], medians[shops.fmt, 1]) / 2
    monthly = np.where(none, provisional, qty / active_months)
    agreed = np.maximum(np.rint(monthly / 5) * 5, 5).astype(np.int64)
    cols["monthly_agreed_qty"] = Column("int", agreed)
    quota_codes = choice_codes("quota_class")
    quota = np.full(n, quota_codes.index("D"), dtype=np.int64)
    for threshold, code in QUOTA_THRESHOLDS[::-1]:
        quota[agreed >= threshold] = quota_codes.index(code)
    cols["quota_class"] = Column("enum", quota, labels=quota_codes)
    weekly = np.ceil(agreed / 4.3 * 1.5 / 5) * 5
    cols["total_limit"] = Column("int", np.maximum(weekly, 5).astype(np.int64))
    item = np.array([ITEM_LIMITS[c] for c in quota_codes], dtype=np.int64)[quota]
    cols["item_limit"] = Column("int", item)
    _ratings(shops, scale, rng)
    return scale


def _ratings(shops: Shops, scale: IntArray, rng: np.random.Generator) -> None:
    """Credit rating (≈60/30/8/2 %), compliance consistent with it, monitored and model shops."""
    cols, n = shops.cols, shops.n
    credit, credits = choose(rng, "credit_rating", CREDIT_P, n)
    grade = np.array(credits)[credit]
    cols["credit_rating"] = Column("enum", credit, labels=credits)
    comp_codes = choice_codes("compliance")
    u = rng.random(n)
    compliance = np.select(
        [grade == "A", grade == "B", grade == "C"],
        [np.zeros(n), np.where(u < 0.85, 0, 1), np.ones(n)],
        default=np.where(u < 0.6, 2, 1),
    ).astype(np.int64)
    cols["compliance"] = Column("enum", compliance, labels=comp_codes)
    monitored = (grade == "D") | ((grade == "C") & (u < 0.3)) | (rng.random(n) < 0.01)
    cols["is_monitored"] = Column("bool", monitored)
    model = (grade == "A") & (scale == 1) & (rng.random(n) < 0.15)
    cols["is_model_shop"] = Column("bool", model)
    sizes = choice_codes("network_scale")  # large / medium / small
    area = shops.area_m2
    network = np.where(
        area >= 100,
        sizes.index("large"),
        np.where(area >= 40, sizes.index("medium"), sizes.index("small")),
    )
    cols["network_scale"] = Column("enum", network.astype(np.int64), labels=sizes)
    satisfaction = np.clip(np.rint(rng.normal(91, 5, n)), 60, 100).astype(np.int64)
    cols["satisfaction"] = Column("int", satisfaction)
