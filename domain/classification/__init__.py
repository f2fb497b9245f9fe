"""Retail customer classification (零售客户分类): business scale and classification code.

The code is ``{market_type}-{business_format}-{scale}`` (e.g. ``urban-convenience-2``);
the scale (经营规模) is recomputed from the purchases of a period, in SQL, set-based:

- **Period**: the purchase months whose 1st lies in [1st of period_start's month,
  period_end]. An inverted period, or one holding no purchase month at all, is refused
  with ``DomainError(INVALID, field="period")``.
- **Scored shops**: status active or suspended, with a business format and a market type
  (both are part of the code). Closed shops, and shops lacking either, are left as they are.
- **Established vs provisional**: a shop that joined less than one quarter before ``as_of``
  (``joined_on > as_of − 3 months``) is provisional; the others (and shops without a
  joining date) are established.
- **Score** of an established shop, within its format, over the period:
  ``(shop_qty / format_qty + shop_amount / format_amount) / 2``, the totals being those of
  the established shops of the format (a shop with no purchases scores 0; a format whose
  total is 0 gives every share 0).
- **Cut** (per format, ``n`` established shops, ``k = floor(0.2·n + 0.5)``, i.e. 20% of n
  rounded half up): rank = ``row_number()`` by score descending, ties broken by the lower
  customer id first. Scale 1 (大) if rank ≤ k, 3 (小) if rank > n − k, otherwise 2 (中).
  n = 10 gives 2/6/2, n = 7 gives 1/5/1, n = 3 gives 1/1/1, n ≤ 2 gives all 2.
- **Provisional shops** take no part in the ranking or the format totals. Their
  monthly-average score is ``(q / m / (format_qty / M) + a / m / (format_amount / M)) / 2``
  with m the period months since the month it joined and M the period's months: the same
  scale as an established score. Placed against the format's cut-offs c1 (lowest score of
  a scale-1 shop) and c3 (highest score of a scale-3 shop): 1 if score ≥ c1 and > c3,
  else 3 if score ≤ c3, else 2. A format without a cut-off cannot give that scale; a
  provisional shop with no period month since joining (m = 0) gets 2.

``compute_classification`` never writes. ``apply_classification`` locks the diff's shops in
key order and refuses (``STALE_VERSION``, nothing written) if any changed since the compute
(scale, code, status closed, market type or format); otherwise one UPDATE ... FROM the diff
(version + 1) and one INSERT ... SELECT of ledger rows (source 'classification', one per
changed field: business_scale as a JSON number, classification as a JSON string, an empty
old value as SQL NULL) run in one statement. ``recompute_classification`` does both. None
of them commits.
"""

from domain.classification.apply import apply_classification, recompute_classification
from domain.classification.compute import compute_classification
from domain.classification.diff import ClassificationDiff, ScaleChange, classification_code

__all__ = [
    "ClassificationDiff",
    "ScaleChange",
    "apply_classification",
    "classification_code",
    "compute_classification",
    "recompute_classification",
]
