"""Shared pieces of value normalisation: numbers and text from JSON-ish input, the storage
bounds of the customer columns, and the numeric rules (min, max, range). No database.
"""

from __future__ import annotations

import math
import re
import unicodedata
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Integer, Numeric, SmallInteger

from domain.catalogue import FieldSpec
from domain.errors import INVALID_FORMAT, INVALID_TYPE, OUT_OF_RANGE, DomainError
from domain.models import Customer

BIGINT_MAX = 2**63 - 1
HUGE = 10**30  # beyond any column; larger input is refused before any arithmetic
TYPE_BOUNDS: dict[str, tuple[int, int]] = {"weekday": (1, 7), "scale": (1, 3)}
INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def fail(spec: FieldSpec, code: str, text: str) -> DomainError:
    return DomainError(code, f"{spec.label_zh}{text}", spec.key)


# -- storage bounds of the customer column ------------------------------------------------------


@cache
def int_limit(column: str) -> int:
    col = Customer.__table__.c.get(column)
    kind = None if col is None else col.type
    if isinstance(kind, SmallInteger):
        return 2**15 - 1
    if isinstance(kind, BigInteger) or not isinstance(kind, Integer):
        return BIGINT_MAX
    return 2**31 - 1


@cache
def numeric_shape(column: str) -> tuple[int, int] | None:
    """(precision, scale) of a ``Numeric(p, s)`` column, None when unbounded or unknown."""
    col = Customer.__table__.c.get(column)
    kind = None if col is None else col.type
    if isinstance(kind, Numeric) and kind.precision is not None:
        return kind.precision, kind.scale or 0
    return None


# -- shared pieces ------------------------------------------------------------------------------


def clean_text(spec: FieldSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise fail(spec, INVALID_TYPE, "须为文本")
    text = value.strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise fail(spec, INVALID_FORMAT, "含有无法识别的字符") from None
    if CONTROL_CHARS.search(text):
        raise fail(spec, INVALID_FORMAT, "含有不可用的控制字符")
    return text


def code_text(spec: FieldSpec, value: Any) -> str:
    """Codes and numbers typed as text (full-width digits folded) or given as an integer."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**40:
        return str(value)
    if isinstance(value, bool) or not isinstance(value, str):
        raise fail(spec, INVALID_TYPE, "须为文本")
    return unicodedata.normalize("NFKC", value).strip()


def to_decimal(spec: FieldSpec, value: Any) -> Decimal:
    """The number as a Decimal; a negative zero (-0, -0.0) becomes 0, as PostgreSQL stores it."""
    number = _decimal(spec, value)
    return number.copy_abs() if number.is_zero() else number


def _decimal(spec: FieldSpec, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise fail(spec, INVALID_TYPE, "须为数字")
    if isinstance(value, int):
        if abs(value) > HUGE:
            raise fail(spec, OUT_OF_RANGE, "超出可存储的范围")
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise fail(spec, INVALID_FORMAT, "须为有限的数字")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise fail(spec, INVALID_FORMAT, "须为有限的数字")
        return value
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if len(text) > 60 or not DECIMAL_TEXT.fullmatch(text):
            raise fail(spec, INVALID_FORMAT, "须为数字")
        return Decimal(text)
    raise fail(spec, INVALID_TYPE, "须为数字")


def to_int(spec: FieldSpec, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > HUGE:
            raise fail(spec, OUT_OF_RANGE, "超出可存储的范围")
        return value
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if not INTEGER_TEXT.fullmatch(text):
            raise fail(spec, INVALID_FORMAT, "须为整数")
        if len(text.lstrip("+-").lstrip("0")) > 30:
            raise fail(spec, OUT_OF_RANGE, "超出可存储的范围")
        return int(text)
    if isinstance(value, (float, Decimal)):
        number = to_decimal(spec, value)
        if number != number.to_integral_value():
            raise fail(spec, INVALID_TYPE, "须为整数")
        if abs(number) > HUGE:
            raise fail(spec, OUT_OF_RANGE, "超出可存储的范围")
        return int(number)
    raise fail(spec, INVALID_TYPE, "须为整数")


def check_number_rules(spec: FieldSpec, number: int | Decimal) -> None:
    low, high = TYPE_BOUNDS.get(spec.type, (None, None))
    if low is not None and high is not None and not low <= number <= high:
        raise fail(spec, OUT_OF_RANGE, f"须在{low}到{high}之间")
    if (rule := spec.rule("range")) is not None:
        a, b = rule.bounds
        if not a <= number <= b:
            raise fail(spec, OUT_OF_RANGE, f"须在{a}到{b}之间")
    if (rule := spec.rule("min")) is not None and number < rule.number:
        raise fail(spec, OUT_OF_RANGE, f"不能小于{rule.arg}")
    if (rule := spec.rule("max")) is not None and number > rule.number:
        raise fail(spec, OUT_OF_RANGE, f"不能大于{rule.arg}")
