"""Monthly report workbooks: sheet titles, Chinese headers and figures (the 300-shop demo
city; the compliance case is built by hand in a month without demo tickets)."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.classification.compute import compute_classification
from domain.completeness import completeness_by
from domain.errors import INVALID, DomainError
from domain.models import Customer, DeliveryRoute, Depot, TicketStep
from domain.reports import parse_month, write_report
from domain.tickets.engine import default_calendar, open_ticket
from domain.vault import Vault
from domain.workcal.working_calendar import DEFAULT_TZ
from tests.domain.conftest import PrincipalFor

NOW = dt.datetime(2027, 4, 15, 12, 0, tzinfo=DEFAULT_TZ)


def _book(data: bytes) -> dict[str, list[list[object]]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in book.worksheets}


def _report(
    session: Session, kind: str, month: str, now: dt.datetime = NOW
) -> dict[str, list[list[object]]]:
    out = io.BytesIO()
    write_report(session, kind, parse_month(month), out, now=now)
    return _book(out.getvalue())


def _at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, 0, tzinfo=DEFAULT_TZ)


def test_compliance_counts_on_time_late_and_open_overdue(
    city: Session, principal_for: PrincipalFor, vault: Vault
) -> None:
    # given four phone-change tickets whose first step (market manager) is due in March 2026:
    # one decided in time, one decided late, one open past due, one open and not yet due
    maker = principal_for("customer_manager")
    shops = city.scalars(
        select(Customer).where(Customer.customer_manager_id == maker.user_id).limit(4)
    ).all()
    cases = [(_at(10, 12), _at(10, 9)), (_at(10, 12), _at(11, 9)), (_at(10, 12), None),
             (_at(31, 17), None)]  # fmt: skip
    for shop, (due, decided) in zip(shops, cases, strict=True):
        ticket = open_ticket(
            city, maker, type_key="phone_change", customer=shop, values={"phone": "13911112222"},
            vault=vault, now=_at(1, 9),
        )  # fmt: skip
        step = city.scalars(
            select(TicketStep).where(TicketStep.ticket_id == ticket.id, TicketStep.position == 1)
        ).one()
        step.due_at = due
        if decided is not None:
            step.status, step.decided_at, step.decision = "done", decided, "approve"
    city.flush()
    # when the March compliance report is written on 31 March at noon
    sheets = _report(city, "compliance", "2026-03", now=_at(31, 12))
    # then one row: market manager, phone change: 4 due, 1 on time, 1 late, 1 overdue, 1 not due
    assert list(sheets) == ["工单时限执行情况"]
    rows = sheets["工单时限执行情况"]
    assert rows[0] == ["部门", "工单类型", "到期步骤数", "按时办结", "超时办结", "逾期未办",
                       "未到期在办", "按时率"]  # fmt: skip
    assert rows[1:] == [["市场经理", "订货电话变更", 4, 1, 1, 1, 1, 0.25]]


def test_completeness_report_has_the_figures_of_completeness_by(city: Session) -> None:
    sheets = _report(city, "completeness", "2026-10", now=NOW)
    assert list(sheets) == ["档案完整率按客户经理", "档案完整率按县区"]
    county = sheets["档案完整率按县区"]
    assert county[0][:4] == ["县区", "客户数", "完整", "不完整"]
    expected = completeness_by(
        city, "county", today=dt.date(2026, 10, 31), calendar=default_calendar()
    )
    assert [r[1:6] for r in county[1:]] == [
        [r.shops, r.complete, r.incomplete, r.overdue, r.overdue_new] for r in expected
    ]
    assert sum(int(r[1]) for r in county[1:]) == city.scalar(  # type: ignore[arg-type]
        select(func.count()).select_from(Customer).where(Customer.status != "closed")
    )


def test_classification_table_lists_each_change_once_with_county_totals(city: Session) -> None:
    # the November table scores August to October
    sheets = _report(city, "classification", "2026-11")
    assert list(sheets) == ["分类调整汇总", "分类调整明细"]
    detail = sheets["分类调整明细"]
    assert detail[0][:3] == ["县区", "客户代码", "店铺名称"]
    diff = compute_classification(
        city, period_start=dt.date(2026, 8, 1), period_end=dt.date(2026, 10, 31),
        as_of=dt.date(2026, 11, 1),
    )  # fmt: skip
    assert diff.changes
    assert sorted(r[1] for r in detail[1:]) == sorted(c.customer_code for c in diff.changes)
    per_county = Counter(r[0] for r in detail[1:])
    summary = sheets["分类调整汇总"]
    assert summary[0] == ["县区", "调整户数", "规模上调", "规模下调", "暂定规模"]
    assert {r[0]: r[1] for r in summary[1:]} == dict(per_county)


def test_route_balance_counts_the_stops_per_depot_and_weekday(city: Session) -> None:
    sheets = _report(city, "routes", "2026-11")
    assert list(sheets) == ["线路均衡汇总", "线路明细"]
    summary = sheets["线路均衡汇总"]
    assert summary[0][:4] == ["配送中心/中转站", "送货日", "线路数", "停靠点数"]
    weekdays = ["", "周一", "周二", "周三", "周四", "周五", "周六", "周日"]
    stops = city.execute(
        select(Depot.name, DeliveryRoute.weekday, func.count(Customer.id))
        .join(DeliveryRoute, DeliveryRoute.depot_id == Depot.id)
        .join(Customer, Customer.delivery_route_id == DeliveryRoute.id)
        .where(DeliveryRoute.is_active, Customer.status != "closed")
        .group_by(Depot.name, DeliveryRoute.weekday)
    ).all()  # fmt: skip
    found = {(r[0], r[1]): r[3] for r in summary[1:] if r[3]}
    assert found == {(name, weekdays[day]): n for name, day, n in stops}


def test_a_bad_month_or_report_is_refused() -> None:
    with pytest.raises(DomainError) as err:
        parse_month("2026-13")
    assert (err.value.code, err.value.field) == (INVALID, "month")
