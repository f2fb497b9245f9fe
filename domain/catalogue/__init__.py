"""The field catalogue of the retail customer record, held as data (``fields.csv``).

A province changes the file and the behaviour follows: storage type, allowed values,
owner department, approval rule and validation rules (the ``rules`` column, see
``domain.catalogue.validate``) are read from here, never from per-field code.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from domain.catalogue.rules import Rule, check_cross_field_rules, check_field_rules, parse_rules

CATALOGUE_FILE = Path(__file__).with_name("fields.csv")

GROUPS: dict[str, str] = {
    "identity": "识别信息",
    "basic": "基本信息",
    "business_mode": "业务模式",
    "business_level": "经营水平",
    "compliance": "守法信息",
    "service": "服务信息",
}
MAINTENANCE: dict[str, str] = {
    "static": "静态",
    "quarterly": "季度调整",
    "realtime": "实时调整",
    "auto": "系统自动生成",
}


@dataclass(frozen=True)
class Choice:
    code: str
    label_zh: str


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label_zh: str
    group: str
    national: bool
    maintenance: str
    owner: str
    approval: str | None
    type: str
    column: str
    choices: tuple[Choice, ...]
    personal: bool
    notes: str
    position: int
    rules: tuple[Rule, ...] = ()

    @property
    def choice_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.choices)

    def rule(self, name: str) -> Rule | None:
        """The field's rule of that name, if it has one."""
        for rule in self.rules:  # a loop, not a generator: called for millions of cells
            if rule.name == name:
                return rule
        return None

    def has_rule(self, name: str) -> bool:
        return self.rule(name) is not None


def _parse_choices(raw: str) -> tuple[Choice, ...]:
    if not raw:
        return ()
    out = []
    for part in raw.split("|"):
        code, _, label = part.partition("=")
        out.append(Choice(code.strip(), (label or code).strip()))
    return tuple(out)


def load_catalogue(path: Path = CATALOGUE_FILE) -> tuple[FieldSpec, ...]:
    """Read the catalogue file; raise ValueError naming the line on a malformed row."""
    specs: list[FieldSpec] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for pos, row in enumerate(csv.DictReader(fh), start=1):
            if row["group"] not in GROUPS or row["maintenance"] not in MAINTENANCE:
                raise ValueError(f"{path.name}:{pos + 1}: unknown group or maintenance class")
            try:
                spec = FieldSpec(
                    key=row["key"],
                    label_zh=row["label_zh"],
                    group=row["group"],
                    national=row["national"].strip() == "*",
                    maintenance=row["maintenance"],
                    owner=row["owner"],
                    approval=row["approval"] or None,
                    type=row["type"],
                    column=row["column"] or row["key"],
                    choices=_parse_choices(row["choices"]),
                    personal=row["personal"].strip() == "*",
                    notes=row["notes"],
                    position=pos,
                    rules=parse_rules(row.get("rules") or ""),
                )
                check_field_rules(spec)
            except ValueError as exc:
                raise ValueError(f"{path.name}:{pos + 1}: {exc}") from exc
            specs.append(spec)
    for spec in specs:
        try:
            check_cross_field_rules(spec, specs)
        except ValueError as exc:
            raise ValueError(f"{path.name}:{spec.position + 1}: {exc}") from exc
    return tuple(specs)


@cache
def catalogue() -> tuple[FieldSpec, ...]:
    return load_catalogue()


@cache
def field(key: str) -> FieldSpec:
    for spec in catalogue():
        if spec.key == key:
            return spec
    raise KeyError(key)


def choice_codes(key: str) -> tuple[str, ...]:
    """Allowed stored values of an enum field, in catalogue order."""
    return field(key).choice_codes
