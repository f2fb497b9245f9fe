"""Twelve months of cigarette purchases per shop (cartons 条, amount, brands), vectorised."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from domain.catalogue import choice_codes
from domain.demo.common import DateArray, FloatArray, IntArray
from domain.demo.shops import FORMATS, Shops

MONTHS = 12
# Median cartons per month by business format: (urban, rural).
MEDIAN_CARTONS = {
    "convenience": (80, 45), "supermarket": (110, 60), "grocery": (45, 30),
    "tobacco_liquor": (120, 70), "entertainment": (35, 20), "other": (25, 15),
}  # fmt: skip
PRICE_FACTOR = {"convenience": 1.05, "supermarket": 1.10, "grocery": 0.90,
                "tobacco_liquor": 1.35, "entertainment": 1.25, "other": 0.95}  # fmt: skip
BRAND_BASE = {"convenience": 45, "supermarket": 60, "grocery": 28,
              "tobacco_liquor": 70, "entertainment": 22, "other": 18}  # fmt: skip
# Spring Festival (春节) dates; purchases peak in the weeks before it.
SPRING_FESTIVAL = {
    2015: (2, 19), 2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25),
    2021: (2, 12), 2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17),
    2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3), 2031: (1, 23), 2032: (2, 11),
    2033: (1, 31), 2034: (2, 19), 2035: (2, 8),
}  # fmt: skip


@dataclass(frozen=True)
class Purchases:
    months: list[dt.date]  # first days, oldest first
    cartons: IntArray  # (shops, 12)
    cents: IntArray  # (shops, 12) amount in fen
    brands: IntArray  # (shops, 12)

    @property
    def rows(self) -> int:
        return int(self.cartons.size)


def purchase_months(as_of: dt.date) -> list[dt.date]:
    """The 12 full calendar months before ``as_of``'s month, oldest first."""
    out = []
    year, month = as_of.year, as_of.month
    for _ in range(MONTHS):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        out.append(dt.date(year, month, 1))
    return out[::-1]


def _month_end(first: dt.date) -> dt.date:
    return dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)


def season_factors(months: list[dt.date]) -> FloatArray:
    """Demand per month: Spring Festival peak, a dip after it, Mid-Autumn/National Day lift."""
    out = np.ones(len(months))
    for i, first in enumerate(months):
        month, day = SPRING_FESTIVAL.get(first.year, (2, 1))
        peak = dt.date(first.year, month, day) - dt.timedelta(days=14)
        after = _month_end(dt.date(peak.year, peak.month, 1))
        if (first.year, first.month) == (peak.year, peak.month):
            out[i] = 1.45
        elif (first.year, first.month) == (after.year, after.month):
            out[i] = 0.88
        elif first.month in (9, 10):
            out[i] = 1.08
        elif first.month in (7, 8):
            out[i] = 1.04
    return out


def _active_share(shops: Shops, months: list[dt.date], rng: np.random.Generator) -> FloatArray:
    """Share of each month the shop traded: from joining, until closing or suspension."""
    starts = np.array(months, dtype="datetime64[D]")
    ends = np.array([_month_end(m) for m in months], dtype="datetime64[D]")
    days = (ends - starts).astype(np.float64)
    open_days = (ends[None, :] - shops.joined[:, None]).astype(np.float64)
    share: FloatArray = np.clip(open_days / days[None, :], 0.0, 1.0)
    status = choice_codes("status")
    month_idx = np.arange(MONTHS)[None, :]
    closed = shops.status == status.index("closed")
    stop = rng.integers(4, MONTHS, size=shops.n)
    share[closed[:, None] & (month_idx >= stop[:, None])] = 0.0
    suspended = shops.status == status.index("suspended")
    pause = rng.integers(MONTHS - 2, MONTHS, size=shops.n)
    share[suspended[:, None] & (month_idx >= pause[:, None])] = 0.0
    return share


def shop_price(shops: Shops, rng: np.random.Generator) -> FloatArray:
    """A shop's average price per carton in yuan (120-450)."""
    factor = np.array([PRICE_FACTOR[f] for f in FORMATS])[shops.fmt]
    base = np.where(shops.urban, 225.0, 165.0) * factor * rng.lognormal(0.0, 0.2, shops.n)
    price: FloatArray = np.clip(base, 120.0, 450.0)
    return price


def generate_purchases(shops: Shops, rng: np.random.Generator) -> tuple[Purchases, FloatArray]:
    """Monthly purchases and each shop's average carton price."""
    months = purchase_months(shops.as_of)
    n = shops.n
    medians = np.array([MEDIAN_CARTONS[f] for f in FORMATS], dtype=np.float64)
    base = np.where(shops.urban, medians[shops.fmt, 0], medians[shops.fmt, 1])
    base = base * rng.lognormal(0.0, 0.45, n)
    season = season_factors(months)
    noise = rng.lognormal(0.0, 0.12, (n, MONTHS))
    active = _active_share(shops, months, rng)
    cartons = np.rint(base[:, None] * season[None, :] * noise * active).astype(np.int64)
    price = shop_price(shops, rng)
    festive = np.where(season > 1.2, 1.08, 1.0)
    monthly_price = price[:, None] * festive[None, :] * (1.0 + rng.normal(0.0, 0.03, (n, MONTHS)))
    cents = np.rint(cartons * monthly_price * 100.0).astype(np.int64)
    brand_base = np.array([BRAND_BASE[f] for f in FORMATS], dtype=np.float64)[shops.fmt]
    brand_base = brand_base * np.where(shops.urban, 1.1, 0.85) * rng.lognormal(0.0, 0.2, n)
    brands = np.rint(brand_base[:, None] + rng.normal(0.0, 3.0, (n, MONTHS))).astype(np.int64)
    brands = np.minimum(np.clip(brands, 10, 90), cartons)
    return Purchases(months, cartons, cents, brands), price


def purchase_chunks(purchases: Purchases, chunk_shops: int = 20_000) -> Iterator[str]:
    """COPY text for purchase_records (customer_id, month, cartons, amount_yuan, brand_count)."""
    months = [m.isoformat() for m in purchases.months]
    n = purchases.cartons.shape[0]
    for lo in range(0, n, chunk_shops):
        hi = min(n, lo + chunk_shops)
        ids = np.repeat(np.arange(lo + 1, hi + 1), MONTHS).tolist()
        month = months * (hi - lo)
        cartons = purchases.cartons[lo:hi].ravel().tolist()
        yuan, fen = np.divmod(purchases.cents[lo:hi].ravel(), 100)
        brands = purchases.brands[lo:hi].ravel().tolist()
        yield "".join(
            f"{i}\t{m}\t{c}\t{y}.{f:02d}\t{b}\n"
            for i, m, c, y, f, b in zip(
                ids, month, cartons, yuan.tolist(), fen.tolist(), brands, strict=True
            )
        )


def as_dates(months: list[dt.date]) -> DateArray:
    return np.array(months, dtype="datetime64[D]")
