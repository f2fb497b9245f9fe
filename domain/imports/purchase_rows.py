"""Rows of a monthly purchase file (customer code, month, cartons, amount, brand count),
read without the database: formats, non-negative numbers within the columns' precision."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.catalogue import field as catalogue_field
from domain.catalogue.normalise import is_blank, normalise_value
from domain.errors import INVALID_FORMAT, OUT_OF_RANGE, REQUIRED, DomainError
from domain.imports.columns import fold
from domain.imports.files import Cells
from domain.imports.report import HEADER_ROW, RowIssue

# key -> (Chinese label, accepted headers)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "customer_code": ("客户代码", ("客户代码", "customer_code")),
    "month": ("月份", ("月份", "month")),
    "cartons": ("进货数量(条)", ("进货数量(条)", "进货数量", "条数", "cartons")),
    "amount_yuan": ("进货金额(元)", ("进货金额(元)", "进货金额", "金额", "amount_yuan", "amount")),
    "brand_count": ("经营品种数", ("经营品种数", "品种数", "brand_count")),
}
LABELS = {k: label for k, (label, _) in COLUMNS.items()}
# (digits before the point, places) of purchase_records.cartons / amount_yuan
SHAPES = {"cartons": (9, 1), "amount_yuan": (12, 2)}
_MONTH = re.compile(r"([0-9]{4})[-/.年]([0-9]{1,2})月?")
INT_MAX = 2**31 - 1


@dataclass
class PurchaseRow:
    number: int
    code: str | None = None
    month: dt.date | None = None
    cartons: Decimal | None = None
    amount_yuan: Decimal | None = None
    brand_count: int | None = None
    errors: list[DomainError] = field(default_factory=list)

    def refuse(self, key: str, code: str, text: str) -> None:
        self.errors.append(DomainError(code, f"{LABELS[key]}{text}", key))


def map_purchase_columns(header: Sequence[str]) -> tuple[dict[str, int], list[RowIssue]]:
    """Column index of each key; unknown columns as warnings; DomainError on a gap."""
    names = {fold(alias): key for key, (_, aliases) in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    warnings: list[RowIssue] = []
    for index, raw in enumerate(header):
        key = names.get(fold(raw)) if raw else None
        if key is None:
            if raw:
                warnings.append(
                    RowIssue(HEADER_ROW, raw, raw, "UNKNOWN_FIELD", f"未知列「{raw}」，已忽略")
                )
            continue
        if key in found:
            raise DomainError(INVALID_FORMAT, f"列「{raw}」重复", key)
        found[key] = index
    missing = [LABELS[k] for k in COLUMNS if k not in found]
    if missing:
        raise DomainError(INVALID_FORMAT, f"缺少列：{'、'.join(missing)}")
    return found, warnings


def _month(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value if value.day == 1 else None
    match = _MONTH.fullmatch(unicodedata.normalize("NFKC", str(value)).strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        return None
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip().replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _amount(row: PurchaseRow, key: str, value: Any) -> Decimal | None:
    number = _number(value)
    if number is None:
        row.refuse(key, INVALID_FORMAT, "须为数字")
        return None
    digits, places = SHAPES[key]
    if number < 0:
        row.refuse(key, OUT_OF_RANGE, "不能为负数")
    elif number >= Decimal(10) ** digits:
        row.refuse(key, OUT_OF_RANGE, "超出可存储的范围")
    elif number != number.quantize(Decimal(1).scaleb(-places)):
        row.refuse(key, INVALID_FORMAT, f"最多保留{places}位小数")
    else:
        return number.quantize(Decimal(1).scaleb(-places))
    return None


def _count(row: PurchaseRow, value: Any) -> int | None:
    number = _number(value)
    if number is None or number != number.to_integral_value():
        row.refuse("brand_count", INVALID_FORMAT, "须为整数")
    elif number < 0:
        row.refuse("brand_count", OUT_OF_RANGE, "不能为负数")
    elif number > INT_MAX:
        row.refuse("brand_count", OUT_OF_RANGE, "超出可存储的范围")
    else:
        return int(number)
    return None


def read_purchase_row(number: int, cells: Cells, columns: dict[str, int]) -> PurchaseRow:
    row = PurchaseRow(number)
    raw = {k: cells[i] if i < len(cells) else None for k, i in columns.items()}
    for key, value in raw.items():
        if is_blank(value):
            row.refuse(key, REQUIRED, "不能为空")
    if not is_blank(raw["customer_code"]):
        try:
            row.code = normalise_value(catalogue_field("customer_code"), raw["customer_code"])
        except DomainError as exc:
            row.errors.append(exc)
    if not is_blank(raw["month"]):
        row.month = _month(raw["month"])
        if row.month is None:
            row.refuse("month", INVALID_FORMAT, "须为YYYY-MM（如2026-10）")
    if not is_blank(raw["cartons"]):
        row.cartons = _amount(row, "cartons", raw["cartons"])
    if not is_blank(raw["amount_yuan"]):
        row.amount_yuan = _amount(row, "amount_yuan", raw["amount_yuan"])
    if not is_blank(raw["brand_count"]):
        row.brand_count = _count(row, raw["brand_count"])
    return row
