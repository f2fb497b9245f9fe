"""Profile completeness: per record in Python, per manager/county/field in SQL, deadlines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from geoalchemy2 import WKTElement
from pytest import approx
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.catalogue import catalogue
from domain.catalogue.rules import parse_rules
from domain.completeness import (
    CompletenessRow,
    FieldGapRow,
    completeness_by,
    customer_completeness,
    incomplete_customers,
    overdue_cutoff,
)
from domain.demo import load_demo
from domain.errors import CALENDAR_NOT_COVERED, DomainError
from domain.models import Customer, DeliveryRoute, Depot, OrgUnit, Region, User
from domain.workcal import WorkingCalendar

CAL = WorkingCalendar()
TODAY = dt.date(2025, 10, 13)  # Monday after National Day 2025
OLD = dt.date(2024, 3, 1)
SQUARE = "SRID=4326;MULTIPOLYGON(((108.9 34.2,109.0 34.2,109.0 34.3,108.9 34.3,108.9 34.2)))"
POINT = WKTElement("POINT(108.95 34.25)", srid=4326)
NATIONAL = sum(s.national for s in catalogue())
PROVINCIAL = len(catalogue()) - NATIONAL


@dataclasses.dataclass
class World:
    session: Session
    region_a: Region
    region_b: Region
    manager_a: User
    manager_b: User
    route: DeliveryRoute
    seq: itertools.count[int] = dataclasses.field(default_factory=lambda: itertools.count(1))

    def shop(self, **values: Any) -> Customer:
        """A shop with every catalogue field filled, then ``values`` applied; flushed."""
        n = next(self.seq)
        row: dict[str, Any] = dict(
            customer_code=f"6101020{n:05d}", shop_name=f"测试商店{n}", licence_no=f"6101000{n:05d}",
            licence_type="retail", issuing_bureau="新城区烟草专卖局",
            licence_issued_on=dt.date(2020, 1, 1), licence_expires_on=dt.date(2030, 1, 1),
            annual_review_on=dt.date(2025, 1, 1), responsible_person="张三", address="东大街1号",
            location=POINT, admin_region_id=self.region_a.id, business_scope="卷烟零售",
            business_format="convenience", business_nature="individual",
            customer_nature="ordinary", registered_capital=Decimal("10000"),
            business_area_m2=Decimal("30.0"), display_form="counter", tax_id="91610102MA0000000X",
            tax_type="small_scale", bank_name="工商银行", bank_account="6222000000000000",
            contact_person="张三", phone="13800000000", home_address="西安市某小区",
            mailing_address="东大街1号", id_number="610102199001010011", market_type="urban",
            status="active", joined_on=OLD, photo_shopfront="photos/1.jpg", order_method="online",
            settlement_method="electronic", invoice_type="ordinary", order_frequency="weekly",
            order_batch=1, order_cycle_days=7, fulfilment_mode="delivery", pickup_point_id=None,
            business_scale=2, purchase_qty=Decimal("100"), purchase_amount=Decimal("20000"),
            avg_price=Decimal("200"), brand_count=30, sales_structure={"class1": 0.2},
            monthly_agreed_qty=100, quota_class="B", total_limit=50, item_limit=5,
            promotion_behaviour="none", compliance="compliant",
            customer_manager_id=self.manager_a.id, phone_order_clerk="李四", delivery_person="王五",
            monopoly_officer="赵六", delivery_route_id=self.route.id, delivery_segment="东大街",
            delivery_sequence=n, visit_batch=2, call_batch=1, credit_rating="A",
            classification="城网-便利店-2", is_monitored=False, is_model_shop=False,
            network_scale="small", satisfaction=0, photo_counter="photos/c1.jpg",
        )  # fmt: skip
        row.update(values)
        customer = Customer(**row)
        self.session.add(customer)
        self.session.flush()
        return customer


@pytest.fixture
def world(session: Session) -> World:
    city = OrgUnit(code="C", name="测试市", kind="city")
    region_a = Region(code="R-A", name="甲区", kind="urban_district", is_urban=True, geom=SQUARE)
    region_b = Region(code="R-B", name="乙县", kind="county", is_urban=False, geom=SQUARE)
    session.add_all([city, region_a, region_b])
    session.flush()
    manager_a = User(username="mgr_a", display_name="经理甲", role="customer_manager",
                     org_unit_id=city.id)  # fmt: skip
    manager_b = User(username="mgr_b", display_name="经理乙", role="customer_manager",
                     org_unit_id=city.id)  # fmt: skip
    depot = Depot(code="DC", name="配送中心", kind="distribution_centre", location=POINT)
    session.add_all([manager_a, manager_b, depot])
    session.flush()
    route = DeliveryRoute(code="L1", name="一号线", depot_id=depot.id, weekday=1)
    session.add(route)
    session.flush()
    return World(session, region_a, region_b, manager_a, manager_b, route)


def completeness(customer: Customer, today: dt.date = TODAY, **kw: Any) -> Any:
    return customer_completeness(customer, calendar=CAL, today=today, **kw)


# -- one record --------------------------------------------------------------------------------


def test_a_fully_filled_record_is_complete(world: World) -> None:
    # Given a shop with all 68 fields filled (False and 0 are values)
    shop = world.shop()
    # When its completeness is computed
    result = completeness(shop)
    # Then 25 national and 43 provincial fields are filled, nothing is missing
    assert (result.national_filled, result.national_total) == (25, 25)
    assert (result.provincial_filled, result.provincial_total) == (43, 43)
    assert result.missing == () and result.complete and result.ratio == 1.0
    assert result.due_on == dt.date(2024, 3, 8) and not result.overdue


def test_national_and_provincial_gaps_are_counted_apart(world: World) -> None:
    # Given a shop missing two national fields (phone, bank account) and two provincial ones
    shop = world.shop(phone=None, bank_account=None, tax_id=None, is_model_shop=None)
    # When its completeness is computed
    result = completeness(shop)
    # Then 23/25 national, 41/43 provincial, the keys in catalogue order, and it is overdue
    assert (result.national_filled, result.national_total) == (23, 25)
    assert (result.provincial_filled, result.provincial_total) == (41, 43)
    assert result.missing == ("tax_id", "bank_account", "phone", "is_model_shop")
    assert result.ratio == 64 / 68 and result.national_ratio == 23 / 25
    assert result.overdue


def test_blank_strings_count_as_missing(world: World) -> None:
    # Given a shop whose texts are empty, spaces, a full-width space and a tab
    shop = world.shop(shop_name="  ", address="\u3000", tax_id="", delivery_segment="\t ")
    # When computed in Python and in SQL
    result = completeness(shop)
    rows = {r.key: r.missing for r in completeness_by(
        world.session, "field", today=TODAY, calendar=CAL)}  # fmt: skip
    # Then all four are missing, in both
    assert result.missing == ("shop_name", "address", "tax_id", "delivery_segment")
    assert {k for k, n in rows.items() if n} == set(result.missing)


def test_a_pickup_point_is_required_only_for_pickup_shops(world: World) -> None:
    # Given a delivered shop and a pickup shop, neither with a pickup point
    delivered = world.shop(fulfilment_mode="delivery", pickup_point_id=None)
    pickup = world.shop(fulfilment_mode="pickup", pickup_point_id=None)
    # When computed / Then only the pickup shop misses it, in Python and in SQL
    assert completeness(delivered).missing == ()
    assert completeness(pickup).missing == ("pickup_point",)
    rows = incomplete_customers(world.session, today=TODAY, calendar=CAL)
    assert [(r.customer_id, r.missing) for r in rows] == [(pickup.id, ("pickup_point",))]


def test_the_pickup_rule_is_read_from_the_catalogue(world: World) -> None:
    # given a pickup shop with a pickup point, and a pickup and a delivered shop without one
    point = Depot(code="PP", name="取货点", kind="pickup_point", location=POINT)
    world.session.add(point)
    world.session.flush()
    served = world.shop(fulfilment_mode="pickup", pickup_point_id=point.id)
    pickup = world.shop(fulfilment_mode="pickup", pickup_point_id=None)
    delivered = world.shop(fulfilment_mode="delivery", pickup_point_id=None)
    # when computed with the catalogue (required_when:fulfilment_mode=pickup)
    # then only the pickup shop without a point misses it, in Python and in SQL
    assert [completeness(c).missing for c in (served, pickup, delivered)] == [
        (),
        ("pickup_point",),
        (),
    ]
    rows = completeness_by(world.session, "field", today=TODAY, calendar=CAL)
    assert {r.key: r.missing for r in rows if r.missing} == {"pickup_point": 1}
    # when the province removes the rule, then every shop without a pickup point misses it
    plain = tuple(
        dataclasses.replace(s, rules=()) if s.key == "pickup_point" else s for s in catalogue()
    )
    assert [completeness(c, fields=plain).missing for c in (served, pickup, delivered)] == [
        (),
        ("pickup_point",),
        ("pickup_point",),
    ]
    listed = incomplete_customers(world.session, today=TODAY, calendar=CAL, fields=plain)
    assert [r.customer_id for r in listed] == [pickup.id, delivered.id]
    # when it requires the point for delivered shops instead, then the roles swap
    rule = parse_rules("required_when:fulfilment_mode=delivery")
    swapped = tuple(
        dataclasses.replace(s, rules=rule) if s.key == "pickup_point" else s for s in catalogue()
    )
    assert [completeness(c, fields=swapped).missing for c in (served, pickup, delivered)] == [
        (),
        (),
        ("pickup_point",),
    ]
    by_manager = completeness_by(
        world.session, "manager", today=TODAY, calendar=CAL, fields=swapped
    )
    assert [(r.shops, r.incomplete) for r in by_manager] == [(3, 1)]
    # and a catalogue whose rule reads a field it lacks is refused
    lacking = tuple(s for s in catalogue() if s.key != "fulfilment_mode")
    with pytest.raises(ValueError, match="names no other field"):
        completeness(delivered, fields=lacking)
    with pytest.raises(ValueError, match="names no other field"):
        completeness_by(world.session, "field", today=TODAY, calendar=CAL, fields=lacking)


def test_the_five_working_day_deadline_runs_past_national_day(world: World) -> None:
    # Given an incomplete shop that joined on Monday 2025-09-29, before National Day
    shop = world.shop(joined_on=dt.date(2025, 9, 29), phone=None)
    # When checked on the due day and the day after
    on_due_day = completeness(shop, today=dt.date(2025, 10, 13))
    day_after = completeness(shop, today=dt.date(2025, 10, 14))
    # Then it is due on 10-13 (09-30, 10-09, 10-10, Saturday 10-11, 10-13) and overdue after
    assert on_due_day.due_on == dt.date(2025, 10, 13) and not on_due_day.overdue
    assert day_after.overdue
    # and the SQL cut-off agrees: the last joining day already overdue on each day
    assert overdue_cutoff(calendar=CAL, today=dt.date(2025, 10, 13)) == dt.date(2025, 9, 28)
    assert overdue_cutoff(calendar=CAL, today=dt.date(2025, 10, 14)) == dt.date(2025, 9, 29)


def test_no_join_date_means_no_deadline_and_closed_shops_are_never_overdue(world: World) -> None:
    # Given an incomplete shop without a join date and an incomplete closed one
    undated = world.shop(joined_on=None, phone=None)
    closed = world.shop(status="closed", phone=None)
    # When computed / Then neither is overdue
    assert completeness(undated).due_on is None and not completeness(undated).overdue
    assert completeness(closed).missing == ("phone",) and not completeness(closed).overdue


def test_a_shop_that_joined_before_the_calendar_is_long_overdue(world: World) -> None:
    # Given an incomplete shop that joined in 1998 (before the calendar's first year, 2004)
    shop = world.shop(joined_on=dt.date(1998, 5, 4), phone=None)
    # When computed / Then it has no computable due date and is overdue
    result = completeness(shop)
    assert result.due_on is None and result.overdue
    rows = incomplete_customers(world.session, today=TODAY, calendar=CAL)
    assert [(r.due_on, r.overdue) for r in rows] == [(None, True)]


def test_a_report_needing_an_uncovered_year_is_refused(world: World) -> None:
    # Given a calendar without overrides (the library ends with 2026) and a shop
    world.shop(phone=None)
    calendar = WorkingCalendar(overrides_path=None)
    # When a report is asked for a day in January 2027
    with pytest.raises(DomainError) as err:
        completeness_by(world.session, "manager", today=dt.date(2027, 1, 5), calendar=calendar)
    # Then CALENDAR_NOT_COVERED: deadlines are not guessed
    assert err.value.code == CALENDAR_NOT_COVERED


# -- reports -----------------------------------------------------------------------------------


@pytest.fixture
def shops(world: World) -> dict[str, Customer]:
    """Manager A: complete, old incomplete (overdue), new incomplete not yet due, new one past
    due; manager B in county B: complete, one without join date (a field too) and a blank tax
    id; no manager (a national field): one incomplete; closed and incomplete: left out."""
    b = world.manager_b.id
    region_b = world.region_b.id
    return {
        "a_complete": world.shop(),
        "a_old": world.shop(phone=None, tax_id=None),
        "a_new": world.shop(joined_on=dt.date(2025, 9, 29), bank_account=None),
        "a_late": world.shop(joined_on=dt.date(2025, 9, 26), satisfaction=None),
        "b_complete": world.shop(customer_manager_id=b, admin_region_id=region_b),
        "b_undated": world.shop(
            customer_manager_id=b, admin_region_id=region_b, joined_on=None, tax_id=" "
        ),
        "nobody": world.shop(customer_manager_id=None, phone=None),
        "closed": world.shop(status="closed", phone=None, tax_id=None),
    }


def test_report_by_manager_counts_shops_gaps_and_overdue(
    world: World, shops: dict[str, Customer]
) -> None:
    # Given the shops above / When reported per manager on 2025-10-13
    rows = completeness_by(world.session, "manager", today=TODAY, calendar=CAL)
    # Then A has 4 shops (3 incomplete, 2 overdue of which 1 new), B 2, the unassigned 1
    a, b, none = rows
    assert (a.key, a.label, a.shops, a.complete, a.incomplete, a.overdue, a.overdue_new) == (
        world.manager_a.id, "经理甲", 4, 1, 3, 2, 1)  # fmt: skip
    assert a.national_ratio == approx(1 - 2 / (4 * NATIONAL))  # phone, bank account
    assert a.provincial_ratio == approx(1 - 2 / (4 * PROVINCIAL))  # tax id, satisfaction
    assert (b.key, b.label, b.shops, b.complete, b.incomplete, b.overdue) == (
        world.manager_b.id, "经理乙", 2, 1, 1, 0)  # fmt: skip
    assert b.national_ratio == 1.0 and b.provincial_ratio == approx(1 - 2 / (2 * PROVINCIAL))
    assert (none.key, none.label, none.shops, none.incomplete, none.overdue) == (
        None, None, 1, 1, 1)  # fmt: skip
    assert none.national_ratio == approx(1 - 2 / NATIONAL)  # phone, customer manager
    assert all(isinstance(r, CompletenessRow) and r.group == "manager" for r in rows)


def test_report_by_county_groups_by_the_shops_region(
    world: World, shops: dict[str, Customer]
) -> None:
    # Given the shops above / When reported per county
    rows = completeness_by(world.session, "county", today=TODAY, calendar=CAL)
    # Then region A holds 5 open shops, region B 2, by region code
    assert [(r.label, r.shops, r.complete, r.incomplete, r.overdue) for r in rows] == [
        ("甲区", 5, 1, 4, 3),
        ("乙县", 2, 1, 1, 0),
    ]


def test_report_by_field_counts_the_shops_missing_each_field(
    world: World, shops: dict[str, Customer]
) -> None:
    # Given the shops above / When reported per field
    rows = completeness_by(world.session, "field", today=TODAY, calendar=CAL)
    # Then every catalogue field is listed in order, with the open shops missing it
    assert [r.key for r in rows] == [s.key for s in catalogue()]
    missing = {r.key: r.missing for r in rows if r.missing}
    assert missing == {"phone": 2, "tax_id": 2, "bank_account": 1, "satisfaction": 1,
                       "joined_on": 1, "customer_manager": 1}  # fmt: skip
    phone = next(r for r in rows if r.key == "phone")
    assert phone == FieldGapRow("phone", "订货电话", "basic", True, 2, 7)


def test_scope_limits_every_report_to_the_callers_shops(
    world: World, shops: dict[str, Customer]
) -> None:
    # Given a scope of manager B's shops (as an access rule would give)
    scope = Customer.customer_manager_id == world.manager_b.id
    # When each report is asked with it
    by_manager = completeness_by(world.session, "manager", today=TODAY, calendar=CAL, scope=scope)
    by_field = completeness_by(world.session, "field", today=TODAY, calendar=CAL, scope=scope)
    listed = incomplete_customers(world.session, today=TODAY, calendar=CAL, scope=scope)
    # Then only B's shops are counted
    assert [(r.key, r.shops) for r in by_manager] == [(world.manager_b.id, 2)]
    assert {r.key: r.missing for r in by_field if r.missing} == {"tax_id": 1, "joined_on": 1}
    assert [r.customer_id for r in listed] == [shops["b_undated"].id]


def test_incomplete_customers_lists_gaps_deadlines_and_pages(
    world: World, shops: dict[str, Customer]
) -> None:
    # Given the shops above / When the incomplete ones are listed
    rows = incomplete_customers(world.session, today=TODAY, calendar=CAL)
    # Then the open incomplete shops, longest waiting first, undated last
    names = {c.id: k for k, c in shops.items()}
    assert [names[r.customer_id] for r in rows] == ["a_old", "nobody", "a_late", "a_new",
                                                    "b_undated"]  # fmt: skip
    old, nobody, late, new, undated = rows
    assert (old.missing, old.missing_count, old.manager_name) == (("tax_id", "phone"), 2, "经理甲")
    assert (old.due_on, old.overdue) == (dt.date(2024, 3, 8), True)
    assert (late.due_on, late.overdue) == (dt.date(2025, 10, 10), True)
    assert (new.due_on, new.overdue) == (dt.date(2025, 10, 13), False)
    assert (undated.due_on, undated.overdue, nobody.manager_id) == (None, False, None)
    # and the overdue ones alone, and pages
    overdue = incomplete_customers(world.session, today=TODAY, calendar=CAL, overdue_only=True)
    assert [names[r.customer_id] for r in overdue] == ["a_old", "nobody", "a_late"]
    page = incomplete_customers(world.session, today=TODAY, calendar=CAL, limit=2, offset=2)
    assert [r.customer_id for r in page] == [late.customer_id, new.customer_id]


def test_a_catalogue_change_is_followed(world: World, shops: dict[str, Customer]) -> None:
    # Given a province's catalogue: tax id dropped, phone only provincial
    fields = tuple(
        dataclasses.replace(s, national=False) if s.key == "phone" else s
        for s in catalogue()
        if s.key != "tax_id"
    )
    # When computed with it
    result = completeness(shops["a_old"], fields=fields)
    rows = completeness_by(world.session, "field", today=TODAY, calendar=CAL, fields=fields)
    managers = completeness_by(world.session, "manager", today=TODAY, calendar=CAL, fields=fields)
    listed = incomplete_customers(world.session, today=TODAY, calendar=CAL, fields=fields)
    # Then tax id no longer counts and phone counts as provincial
    assert result.missing == ("phone",)
    totals = (result.national_total, result.provincial_total, result.provincial_filled)
    assert totals == (24, 43, 42)
    assert "tax_id" not in {r.key for r in rows}
    b = next(r for r in managers if r.key == world.manager_b.id)
    assert b.provincial_ratio == approx(1 - 1 / (2 * 43))  # only the join date is missing now
    assert {r.customer_id: r.missing for r in listed}[shops["b_undated"].id] == ("joined_on",)
    # and a field naming no column is refused
    broken = (*fields, dataclasses.replace(fields[0], key="nope", column="no_such_column"))
    with pytest.raises(ValueError, match="no_such_column"):
        completeness_by(world.session, "field", today=TODAY, calendar=CAL, fields=broken)


# -- the demo city -----------------------------------------------------------------------------


def test_sql_reports_agree_with_the_per_record_rule_on_the_demo_city(session: Session) -> None:
    # Given the demo city as of 2025-10-10 (newest shops joined during National Day)
    today = dt.date(2025, 10, 10)
    load_demo(session.connection(), shops=600, seed=1, as_of=today)
    session.expire_all()
    # When the reports are run, and every open shop is computed one by one in Python
    by_manager = completeness_by(session, "manager", today=today, calendar=CAL)
    by_field = completeness_by(session, "field", today=today, calendar=CAL)
    listed = incomplete_customers(session, today=today, calendar=CAL, limit=10_000)
    open_shops = session.scalars(select(Customer).where(Customer.status != "closed")).all()
    each = {c.id: completeness(c, today=today) for c in open_shops}
    # Then the totals, field gaps and incomplete list agree with the per-record rule
    bad = {cid: r for cid, r in each.items() if not r.complete}
    assert sum(r.shops for r in by_manager) == len(open_shops)
    assert sum(r.incomplete for r in by_manager) == len(bad) == len(listed)
    assert sum(r.overdue for r in by_manager) == sum(r.overdue for r in bad.values())
    assert {r.customer_id: (r.missing, r.due_on, r.overdue) for r in listed} == {
        cid: (r.missing, r.due_on, r.overdue) for cid, r in bad.items()
    }
    gaps = {r.key: r.missing for r in by_field}
    assert gaps == {s.key: sum(s.key in r.missing for r in each.values()) for s in catalogue()}
    # and about 5% of the shops plus the newest are incomplete; the newest are not yet due
    assert 0.03 < len(bad) / len(open_shops) < 0.10
    newest = [c.id for c in open_shops if c.joined_on and c.joined_on > today - dt.timedelta(8)]
    assert newest and all(not each[cid].complete and not each[cid].overdue for cid in newest)
