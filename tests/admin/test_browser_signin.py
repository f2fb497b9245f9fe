"""In Debian's headless Chromium: sign in, see the home page and a map, no CSP violation."""

from __future__ import annotations

from tests.admin.conftest import BrowserPage, Demo


def test_sign_in_and_home_in_the_browser(browser_page: BrowserPage, admin_demo: Demo) -> None:
    page = browser_page.page
    # given the sign-in page
    page.goto("/admin/")
    page.wait_for_url("**/admin/signin?next=/admin/")
    # when a wrong password is typed, the error shows beside the form
    page.fill("input[name=username]", admin_demo.user("market_dept"))
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert page.locator("p.error").inner_text() == "用户名或密码错误"
    # and with the right one the home page opens
    browser_page.sign_in(admin_demo.user("market_dept"), admin_demo.password)
    assert page.locator("h1").inner_text().endswith("您好")
    assert page.locator(".counter").count() == 5
    browser_page.screenshot("home")
    # when the user signs out (an htmx POST carrying the CSRF header)
    page.click("header .who button")
    page.wait_for_url("**/admin/signin")
    # then no script was blocked and nothing failed on the way
    assert browser_page.problems == []
