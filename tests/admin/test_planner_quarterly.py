"""The quarterly re-plan from the planner over HTTP: its form (bad input shown beside the
fields, nothing queued), the job with its progress and a page that resumes it after a
reload, the week's figures before and after per day and route with totals and the saving,
the plan's routes for the map (one delivery day at a time), submission as ONE ticket, and
every refusal changing nothing. 蓝田中转站 (depot 3) is small: 28 shops on 4 routes a day."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import json
import re
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from domain.models import DeliveryRoute, Job, RoutePlan, RoutePlanItem, Ticket, TicketChange
from tests.admin.conftest import Demo, SignIn
from tests.admin.planner_support import assignment, counts, run_job

LT = "3"  # 蓝田中转站
GOOD = {"mode": "quarterly", "depot": LT, "days": ["1", "2", "3", "4", "5"],
        "balance": "stops", "tolerance": "15", "time_limit": "1"}  # fmt: skip


def _hx(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf, "HX-Request": "true"}


def _all_counts(demo: Demo) -> tuple[int, ...]:
    """Tickets, ticket changes, plans and jobs."""
    return (*counts(demo), demo.scalar(select(func.count()).select_from(Job)))


def _plan_id(text: str) -> int:
    found = re.search(r"规划 #(\d+)", text)
    assert found, text
    return int(found.group(1))


def _plan_map(text: str, element: str = "plan-lines") -> dict[str, Any]:
    found = re.search(rf'id="{element}" data-plan-map="([^"]*)"', text)
    assert found, text
    return dict(json.loads(htmllib.unescape(found.group(1))))


def _beside(text: str, name: str, message: str) -> bool:
    """The message right after the named field (errors beside the fields)."""
    options = r"(?:\s*<option[^>]*>[^<]*</option>)*\s*</select>"
    error = rf'<span class="field-error">{re.escape(message)}</span>'
    pattern = rf'name="{name}"[^>]*>(?:{options})?{error}'
    return re.search(pattern, text) is not None


def _start(client: TestClient, csrf: str, **changes: Any) -> Any:
    return client.post("/admin/planner/plans", data={**GOOD, **changes}, headers=_hx(csrf))


# -- the form -------------------------------------------------------------------------------


def test_the_quarterly_form_offers_the_depots_days_with_defaults(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    sign_in(admin_demo.user("delivery_dept"))
    page = browser_client.get("/admin/planner", params={"depot": LT}).text
    form = page[
        page.index('id="quarterly-form"') : page.index("</form>", page.index('id="quarterly-form"'))
    ]
    # every weekday the depot delivers on, with its routes, checked
    days = re.findall(
        r'name="days" value="(\d)" checked>(周.)<span class="muted">（(\d+) 条线路）', form
    )
    assert days == [(str(d), f"周{'一二三四五'[d - 1]}", "4") for d in range(1, 6)]
    # balance by stops within ±15 %, the rest automatic; the button enabled
    assert '<option value="stops" selected>按送货点数</option>' in form
    assert 'name="tolerance" min="0" max="100" step="1" value="15"' in form
    assert 'id="plan-quarter">' in form and "需计算几分钟" in form
    # without a depot there is nothing to re-plan
    none = browser_client.get("/admin/planner/panel").text
    assert 'id="plan-quarter" disabled' in none and "请先选择配送站点" in none


def test_bad_input_is_shown_beside_the_fields_and_nothing_is_queued(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    before = _all_counts(admin_demo)
    # when every field is wrong at once
    res = _start(
        browser_client, csrf, days=["1", "6"], balance="fastest", tolerance="abc",
        max_stops="0", service_min="500", time_limit="9999",
    )  # fmt: skip
    # then the form comes back (in place of itself) with each error beside its field
    assert res.status_code == 200
    assert res.headers["HX-Retarget"] == "#quarterly-form"
    assert res.headers["HX-Reswap"] == "outerHTML"
    text = res.text
    assert text.lstrip().startswith('<form id="quarterly-form"')
    assert "所选送货日中有的该站点没有线路</span>\n  </fieldset>" in text
    for name, message in (
        ("balance", "均衡规则须为按送货点数、按时长或不均衡"),
        ("tolerance", "均衡容差须为 0 到 100 之间的数字（%）"),
        ("max_stops", "每条线路最多送货点数须为 1 到 1000 之间的整数"),
        ("service_min", "每点服务时间须为 0 到 120 之间的整数（分钟）"),
        ("time_limit", "每个送货日的计算时限须为 1 到 600 之间的数字（秒）"),
    ):
        assert _beside(text, name, message), name
    # the values as entered are kept
    assert 'name="max_stops" min="1" max="1000" step="1" value="0"' in text
    assert 'name="days" value="1" checked>' in text and 'name="days" value="2">' in text
    # no day at all, and no depot
    assert "请至少选择一个送货日" in _start(browser_client, csrf, days=[]).text
    no_depot = _start(browser_client, csrf, depot="")
    assert '<p class="error">请先在筛选中选择配送站点</p>' in no_depot.text
    assert "规划 #" not in no_depot.text
    # a depot that does not exist (or has no routes)
    unknown = _start(browser_client, csrf, depot="999").text
    assert '<p class="error">该配送站点没有可规划的送货线路</p>' in unknown
    assert "所选送货日" not in unknown
    # nothing was created: no plan, no job, no ticket
    assert _all_counts(admin_demo) == before


# -- the job, the figures, the map, the ticket -----------------------------------------------


def test_a_quarterly_plan_runs_as_a_job_resumes_after_a_reload_and_becomes_one_ticket(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    shops_before = assignment(admin_demo)
    tickets, changes, plans, jobs = _all_counts(admin_demo)
    # when the week of 蓝田中转站 is re-planned
    res = _start(browser_client, csrf, tolerance="20")
    plan_id = _plan_id(res.text)
    # then a plan and its job are queued, the box polls and says how long it takes
    assert "季度线路调整 · 规划 #" in res.text and 'hx-trigger="every 1s"' in res.text
    assert "本站点 28 家客户、5 个送货日，预计需计算约 5 秒" in res.text
    assert 'id="plan-cancel"' in res.text
    # and the page's address names the plan
    assert res.headers["HX-Push-Url"] == f"/admin/planner?depot=3&plan={plan_id}"
    assert _all_counts(admin_demo) == (tickets, changes, plans + 1, jobs + 1)
    with Session(admin_demo.engine) as s:
        plan = s.get(RoutePlan, plan_id)
        assert plan is not None and (plan.kind, plan.depot_id, plan.weekday) == (
            "quarterly",
            3,
            None,
        )
        assert plan.params["days"] == [1, 2, 3, 4, 5] and plan.params["balance_tolerance"] == 0.2
        assert plan.params["time_limit_s"] == 1.0 and plan.params["balance_rule"] == "stops"
        job_id = plan.job_id
    assert job_id is not None
    # when the worker has started it: the fraction, its message and the time so far
    with Session(admin_demo.engine) as s, s.begin():
        s.execute(update(Job).where(Job.id == job_id).values(
            status="running", progress=0.4, message="规划周二：5 家客户",
            started_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)))  # fmt: skip
    poll = browser_client.get(f"/admin/planner/plans/{plan_id}").text
    assert 'data-value="0.4"' in poll and ">40%<" in poll and "规划周二：5 家客户" in poll
    assert re.search(r"已用时 (29|30|31) 秒", poll)
    # and a reload of the page resumes the box, polling
    page = browser_client.get(f"/admin/planner?depot=3&plan={plan_id}").text
    box = page[page.index('<div class="plan" id="plan-box"') :]
    polling = f'hx-get="/admin/planner/plans/{plan_id}" hx-trigger="every 1s"'
    assert box.startswith(f'<div class="plan" id="plan-box" {polling}')
    assert "规划周二：5 家客户" in box
    with Session(admin_demo.engine) as s, s.begin():
        s.execute(update(Job).where(Job.id == job_id).values(status="queued", progress=0.0))
    # when the worker runs it to the end
    run_job(admin_demo.engine, job_id)
    done = browser_client.get(f"/admin/planner/plans/{plan_id}").text
    assert "every 1s" not in done and 'id="plan-progress"' not in done
    with Session(admin_demo.engine) as s:
        plan = s.get(RoutePlan, plan_id)
        assert plan is not None and plan.status == "ready"
        summary = plan.summary or {}
        items = s.scalars(select(RoutePlanItem).where(RoutePlanItem.plan_id == plan_id)).all()
        weekday_of = dict(s.execute(select(DeliveryRoute.id, DeliveryRoute.weekday)).all())
    days = sorted(summary["days"], key=lambda d: d["weekday"])
    # then per delivery day the figures before and after, by weekday, and the week's totals
    rows = re.findall(
        r'<tr data-weekday="(\d)"><td>(周.)</td>((?:<td[^>]*>[^<]*</td>\s*)+)</tr>', done
    )
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]

    def cells(html: str) -> list[str]:
        return re.findall(r"<td[^>]*>([^<]*)</td>", html)

    def figures(routes: list[dict[str, Any]]) -> list[str]:
        return [str(sum(r["stops"] for r in routes)), str(sum(r["load"] for r in routes)),
                f"{sum(r['distanceM'] for r in routes) / 1000:.1f}",
                f"{sum(r['durationS'] for r in routes) / 3600:.1f}",
                f"{sum(r['feasible'] for r in routes)}/{len(routes)}"]  # fmt: skip

    def paired(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
        return [v for pair in zip(figures(before), figures(after), strict=True) for v in pair]

    for (_, _, html), d in zip(rows, days, strict=True):
        assert cells(html) == paired(d["before"]["routes"], d["after"]["routes"])
    total = done[done.index('id="quarter-total"') :]
    every_before = [r for d in days for r in d["before"]["routes"]]
    every_after = [r for d in days for r in d["after"]["routes"]]
    assert cells(total[: total.index("</tr>")])[1:] == paired(every_before, every_after)
    assert sum(r["stops"] for r in every_before) == sum(r["stops"] for r in every_after) == 28
    # the saving, and how many shops change day and route
    saved = sum(r["distanceM"] for r in every_before) - sum(r["distanceM"] for r in every_after)
    word = "节省" if saved >= 0 else "增加"
    assert f"{word} {abs(saved) / 1000:.1f} 公里" in done
    route_changes = sum(1 for i in items if i.old_route_id != i.new_route_id)
    day_changes = sum(
        1 for i in items if weekday_of.get(i.old_route_id) != weekday_of[i.new_route_id]
    )
    assert summary["shopsChangingDay"] == day_changes and summary["routeChanges"] == route_changes
    assert (
        f"共 28 家客户，调整 {len(items)} 家：<b>{day_changes}</b> 家换送货日，"
        f"<b>{route_changes}</b> 家换线路（含换送货日的），"
        f"{len(items) - route_changes} 家只调整送货顺序"
    ) in done
    assert "均衡：按送货点数 ±20%" in done and "每个送货日计算时限 1 秒" in done
    # each day's routes in a table of their own
    for d in days:
        table = done[done.index(f'id="plan-table-{d["weekday"]}"') :]
        table = table[: table.index("</table>")]
        assert [r["code"] for r in d["after"]["routes"]] == re.findall(
            r'<td title="[^"]*">([^<]+)</td>', table
        )
    # the map: the routes of the first day the plan changes, before (dashed) and after
    moved = {r for i in items for r in (i.old_route_id, i.new_route_id) if r is not None}
    for day in (None, 1, 3, 5):
        url = f"/admin/planner/plans/{plan_id}" + (f"?day={day}" if day else "")
        shown = _plan_map(browser_client.get(url).text)
        expected = {r for r in moved if weekday_of[r] == (day or 1)}
        layers = shown["layers"]
        assert {x["route"] for x in layers if x["dashed"]} == expected, day
        assert {x["route"] for x in layers if not x["dashed"]} == expected, day
        assert shown["legend"] == "虚线：调整前　实线：调整后"
    # the after line of a route runs depot → its shops in the plan's order → depot
    route = min(r for r in moved if weekday_of[r] == 1)
    line = next(x for x in _plan_map(done)["layers"] if x["route"] == route and not x["dashed"])
    assert len(line["coordinates"]) == 2 + sum(
        1 for i in items if i.new_route_id == route
    ) + sum(
        1 for c, (r, _, _) in shops_before.items()
        if r == route and c not in {i.customer_id for i in items}
    )  # fmt: skip
    assert 'id="plan-map-day"' in done and '<option value="1" selected>周一</option>' in done
    # when submitted with a reason: ONE route-plan ticket, nothing applied before approval
    before_submit = _all_counts(admin_demo)
    sub = browser_client.post(
        f"/admin/planner/plans/{plan_id}/submit",
        data={"reason": "2026 年第四季度调整", "day": "3"}, headers=_hx(csrf),
    )  # fmt: skip
    found = re.search(r"已提交为工单 <a[^>]*>#(\d+)", sub.text)
    assert found, sub.text
    number = int(found.group(1))
    with Session(admin_demo.engine) as s:
        ticket = s.get(Ticket, number)
        assert ticket is not None
        assert (ticket.type, ticket.status, ticket.reason) == (
            "route_plan",
            "open",
            "2026 年第四季度调整",
        )
        assert f"规划 #{plan_id}，涉及 {len(items)} 家客户" in ticket.title
        assert s.get(RoutePlan, plan_id).status == "submitted"  # type: ignore[union-attr]
        n_changes = s.scalar(
            select(func.count()).select_from(TicketChange).where(TicketChange.ticket_id == number)
        )
    assert _all_counts(admin_demo) == (
        before_submit[0] + 1, before_submit[1] + n_changes, before_submit[2], before_submit[3]
    )  # fmt: skip
    assert assignment(admin_demo) == shops_before
    # the submitted plan is still drawn, on the day that was shown; a second submission is
    # refused, nothing created
    assert "待审批" in sub.text
    drawn = {x["route"] for x in _plan_map(sub.text)["layers"]}
    assert drawn == {r for r in moved if weekday_of[r] == 3}
    # the ticket's page in the approval queue shows one delivery day at a time too: its
    # routes' figures and lines, the first day unless another is chosen
    by_day = {d["weekday"]: d for d in days}
    for day in (None, 1, 4, 9):
        url = f"/admin/queue/{number}" + (f"?day={day}" if day else "")
        page = browser_client.get(url, headers={"HX-Request": "true"} if day else {}).text
        shown_day = day if day in by_day else 1
        assert f'<option value="{shown_day}" selected>' in page, day
        assert '<select name="day" id="route-day-select"' in page
        found = re.search(r'class="map route-map" data-map="([^"]*)"', page)
        assert found, page
        layers = json.loads(htmllib.unescape(found.group(1)))["layers"]
        expected = {r for r in moved if weekday_of[r] == shown_day}
        assert {x["route"] for x in layers if x["dashed"]} == expected, day
        assert {x["route"] for x in layers if not x["dashed"]} == expected, day
        table = page[page.index('<table class="list route-stats">') :]
        table = table[: table.index("</table>")]
        rows = [int(r) for r in re.findall(r'<tr data-route="(\d+)">', table)]
        assert rows == sorted(r["routeId"] for r in by_day[shown_day]["after"]["routes"]), day
    submitted = _all_counts(admin_demo)
    again = browser_client.post(f"/admin/planner/plans/{plan_id}/submit", headers=_hx(csrf))
    assert "只有已算好的规划可以提交" in again.text
    assert _all_counts(admin_demo) == submitted
    with Session(admin_demo.engine) as s:
        assert s.get(RoutePlan, plan_id).status == "submitted"  # type: ignore[union-attr]
    assert assignment(admin_demo) == shops_before


# -- refusals -------------------------------------------------------------------------------


def test_other_roles_are_refused_and_nothing_is_created(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    plan_id = _plan_id(_start(browser_client, csrf).text)
    before = _all_counts(admin_demo)
    # a customer manager is offered no form and may not start one
    browser_client.cookies.clear()
    csrf = sign_in(admin_demo.user("customer_manager", 7))
    page = browser_client.get("/admin/planner", params={"depot": LT}).text
    assert 'id="quarterly-form"' not in page and "线路规划由配送部进行" in page
    res = _start(browser_client, csrf)
    assert "只有配送部可以进行线路规划" in res.text and "HX-Retarget" not in res.headers
    # nor see, cancel or submit the delivery dept's plan (not even through the page's address)
    assert "找不到该线路规划" in browser_client.get(f"/admin/planner/plans/{plan_id}").text
    reload = browser_client.get(f"/admin/planner?depot=3&plan={plan_id}").text
    assert "找不到该线路规划" in reload and "规划 #" not in reload
    for action in ("cancel", "submit"):
        out = browser_client.post(f"/admin/planner/plans/{plan_id}/{action}", headers=_hx(csrf))
        assert "找不到该线路规划" in out.text and "规划 #" not in out.text
    # the market dept (city-wide) sees the plan but may neither plan nor submit
    browser_client.cookies.clear()
    csrf = sign_in(admin_demo.user("market_dept"))
    assert "只有配送部可以进行线路规划" in _start(browser_client, csrf).text
    shown = browser_client.get(f"/admin/planner/plans/{plan_id}").text
    assert f"规划 #{plan_id}" in shown
    with Session(admin_demo.engine) as s:
        job = s.scalar(
            select(Job).join(RoutePlan, RoutePlan.job_id == Job.id).where(RoutePlan.id == plan_id)
        )
        assert job is not None and (job.status, job.cancel_requested) == ("queued", False)
    assert _all_counts(admin_demo) == before
    # its maker cancels it: the queued job ends at once
    browser_client.cookies.clear()
    csrf = sign_in(admin_demo.user("delivery_dept"))
    out = browser_client.post(f"/admin/planner/plans/{plan_id}/cancel", headers=_hx(csrf))
    assert 'id="plan-cancelled"' in out.text and "every 1s" not in out.text
    assert "data-plan-map" not in out.text
    with Session(admin_demo.engine) as s:
        assert s.get(RoutePlan, plan_id).status == "cancelled"  # type: ignore[union-attr]


def test_a_day_plan_and_a_move_are_drawn_on_the_map_too(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    csrf = sign_in(admin_demo.user("delivery_dept"))
    # a day plan of 鄠邑中转站's Wednesday: each route it changes, before and after
    res = browser_client.post(
        "/admin/planner/plans", data={"mode": "day", "depot": "4", "weekday": "3",
                                      "time_limit": "1"}, headers=_hx(csrf),
    )  # fmt: skip
    plan_id = _plan_id(res.text)
    assert res.headers["HX-Push-Url"] == f"/admin/planner?depot=4&weekday=3&plan={plan_id}"
    with Session(admin_demo.engine) as s:
        job_id = s.get(RoutePlan, plan_id).job_id  # type: ignore[union-attr]
    assert job_id is not None
    run_job(admin_demo.engine, job_id)
    done = browser_client.get(f"/admin/planner/plans/{plan_id}").text
    with Session(admin_demo.engine) as s:
        items = s.scalars(select(RoutePlanItem).where(RoutePlanItem.plan_id == plan_id)).all()
    moved = {r for i in items for r in (i.old_route_id, i.new_route_id) if r is not None}
    assert moved  # 6 shops on 3 routes, balanced by stops: some move
    layers = _plan_map(done)["layers"]
    assert sorted((x["route"], x["dashed"]) for x in layers) == sorted(
        (r, dashed) for r in moved for dashed in (False, True)
    )
    assert 'id="plan-map-day"' not in done
    # a move of two shops to another route: both routes, before and after
    res = browser_client.post(
        "/admin/planner/move", data={"customer": ["15", "284"], "target_route": "173"},
        headers=_hx(csrf),
    )  # fmt: skip
    assert 'id="move-result"' in res.text, res.text
    layers = _plan_map(res.text, "move-lines")["layers"]
    assert sorted((x["route"], x["dashed"]) for x in layers) == [
        (168, False), (168, True), (173, False), (173, True)
    ]  # fmt: skip
    # R-HY-02-3's line after the move passes through the two shops, R-HY-01-3's no longer
    after = {x["route"]: x["coordinates"] for x in layers if not x["dashed"]}
    before = {x["route"]: x["coordinates"] for x in layers if x["dashed"]}
    assert (len(after[173]), len(after[168])) == (len(before[173]) + 2, len(before[168]) - 2)
