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
from typing import Protocol, TypeAlias, TypeVar

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
    "required_when": ("condition", ANY),
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
# The types of a field a ``required_when`` condition may read: values it can hold one of.
INTEGER_TYPES = frozenset({"int", "weekday", "scale"})
CONDITION_TYPES = frozenset({"enum", "bool"}) | INTEGER_TYPES
BOOL_WORDS = {"true": True, "false": False}

# A condition value in its stored form: an enum code, a bool or an integer.
Stored: TypeAlias = str | bool | int

_WORD = re.compile(r"[a-z][a-z0-9_]*")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


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

    @property
    def condition(self) -> tuple[str, tuple[str, ...]]:
        """The argument of ``required_when:KEY=V1|V2`` as ``(KEY, (V1, V2))``, as written."""
        key, _, values = self.arg.partition("=")
        return key.strip(), tuple(v.strip() for v in values.split("|"))


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


def _is_condition(arg: str) -> bool:
    key, sep, values = arg.partition("=")
    parts = [v.strip() for v in values.split("|")]
    return bool(sep and _WORD.fullmatch(key.strip()) and all(parts) and "=" not in values)


def _check_arg(name: str, kind: str, arg: str) -> None:
    checks: dict[str, Callable[[str], bool]] = {
        "none": lambda a: a == "",
        "key": lambda a: _WORD.fullmatch(a) is not None,
        "word": lambda a: _WORD.fullmatch(a) is not None,
        "number": lambda a: _NUMBER.fullmatch(a) is not None,
        "count": lambda a: a.isascii() and a.isdigit() and int(a) > 0,
        "range": _is_range,
        "value": lambda a: a != "",
        "condition": _is_condition,
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
        rule = Rule(name, arg)
        if RULES[name][0] == "condition":  # one spelling: no blanks around = and |
            key, values = rule.condition
            rule = Rule(name, f"{key}={'|'.join(values)}")
        out.append(rule)
    if any(r.name == "required" for r in out) and any(r.name == "required_when" for r in out):
        raise ValueError("rules 'required' and 'required_when' exclude each other")
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


def check_cross_field_rules(spec: _Spec, specs: Sequence[_Spec]) -> None:
    """Rules naming another field: ``after``/``not_before`` one of the same ordered type,
    ``required_when`` a field of a condition type, with values it can hold (ValueError)."""
    types = {s.key: s.type for s in specs}
    for rule in spec.rules:
        if rule.name not in CROSS_FIELD_RULES:
            continue
        other = types.get(rule.arg)
        if other is None or rule.arg == spec.key:
            raise ValueError(f"{spec.key}: rule {str(rule)!r} names no other field")
        if (other == "date") != (spec.type == "date"):
            raise ValueError(f"{spec.key}: rule {str(rule)!r} compares a date with a number")
    required_condition(spec, specs)


def condition_value(spec: _Spec, text: str) -> Stored:
    """A value of a ``required_when`` condition in the stored form of field ``spec``."""
    if spec.type == "enum":
        if text not in spec.choice_codes:
            codes = "|".join(spec.choice_codes)
            raise ValueError(f"{text!r} is not one of the codes of {spec.key} ({codes})")
        return text
    if spec.type == "bool" and text in BOOL_WORDS:
        return BOOL_WORDS[text]
    if spec.type in INTEGER_TYPES and _INTEGER.fullmatch(text):
        return int(text)
    raise ValueError(f"{text!r} is not a value of the {spec.type} field {spec.key}")


S = TypeVar("S", bound=_Spec)


def required_condition(spec: S, specs: Sequence[S]) -> tuple[S, tuple[Stored, ...]] | None:
    """For a field with ``required_when``: the field the condition reads and the stored values
    that make ``spec`` required; None without the rule. ValueError when it cannot apply."""
    rule = next((r for r in spec.rules if r.name == "required_when"), None)
    if rule is None:
        return None
    key, texts = rule.condition
    other = next((s for s in specs if s.key == key), None)
    if other is None or key == spec.key:
        raise ValueError(f"{spec.key}: rule {str(rule)!r} names no other field")
    if other.type not in CONDITION_TYPES:
        raise ValueError(
            f"{spec.key}: rule {str(rule)!r} reads a {other.type} field"
            " (an enum, bool or integer field is needed)"
        )
    try:
        return other, tuple(condition_value(other, text) for text in texts)
    except ValueError as exc:
        raise ValueError(f"{spec.key}: rule {str(rule)!r}: {exc}") from None


def rules_text(rules: Iterable[Rule]) -> str:
    """The file form of a field's rules."""
    return ";".join(str(r) for r in rules)
