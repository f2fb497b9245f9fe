"""The approval queue updates itself in Chromium when a ticket in the user's scope changes:
the page subscribes to `ticketEvents` with its session (no reload, well before the
one-minute refresh), with no CSP violation or page error."""

from __future__ import annotations

import pytest

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


def test_signing_out_in_another_tab_ends_the_live_updates(
    browser_page: BrowserPage, admin_demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schema.tickets.subscriptions.RECHECK_SECONDS", 0.0)  # every event
    page = browser_page.page
    browser_page.sign_in(admin_demo.user("delivery_dept", 1), admin_demo.password)
    page.goto("/admin/queue?type=location_change")
    page.locator("#queue-live.on").wait_for(timeout=10_000)
    # when the user signs out in another tab of the same browser
    other = browser_page.context.new_page()
    other.goto("/admin/queue")
    other.click(".who button")
    other.wait_for_url("**/admin/signin**")
    # then the next change in scope ends the open page's live updates instead of
    # reaching it, and the page leads to the sign-in
    new_location_ticket(admin_demo)
    page.locator("#queue-live.off").wait_for(timeout=15_000)
    assert page.locator("#queue-live").inner_text() == "实时更新不可用"
    page.wait_for_url("**/admin/signin**", timeout=15_000)
    assert browser_page.problems == []
