"""In Debian's headless Chromium: a customer file with one bad row is uploaded, its check runs
as a background job whose progress the page shows, then its report while nothing is imported
(the acceptance of issue 7); the archive list filters in place and a shop's page shows its
map; no CSP violation on the way."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select
from starlette.applications import Starlette

from domain.imports import jobs as job_module
from domain.models import Customer
from tests.admin.conftest import BrowserPage, Demo
from tests.admin.customers_support import (
    BAD_LICENCE_MESSAGE,
    customers_count,
    import_file,
    new_codes,
)
from tests.admin.files_support import run_import_job


def _job_id(page: Any) -> int:
    url = page.locator("#import-report").get_attribute("hx-get")
    return int(url.rsplit("/", 1)[1])


def _in_background(app: Starlette, demo: Demo, job_id: int) -> tuple[threading.Thread, list[Any]]:
    """The worker, in a thread: runs the job while the page polls."""
    errors: list[Any] = []

    def work() -> None:
        try:
            run_import_job(app, demo, job_id)
        except Exception as exc:  # reported in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    return thread, errors


def test_upload_a_file_with_one_bad_row_and_see_the_report_while_nothing_is_imported(
    browser_page: BrowserPage, admin_demo: Demo, admin_app: Starlette, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    page = browser_page.page
    path = import_file(admin_demo, tmp_path, start=740_001, rows=3, bad_row=3)
    before = customers_count(admin_demo)
    browser_page.sign_in(admin_demo.user("market_dept"), admin_demo.password)
    # given the files page, and a check that pauses once it has said it checks the database
    page.goto("/admin/files")
    real, resume = job_module._Say.__call__, threading.Event()

    def pausing(self: Any, phase: str, done: int, total: int) -> None:
        real(self, phase, done, total)
        if phase == "数据库校验" and done == 0:
            resume.wait(30)

    monkeypatch.setattr(job_module._Say, "__call__", pausing)
    # when the file is chosen and uploaded (an htmx multipart POST with the CSRF header)
    page.set_input_files("#upload-form input[name=file]", str(path))
    page.click("#upload-form button[type=submit]")
    # then a progress bar polls the queued check
    page.locator("#import-progress").wait_for()
    expect(page.locator("#import-message")).to_have_text("排队等待后台任务")
    browser_page.screenshot("queued")
    worker, errors = _in_background(admin_app, admin_demo, _job_id(page))
    # and shows the job's progress as it runs (the bar's value set from data-value by app.js)
    try:
        expect(page.locator("#import-message")).to_have_text("数据库校验", timeout=20_000)
        assert page.locator("#import-progress").evaluate("p => p.value") == pytest.approx(0.75)
        assert page.locator("#import-percent").inner_text() == "75%"
        browser_page.screenshot("checking")
    finally:
        resume.set()
    # then the report shows the bad row, its field and the message
    report = page.locator("#import-issues tbody tr")
    report.first.wait_for(timeout=30_000)
    worker.join(30)
    assert errors == []
    assert page.locator("#import-progress").count() == 0
    assert report.count() == 1
    assert report.locator("td.row").inner_text() == "3"
    assert report.locator("td.field").inner_text() == "专卖许可证号"
    assert report.locator("td.message").inner_text() == BAD_LICENCE_MESSAGE
    assert report.locator("td.message").is_visible()
    assert "尚未导入任何数据" in page.locator("#import-summary").inner_text()
    browser_page.screenshot("report")
    # and nothing was imported
    assert customers_count(admin_demo) == before
    # when the valid rows are imported: a progress bar again, then the result
    page.click("#import-valid")
    page.locator("#import-progress").wait_for()
    worker, errors = _in_background(admin_app, admin_demo, _job_id(page))
    page.locator("#import-done").wait_for(timeout=30_000)
    worker.join(30)
    assert errors == []
    assert "已导入客户 2 户" in page.locator("#import-done").inner_text()
    assert customers_count(admin_demo) == before + 2
    codes = new_codes(740_001, 3)
    assert admin_demo.scalar(
        select(func.count()).select_from(Customer).where(Customer.customer_code.in_(codes))
    ) == 2  # fmt: skip
    browser_page.screenshot("imported")
    assert browser_page.problems == []


def test_the_archive_filters_in_place_and_a_shop_shows_its_map(
    browser_page: BrowserPage, admin_demo: Demo
) -> None:
    page = browser_page.page
    closed = admin_demo.scalar(
        select(func.count()).select_from(Customer).where(Customer.status == "closed")
    )
    browser_page.sign_in(admin_demo.user("market_dept"), admin_demo.password)
    page.goto("/admin/customers")
    total = page.locator("#customer-total")
    assert int(total.inner_text()) == customers_count(admin_demo)
    page.evaluate("window.rgisSamePage = true")
    # when a filter is chosen, the results change in place and the URL follows
    page.select_option("select[name=status]", "closed")
    page.wait_for_url("**/admin/customers?*status=closed*")
    expect(total).to_have_text(str(closed))
    assert page.evaluate("window.rgisSamePage") is True  # not a page load
    browser_page.screenshot("filtered")
    # and a search narrows it to one shop
    code = page.locator("#customer-list tbody tr td a").first.inner_text()
    page.fill("input[name=q]", code)
    expect(total).to_have_text("1")
    assert page.evaluate("window.rgisSamePage") is True
    # when the shop is opened, its page shows the record and a map with its point
    page.click(f"#customer-list a:text-is('{code}')")
    page.wait_for_url(f"**/admin/customers/{code}")
    page.locator(".shop-map .leaflet-container").wait_for()
    page.locator(".shop-map .leaflet-overlay-pane canvas").first.wait_for(state="attached")
    assert page.locator("fieldset.group legend").count() == 6
    browser_page.screenshot("record")
    # and the ledger tab opens in place
    page.click("nav.tabs a:text-is('修改台帐')")
    page.locator("form.as-of").wait_for()
    assert page.url.endswith(f"/admin/customers/{code}?tab=history")
    browser_page.screenshot("detail")
    assert browser_page.problems == []
