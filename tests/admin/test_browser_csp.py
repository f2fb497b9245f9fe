"""Every admin page in Debian's headless Chromium, signed in as each of four roles (issue 9,
part 7): zero CSP violations, page errors or failed scripts/styles/images; every HTML
response (pages and htmx partials) carries the CSP header and has no inline script, inline
style or inline event handler. The GET routes are walked from the served app, so a page
added later is visited too; data endpoints (tiles, GeoJSON) are not opened as pages, but the
pages must have loaded each of them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.routing import Route

from domain import planning
from domain.models import Customer, OrgUnit, User
from tests.admin.conftest import BrowserPage, Demo
from tests.admin.planner_support import principal_of, run_job
from tests.admin.queue_support import new_location_ticket
from tests.admin.routes_support import PARAM, admin_routes, fill, matches

DATA_SUFFIXES = (".pbf", ".geojson", ".json", ".csv", ".xlsx")
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
STYLE_ATTR = re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.I)
STYLE_TAG = re.compile(r"<style\b", re.I)
HANDLER_ATTR = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.I)
RULES = (("inline script", INLINE_SCRIPT), ("style attribute", STYLE_ATTR),
         ("style element", STYLE_TAG), ("event handler", HANDLER_ATTR))  # fmt: skip
HY_WED_02 = 173  # 鄠邑中转站's Wednesday route R-HY-02-3 (a few shops: a quick plan)


@dataclass(frozen=True)
class Fixtures:
    ticket_id: int
    maker: str  # the customer manager who opened the ticket
    county: str  # a county_dept user of the ticket's county
    plan_id: int


@pytest.fixture(scope="module")
def visit_data(admin_demo: Demo) -> Fixtures:
    """A location-change ticket (with its map) and a computed route plan (with its table)."""
    ticket_id, customer_id = new_location_ticket(admin_demo)
    with Session(admin_demo.engine) as s:
        shop = s.get(Customer, customer_id)
        assert shop is not None
        maker = s.scalar(select(User.username).where(User.id == shop.customer_manager_id))
        county = s.scalar(
            select(User.username)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(User.role == "county_dept", OrgUnit.region_id == shop.admin_region_id)
            .order_by(User.id)
        )
    planner = principal_of(admin_demo.engine, admin_demo.user("delivery_dept"))
    req = planning.PlanRequest(mode="resequence", route_id=HY_WED_02, time_limit_s=1)
    with Session(admin_demo.engine) as s, s.begin():
        plan = planning.start_route_plan(s, planner, req)
        plan_id, job_id = plan.id, plan.job_id
    assert job_id is not None and maker is not None and county is not None
    run_job(admin_demo.engine, job_id)
    return Fixtures(ticket_id, maker, county, plan_id)


@dataclass
class Recorder:
    """The admin's HTML responses (documents and htmx requests) and every URL requested."""

    requested: list[str] = field(default_factory=list)
    checked: list[tuple[str, int]] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("request", lambda r: self.requested.append(r.url))
        page.on("response", self._response)

    def _response(self, response: Any) -> None:
        """Read at once: a body is gone once the page navigates away."""
        kind = response.request.resource_type
        if "/admin/" not in response.url or kind not in ("document", "xhr", "fetch"):
            return
        headers = response.all_headers()
        if 300 <= response.status < 400 or not headers.get("content-type", "").startswith(
            "text/html"
        ):
            return
        self.check(response.url, response.status, headers, response.text())

    def check(self, url: str, status: int, headers: dict[str, str], html: str) -> None:
        self.checked.append((url, status))
        csp = headers.get("content-security-policy", "")
        if "script-src 'self'" not in csp or "style-src 'self'" not in csp:
            self.faults.append(f"{url}: CSP header missing or wrong: {csp!r}")
        if "unsafe-inline" in csp or "unsafe-eval" in csp:
            self.faults.append(f"{url}: CSP allows inline or eval: {csp!r}")
        for name, pattern in RULES:
            found = pattern.search(html)
            if found:
                self.faults.append(f"{url}: {name}: {found.group(0)[:120]}")


def get_routes(app: Starlette) -> tuple[list[str], list[tuple[str, Route]]]:
    """The admin's GET pages (paths), and its data endpoints."""
    pages: list[str] = []
    data: list[tuple[str, Route]] = []
    for path, route in admin_routes(app):
        if "GET" not in (route.methods or set()):
            continue
        if path.endswith(DATA_SUFFIXES):
            data.append((path, route))
        else:
            pages.append(path)
    # pages without parameters first: they show the codes and ids the others need
    return sorted(pages, key=lambda p: (bool(PARAM.search(p)), p)), data


def _visit(bp: BrowserPage, url: str) -> int:
    response = bp.page.goto(url, wait_until="networkidle")
    assert response is not None, url
    return int(response.status)


def _interact(bp: BrowserPage, path: str) -> None:
    """Cheap htmx interactions on the pages that have them."""
    page = bp.page
    if path == "/admin/customers":
        page.select_option("select[name=status]", "closed")
        page.wait_for_url("**/admin/customers?*status=closed*")
        page.fill("input[name=q]", "西安")
        page.wait_for_url("**/admin/customers?*q=*")
    elif path == "/admin/queue":
        page.select_option("#queue-filters select[name=status]", index=1)
        page.wait_for_url("**/admin/queue?*status=*")
    elif path == "/admin/planner":
        page.wait_for_selector("#planner-map[data-tiles-state=loaded]")
        page.select_option("#planner-filters select[name=format]", index=1)
        page.wait_for_selector('#planner-map[data-tiles-state=loaded][data-tiles-query*="format="]')
    elif path == "/admin/customers/{code}":
        page.locator(".shop-map .leaflet-container").wait_for()
        page.click("nav.tabs a:text-is('修改台帐')")
        page.locator("form.as-of").wait_for()
    elif path == "/admin/tokens":
        # a token created through the form: the answer shows its secret once
        page.fill("#token-form input[name=name]", "CSP 检查")
        page.click("#token-form button[type=submit]")
        page.locator("#token-secret").wait_for()
    else:
        return
    page.wait_for_load_state("networkidle")


# (role, nth user of the role); None: the user the ticket's scope needs
ROLES = [("market_dept", 0), ("county_dept", None), ("customer_manager", None),
         ("delivery_dept", 0)]  # fmt: skip


@pytest.mark.parametrize(("role", "nth"), ROLES, ids=[r for r, _ in ROLES])
def test_every_admin_page_has_no_csp_violation_for_the_role(
    role: str, nth: int | None, browser_page: BrowserPage, admin_demo: Demo,
    admin_app: Starlette, visit_data: Fixtures,
) -> None:  # fmt: skip
    bp, page = browser_page, browser_page.page
    rec = Recorder()
    rec.attach(page)
    if nth is not None:
        username = admin_demo.user(role, nth)
    else:
        username = visit_data.county if role == "county_dept" else visit_data.maker
    bp.sign_in(username, admin_demo.password)
    pages, data = get_routes(admin_app)
    assert {"/admin/", "/admin/customers", "/admin/customers/{code}", "/admin/queue",
            "/admin/queue/{ticket_id:int}", "/admin/planner", "/admin/planner/panel",
            "/admin/planner/plans/{plan_id:int}", "/admin/files",
            "/admin/tokens", "/admin/calendar"} <= set(pages)  # fmt: skip
    assert len(data) >= 3
    ids = {"plan_id": str(visit_data.plan_id), "ticket_id": str(visit_data.ticket_id)}
    statuses: dict[str, int] = {}
    for path in pages:
        # when the page is opened (path parameters: codes and ids this role sees)
        url = fill(path, ids)
        statuses[url] = _visit(bp, url)
        _interact(bp, path)
        if path == "/admin/customers":
            page.goto("/admin/customers", wait_until="networkidle")
            ids["code"] = page.locator("#customer-list tbody tr td a").first.inner_text()
        if path == "/admin/customers/{code}":
            for tab in ("history", "tickets"):
                statuses[f"{url}?tab={tab}"] = _visit(bp, f"{url}?tab={tab}")
    bp.screenshot("last-page")
    # then every page answered, with 200 where its parameters are real (a parameter of a
    # new route gets a dummy value: add a real one to `ids` to see the page itself)
    for path in pages:
        url = fill(path, ids)
        real = all(name in ids for name, _ in PARAM.findall(path))
        assert statuses[url] == 200 if real else statuses[url] < 500, (url, statuses[url])
    # and the pages loaded every data endpoint
    for path, route in data:
        admin_urls = ["/admin/" + u.split("/admin/", 1)[1] for u in rec.requested if "/admin/" in u]
        assert any(matches(route, u, "GET") for u in admin_urls), path
    # when signing out from the header (an htmx POST with the CSRF header)
    page.goto("/admin/", wait_until="networkidle")
    page.click("header .who button")
    page.wait_for_url("**/admin/signin")
    # then no HTML response broke the policy, and the browser reported no problem
    assert len(rec.checked) > len(pages)
    assert rec.faults == []
    assert bp.problems == []
