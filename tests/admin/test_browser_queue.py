"""The approval queue in Debian's headless Chromium (the acceptance of issue 7, part 4):
approve a location change with the map shown, reject without a reason and see the error,
and a POST without the CSRF header refused; no CSP violation or page error on the way."""

from __future__ import annotations

import re

from sqlalchemy import select

from domain.models import LedgerEntry
from tests.admin.conftest import BrowserPage, Demo
from tests.admin.queue_support import (
    location_of,
    new_location_ticket,
    ticket_state,
    ticket_status,
)

POINTS_ON_MAP = """el => {
  let n = 0;
  el.rgisMap.eachLayer(l => { if (l instanceof L.CircleMarker) { n += 1; } });
  return n;
}"""


def test_approve_a_location_change_from_the_queue_with_the_map_shown(
    browser_page: BrowserPage, admin_demo: Demo
) -> None:
    ticket_id, customer = new_location_ticket(admin_demo)
    before = location_of(admin_demo, customer)
    page = browser_page.page
    browser_page.sign_in(admin_demo.user("delivery_dept", 1), admin_demo.password)
    # given the queue, narrowed to location changes by the filter (an htmx swap)
    page.goto("/admin/queue")
    page.select_option("#queue-filters select[name=type]", "location_change")
    page.wait_for_url("**/admin/queue?type=location_change")
    row = page.locator(f'tr[data-ticket="{ticket_id}"]')
    row.wait_for()
    browser_page.screenshot("queue")
    # when the ticket is opened
    row.locator("a").click()
    page.wait_for_url(f"**/admin/queue/{ticket_id}")
    # then the map shows the old and the new point, with the distance between them
    map_el = page.locator(".location .leaflet-container")
    map_el.wait_for()
    assert map_el.evaluate(POINTS_ON_MAP) == 2
    distance = page.locator(".location .distance").inner_text()
    assert re.search(r"新旧位置相距 \d+ 米", distance), distance
    browser_page.screenshot("ticket")
    # when the approver approves it
    page.fill("#comment", "已现场核实")
    page.click("button[value=approve]")
    # then the page says so in place, and the change is applied through the ledger
    message = page.locator("#decision-message")
    message.wait_for()
    assert "已通过" in message.inner_text()
    browser_page.screenshot("approved")
    assert ticket_status(admin_demo, ticket_id) == "applied"
    assert location_of(admin_demo, customer) != before
    assert admin_demo.scalar(
        select(LedgerEntry.id).where(
            LedgerEntry.ticket_id == ticket_id, LedgerEntry.field_key == "location"
        )
    )
    assert page.locator("#decision-form").count() == 0
    assert browser_page.problems == []


def test_reject_a_ticket_without_a_reason_and_see_the_error(
    browser_page: BrowserPage, admin_demo: Demo
) -> None:
    ticket_id, _ = new_location_ticket(admin_demo)
    before = ticket_state(admin_demo, ticket_id)
    page = browser_page.page
    browser_page.sign_in(admin_demo.user("delivery_dept", 1), admin_demo.password)
    page.goto(f"/admin/queue/{ticket_id}")
    # when reject is clicked with an empty comment
    page.click("button[value=reject]")
    # then the error stands beside the comment box, and nothing changed
    error = page.locator("#decision-form .field-error")
    error.wait_for()
    assert error.inner_text() == "驳回须填写理由"
    browser_page.screenshot("reject-error")
    assert ticket_state(admin_demo, ticket_id) == before
    assert page.locator("#decision-message").count() == 0
    assert browser_page.problems == []


def test_a_post_without_the_csrf_header_is_refused(
    browser_page: BrowserPage, admin_demo: Demo
) -> None:
    ticket_id, _ = new_location_ticket(admin_demo)
    before = ticket_state(admin_demo, ticket_id)
    page = browser_page.page
    browser_page.sign_in(admin_demo.user("delivery_dept", 1), admin_demo.password)
    page.goto(f"/admin/queue/{ticket_id}")
    # when a script on the page posts the approval with the session cookie but no token
    status = page.evaluate(
        """url => fetch(url, {method: "POST", credentials: "same-origin",
                  headers: {"Content-Type": "application/x-www-form-urlencoded"},
                  body: "comment=x"}).then(r => r.status)""",
        f"/admin/queue/{ticket_id}/approve",
    )
    # then it is refused and the ticket is as it was
    assert status == 403
    assert ticket_state(admin_demo, ticket_id) == before
    assert browser_page.problems == []
