"""工作日历 (/admin/calendar): the information department enters next year's holiday
schedule; bad input is refused beside its field and nothing is written; other roles are
refused; once entered, the year is covered and the home page's warning is gone. The dates
are a test's, not a published schedule: entered in a database and app of this module's own,
so no other test's calendar sees them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from domain.models import CalendarYear
from domain.tickets.engine import default_calendar
from domain.workcal.stored import STORED
from tests.admin.conftest import Demo, SignIn, demo_app, demo_database

NEXT = dt.date.today().year + 1


@pytest.fixture(scope="module")
def admin_demo(pg_cluster: Any) -> Iterator[Demo]:
    with demo_database(pg_cluster) as demo:
        yield demo


@pytest.fixture(scope="module")
def admin_app(admin_demo: Demo) -> Iterator[Starlette]:
    """The app of this module's database; the process's calendars read the entered years
    from it only while the module runs."""
    before = STORED.loader
    yield demo_app(admin_demo)
    STORED.install(before)


def _count(demo: Demo) -> int:
    return int(demo.scalar(select(func.count()).select_from(CalendarYear)))


def _entry(**changes: str) -> dict[str, str]:
    data = {
        "year": str(NEXT), "source": "国办发明电（测试）", "complete": "1", "note": "测试录入",
        "holidays": f"{NEXT}-01-01\n{NEXT}-10-01~{NEXT}-10-07",
        "workdays": next(
            d.isoformat() for d in (dt.date(NEXT, 9, 25) + dt.timedelta(i) for i in range(7))
            if d.weekday() == 6
        ),
    }  # fmt: skip
    return {**data, **changes}


def test_other_roles_see_the_calendar_but_cannot_enter_a_year(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("market_dept"))
    page = browser_client.get("/admin/calendar")
    assert page.status_code == 200 and 'id="calendar-coverage"' in page.text
    assert 'id="calendar-form"' not in page.text
    before = _count(admin_demo)
    refused = browser_client.post("/admin/calendar", data={**_entry(), "csrf_token": csrf})
    assert refused.status_code == 403 and "只有信息科可以维护工作日历" in refused.text
    assert _count(admin_demo) == before


def test_bad_input_is_refused_beside_its_field_and_nothing_is_written(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("it_admin"))
    before = _count(admin_demo)
    bad = _entry(source="", workdays=f"{NEXT}-01-04 {NEXT}-13-01")
    res = browser_client.post("/admin/calendar", data={**bad, "csrf_token": csrf})
    assert res.status_code == 400
    assert 'id="calendar-errors"' in res.text
    assert "请填写依据" in res.text and f"“{NEXT}-13-01”不是日期" in res.text
    assert f'value="{bad["note"]}"' in res.text  # what was typed stays in the form
    assert _count(admin_demo) == before


def test_it_enters_next_year_and_it_is_in_force(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("it_admin"))
    before = _count(admin_demo)
    res = browser_client.post("/admin/calendar", data={**_entry(), "csrf_token": csrf})
    assert res.status_code == 200, res.text
    assert f"已录入 {NEXT} 年节假日安排：放假 8 天，调休上班 1 天。" in res.text
    assert _count(admin_demo) == before + 1
    assert "本页录入" in res.text.split(f'id="year-{NEXT}"')[1].split("</tr>")[0]
    # the process's default calendars answer for the year now
    assert default_calendar().covers_year(NEXT)
    assert not default_calendar().is_working_day(dt.date(NEXT, 10, 4))
    home = browser_client.get("/admin/")
    assert 'id="calendar-missing"' not in home.text
