"""The rule language of the catalogue's ``rules`` column: parsing and checking (no database).

The language itself is documented in ``domain.catalogue.validate``. This module only turns
the text into :class:`Rule` values and refuses rules that cannot apply to a field's type, so
a mistake in a province's file fails when the catalogue is loaded, not when a shop is saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

# Types whose values are ordered (min/max/range and the cross-field order rules apply).
NUMERIC_TYPES = frozenset({"int", "decimal", "weekday", "scale"})
ORDERED_TYPES = NUMERIC_TYPES | {"date"}
TEXT_TYPES = frozenset({"text", "image"})
# The tables a ``ref:`` type may point at (see validate_db.REF_TARGETS).
REF_TYPES = frozenset({"ref:region", "ref:user", "ref:route", "ref:depot"})
SCALAR_TYPES = frozenset(
    {"code12", "digits12", "text", "date", "point", "enum", "decimal", "int", "weekday"}
    | {"scale", "bank_account", "phone", "id_number", "image", "json", "bool"}
)
KNOWN_TYPES = SCALAR_TYPES | REF_TYPES

# The status field and value that ``unique_active`` reads ("not closed" = active).
STATUS_KEY = "status"
CLOSED_STATUS = "closed"

ANY = frozenset(KNOWN_TYPES)
# rule name -> (argument kind, the types it applies to)
RULES: dict[str, tuple[str, frozenset[str]]] = {
    "required": ("none", ANY),
    "unique": ("none", ANY - {"point", "json"}),
    "unique_active": ("none", ANY - {"point", "json"}),
    "after": ("key", ORDERED_TYPES),
    "not_before": ("key", ORDERED_TYPES),
    "min": ("number", NUMERIC_TYPES),
    "max": ("number", NUMERIC_TYPES),
    "range": ("range", NUMERIC_TYPES),
    "maxlen": ("count", TEXT_TYPES | {"json"}),
    "in_service_area": ("none", frozenset({"point"})),
    "role": ("word", frozenset({"ref:user"})),
    "kind": ("word", frozenset({"ref:depot", "ref:region"})),
    "active": ("none", frozenset({"ref:user", "ref:route"})),
    "default": ("value", ANY - {"point", "json"} - REF_TYPES),
}
CROSS_FIELD_RULES = ("after", "not_before")

_WORD = re.compile(r"[a-z][a-z0-9_]*")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class Rule:
    """One rule of a field: a name and its (textual) argument, ``""`` when it takes none."""

    name: str
    arg: str = ""

    def __str__(self) -> str:
        return f"{self.name}:{self.arg}" if self.arg else self.name

    @property
    def number(self) -> Decimal:
        """The argument of ``min``/``max`` as a number."""
        return Decimal(self.arg)

    @property
    def bounds(self) -> tuple[Decimal, Decimal]:
        """The argument of ``range:a..b`` as its two ends."""
        low, _, high = self.arg.partition("..")
        return Decimal(low), Decimal(high)


class _Spec(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def rules(self) -> tuple[Rule, ...]: ...
    @property
    def choice_codes(self) -> tuple[str, ...]: ...


def _is_range(arg: str) -> bool:
    low, sep, high = arg.partition("..")
    if not (sep and _NUMBER.fullmatch(low) and _NUMBER.fullmatch(high)):
        return False
    return Decimal(low) <= Decimal(high)


def _check_arg(name: str, kind: str, arg: str) -> None:
    checks: dict[str, Callable[[str], bool]] = {
        "none": lambda a: a == "",
        "key": lambda a: _WORD.fullmatch(a) is not None,
        "word": lambda a: _WORD.fullmatch(a) is not None,
        "number": lambda a: _NUMBER.fullmatch(a) is not None,
        "count": lambda a: a.isascii() and a.isdigit() and int(a) > 0,
        "range": _is_range,
        "value": lambda a: a != "",
    }
    if not checks[kind](arg):
        shown = f"{name}:{arg}" if arg else name
        raise ValueError(f"rule {shown!r}: bad argument")


def parse_rules(text: str) -> tuple[Rule, ...]:
    """``"required;maxlen:50"`` -> rules; ValueError on an unknown rule or a bad argument."""
    out: list[Rule] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, arg = part.partition(":")
        name, arg = name.strip(), arg.strip()
        if name not in RULES:
            raise ValueError(f"unknown rule {name!r}")
        _check_arg(name, RULES[name][0], arg)
        if any(r.name == name for r in out):
            raise ValueError(f"rule {name!r} given twice")
        out.append(Rule(name, arg))
    return tuple(out)


def check_field_rules(spec: _Spec) -> None:
    """Refuse a rule that cannot apply to the field's type (ValueError)."""
    if spec.type not in KNOWN_TYPES:
        raise ValueError(f"{spec.key}: unknown type {spec.type!r}")
    for rule in spec.rules:
        if spec.type not in RULES[rule.name][1]:
            raise ValueError(f"{spec.key}: rule {str(rule)!r} does not apply to {spec.type}")
        if rule.name == "default" and spec.type == "enum" and rule.arg not in spec.choice_codes:
            raise ValueError(f"{spec.key}: default {rule.arg!r} is not one of its codes")


def check_cross_field_rules(specs: Sequence[_Spec]) -> None:
    """Cross-field rules must name another field of the same ordered type."""
    types = {s.key: s.type for s in specs}
    for spec in specs:
        for rule in spec.rules:
            if rule.name not in CROSS_FIELD_RULES:
                continue
            other = types.get(rule.arg)
            if other is None or rule.arg == spec.key:
                raise ValueError(f"{spec.key}: rule {str(rule)!r} names no other field")
            if (other == "date") != (spec.type == "date"):
                raise ValueError(f"{spec.key}: rule {str(rule)!r} compares a date with a number")


def rules_text(rules: Iterable[Rule]) -> str:
    """The file form of a field's rules."""
    return ";".join(str(r) for r in rules)
