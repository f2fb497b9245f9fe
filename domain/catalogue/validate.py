"""Validation of customer changes, driven by the catalogue: TYPE gives the format, RULES the rest.

The rule language (column ``rules`` of ``fields.csv``; a province edits it, no code changes)
------------------------------------------------------------------------------------------
Rules are separated by ``;``; each is ``name`` or ``name:argument``; blanks are ignored and
a rule may appear once per field. A rule that cannot apply to the field's type, an unknown
rule or a bad argument is refused when the catalogue is loaded (ValueError naming the line).

===================  ==========================  ===============================================
rule                 applies to                  meaning (error code)
===================  ==========================  ===============================================
``required``         every type                  may not be empty or cleared; a new record must
                                                 give it unless it has a ``default`` (REQUIRED)
``required_when:``   every type (not with        as ``required``, but only while field KEY holds
``KEY=V[|V...]``     ``required``)               one of the values V: KEY an enum (V its codes),
                                                 bool (``true``/``false``) or integer field;
                                                 read on the record as it would be (REQUIRED)
``default:V``        not point/json/ref          a new record that omits the field gets ``V``
                                                 (an enum code, a number, a date, ...)
``unique``           not point/json              no other record, open or closed, holds the
                                                 value: it is never reused (DUPLICATE)
``unique_active``    not point/json              no other record whose ``status`` is not
                                                 ``closed`` holds it; checked again when a
                                                 closed record is reopened (DUPLICATE)
``after:KEY``        date and numbers            strictly after/greater than field KEY of the
                                                 same record (INCONSISTENT)
``not_before:KEY``   date and numbers            on or after / at least field KEY (INCONSISTENT)
``min:N``            int, decimal, weekday,      at least N (OUT_OF_RANGE)
                     scale
``max:N``            same                        at most N (OUT_OF_RANGE)
``range:A..B``       same                        between A and B inclusive (OUT_OF_RANGE)
``maxlen:N``         text, image, json           at most N characters (JSON: serialised);
                                                 default 200 for text/image, 10000 for json
                                                 (OUT_OF_RANGE)
``in_service_area``  point                       covered by a service area grown by its
                                                 ``buffer_m`` (OUTSIDE_SERVICE_AREA)
``role:R``           ref:user                    an active user with role R (NOT_ALLOWED_VALUE)
``kind:K``           ref:depot, ref:region       the referenced row is of kind K
``active``           ref:user, ref:route         the referenced row is active
===================  ==========================  ===============================================

Formats come from the TYPE, not from rules (see ``normalise``): code12/digits12 are 12 digits;
phone a mainland mobile or a landline with area code (``029-88886666``, extension allowed);
id_number 18 characters with a valid ISO 7064 MOD 11-2 check and birth date; bank_account
12-30 digits (spaces dropped); date ``YYYY-MM-DD`` or a date; int/weekday(1..7)/scale(1..3)
integers; decimal a finite number within the column's precision; enum a code or its Chinese
label (stored as the code); bool true/false/是/否; point a GeoJSON Point or ``{lng, lat}`` in
WGS-84; ref:* the id of an existing row; text/image trimmed strings; json an object.
A wrong JSON type is INVALID_TYPE, a wrong form INVALID_FORMAT.

Rules that read other records (unique, references, service area) and the cross-field rules
apply only to values that change, so a record with a legacy value can still be edited; the
format and pure rules apply to every value given. ``required_when`` is checked on the record
as it would be (stored values overlaid with the changes) when it is new, when the field is
given, or when KEY changes: switching KEY to such a value needs the field (given or stored),
and clearing the field while KEY holds one is refused; the error sits on the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from domain.catalogue import FieldSpec, catalogue
from domain.catalogue.checks import (
    REF_TARGETS,
    describe_ref_rules,
    outside_service_area,
    ref_states,
    taken,
)
from domain.catalogue.normalise import normalise_value
from domain.catalogue.rules import (
    CLOSED_STATUS,
    CROSS_FIELD_RULES,
    STATUS_KEY,
    Stored,
    required_condition,
)
from domain.errors import (
    DUPLICATE,
    INCONSISTENT,
    NOT_ALLOWED_VALUE,
    NOT_FOUND,
    OUTSIDE_SERVICE_AREA,
    REQUIRED,
    UNKNOWN_FIELD,
    DomainError,
    ValidationFailed,
)
from domain.models import Customer
from domain.values import to_json

__all__ = ["normalise_value", "validate_changes"]


class _Draft:
    """The record as it would be: the customer's current values overlaid with the changes."""

    def __init__(
        self, specs: tuple[FieldSpec, ...], customer: Customer | None, changes: dict[str, Any]
    ) -> None:
        self.by_key = {s.key: s for s in specs}
        self.customer = customer
        self.changes = changes
        self.errors: dict[str, DomainError] = {}

    def current(self, spec: FieldSpec) -> Any:
        return None if self.customer is None else getattr(self.customer, spec.column, None)

    def value(self, spec: FieldSpec) -> Any:
        return self.changes[spec.key] if spec.key in self.changes else self.current(spec)

    def changed(self, spec: FieldSpec) -> bool:
        """Given, valid and different from the stored value."""
        if spec.key not in self.changes or spec.key in self.errors:
            return False
        old, new = self.current(spec), self.changes[spec.key]
        if old is None or new is None:
            return old is not new
        return bool(to_json(spec, old) != to_json(spec, new))

    def refuse(self, spec: FieldSpec, code: str, text: str) -> None:
        self.errors.setdefault(spec.key, DomainError(code, f"{spec.label_zh}{text}", spec.key))


def _unknown(key: object) -> DomainError:
    name = key[:60] if isinstance(key, str) else f"<{type(key).__name__}>"
    return DomainError(UNKNOWN_FIELD, f"未知字段「{name}」", name)


def _fill_new_record(draft: _Draft, raw: Mapping[Any, Any]) -> None:
    for spec in draft.by_key.values():
        if spec.key in raw:
            continue
        default = spec.rule("default")
        if default is not None:
            try:
                draft.changes[spec.key] = normalise_value(spec, default.arg)
            except DomainError as exc:
                raise ValueError(f"{spec.key}: bad default {default.arg!r}") from exc
        elif spec.has_rule("required"):
            draft.refuse(spec, REQUIRED, "不能为空")


def _check_cross_fields(draft: _Draft) -> None:
    for spec in draft.by_key.values():
        for rule in spec.rules:
            other = draft.by_key.get(rule.arg)
            if rule.name not in CROSS_FIELD_RULES or other is None:
                continue
            if not (draft.changed(spec) or draft.changed(other)):
                continue
            if spec.key in draft.errors or other.key in draft.errors:
                continue
            mine, theirs = draft.value(spec), draft.value(other)
            if mine is None or theirs is None:
                continue
            strict = rule.name == "after"
            if mine > theirs if strict else mine >= theirs:
                continue
            need = f"{spec.label_zh}须{'晚于' if strict else '不早于'}{other.label_zh}"
            # the error sits on the field that changed: this one, else the one it is compared to
            target = spec if draft.changed(spec) else other
            text = need if target is spec else f"{other.label_zh}与{spec.label_zh}不符：{need}"
            draft.errors.setdefault(target.key, DomainError(INCONSISTENT, text, target.key))


def _shown(spec: FieldSpec, value: Stored) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    return next((c.label_zh for c in spec.choices if c.code == value), str(value))


def _check_required_when(draft: _Draft) -> None:
    specs = tuple(draft.by_key.values())
    for spec in specs:
        found = required_condition(spec, specs)
        if found is None or spec.key in draft.errors:
            continue
        other, values = found
        if other.key in draft.errors:
            continue
        touched = draft.customer is None or spec.key in draft.changes or draft.changed(other)
        if touched and draft.value(spec) is None and draft.value(other) in values:
            shown = "或".join(_shown(other, v) for v in values)
            draft.refuse(spec, REQUIRED, f"在{other.label_zh}为{shown}时不能为空")


def _uniques(draft: _Draft) -> list[tuple[FieldSpec, Any, bool]]:
    status = draft.by_key.get(STATUS_KEY)
    reopened = status is not None and draft.changed(status)
    if status is not None:
        is_closed = draft.value(status) == CLOSED_STATUS
    else:
        is_closed = getattr(draft.customer, STATUS_KEY, None) == CLOSED_STATUS
    out: list[tuple[FieldSpec, Any, bool]] = []
    for spec in draft.by_key.values():
        if not spec.has_rule("unique") and not spec.has_rule("unique_active"):
            continue
        value = draft.value(spec)
        if value is None or spec.key in draft.errors:
            continue
        if spec.has_rule("unique") and draft.changed(spec):
            out.append((spec, value, False))
        elif spec.has_rule("unique_active") and not is_closed and (draft.changed(spec) or reopened):
            out.append((spec, value, True))
    return out


def _check_database(session: Session, draft: _Draft) -> None:
    live = [
        s for s in draft.by_key.values() if draft.changed(s) and draft.changes[s.key] is not None
    ]
    uniques = _uniques(draft)
    refs = [(s, draft.changes[s.key]) for s in live if s.type in REF_TARGETS]
    points = [(s.key, draft.changes[s.key].data) for s in live if s.has_rule("in_service_area")]
    self_id = None if draft.customer is None else draft.customer.id
    for key in taken(session, self_id, uniques):
        spec = draft.by_key[key]
        whom = "其他在营客户" if spec.has_rule("unique_active") else "其他客户"
        draft.refuse(spec, DUPLICATE, f"已被{whom}使用")
    for key, state in ref_states(session, refs).items():
        spec = draft.by_key[key]
        if state is None:
            draft.refuse(spec, NOT_FOUND, "不存在")
        elif not state:
            draft.refuse(spec, NOT_ALLOWED_VALUE, describe_ref_rules(spec))
    for key in outside_service_area(session, points):
        draft.refuse(draft.by_key[key], OUTSIDE_SERVICE_AREA, "不在公司服务区域内")


def validate_changes(
    session: Session,
    customer: Customer | None,
    raw: Mapping[str, Any],
    *,
    specs: tuple[FieldSpec, ...] | None = None,
) -> dict[str, Any]:
    """Normalise and check changes to a customer (None: a new record) as a whole.

    ``raw`` maps catalogue keys to input values; the result maps the same keys (plus the
    defaults of a new record) to the values to store on ``spec.column``. Every error of
    every field is raised together as one ``ValidationFailed``; nothing is returned partly.
    """
    draft = _Draft(catalogue() if specs is None else specs, customer, {})
    unknown: list[DomainError] = []
    for key, value in raw.items():
        spec = draft.by_key.get(key) if isinstance(key, str) else None
        if spec is None:
            unknown.append(_unknown(key))
            continue
        try:
            draft.changes[key] = normalise_value(spec, value)
        except DomainError as exc:
            draft.errors[key] = exc
    if customer is None:
        _fill_new_record(draft, raw)
    with session.no_autoflush:  # reading the record must not write pending changes
        _check_required_when(draft)
        _check_cross_fields(draft)
        _check_database(session, draft)
    if unknown or draft.errors:
        ordered = [draft.errors[k] for k in draft.by_key if k in draft.errors]
        raise ValidationFailed([*unknown, *ordered])
    return draft.changes
