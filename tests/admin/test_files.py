"""Files in the admin: customers imported from a CSV/XLSX in two steps (the per-row report
first, nothing committed; then the import), and the archive list exported (filtered,
scoped and masked by role, logged) as a download."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import openpyxl
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from domain.masking import mask_phone
from domain.models import Customer, ExportLog, Import
from tests.admin.conftest import Demo, SignIn
from tests.admin.customers_support import (
    BAD_LICENCE_MESSAGE,
    customers_count,
    import_file,
    ledger_count,
    manager_id,
    new_codes,
    shop_of,
)

TOKEN_RE = re.compile(r'name="token" value="([0-9a-f]{32})"')
SHA_RE = re.compile(r'name="sha256" value="([0-9a-f]{64})"')


def _upload(client: TestClient, token: str, path: Path) -> str:
    with path.open("rb") as fh:
        res = client.post(
            "/admin/files/upload", files={"file": (path.name, fh, "text/csv")},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )  # fmt: skip
    assert res.status_code == 200, res.text
    return res.text


def _import(client: TestClient, csrf: str, report: str, mode: str, **override: str) -> str:
    found, sha = TOKEN_RE.search(report), SHA_RE.search(report)
    assert found and sha, "no import form in the report"
    data = {"token": found.group(1), "sha256": sha.group(1), "mode": mode, **override}
    res = client.post(
        "/admin/files/import", data=data, headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert res.status_code == 200, res.text
    return res.text


def _imports(demo: Demo) -> int:
    return int(demo.scalar(select(func.count()).select_from(Import)))


def _codes_present(demo: Demo, codes: list[str]) -> list[str]:
    with Session(demo.engine) as s:
        found = s.scalars(select(Customer.customer_code).where(Customer.customer_code.in_(codes)))
        return sorted(found)


def test_an_upload_with_a_bad_row_shows_the_report_and_imports_nothing(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, tmp_path: Path
) -> None:
    token = sign_in(admin_demo.user("market_dept"))
    path = import_file(admin_demo, tmp_path, start=710_001, rows=3, bad_row=3)
    before = (customers_count(admin_demo), ledger_count(admin_demo), _imports(admin_demo))
    # when the file is uploaded
    report = _upload(browser_client, token, path)
    # then the report names the row, the field and the message, and nothing is imported
    assert report.lstrip().startswith('<div id="import-report">')
    rows = re.findall(
        r'<td class="row">(\d+)</td><td class="field">([^<]*)</td><td class="message">([^<]*)<',
        report,
    )
    assert rows == [("3", "专卖许可证号", BAD_LICENCE_MESSAGE)]
    assert '<b id="valid-rows">2</b>' in report and '<b id="refused-rows">1</b>' in report
    assert "尚未导入任何数据" in report
    assert (customers_count(admin_demo), ledger_count(admin_demo), _imports(admin_demo)) == before
    assert _codes_present(admin_demo, new_codes(710_001, 3)) == []
    # and all rows cannot be imported, only the valid ones are offered
    assert 'id="import-all"' not in report and "仅导入有效的 2 行" in report
    refused = _import(browser_client, token, report, "all")
    assert 'id="import-refused"' in refused and "未导入任何数据" in refused
    assert (customers_count(admin_demo), ledger_count(admin_demo), _imports(admin_demo)) == before


def test_the_second_step_imports_the_valid_rows(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, tmp_path: Path
) -> None:
    token = sign_in(admin_demo.user("market_dept"))
    path = import_file(admin_demo, tmp_path, start=720_001, rows=3, bad_row=2)
    report = _upload(browser_client, token, path)
    customers, imports = customers_count(admin_demo), _imports(admin_demo)
    # a tampered checksum or an unknown id is refused
    gone = _import(browser_client, token, report, "valid", sha256="0" * 64)
    assert "上传的文件已失效，请重新上传" in gone
    gone = _import(browser_client, token, report, "valid", token="../../etc/passwd")
    assert "上传的文件已失效，请重新上传" in gone
    assert customers_count(admin_demo) == customers
    # when the user imports the valid rows
    done = _import(browser_client, token, report, "valid")
    # then rows 3 and 4 are new customers with their ledger, row 2 is skipped
    assert 'id="import-done"' in done and "已导入客户 <b>2</b> 户" in done
    assert "跳过有误的 1 行" in done
    codes = new_codes(720_001, 3)
    assert _codes_present(admin_demo, codes) == codes[1:]
    assert customers_count(admin_demo) == customers + 2
    assert _imports(admin_demo) == imports + 1
    with Session(admin_demo.engine) as s:
        run = s.scalars(select(Import).order_by(Import.id.desc())).first()
    assert run is not None and (run.status, run.rows_inserted, run.rows_refused) == ("done", 2, 1)
    assert run.actor_name == admin_demo.user("market_dept")
    # and the ledger tab of an imported shop lists its one import record field by field,
    # the phone masked
    tab = browser_client.get(f"/admin/customers/{codes[1]}", params={"tab": "history"}).text
    ledger = tab.split('id="ledger"')[1].split("</table>")[0]
    assert ledger.count("<td>导入</td>") == ledger.count("<tr><td>") == 24
    assert "<td>店铺名称</td>" in ledger and "导入测试商店720002号" in ledger
    assert "139****0002" in ledger and "13900720002" not in tab
    # and the same upload cannot be imported twice (the stored file is gone)
    again = _import(browser_client, token, report, "valid")
    assert "上传的文件已失效" in again and customers_count(admin_demo) == customers + 2


def test_a_role_without_the_import_right_cannot_upload(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, tmp_path: Path
) -> None:
    token = sign_in(admin_demo.user("customer_manager"))
    page = browser_client.get("/admin/files").text
    assert 'id="upload-form"' not in page and 'id="export"' in page
    path = import_file(admin_demo, tmp_path, start=730_001, rows=1, bad_row=None)
    customers = customers_count(admin_demo)
    report = _upload(browser_client, token, path)
    assert "您的角色无权导入客户档案" in report and customers_count(admin_demo) == customers


def _csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_export_is_filtered_scoped_masked_and_logged(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me = admin_demo.user("customer_manager", 8)
    token = sign_in(me)
    with Session(admin_demo.engine) as s:
        mine = s.scalars(
            select(Customer).where(
                Customer.customer_manager_id == manager_id(admin_demo, me),
                Customer.status == "active",
            )
        ).all()
        others = s.scalar(select(func.count()).select_from(Customer)) - len(mine)
    logs = admin_demo.scalar(select(func.count()).select_from(ExportLog))
    # when a customer manager exports the active shops as CSV (even naming another manager)
    res = browser_client.post(
        "/admin/files/export",
        data={"status": "active", "format": "csv", "csrf_token": token},
    )
    # then the download is named with the date and holds exactly the manager's active shops
    assert res.status_code == 200
    day = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert res.headers["content-disposition"] == (
        f"attachment; filename=\"customers-{day}.csv\"; filename*=UTF-8''"
        f"{quote(f'客户档案-{day}.csv')}"
    )
    rows = _csv_rows(res.content)
    header, body = rows[0], rows[1:]
    codes = {r[header.index("客户代码")] for r in body}
    assert codes == {c.customer_code for c in mine} and others > 0
    # a customer manager may reveal the phone: it is exported; the bank account is masked
    shop = next(c for c in mine if c.phone and c.bank_account)
    row = next(r for r in body if r[header.index("客户代码")] == shop.customer_code)
    assert row[header.index("订货电话")] == shop.phone
    assert row[header.index("银行帐号")] != shop.bank_account
    assert row[header.index("银行帐号")].startswith("****")
    # and the export is logged with its filter
    with Session(admin_demo.engine) as s:
        log = s.scalars(select(ExportLog).order_by(ExportLog.id.desc())).first()
    assert admin_demo.scalar(select(func.count()).select_from(ExportLog)) == logs + 1
    assert log is not None and (log.format, log.row_count) == ("csv", len(mine))
    assert log.filter == {"status": "active", "sort": "code"}


def test_a_role_without_reveal_rights_exports_masked_values(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    token = sign_in(admin_demo.user("it_admin"))
    shop = shop_of(admin_demo, admin_demo.user("customer_manager", 2))
    res = browser_client.post(
        "/admin/files/export",
        data={"q": shop.customer_code, "format": "xlsx", "csrf_token": token},
    )
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(res.content), read_only=True).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = rows[0]
    row = next(r for r in rows[1:] if r[header.index("客户代码")] == shop.customer_code)
    assert shop.phone and row[header.index("订货电话")] == mask_phone(shop.phone)
    assert shop.phone not in {str(c) for r in rows for c in r}
    # a bad format is refused on the page, nothing logged
    logs = admin_demo.scalar(select(func.count()).select_from(ExportLog))
    bad = browser_client.post("/admin/files/export", data={"format": "pdf", "csrf_token": token})
    assert bad.status_code == 400 and "导出格式须为 xlsx 或 csv" in bad.text
    assert admin_demo.scalar(select(func.count()).select_from(ExportLog)) == logs
