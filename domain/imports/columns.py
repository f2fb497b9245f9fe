"""Which column of a customer file holds which catalogue field.

A header may be the catalogue's Chinese label (客户基础信息表) or its English key, with
blanks, case and full-width forms ignored. The location comes either as one column
(地理位置(经纬度) / location: "经度,纬度") or as 经度/lng and 纬度/lat columns, with an
optional 坐标系/crs column (default WGS-84). System-computed fields and unknown columns are
reported and ignored; two columns for one field make the file unusable.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.catalogue import FieldSpec
from domain.errors import INVALID_FORMAT, READ_ONLY_FIELD, UNKNOWN_FIELD, DomainError
from domain.imports.report import HEADER_ROW, RowIssue

PART_NAMES: dict[str, tuple[str, ...]] = {
    "lng": ("经度", "lng", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "crs": ("坐标系", "crs"),
}
PART_LABELS = {"lng": "经度", "lat": "纬度", "crs": "坐标系"}


def fold(text: str) -> str:
    """A header or label compared loosely: NFKC, no blanks, case-folded."""
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


@dataclass
class ColumnMap:
    fields: dict[int, FieldSpec] = field(default_factory=dict)
    parts: dict[str, int] = field(default_factory=dict)  # lng / lat / crs -> column index
    warnings: list[RowIssue] = field(default_factory=list)

    def has(self, key: str) -> bool:
        return any(s.key == key for s in self.fields.values())


def _names(specs: Sequence[FieldSpec]) -> dict[str, str]:
    names: dict[str, str] = {}
    for spec in specs:
        names[fold(spec.label_zh)] = spec.key
        names[fold(spec.key)] = spec.key
    for part, aliases in PART_NAMES.items():
        for alias in aliases:
            names[fold(alias)] = f"@{part}"
    return names


def _claim(seen: dict[str, str], target: str, header: str) -> None:
    if target in seen:
        raise DomainError(
            INVALID_FORMAT, f"列「{header}」与列「{seen[target]}」对应同一字段，请删除其一", target
        )
    seen[target] = header


def map_columns(header: Sequence[str], specs: Sequence[FieldSpec]) -> ColumnMap:
    """The column plan of a header; DomainError when two columns name the same field."""
    names = _names(specs)
    by_key = {s.key: s for s in specs}
    out = ColumnMap()
    seen: dict[str, str] = {}
    for index, raw in enumerate(header):
        if not raw:
            continue
        target = names.get(fold(raw))
        if target is None:
            out.warnings.append(
                RowIssue(HEADER_ROW, raw, raw, UNKNOWN_FIELD, f"未知列「{raw}」，已忽略")
            )
            continue
        _claim(seen, target, raw)
        if target.startswith("@"):
            out.parts[target[1:]] = index
            continue
        spec = by_key[target]
        if spec.maintenance == "auto":
            text = f"{spec.label_zh}由系统自动生成，导入时忽略此列"
            issue = RowIssue(HEADER_ROW, spec.key, spec.label_zh, READ_ONLY_FIELD, text)
            out.warnings.append(issue)
            continue
        out.fields[index] = spec
    _check_location(out, seen)
    return out


def _check_location(out: ColumnMap, seen: dict[str, str]) -> None:
    has_pair = "lng" in out.parts or "lat" in out.parts
    if has_pair and out.has("location"):
        raise DomainError(
            INVALID_FORMAT, "地理位置只能以一列（经度,纬度）或经度、纬度两列给出", "location"
        )
    if has_pair and not ("lng" in out.parts and "lat" in out.parts):
        raise DomainError(INVALID_FORMAT, "经度和纬度两列须同时提供", "location")
