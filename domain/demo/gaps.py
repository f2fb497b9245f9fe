"""Incomplete records, so completeness reports have something to show.

About 5% of the shops miss one to three optional fields; the newest shops (joined in the
last week, still in onboarding) miss many. Never emptied: code, name, licence number,
location, region, status, route, sequence, manager (and the fields the classification and
the database constraints need).
"""

from __future__ import annotations

import numpy as np

from domain.demo.common import BoolArray
from domain.demo.shops import Shops

GAP_SHARE = 0.05
OCCASIONAL_GAPS = (
    "business_scope", "registered_capital", "business_area_m2", "display_form", "tax_id",
    "tax_type", "bank_name", "home_address", "mailing_address", "id_number", "photo_shopfront",
    "photo_counter", "promotion_behaviour", "satisfaction", "network_scale", "annual_review_on",
    "issuing_bureau", "invoice_type", "is_model_shop", "contact_person", "monopoly_officer",
    "phone_order_clerk", "delivery_segment", "business_nature", "customer_nature",
)  # fmt: skip
ONBOARDING_GAPS = (
    "business_scope", "registered_capital", "business_area_m2", "display_form", "tax_id",
    "tax_type", "bank_name", "bank_account", "home_address", "id_number", "photo_shopfront",
    "photo_counter", "promotion_behaviour", "satisfaction", "network_scale", "is_model_shop",
    "is_monitored", "annual_review_on", "monthly_agreed_qty", "quota_class", "total_limit",
    "item_limit", "phone_order_clerk", "invoice_type",
)  # fmt: skip


def apply_gaps(shops: Shops, rng: np.random.Generator) -> BoolArray:
    """Blank fields (as NULL masks); return which shops have gaps."""
    n = shops.n
    masks = {key: np.zeros(n, dtype=bool) for key in OCCASIONAL_GAPS + ONBOARDING_GAPS}
    chosen = (rng.random(n) < GAP_SHARE) & ~shops.newest
    rows = np.flatnonzero(chosen)
    how_many = rng.integers(1, 4, size=len(rows))
    picks = rng.random((len(rows), len(OCCASIONAL_GAPS))).argsort(axis=1)
    for row, k, order in zip(rows.tolist(), how_many.tolist(), picks.tolist(), strict=True):
        for field in order[:k]:
            masks[OCCASIONAL_GAPS[field]][row] = True
    for key in ONBOARDING_GAPS:
        masks[key] |= shops.newest
    for key, mask in masks.items():
        if mask.any():
            shops.cols[key] = shops.cols[key].with_nulls(mask)
    return chosen | shops.newest
