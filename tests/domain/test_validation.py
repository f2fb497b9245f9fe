"""Validation driven by the field catalogue: formats by type, rules as data, one error list."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from geoalchemy2 import WKTElement
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from domain.catalogue import CATALOGUE_FILE, FieldSpec, catalogue, field, load_catalogue
from domain.catalogue.rules import parse_rules, required_condition
from domain.catalogue.validate import normalise_value, validate_changes
from domain.demo import load_demo
from domain.demo.numbers import id_check_char
from domain.errors import DomainError, ValidationFailed
from domain.models import Customer, DeliveryRoute, Depot, User
from domain.values import to_json

AS_OF = dt.date(2026, 11, 1)
BEIJING = {"type": "Point", "coordinates": [116.4, 39.9]}
INSIDE = {"type": "Point", "coordinates": [108.94, 34.26]}  # Xi'an, Bell Tower


@pytest.fixture
def demo(session: Session) -> Session:
    """A 300-shop demo city (one shop closed) inside the test's rolled-back transaction."""
    load_demo(session.connection(), shops=300, seed=1, as_of=AS_OF)
    session.expire_all()
    return session


def shop(session: Session, *, status: str = "active", skip: int = 0) -> Customer:
    found = session.scalars(
        select(Customer).where(Customer.status == status).order_by(Customer.id).offset(skip)
    ).first()
    assert found is not None
    return found


def new_shop(**overrides: Any) -> dict[str, Any]:
    """The fields licensing forwards for a new shop (all required ones, as JSON)."""
    raw: dict[str, Any] = {
        "customer_code": "610103999001",
        "shop_name": "  新开便利店 ",
        "licence_no": "610103999001",
        "licence_issued_on": "2026-10-20",
        "licence_expires_on": "2031-10-19",
        "responsible_person": "王芳",
        "address": "西安市碑林区东大街1号",
        "location": INSIDE,
    }
    raw.update(overrides)
    return raw


def refused(call: Any) -> list[tuple[str, str | None]]:
    with pytest.raises(ValidationFailed) as info:
        call()
    return [(e.code, e.field) for e in info.value.errors]


def one_error(key: str, value: Any) -> DomainError:
    with pytest.raises(DomainError) as info:
        normalise_value(field(key), value)
    assert info.value.field == key
    assert field(key).label_zh in info.value.message
    return info.value


# -- formats by type (no database) ---------------------------------------------------------------

ACCEPTED: list[tuple[str, Any, Any]] = [
    ("customer_code", " 610103000001 ", "610103000001"),
    ("licence_no", "６１０１０３０００００１", "610103000001"),  # full-width digits
    ("phone", "139 1234 5678", "13912345678"),
    ("phone", "029-88886666", "029-88886666"),
    ("phone", "02988886666", "02988886666"),
    ("phone", "0917-3216549-12", "0917-3216549-12"),
    ("phone", 13912345678, "13912345678"),
    ("id_number", "11010519491231002x", "11010519491231002X"),
    ("id_number", "610103199107299487", "610103199107299487"),
    ("bank_account", "6212 8336 0575 0380 713", "6212833605750380713"),
    ("licence_issued_on", "2026-02-28", dt.date(2026, 2, 28)),
    ("licence_issued_on", dt.date(2026, 2, 28), dt.date(2026, 2, 28)),
    ("licence_issued_on", dt.datetime(2026, 2, 28), dt.date(2026, 2, 28)),
    ("order_batch", 3, 3),
    ("order_batch", " 7 ", 7),
    ("order_batch", 2.0, 2),
    ("business_scale", "1", 1),
    ("satisfaction", 0, 0),
    ("brand_count", "0", 0),
    ("registered_capital", "50000", Decimal("50000.00")),
    ("registered_capital", 1234.5, Decimal("1234.50")),
    ("registered_capital", "1e3", Decimal("1000.00")),
    ("business_area_m2", Decimal("33.60"), Decimal("33.6")),
    ("business_format", "convenience", "convenience"),
    ("business_format", "便利店", "convenience"),
    ("display_form", "柜台 + 货架", "counter_shelf"),
    ("credit_rating", "A级 守法诚信", "A"),
    ("quota_class", "b", "B"),
    ("is_monitored", True, True),
    ("is_monitored", "是", True),
    ("is_model_shop", "false", False),
    ("is_model_shop", "否", False),
    ("customer_manager", 27, 27),
    ("customer_manager", "27", 27),
    ("shop_name", "  金桥食杂店\u3000", "金桥食杂店"),
    ("photo_counter", "photos/1/counter.jpg", "photos/1/counter.jpg"),
    ("sales_structure", {"一类": 0.2, "二类": 0.8}, {"一类": 0.2, "二类": 0.8}),
]


@pytest.mark.parametrize(("key", "value", "stored"), ACCEPTED)
def test_each_type_accepts_and_normalises(key: str, value: Any, stored: Any) -> None:
    # when a well-formed value is given, then its stored form comes back
    result = normalise_value(field(key), value)
    assert result == stored
    assert type(result) is type(stored)


REFUSED: list[tuple[str, Any, str]] = [
    ("customer_code", "61010300000", "INVALID_FORMAT"),
    ("customer_code", "61010300000a", "INVALID_FORMAT"),
    ("customer_code", ["610103000001"], "INVALID_TYPE"),
    ("licence_no", True, "INVALID_TYPE"),
    ("phone", "12912345678", "INVALID_FORMAT"),
    ("phone", "1391234567", "INVALID_FORMAT"),
    ("phone", "029-12345678", "INVALID_FORMAT"),  # local numbers do not start with 0/1
    ("phone", "88886666", "INVALID_FORMAT"),  # no area code
    ("id_number", "110105194912310021", "INVALID_FORMAT"),  # check digit
    ("id_number", "11010519491331002X", "INVALID_FORMAT"),  # month 13 (check digit valid)
    ("id_number", "11010518991231002X", "INVALID_FORMAT"),  # born 1899
    ("id_number", "1101051949123100", "INVALID_FORMAT"),
    ("bank_account", "12345678901", "INVALID_FORMAT"),
    ("bank_account", "6212-8336-0575", "INVALID_FORMAT"),
    ("bank_account", "1" * 31, "INVALID_FORMAT"),
    ("licence_issued_on", "2026-02-30", "INVALID_FORMAT"),
    ("licence_issued_on", "2026/02/28", "INVALID_FORMAT"),
    ("licence_issued_on", "20260228", "INVALID_FORMAT"),
    ("licence_issued_on", 20260228, "INVALID_TYPE"),
    ("licence_issued_on", dt.datetime(2026, 2, 28, 9, 30), "INVALID_FORMAT"),
    ("order_batch", 0, "OUT_OF_RANGE"),
    ("order_batch", 8, "OUT_OF_RANGE"),
    ("order_batch", True, "INVALID_TYPE"),
    ("order_batch", 2.5, "INVALID_TYPE"),
    ("order_batch", "2.5", "INVALID_FORMAT"),
    ("order_batch", "周三", "INVALID_FORMAT"),
    ("business_scale", 4, "OUT_OF_RANGE"),
    ("satisfaction", 101, "OUT_OF_RANGE"),
    ("satisfaction", -1, "OUT_OF_RANGE"),
    ("order_cycle", 40000, "OUT_OF_RANGE"),
    ("brand_count", -1, "OUT_OF_RANGE"),
    ("brand_count", 2**40, "OUT_OF_RANGE"),  # beyond the integer column
    ("registered_capital", -0.01, "OUT_OF_RANGE"),
    ("registered_capital", "12.345", "INVALID_FORMAT"),  # Numeric(14, 2)
    ("registered_capital", "1e20", "OUT_OF_RANGE"),
    ("registered_capital", "abc", "INVALID_FORMAT"),
    ("registered_capital", False, "INVALID_TYPE"),
    ("registered_capital", float("nan"), "INVALID_FORMAT"),
    ("registered_capital", float("inf"), "INVALID_FORMAT"),
    ("registered_capital", Decimal("NaN"), "INVALID_FORMAT"),
    ("registered_capital", "Infinity", "INVALID_FORMAT"),
    ("business_format", "vending", "NOT_ALLOWED_VALUE"),
    ("business_format", "自动售货机", "NOT_ALLOWED_VALUE"),
    ("business_format", 1, "INVALID_TYPE"),
    ("is_monitored", 1, "INVALID_TYPE"),
    ("is_monitored", "maybe", "INVALID_FORMAT"),
    ("customer_manager", 0, "NOT_FOUND"),
    ("customer_manager", 2**70, "NOT_FOUND"),
    ("customer_manager", "abc", "INVALID_FORMAT"),
    ("customer_manager", False, "INVALID_TYPE"),
    ("shop_name", 123, "INVALID_TYPE"),
    ("shop_name", "x" * 101, "OUT_OF_RANGE"),
    ("shop_name", "金桥\x00食杂店", "INVALID_FORMAT"),
    ("shop_name", "\ud800", "INVALID_FORMAT"),
    ("sales_structure", [1, 2], "INVALID_TYPE"),
    ("sales_structure", {"一类": float("nan")}, "INVALID_FORMAT"),
    ("sales_structure", {"x": "y" * 3000}, "OUT_OF_RANGE"),
    ("location", [108.94, 34.26], "INVALID_TYPE"),
    ("location", {"type": "LineString", "coordinates": [108.94, 34.26]}, "INVALID_FORMAT"),
    ("location", {"type": "Point", "coordinates": [108.94]}, "INVALID_FORMAT"),
    ("location", {"lng": 108.94}, "INVALID_FORMAT"),
    ("location", {"lng": "east", "lat": 34.26}, "INVALID_FORMAT"),
    ("location", {"lng": True, "lat": 34.26}, "INVALID_TYPE"),
    ("location", {"type": "Point", "coordinates": [181, 34.26]}, "OUT_OF_RANGE"),
    ("location", {"type": "Point", "coordinates": [34.26, 108.94]}, "OUT_OF_RANGE"),  # swapped
    ("location", {"type": "Point", "coordinates": [math.nan, 34.26]}, "INVALID_FORMAT"),
    ("location", {"lng": 108.94, "lat": math.inf}, "INVALID_FORMAT"),
]


@pytest.mark.parametrize(("key", "value", "code"), REFUSED)
def test_each_type_refuses_with_the_exact_code(key: str, value: Any, code: str) -> None:
    # when a malformed value is given, then one error names the field (key and Chinese label)
    assert one_error(key, value).code == code


def test_swapped_coordinates_are_refused_with_a_hint() -> None:
    # given Xi'an as (lat, lng) instead of (lng, lat)
    error = one_error("location", {"lng": 34.26, "lat": 108.94})
    # then the message says they may be swapped
    assert (error.code, "颠倒" in error.message) == ("OUT_OF_RANGE", True)


def test_a_negative_zero_is_stored_as_zero(demo: Session) -> None:
    # given -0.0 for a decimal field (found by the property test below: PostgreSQL keeps 0)
    values = validate_changes(demo, shop(demo), {"purchase_qty": -0.0})
    # then it is accepted as plain zero, so the record reads back what was validated
    assert str(values["purchase_qty"]) == "0.0" and not values["purchase_qty"].is_signed()


def test_a_point_becomes_a_wgs84_element() -> None:
    # when a point is given in either form, then it is the same WKT element in SRID 4326
    spec = field("location")
    for raw in (INSIDE, {"lng": "108.94", "lat": 34.26}):
        point = normalise_value(spec, raw)
        assert isinstance(point, WKTElement)
        assert point.srid == 4326
        assert to_json(spec, point) == INSIDE


def test_every_chinese_label_is_normalised_to_its_code() -> None:
    # given every enum of the catalogue, then each label (as Excel imports give) is its code
    for spec in catalogue():
        for choice in spec.choices:
            assert normalise_value(spec, choice.label_zh) == choice.code, spec.key
            assert normalise_value(spec, choice.code) == choice.code, spec.key


def test_blank_is_none_and_a_required_field_may_not_be_blank() -> None:
    # when optional fields are blank, then they are stored as None
    for key in ("contact_person", "registered_capital", "joined_on", "location", "pickup_point"):
        for blank in (None, "", "   "):
            spec = dataclasses.replace(field(key), rules=())
            assert normalise_value(spec, blank) is None
    # when a required field is blank, then REQUIRED
    for key in ("customer_code", "shop_name", "location", "status"):
        assert one_error(key, " ").code == "REQUIRED"


def test_the_catalogue_gives_the_expected_rules() -> None:
    rules = {s.key: ";".join(str(r) for r in s.rules) for s in catalogue()}
    assert rules["customer_code"] == "required;unique"
    assert rules["licence_no"] == "required;unique_active"
    assert rules["licence_expires_on"] == "required;after:licence_issued_on"
    assert rules["annual_review_on"] == "not_before:licence_issued_on"
    assert rules["location"] == "required;in_service_area"
    assert rules["customer_manager"] == "role:customer_manager"
    assert rules["pickup_point"] == "kind:pickup_point;required_when:fulfilment_mode=pickup"
    assert rules["delivery_route"] == "active"
    assert rules["satisfaction"] == "range:0..100"
    for key in ("registered_capital", "business_area_m2", "purchase_amount", "total_limit"):
        assert rules[key] == "min:0", key


# -- the rule language in the catalogue file ------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "rules", "message"),
    [
        ("shop_name", "required;sometimes", "unknown rule 'sometimes'"),
        ("shop_name", "in_service_area", "does not apply to text"),
        ("satisfaction", "range:5..1", "bad argument"),
        ("shop_name", "maxlen:-1", "bad argument"),
        ("licence_expires_on", "after:nowhere", "names no other field"),
        ("status", "default:open", "not one of its codes"),
        ("shop_name", "required;required", "given twice"),
        ("pickup_point", "required_when:nowhere=pickup", "names no other field"),
        ("pickup_point", "required_when:pickup_point=1", "names no other field"),
        ("pickup_point", "required_when:fulfilment_mode=drone", "not one of the codes"),
        ("pickup_point", "required_when:fulfilment_mode=定点取货", "not one of the codes"),
        ("pickup_point", "required_when:fulfilment_mode=pickup|", "bad argument"),
        ("pickup_point", "required_when:fulfilment_mode", "bad argument"),
        ("pickup_point", "required_when:shop_name=x", "reads a text field"),
        ("pickup_point", "required_when:is_monitored=yes", "not a value of the bool field"),
        ("pickup_point", "required_when:order_batch=Mon", "not a value of the weekday field"),
        ("pickup_point", "required;required_when:fulfilment_mode=pickup", "exclude each other"),
    ],
)
def test_a_bad_rule_in_the_file_is_refused_at_load(
    tmp_path: Path, key: str, rules: str, message: str
) -> None:
    # given a province file with a broken rule on one field
    lines = CATALOGUE_FILE.read_text("utf-8").splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(f"{key},"))
    head, _, _ = lines[row].rpartition(",")
    lines[row] = f"{head},{rules}"
    bad = tmp_path / "fields.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # when it is loaded, then it is refused, naming the file and the line
    with pytest.raises(ValueError, match=r"fields\.csv") as info:
        load_catalogue(bad)
    assert message in str(info.value)
    assert str(info.value).startswith(f"fields.csv:{row + 1}: ")


def test_a_required_when_rule_is_read_in_one_spelling() -> None:
    # given a condition written with blanks, on an enum, a bool and an integer field
    rules = parse_rules(" required_when : fulfilment_mode = pickup | delivery ")
    # then it is kept in one spelling and reads as the field and its values
    assert [str(r) for r in rules] == ["required_when:fulfilment_mode=pickup|delivery"]
    assert rules[0].condition == ("fulfilment_mode", ("pickup", "delivery"))
    for condition, values in [("is_monitored=true", (True,)), ("order_batch=1|7", (1, 7))]:
        rules = parse_rules(f"required_when:{condition}")
        specs = with_rules(catalogue(), "contact_person", rules=rules)
        found = required_condition(next(s for s in specs if s.key == "contact_person"), specs)
        assert found is not None and found[1] == values


def test_a_file_without_a_rules_column_still_loads(tmp_path: Path) -> None:
    # given the catalogue as it was before the rules column
    lines = [line.rpartition(",")[0] for line in CATALOGUE_FILE.read_text("utf-8").splitlines()]
    old = tmp_path / "fields.csv"
    old.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # then it loads, with no rules
    specs = load_catalogue(old)
    assert len(specs) == 68 and all(s.rules == () for s in specs)


# -- whole changes against the database -----------------------------------------------------------


def test_a_new_shop_is_normalised_gets_its_defaults_and_can_be_stored(demo: Session) -> None:
    # when licensing's data for a new shop is validated
    values = validate_changes(demo, None, new_shop(business_format="便利店"))
    # then the values are normalised and the catalogue defaults are added
    assert values["shop_name"] == "新开便利店"
    assert values["business_format"] == "convenience"
    assert values["licence_issued_on"] == dt.date(2026, 10, 20)
    assert (values["status"], values["order_method"]) == ("active", "online")
    assert (values["settlement_method"], values["order_frequency"]) == ("electronic", "weekly")
    # and they can be stored on the ORM columns as they are
    demo.add(Customer(**{field(k).column: v for k, v in values.items()}))
    demo.flush()


def test_a_new_shop_missing_required_fields_gets_every_required_error(demo: Session) -> None:
    # when a new shop gives nothing, then each required field without a default is REQUIRED
    errors = refused(lambda: validate_changes(demo, None, {}))
    required = [
        "customer_code", "shop_name", "licence_no", "licence_issued_on", "licence_expires_on",
        "responsible_person", "address", "location",
    ]  # fmt: skip
    assert errors == [("REQUIRED", k) for k in required]


def test_clearing_a_required_field_is_refused_and_nothing_changes(demo: Session) -> None:
    # given a shop
    customer = shop(demo)
    before = customer.shop_name
    # when its name and status are cleared, then both are REQUIRED
    errors = refused(lambda: validate_changes(demo, customer, {"shop_name": "", "status": None}))
    assert errors == [("REQUIRED", "shop_name"), ("REQUIRED", "status")]
    # and the record is untouched
    assert customer.shop_name == before and not demo.dirty


def test_licence_expiry_must_be_after_issue(demo: Session) -> None:
    # when a new shop's licence expires before or on its issue date, then INCONSISTENT
    for expires in ("2026-10-19", "2026-10-20"):
        errors = refused(
            lambda e=expires: validate_changes(demo, None, new_shop(licence_expires_on=e))
        )
        assert errors == [("INCONSISTENT", "licence_expires_on")]
    # when it expires the day after, then it is accepted
    validate_changes(demo, None, new_shop(licence_expires_on="2026-10-21"))


def test_changing_only_the_issue_date_is_checked_against_the_stored_expiry(demo: Session) -> None:
    # given a shop whose licence expires on a stored date
    customer = shop(demo)
    assert customer.licence_expires_on is not None and customer.licence_issued_on is not None
    late = (customer.licence_expires_on + dt.timedelta(days=1)).isoformat()
    # when only the issue date moves past the stored expiry, then the issue date is refused
    with pytest.raises(ValidationFailed) as info:
        validate_changes(demo, customer, {"licence_issued_on": late})
    [error] = info.value.errors
    assert (error.code, error.field) == ("INCONSISTENT", "licence_issued_on")
    assert "有效日期" in error.message and "发证日期" in error.message
    # when only the expiry moves before the stored issue date, then the expiry is refused
    early = (customer.licence_issued_on - dt.timedelta(days=1)).isoformat()
    assert refused(lambda: validate_changes(demo, customer, {"licence_expires_on": early})) == [
        ("INCONSISTENT", "licence_expires_on")
    ]
    # when the expiry (and the annual review) move along with it, then they are accepted
    later = (customer.licence_expires_on + dt.timedelta(days=3650)).isoformat()
    renewal = {"licence_issued_on": late, "licence_expires_on": later, "annual_review_on": late}
    values = validate_changes(demo, customer, renewal)
    assert values["licence_issued_on"] > customer.licence_expires_on


def test_the_annual_review_may_fall_on_the_issue_day_but_not_before(demo: Session) -> None:
    customer = shop(demo)
    assert customer.licence_issued_on is not None
    issued = customer.licence_issued_on
    same = {"annual_review_on": issued.isoformat()}
    assert validate_changes(demo, customer, same)["annual_review_on"] == issued
    before = {"annual_review_on": (issued - dt.timedelta(days=1)).isoformat()}
    assert refused(lambda: validate_changes(demo, customer, before)) == [
        ("INCONSISTENT", "annual_review_on")
    ]


def by_mode(session: Session, mode: str) -> Customer:
    """The first active shop served by ``mode`` (pickup shops have a pickup point, others not)."""
    found = session.scalars(
        select(Customer)
        .where(Customer.status == "active", Customer.fulfilment_mode == mode)
        .order_by(Customer.id)
    ).first()
    assert found is not None and (found.pickup_point_id is not None) == (mode == "pickup")
    return found


def a_pickup_point(session: Session) -> int:
    found = session.scalar(select(Depot.id).where(Depot.kind == "pickup_point").order_by(Depot.id))
    assert found is not None
    return found


def test_a_new_pickup_shop_needs_a_pickup_point(demo: Session) -> None:
    # when a new shop is collected at a pickup point (given as its label) without one
    with pytest.raises(ValidationFailed) as info:
        validate_changes(demo, None, new_shop(fulfilment_mode="定点取货"))
    # then the pickup point is REQUIRED, saying when
    [error] = info.value.errors
    assert (error.code, error.field) == ("REQUIRED", "pickup_point")
    assert error.message == "取货点在送货方式为定点取货时不能为空"
    # when it gives one, or the shop is delivered to, then it is accepted
    point = a_pickup_point(demo)
    values = validate_changes(demo, None, new_shop(fulfilment_mode="pickup", pickup_point=point))
    assert (values["fulfilment_mode"], values["pickup_point"]) == ("pickup", point)
    assert "pickup_point" not in validate_changes(demo, None, new_shop(fulfilment_mode="delivery"))


def test_switching_to_pickup_needs_a_pickup_point_given_or_stored(demo: Session) -> None:
    # given a delivered shop without a pickup point
    customer = by_mode(demo, "delivery")
    # when it switches to pickup alone, then the pickup point is REQUIRED and nothing changes
    errors = refused(lambda: validate_changes(demo, customer, {"fulfilment_mode": "定点取货"}))
    assert errors == [("REQUIRED", "pickup_point")]
    assert customer.fulfilment_mode == "delivery" and not demo.dirty
    # when it switches with a pickup point, then it is accepted
    point = a_pickup_point(demo)
    change = {"fulfilment_mode": "pickup", "pickup_point": point}
    assert validate_changes(demo, customer, change) == change
    # and once a pickup point is stored, switching alone is accepted too
    customer.pickup_point_id = point
    demo.flush()
    assert validate_changes(demo, customer, {"fulfilment_mode": "pickup"}) == {
        "fulfilment_mode": "pickup"
    }


def test_a_pickup_shop_may_not_clear_its_pickup_point(demo: Session) -> None:
    # given a pickup shop with its pickup point
    customer = by_mode(demo, "pickup")
    before = customer.pickup_point_id
    # when the pickup point is cleared, then REQUIRED and nothing changes
    for blank in (None, "", " "):
        errors = refused(lambda b=blank: validate_changes(demo, customer, {"pickup_point": b}))
        assert errors == [("REQUIRED", "pickup_point")]
    assert customer.pickup_point_id == before and not demo.dirty
    # when it switches to delivery and clears it together, then it is accepted
    change = {"fulfilment_mode": "送货上门", "pickup_point": None}
    assert validate_changes(demo, customer, change) == {
        "fulfilment_mode": "delivery",
        "pickup_point": None,
    }


def test_a_legacy_pickup_shop_without_a_pickup_point_can_still_be_edited(demo: Session) -> None:
    # given a pickup shop whose pickup point was lost before the rule existed
    customer = by_mode(demo, "pickup")
    customer.pickup_point_id = None
    demo.flush()
    # when other fields change, or the mode is given unchanged, then they are accepted
    assert validate_changes(demo, customer, {"contact_person": "李四"}) == {
        "contact_person": "李四"
    }
    assert validate_changes(demo, customer, {"fulfilment_mode": "pickup"}) == {
        "fulfilment_mode": "pickup"
    }
    # while giving the pickup point blank is still refused
    errors = refused(lambda: validate_changes(demo, customer, {"pickup_point": ""}))
    assert errors == [("REQUIRED", "pickup_point")]


def test_customer_codes_are_unique_across_all_records_and_never_reused(demo: Session) -> None:
    # given an active shop, another one and the closed shop
    customer, other, closed = shop(demo), shop(demo, skip=1), shop(demo, status="closed")
    # when it takes another shop's code, or the closed shop's, then DUPLICATE
    for code in (other.customer_code, closed.customer_code):
        errors = refused(lambda c=code: validate_changes(demo, customer, {"customer_code": c}))
        assert errors == [("DUPLICATE", "customer_code")]
    # when it keeps its own code, then that is no conflict
    own = validate_changes(demo, customer, {"customer_code": customer.customer_code})
    assert own == {"customer_code": customer.customer_code}


def test_a_licence_number_is_unique_among_shops_that_are_not_closed(demo: Session) -> None:
    # given an active shop, another active one and the closed shop
    customer, other, closed = shop(demo), shop(demo, skip=1), shop(demo, status="closed")
    # when it takes an active shop's licence number, then DUPLICATE
    errors = refused(lambda: validate_changes(demo, customer, {"licence_no": other.licence_no}))
    assert errors == [("DUPLICATE", "licence_no")]
    # when it takes the closed shop's licence number, then it may
    values = validate_changes(demo, customer, {"licence_no": closed.licence_no})
    customer.licence_no = values["licence_no"]
    demo.flush()
    # and then reopening the closed shop is refused: its licence is held by an active shop
    errors = refused(lambda: validate_changes(demo, closed, {"status": "正常"}))
    assert errors == [("DUPLICATE", "licence_no")]
    # while closing it again is fine
    assert validate_changes(demo, closed, {"status": "closed"}) == {"status": "closed"}


def test_references_must_exist_and_pass_their_rules(demo: Session) -> None:
    customer = shop(demo)
    manager = demo.scalars(
        select(User).where(User.role == "customer_manager", User.id != customer.customer_manager_id)
    ).first()
    market_manager = demo.scalars(select(User).where(User.role == "market_manager")).first()
    centre = demo.scalars(select(Depot).where(Depot.kind == "distribution_centre")).first()
    pickup = demo.scalars(select(Depot).where(Depot.kind == "pickup_point")).first()
    route = demo.scalars(
        select(DeliveryRoute).where(DeliveryRoute.id != customer.delivery_route_id)
    ).first()
    assert manager and market_manager and centre and pickup and route
    # when the references are right, then the ids are kept
    good = {
        "customer_manager": manager.id,
        "pickup_point": str(pickup.id),
        "delivery_route": route.id,
    }
    assert validate_changes(demo, customer, good) == {
        "customer_manager": manager.id,
        "pickup_point": pickup.id,
        "delivery_route": route.id,
    }
    # when they point at the wrong role, the wrong kind, an inactive route or nothing
    route.is_active = False
    manager_gone = {"customer_manager": 999_999}
    wrong = {
        "customer_manager": market_manager.id,
        "pickup_point": centre.id,
        "delivery_route": route.id,
        "admin_region": 999_999,
    }
    demo.flush()
    assert refused(lambda: validate_changes(demo, customer, wrong)) == [
        ("NOT_FOUND", "admin_region"),
        ("NOT_ALLOWED_VALUE", "pickup_point"),
        ("NOT_ALLOWED_VALUE", "customer_manager"),
        ("NOT_ALLOWED_VALUE", "delivery_route"),
    ]
    assert refused(lambda: validate_changes(demo, customer, manager_gone)) == [
        ("NOT_FOUND", "customer_manager")
    ]
    # and a customer manager who has left is no longer a valid manager
    manager.is_active = False
    demo.flush()
    assert refused(lambda: validate_changes(demo, customer, good)) == [
        ("NOT_ALLOWED_VALUE", "customer_manager"),
        ("NOT_ALLOWED_VALUE", "delivery_route"),
    ]


def test_a_location_must_lie_in_the_service_area_or_its_buffer(demo: Session) -> None:
    # given the easternmost vertex of the service area (buffer 500 m)
    lng, lat = demo.execute(
        text(
            "SELECT ST_X(p.geom), ST_Y(p.geom) FROM service_areas sa,"
            " ST_DumpPoints(sa.geom) p ORDER BY ST_X(p.geom) DESC LIMIT 1"
        )
    ).one()
    metre = 1 / (111_320 * math.cos(math.radians(lat)))  # degrees of longitude per metre
    customer = shop(demo)

    def at(lng: float) -> dict[str, Any]:
        return {"location": {"lng": lng, "lat": lat}}

    # then a point inside, and one 300 m east (within the buffer), are accepted
    validate_changes(demo, customer, {"location": INSIDE})
    validate_changes(demo, customer, at(lng + 300 * metre))
    # and 1 km east, or Beijing, is refused
    for outside in (at(lng + 1000 * metre), {"location": BEIJING}):
        errors = refused(lambda o=outside: validate_changes(demo, customer, o))
        assert errors == [("OUTSIDE_SERVICE_AREA", "location")]


def test_all_errors_come_together_in_catalogue_order_and_nothing_changes(demo: Session) -> None:
    # given a shop
    customer = shop(demo)
    snapshot = {c.key: getattr(customer, c.key) for c in Customer.__table__.columns}
    raw = {
        "nickname": "老王",
        "satisfaction": 120,
        "phone": "12345",
        "location": BEIJING,
        "customer_code": shop(demo, skip=1).customer_code,
        "business_format": "奶茶店",
        "licence_issued_on": "2099-01-01",
        "order_batch": "周八",
        "shop_name": "",
    }
    # when everything is wrong at once
    with pytest.raises(ValidationFailed) as info:
        validate_changes(demo, customer, raw)
    # then every field is reported, unknown keys first, then in catalogue order
    assert [(e.code, e.field) for e in info.value.errors] == [
        ("UNKNOWN_FIELD", "nickname"),
        ("DUPLICATE", "customer_code"),
        ("REQUIRED", "shop_name"),
        ("INCONSISTENT", "licence_issued_on"),
        ("OUTSIDE_SERVICE_AREA", "location"),
        ("NOT_ALLOWED_VALUE", "business_format"),
        ("INVALID_FORMAT", "phone"),
        ("INVALID_FORMAT", "order_batch"),
        ("OUT_OF_RANGE", "satisfaction"),
    ]
    assert all(e.message for e in info.value.errors)
    # and the record is untouched
    assert {c.key: getattr(customer, c.key) for c in Customer.__table__.columns} == snapshot


def test_a_change_needs_at_most_one_query_per_kind_of_rule(demo: Session) -> None:
    # given a change touching two unique fields, three references and the location
    customer = shop(demo)
    manager = demo.scalar(select(User.id).where(User.role == "customer_manager"))
    raw = {
        "customer_code": "610103999001",
        "licence_no": "610103999001",
        "customer_manager": manager,
        "admin_region": 1,
        "delivery_route": 1,
        "location": INSIDE,
    }
    statements: list[str] = []
    conn = demo.connection()

    def count(*args: Any) -> None:
        statements.append(args[2])

    # when it is validated
    event.listen(conn, "before_cursor_execute", count)
    try:
        validate_changes(demo, customer, raw)
    finally:
        event.remove(conn, "before_cursor_execute", count)
    # then one query for uniqueness, one for references, one for the service area
    assert len(statements) == 3


# -- a province changes its catalogue, the code stays ---------------------------------------------


def with_rules(specs: tuple[FieldSpec, ...], key: str, **changes: Any) -> tuple[FieldSpec, ...]:
    return tuple(dataclasses.replace(s, **changes) if s.key == key else s for s in specs)


def test_a_province_can_make_a_field_required(demo: Session) -> None:
    # given a province that requires a contact person
    specs = with_rules(catalogue(), "contact_person", rules=parse_rules("required;maxlen:20"))
    customer = shop(demo)
    # then clearing it, or a new shop without one, is refused; a long name too
    assert refused(
        lambda: validate_changes(demo, customer, {"contact_person": " "}, specs=specs)
    ) == [("REQUIRED", "contact_person")]
    assert refused(lambda: validate_changes(demo, None, new_shop(), specs=specs)) == [
        ("REQUIRED", "contact_person")
    ]
    assert refused(
        lambda: validate_changes(demo, customer, {"contact_person": "王" * 21}, specs=specs)
    ) == [("OUT_OF_RANGE", "contact_person")]
    # while the national catalogue still leaves it optional
    assert validate_changes(demo, customer, {"contact_person": " "}) == {"contact_person": None}


def test_a_province_can_move_a_conditional_requirement(demo: Session) -> None:
    # given a province that drops the pickup point's condition and instead requires a contact
    # person for monitored shops
    specs = with_rules(catalogue(), "pickup_point", rules=parse_rules("kind:pickup_point"))
    moved = parse_rules("maxlen:50;required_when:is_monitored=true")
    specs = with_rules(specs, "contact_person", rules=moved)
    pickup = by_mode(demo, "pickup")
    # then a pickup shop may clear its pickup point
    assert validate_changes(demo, pickup, {"pickup_point": None}, specs=specs) == {
        "pickup_point": None
    }
    # while a shop that becomes monitored without a contact person is refused
    change = {"is_monitored": "是", "contact_person": ""}
    assert refused(lambda: validate_changes(demo, pickup, change, specs=specs)) == [
        ("REQUIRED", "contact_person")
    ]
    # and the national catalogue says the opposite for both
    assert refused(lambda: validate_changes(demo, pickup, {"pickup_point": None})) == [
        ("REQUIRED", "pickup_point")
    ]
    assert validate_changes(demo, pickup, change) == {"is_monitored": True, "contact_person": None}


def test_a_province_can_change_a_choice_list_and_ranges(demo: Session, tmp_path: Path) -> None:
    # given a province file: no entertainment format, "便利店" renamed, satisfaction 1..5
    source = CATALOGUE_FILE.read_text("utf-8")
    edited = (
        source.replace("|entertainment=娱乐服务类", "")
        .replace("convenience=便利店", "convenience=便利超市")
        .replace(",from the periodic survey,range:0..100", ",from the periodic survey,range:1..5")
    )
    assert edited.count("便利超市") == 1 and "range:1..5" in edited
    province = tmp_path / "fields.csv"
    province.write_text(edited, encoding="utf-8")
    specs = load_catalogue(province)
    customer = shop(demo)
    # then the removed choice, the old label and the old range are refused
    raw = {"business_format": "娱乐服务类", "satisfaction": 90}
    assert refused(lambda: validate_changes(demo, customer, raw, specs=specs)) == [
        ("NOT_ALLOWED_VALUE", "business_format"),
        ("OUT_OF_RANGE", "satisfaction"),
    ]
    assert refused(
        lambda: validate_changes(demo, customer, {"business_format": "便利店"}, specs=specs)
    ) == [("NOT_ALLOWED_VALUE", "business_format")]
    # and the new label and range are accepted
    raw = {"business_format": "便利超市", "satisfaction": "5"}
    assert validate_changes(demo, customer, raw, specs=specs) == {
        "business_format": "convenience",
        "satisfaction": 5,
    }


def test_the_demo_city_satisfies_the_catalogue(demo: Session) -> None:
    # given every stored value of every demo shop, then each passes its type and pure rules
    for customer in demo.scalars(select(Customer)):
        for spec in catalogue():
            value = to_json(spec, getattr(customer, spec.column))
            stored = normalise_value(spec, value)
            assert to_json(spec, stored) == value, (spec.key, value)


# -- junk never breaks it -------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-2, max_value=400),
    st.sampled_from([-(10**40), 2**31, 2**63, 0.5, -0.0]),
    st.integers(min_value=4400, max_value=5000).map(lambda n: 10**n),  # beyond str(int)
    st.floats(),
    st.decimals(),
    st.text(max_size=40),
    st.from_regex(r"[0-9]{10,20}", fullmatch=True),
    st.sampled_from(["是", "否", "便利店", "closed", "2026-02-29", "1e999", " ", "\x00", "NaN"]),
    st.dates(),
    st.datetimes(),
)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=6), inner, max_size=3),
        st.builds(lambda a, b: {"type": "Point", "coordinates": [a, b]}, inner, inner),
        st.builds(lambda a, b: {"lng": a, "lat": b}, inner, inner),
    ),
    max_leaves=6,
)
RAW = st.dictionaries(
    st.one_of(st.sampled_from([s.key for s in catalogue()]), st.text(max_size=8)),
    JUNK,
    max_size=12,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=RAW, existing=st.booleans())
def test_junk_only_ever_fails_validation(
    demo: Session, raw: dict[str, Any], existing: bool
) -> None:
    # given any JSON-ish junk for any fields, for a new or an existing shop
    customer = shop(demo) if existing else None
    # when it is validated, then it is accepted or refused as ValidationFailed, nothing else
    try:
        values = validate_changes(demo, customer, raw)
    except ValidationFailed as failed:
        assert failed.errors and all(
            e.code and e.message and e.field is not None for e in failed.errors
        )
    else:
        assert set(raw) <= set(values)
    # and the transaction is still healthy (no database error happened)
    assert demo.execute(text("SELECT 1")).scalar() == 1


NUMBERS = st.one_of(
    st.integers(min_value=-5, max_value=2**40),
    st.integers(min_value=1, max_value=7),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(min_value=-1, max_value=10**13, places=3),
    st.floats(),
)


def _id_number(born: dt.date) -> str:
    body = f"610103{born:%Y%m%d}123"
    return body + id_check_char(body)


def plausible(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Values of roughly the right shape for the field's type (many valid, some not)."""
    codes = [x for c in spec.choices for x in (c.code, c.label_zh)]
    by_type: dict[str, st.SearchStrategy[Any]] = {
        "code12": st.from_regex(r"[0-9]{12}", fullmatch=True),
        "digits12": st.from_regex(r"[0-9]{12}", fullmatch=True),
        "text": st.text(),
        "image": st.text(),
        "date": st.dates() | st.dates().map(str),
        "point": st.builds(
            lambda lng, lat: {"lng": lng, "lat": lat},
            st.floats(min_value=108.4, max_value=109.5),
            st.floats(min_value=33.9, max_value=34.7),
        ),
        "enum": st.sampled_from(codes or ["x"]),
        "decimal": NUMBERS,
        "int": NUMBERS,
        "weekday": NUMBERS,
        "scale": NUMBERS,
        "bank_account": st.from_regex(r"[0-9 ]{12,34}", fullmatch=True),
        "phone": st.from_regex(r"1[3-9][0-9]{9}|0[1-9][0-9]{1,2}-?[2-9][0-9]{6,7}", fullmatch=True),
        "id_number": st.dates(min_value=dt.date(1900, 1, 1), max_value=AS_OF).map(_id_number),
        "json": st.dictionaries(
            st.text(max_size=5),
            st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
            max_size=3,
        ),
        "bool": st.booleans() | st.sampled_from(["是", "否", "true", "false"]),
    }
    return by_type.get(spec.type, st.integers(min_value=1, max_value=400))


# Not catalogue rules: a route and its sequence are set together by route planning.
PAIRED_BY_PLANNING = {"delivery_route", "delivery_sequence"}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_whatever_is_accepted_can_be_stored(demo: Session, data: st.DataObject) -> None:
    # given an existing shop and a value for one of its fields, plausible or junk
    spec = data.draw(st.sampled_from(catalogue()), label="field")
    key, value = spec.key, data.draw(st.one_of(plausible(spec), JUNK), label="value")
    customer = shop(demo)
    try:
        values = validate_changes(demo, customer, {key: value})
    except ValidationFailed:
        note_event("refused")
        return
    note_event("accepted")
    if key in PAIRED_BY_PLANNING and values[key] is None:
        return
    # when the accepted value is stored, then the database takes it (no constraint, overflow
    # or encoding error) and reads back the same value
    with demo.begin_nested() as savepoint:
        setattr(customer, field(key).column, values[key])
        demo.flush()
        demo.refresh(customer)
        assert to_json(field(key), getattr(customer, field(key).column)) == to_json(
            field(key), values[key]
        )
        savepoint.rollback()
