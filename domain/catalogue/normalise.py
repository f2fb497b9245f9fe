"""One input value of a catalogue field -> the value to store, by the field's TYPE and its
pure rules (required, min, max, range, maxlen). No database; see ``validate`` for the rest.

Input is JSON-ish (API, admin forms, Excel imports); a refusal is a ``DomainError`` naming the
field. Numbers are also bounded by the storage column (``Numeric(p, s)``, ``SmallInteger``...)
so a value accepted here never overflows the database.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from domain.catalogue import FieldSpec
from domain.catalogue.primitives import (
    check_number_rules,
    clean_text,
    code_text,
    fail,
    int_limit,
    numeric_shape,
    to_decimal,
    to_int,
)
from domain.errors import (
    INVALID_FORMAT,
    INVALID_TYPE,
    NOT_ALLOWED_VALUE,
    NOT_FOUND,
    OUT_OF_RANGE,
    REQUIRED,
    DomainError,
)
from domain.values import from_json
from geo.crs import Crs
from geo.points import PointError, check_point

DEFAULT_MAXLEN = 200
DEFAULT_JSON_MAXLEN = 10_000
TRUE_WORDS = frozenset({"true", "是"})
FALSE_WORDS = frozenset({"false", "否"})

_DIGITS12 = re.compile(r"[0-9]{12}")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE = re.compile(r"0[1-9][0-9]{1,2}-?[2-9][0-9]{6,7}(-[0-9]{1,6})?")
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")
_BANK_ACCOUNT = re.compile(r"[0-9]{12,30}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
EARLIEST_BIRTH = dt.date(1900, 1, 1)


# -- one normaliser per type --------------------------------------------------------------------


def _text(spec: FieldSpec, value: Any) -> str:
    text = clean_text(spec, value)
    rule = spec.rule("maxlen")
    limit = int(rule.arg) if rule else DEFAULT_MAXLEN
    if len(text) > limit:
        raise fail(spec, OUT_OF_RANGE, f"不能超过{limit}个字符")
    return text


def _digits12(spec: FieldSpec, value: Any) -> str:
    text = code_text(spec, value)
    if not _DIGITS12.fullmatch(text):
        raise fail(spec, INVALID_FORMAT, "须为12位数字")
    return text


def _phone(spec: FieldSpec, value: Any) -> str:
    text = "".join(code_text(spec, value).split())
    if not (_MOBILE.fullmatch(text) or _LANDLINE.fullmatch(text)):
        raise fail(spec, INVALID_FORMAT, "须为11位手机号或带区号的固定电话（如029-88886666）")
    return text


def _id_number(spec: FieldSpec, value: Any) -> str:
    text = code_text(spec, value).upper()
    if not _ID_NUMBER.fullmatch(text):
        raise fail(spec, INVALID_FORMAT, "须为18位身份证号码")
    total = sum(int(d) * w for d, w in zip(text[:17], ID_WEIGHTS, strict=True))
    if ID_CHECK[total % 11] != text[17]:
        raise fail(spec, INVALID_FORMAT, "校验位不正确")
    try:
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        born = None
    if born is None or not EARLIEST_BIRTH <= born <= dt.date.today():
        raise fail(spec, INVALID_FORMAT, "中的出生日期无效")
    return text


def _bank_account(spec: FieldSpec, value: Any) -> str:
    text = "".join(code_text(spec, value).split())
    if not _BANK_ACCOUNT.fullmatch(text):
        raise fail(spec, INVALID_FORMAT, "须为12到30位数字")
    return text


def _date(spec: FieldSpec, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None or value.time() != dt.time(0):
            raise fail(spec, INVALID_FORMAT, "须为日期（不含时间）")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise fail(spec, INVALID_TYPE, "须为日期（YYYY-MM-DD）")
    text = unicodedata.normalize("NFKC", value).strip()
    if not _ISO_DATE.fullmatch(text):
        raise fail(spec, INVALID_FORMAT, "须为日期（YYYY-MM-DD）")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise fail(spec, INVALID_FORMAT, "不是有效的日期") from None


def _squash(text: str) -> str:
    return "".join(text.split())


def _enum(spec: FieldSpec, value: Any) -> str:
    text = _squash(clean_text(spec, value))
    for choice in spec.choices:
        if text in (choice.code, _squash(choice.label_zh)):
            return choice.code
    folded = [c.code for c in spec.choices if c.code.casefold() == text.casefold()]
    if len(folded) == 1:
        return folded[0]
    labels = "、".join(c.label_zh for c in spec.choices)
    raise fail(spec, NOT_ALLOWED_VALUE, f"须为以下之一：{labels}")


def _decimal(spec: FieldSpec, value: Any) -> Decimal:
    number = to_decimal(spec, value)
    check_number_rules(spec, number)
    shape = numeric_shape(spec.column)
    if shape is None:
        return number
    precision, places = shape
    if abs(number) >= Decimal(10) ** (precision - places):
        raise fail(spec, OUT_OF_RANGE, "超出可存储的范围")
    stored = number.quantize(Decimal(1).scaleb(-places))
    if stored != number:
        raise fail(spec, INVALID_FORMAT, f"最多保留{places}位小数")
    return stored


def _integer(spec: FieldSpec, value: Any) -> int:
    number = to_int(spec, value)
    check_number_rules(spec, number)
    if abs(number) > int_limit(spec.column):
        raise fail(spec, OUT_OF_RANGE, "超出可存储的范围")
    return number


def _bool(spec: FieldSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise fail(spec, INVALID_TYPE, "须为是或否")
    word = value.strip().casefold()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise fail(spec, INVALID_FORMAT, "须为是或否")


def _coordinates(spec: FieldSpec, value: Mapping[Any, Any]) -> tuple[Any, Any]:
    if "type" in value or "coordinates" in value:
        coords = value.get("coordinates")
        if value.get("type") != "Point" or not isinstance(coords, (list, tuple)):
            raise fail(spec, INVALID_FORMAT, "须为GeoJSON点（Point）")
        if len(coords) != 2:
            raise fail(spec, INVALID_FORMAT, "的坐标须为[经度, 纬度]")
        return coords[0], coords[1]
    if "lng" in value and "lat" in value:
        return value["lng"], value["lat"]
    raise fail(spec, INVALID_FORMAT, "须为GeoJSON点或{lng, lat}")


def _crs(spec: FieldSpec, value: Mapping[Any, Any]) -> Crs:
    """The input's coordinate system: ``{lng, lat, crs}`` may name one; GeoJSON is WGS-84."""
    raw = value.get("crs", "WGS84") if "type" not in value else "WGS84"
    if "type" in value and "crs" in value:
        raise fail(spec, INVALID_FORMAT, "为GeoJSON时不能带crs（RFC 7946 规定为WGS-84）")
    try:
        return Crs(str(raw).upper())
    except ValueError:
        raise fail(spec, INVALID_FORMAT, "的坐标系须为 WGS84、GCJ02 或 BD09") from None


def _point(spec: FieldSpec, value: Any) -> Any:
    """A point in WGS-84: converted from GCJ-02/BD-09 when the input says so; refused when
    not finite, out of range, or with longitude and latitude swapped."""
    if not isinstance(value, Mapping):
        raise fail(spec, INVALID_TYPE, "须为GeoJSON点或{lng, lat}")
    raw_lng, raw_lat = _coordinates(spec, value)
    crs = _crs(spec, value)
    lng, lat = to_decimal(spec, raw_lng), to_decimal(spec, raw_lat)
    try:
        checked = check_point(float(lng), float(lat), crs)
    except PointError as err:
        if err.reason == "not_finite":
            raise fail(spec, INVALID_FORMAT, "的经纬度须为有限数值") from None
        hint = (
            f"（经纬度是否颠倒？应先经度后纬度：经度 {float(lat):g}，纬度 {float(lng):g}）"
            if err.reason == "swapped"
            else ""
        )
        raise fail(
            spec, OUT_OF_RANGE, f"的经度须在-180到180之间、纬度须在-90到90之间{hint}"
        ) from None
    return from_json(spec, {"type": "Point", "coordinates": [checked.lng, checked.lat]})


def point_input(value: Mapping[str, Any]) -> dict[str, Any] | None:
    """The coordinates as entered and their system, kept as the location's provenance."""
    if "lng" not in value or "lat" not in value:
        return None
    return {"lng": value["lng"], "lat": value["lat"], "crs": str(value.get("crs", "WGS84"))}


def _json(spec: FieldSpec, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(spec, INVALID_TYPE, "须为JSON对象")
    try:
        text = json.dumps(dict(value), ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        raise fail(spec, INVALID_FORMAT, "不是有效的JSON") from None
    if "\\u0000" in text:
        raise fail(spec, INVALID_FORMAT, "含有不可用的控制字符")
    rule = spec.rule("maxlen")
    if len(text) > (int(rule.arg) if rule else DEFAULT_JSON_MAXLEN):
        raise fail(spec, OUT_OF_RANGE, "过大")
    loaded: dict[str, Any] = json.loads(text, parse_float=_jsonb_number)
    return loaded


def _jsonb_number(text: str) -> float | int:
    """A JSON number as it reads back from jsonb: exponent forms like 1e+16 come back whole."""
    if "e" in text.lower():
        number = Decimal(text)
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(number)
    return float(text)


def _ref(spec: FieldSpec, value: Any) -> int:
    try:
        ref_id = to_int(spec, value)
    except DomainError as exc:
        if exc.code != OUT_OF_RANGE:
            raise
        ref_id = 0  # an id beyond any column cannot exist
    if not 1 <= ref_id <= int_limit(spec.column):
        raise fail(spec, NOT_FOUND, "不存在")
    return ref_id


NORMALISERS: dict[str, Callable[[FieldSpec, Any], Any]] = {
    "code12": _digits12,
    "digits12": _digits12,
    "text": _text,
    "image": _text,
    "date": _date,
    "point": _point,
    "enum": _enum,
    "decimal": _decimal,
    "int": _integer,
    "weekday": _integer,
    "scale": _integer,
    "bank_account": _bank_account,
    "phone": _phone,
    "id_number": _id_number,
    "json": _json,
    "bool": _bool,
}


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def normalise_value(spec: FieldSpec, raw_value: Any) -> Any:
    """The stored form of one input value; DomainError (field = the key) when refused.

    Blank (None or an empty/whitespace string) is None, refused with REQUIRED when the field
    is ``required``. Applies the type's format and the rules that need no database.
    """
    if is_blank(raw_value):
        if spec.has_rule("required"):
            raise fail(spec, REQUIRED, "不能为空")
        return None
    normaliser = NORMALISERS.get(spec.type)
    if normaliser is None and spec.type.startswith("ref:"):
        normaliser = _ref
    if normaliser is None:
        raise ValueError(f"{spec.key}: no normaliser for type {spec.type!r}")
    return normaliser(spec, raw_value)
