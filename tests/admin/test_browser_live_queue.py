"""The approval queue updates itself in Chromium when a ticket in the user's scope changes:
the page subscribes to `ticketEvents` with its session (no reload, well before the
one-minute refresh), with no CSP violation or page error."""

from __future__ import annotations

from tests.admin.conftest import BrowserPage, Demo
from tests.admin.queue_support import new_location_ticket


def test_a_new_ticket_appears_in_the_open_queue_by_itself(
    browser_page: BrowserPage, admin_demo: Demo
) -> None:
    page = browser_page.page
    browser_page.sign_in(admin_demo.user("delivery_dept", 1), admin_demo.password)
    page.goto("/admin/queue?type=location_change")
    live = page.locator("#queue-live.on")
    live.wait_for(timeout=10_000)
    assert live.inner_text() == "实时更新"
    reloads: list[str] = []
    page.on("framenavigated", lambda frame: reloads.append(frame.url))
    # when a customer manager proposes a move (the delivery department's step is next)
    ticket_id, _ = new_location_ticket(admin_demo)
    # then the row appears in the open page, within seconds (the poll is every 60 s)
    page.locator(f'tr[data-ticket="{ticket_id}"]').wait_for(timeout=15_000)
    browser_page.screenshot("live")
    assert reloads == []
    assert browser_page.problems == []
