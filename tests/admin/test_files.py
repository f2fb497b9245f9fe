"""Files in the admin: customers imported from a CSV/XLSX in two steps, each a background
job whose panel polls its progress (the per-row report first, nothing committed; then the
import), and the archive list exported (filtered, scoped and masked by role, logged) as a
download."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.testclient import TestClient

from api.settings import Settings
from api.worker import run_worker
from domain.imports import jobs as job_module
from domain.imports.uploads import UploadStore
from domain.jobs import FINISHED, Progress, enqueue
from domain.ledger import IMPORT_RECORD
from domain.masking import mask_phone
from domain.models import Customer, ExportLog, Import, Job, LedgerEntry
from domain.vault import Vault
from tests.admin.conftest import VAULT, Demo, SignIn
from tests.admin.customers_support import (
    BAD_LICENCE,
    BAD_LICENCE_MESSAGE,
    customers_count,
    import_file,
    manager_id,
    new_codes,
    shop_of,
)
from tests.admin.files_support import (
    codes_present,
    counts,
    hx,
    import_jobs,
    issues,
    job_of,
    job_row,
    poll,
    run_and_poll,
    run_import_job,
    start_import,
    upload,
)
from tests.admin.planner_support import user_id
from tests.import_data import customer_records, headers, write_csv


def test_an_upload_with_a_bad_row_is_checked_by_a_job_and_imports_nothing(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, admin_app: Starlette,
    tmp_path: Path,
) -> None:  # fmt: skip
    csrf = sign_in(admin_demo.user("market_dept"))
    path = import_file(admin_demo, tmp_path, start=710_001, rows=3, bad_row=3)
    before = counts(admin_demo)
    # when the file is uploaded: the answer is at once a panel polling the queued check
    panel = upload(browser_client, csrf, path)
    assert panel.lstrip().startswith('<div id="import-report" hx-get="/admin/files/jobs/')
    job_id = job_of(panel)
    assert 'id="import-progress"' in panel and 'data-value="0.0"' in panel
    assert "排队等待后台任务" in panel and 'id="import-cancel"' in panel
    assert 'id="import-issues"' not in panel
    # the job names the stored upload by its id and sha256, never a path
    job = job_row(admin_demo, job_id)
    assert (job.kind, job.status, job.created_by_id) == (
        "customer_import", "queued", user_id(admin_demo.engine, admin_demo.user("market_dept")),
    )  # fmt: skip
    assert sorted(job.params) == ["fileName", "mode", "sha256", "token"]
    assert job.params["mode"] == "check" and job.params["fileName"] == path.name
    assert re.fullmatch(r"[0-9a-f]{32}", job.params["token"])
    # then the worker runs the check: the panel stops polling and shows the report (row,
    # field, message), and nothing is imported
    job = run_import_job(admin_app, admin_demo, job_id)
    assert (job.status, job.progress) == ("done", 1.0)
    report = poll(browser_client, job_id)
    assert "every 1s" not in report and 'id="import-progress"' not in report
    assert issues(report) == [("3", "专卖许可证号", BAD_LICENCE_MESSAGE)]
    assert '<b id="valid-rows">2</b>' in report and '<b id="refused-rows">1</b>' in report
    assert "尚未导入任何数据" in report
    assert counts(admin_demo) == before
    assert codes_present(admin_demo, new_codes(710_001, 3)) == []
    # and all rows cannot be imported, only the valid ones are offered
    assert 'id="import-all"' not in report and "仅导入有效的 2 行" in report
    # a forged "all" is queued, and the import refuses the file: nothing imported
    refused = start_import(browser_client, csrf, report, "all")
    done = run_and_poll(browser_client, admin_app, admin_demo, job_of(refused))
    assert 'id="import-refused"' in done and "未导入任何数据" in done
    assert issues(done) == [("3", "专卖许可证号", BAD_LICENCE_MESSAGE)]
    assert counts(admin_demo) == before


def test_the_check_reports_its_progress_by_phase_and_rows(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, admin_app: Starlette,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    csrf = sign_in(admin_demo.user("market_dept"))
    with Session(admin_demo.engine) as s:
        lng, lat = s.execute(
            select(func.ST_X(Customer.location), func.ST_Y(Customer.location)).limit(1)
        ).one()
    records = customer_records([(float(lng), float(lat))] * 4_500, 760_001)
    records[4_000][headers().index("专卖许可证号")] = BAD_LICENCE  # row 4,002 of the file
    path = write_csv(tmp_path / "customers-4500.csv", headers(), records)
    seen: list[tuple[float, str | None]] = []
    real = Progress.__call__

    def record(self: Progress, fraction: float, message: str | None = None, **kw: Any) -> bool:
        seen.append((fraction, message))
        return real(self, fraction, message, **kw)

    monkeypatch.setattr(Progress, "__call__", record)
    before = counts(admin_demo)
    # when a file of 4,500 rows is checked
    job_id = job_of(upload(browser_client, csrf, path))
    run_import_job(admin_app, admin_demo, job_id)
    # then the job said each phase as it began and ended, with the rows done and the whole
    messages = [m for _, m in seen]
    assert messages[0] == "读取文件" and "逐行校验 2,000/4,500" in messages
    assert "逐行校验 4,500/4,500" in messages and messages[-1] == "数据库校验"
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert job_row(admin_demo, job_id).progress == 1.0
    report = poll(browser_client, job_id)
    assert issues(report) == [("4002", "专卖许可证号", BAD_LICENCE_MESSAGE)]
    assert '<b id="valid-rows">4499</b>' in report
    assert counts(admin_demo) == before


def test_the_import_job_imports_the_valid_rows_once(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, admin_app: Starlette,
    tmp_path: Path,
) -> None:  # fmt: skip
    csrf = sign_in(admin_demo.user("market_dept"))
    path = import_file(admin_demo, tmp_path, start=720_001, rows=3, bad_row=2)
    check = job_of(upload(browser_client, csrf, path))
    report = run_and_poll(browser_client, admin_app, admin_demo, check)
    customers, queued = customers_count(admin_demo), import_jobs(admin_demo)
    # a tampered checksum or an unknown id is refused at once, beside the form, no job queued
    gone = start_import(browser_client, csrf, report, "valid", sha256="0" * 64)
    assert 'id="import-error"' in gone and "上传的文件已失效，请重新上传" in gone
    gone = start_import(browser_client, csrf, report, "valid", token="../../etc/passwd")
    assert "上传的文件已失效，请重新上传" in gone
    assert (customers_count(admin_demo), import_jobs(admin_demo)) == (customers, queued)
    # when the user imports the valid rows: a panel polls the import's job
    panel = start_import(browser_client, csrf, report, "valid")
    job_id = job_of(panel)
    assert "导入：" in panel and 'id="import-progress"' in panel and "取消导入" in panel
    assert job_row(admin_demo, job_id).params["mode"] == "valid"
    assert customers_count(admin_demo) == customers
    job = run_import_job(admin_app, admin_demo, job_id)
    # then rows 3 and 4 are new customers with their ledger, row 2 is skipped
    done = poll(browser_client, job_id)
    assert 'id="import-done"' in done and "已导入客户 <b>2</b> 户" in done
    assert "跳过有误的 1 行" in done and "every 1s" not in done
    codes = new_codes(720_001, 3)
    assert codes_present(admin_demo, codes) == codes[1:]
    assert customers_count(admin_demo) == customers + 2
    with Session(admin_demo.engine) as s:
        run = s.scalars(select(Import).order_by(Import.id.desc())).first()
    assert run is not None and (run.status, run.rows_inserted, run.rows_refused) == ("done", 2, 1)
    assert run.actor_name == admin_demo.user("market_dept")
    assert job.result is not None and job.result["importId"] == run.id
    assert f"导入编号 {run.id}" in done
    # and the ledger tab of an imported shop lists its one import record field by field,
    # the phone masked
    tab = browser_client.get(f"/admin/customers/{codes[1]}", params={"tab": "history"}).text
    ledger = tab.split('id="ledger"')[1].split("</table>")[0]
    assert ledger.count("<td>导入</td>") == ledger.count("<tr><td>") == 24
    assert "<td>店铺名称</td>" in ledger and "导入测试商店720002号" in ledger
    assert "139****0002" in ledger and "13900720002" not in tab
    # and the same upload cannot be imported twice (the stored file is gone)
    again = start_import(browser_client, csrf, report, "valid")
    assert "上传的文件已失效" in again and import_jobs(admin_demo) == queued + 1
    # nor the same file uploaded again: its check says it was imported, nothing changes
    before = counts(admin_demo)
    repeat = job_of(upload(browser_client, csrf, path))
    assert run_import_job(admin_app, admin_demo, repeat).status == "failed"
    refused = poll(browser_client, repeat)
    assert 'id="import-error"' in refused and "不再重复导入" in refused
    assert f"导入编号{run.id}" in refused and counts(admin_demo) == before


def test_another_user_cannot_read_or_cancel_the_job(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, admin_app: Starlette,
    tmp_path: Path,
) -> None:  # fmt: skip
    csrf = sign_in(admin_demo.user("market_dept"))
    path = import_file(admin_demo, tmp_path, start=770_001, rows=2, bad_row=None)
    job_id = job_of(upload(browser_client, csrf, path))
    assert browser_client.get("/admin/files/jobs/0").status_code == 404  # no such job
    # when a county department user (not city-wide) asks for it: 404, nothing shown
    browser_client.cookies.clear()
    other = sign_in(admin_demo.user("county_dept"))
    res = browser_client.get(f"/admin/files/jobs/{job_id}", headers={"HX-Request": "true"})
    assert res.status_code == 404 and "找不到该后台任务" in res.text
    assert path.name not in res.text and "import-progress" not in res.text
    res = browser_client.post(f"/admin/files/jobs/{job_id}/cancel", headers=hx(other))
    assert res.status_code == 404 and job_row(admin_demo, job_id).status == "queued"
    # nor does a city-wide role that may not import (the report is of another's file)
    browser_client.cookies.clear()
    other = sign_in(admin_demo.user("delivery_dept"))
    res = browser_client.get(f"/admin/files/jobs/{job_id}", headers={"HX-Request": "true"})
    assert res.status_code == 404 and "找不到该后台任务" in res.text
    assert path.name not in res.text and "import-progress" not in res.text
    res = browser_client.post(f"/admin/files/jobs/{job_id}/cancel", headers=hx(other))
    assert res.status_code == 404 and "找不到该后台任务" in res.text
    assert job_row(admin_demo, job_id).status == "queued"
    assert not job_row(admin_demo, job_id).cancel_requested
    # a planning job, even its creator's, is not an import job's panel
    planner = user_id(admin_demo.engine, admin_demo.user("delivery_dept"))
    with Session(admin_demo.engine) as s, s.begin():
        plan_job = Job(kind="route_plan", status="done", params={}, progress=1.0,
                       cancel_requested=False, created_by_id=planner)  # fmt: skip
        s.add(plan_job)
        s.flush()
        plan_job_id = plan_job.id
    browser_client.cookies.clear()
    sign_in(admin_demo.user("delivery_dept"))
    assert browser_client.get(f"/admin/files/jobs/{plan_job_id}").status_code == 404
    # a role that may import sees every import job, but may not import another's upload
    browser_client.cookies.clear()
    csrf = sign_in(admin_demo.user("it_admin"))
    report = run_and_poll(browser_client, admin_app, admin_demo, job_id)
    assert 'id="import-all"' in report
    before = counts(admin_demo)
    stolen = start_import(browser_client, csrf, report, "all")
    assert "上传的文件已失效，请重新上传" in stolen and counts(admin_demo) == before


def test_cancel_a_queued_check_and_a_running_import_leaves_nothing(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, admin_app: Starlette,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    csrf = sign_in(admin_demo.user("market_dept"))
    path = import_file(admin_demo, tmp_path, start=780_001, rows=3, bad_row=None)
    # a queued check is cancelled at once
    first = job_of(upload(browser_client, csrf, path))
    res = browser_client.post(f"/admin/files/jobs/{first}/cancel", headers=hx(csrf))
    assert res.status_code == 200 and 'id="import-cancelled"' in res.text
    assert "校验已取消" in res.text and "every 1s" not in res.text
    assert job_row(admin_demo, first).status == "cancelled"
    # given a checked file whose import is running
    check = job_of(upload(browser_client, csrf, path))
    report = run_and_poll(browser_client, admin_app, admin_demo, check)
    job_id = job_of(start_import(browser_client, csrf, report, "all"))
    before = counts(admin_demo)
    real = job_module._Say.__call__
    written: list[int] = []

    def cancel_when_written(self: Any, phase: str, done: int, total: int) -> None:
        if phase == "写入客户和台帐" and done == total:
            # every record and its ledger entry is written in the import's transaction
            written.append(done)
            res = browser_client.post(f"/admin/files/jobs/{job_id}/cancel", headers=hx(csrf))
            assert res.status_code == 200 and "已请求取消" in res.text
        real(self, phase, done, total)

    monkeypatch.setattr(job_module._Say, "__call__", cancel_when_written)
    # when the user cancels it while it writes
    job = run_import_job(admin_app, admin_demo, job_id)
    # then the job is cancelled and the transaction rolled back: no customer, no ledger
    # entry, no import row; the upload stays for another try
    assert written, "the import never reached its writes"
    assert job.status == "cancelled" and counts(admin_demo) == before
    assert codes_present(admin_demo, new_codes(780_001, 3)) == []
    panel = poll(browser_client, job_id)
    assert 'id="import-cancelled"' in panel and "导入已取消，未导入任何数据" in panel
    assert admin_demo.scalar(select(func.count()).select_from(Import).where(
        Import.file_name == path.name)) == 0  # fmt: skip
    # and a job that has ended cannot be cancelled: its outcome stays
    res = browser_client.post(f"/admin/files/jobs/{job_id}/cancel", headers=hx(csrf))
    assert "任务已结束（cancelled），无法取消" in res.text


def test_the_job_checks_its_creators_right_and_the_uploads_owner(
    admin_demo: Demo, admin_app: Starlette, tmp_path: Path
) -> None:
    path = import_file(admin_demo, tmp_path, start=790_001, rows=1, bad_row=None)
    uploads = UploadStore.under(admin_app.state.settings.upload_dir)
    manager = user_id(admin_demo.engine, admin_demo.user("customer_manager"))
    market = user_id(admin_demo.engine, admin_demo.user("market_dept"))
    mine = uploads.save(path.name, path.read_bytes(), user_id=manager)
    theirs = uploads.save(path.name, path.read_bytes(), user_id=manager)
    before = counts(admin_demo)
    # a job queued for a role without the right (past the admin's check) refuses to run
    with Session(admin_demo.engine) as s, s.begin():
        params = {"mode": "all", "token": mine.token, "sha256": mine.sha256, "fileName": "x"}
        refused = enqueue(s, job_module.JOB_KIND, params, manager).id
        # and a job of a user with the right may not take another user's upload
        params = {**params, "token": theirs.token, "sha256": theirs.sha256}
        stolen = enqueue(s, job_module.JOB_KIND, params, market).id
    job = run_import_job(admin_app, admin_demo, refused)
    assert (job.status, job.error) == ("failed", "您的角色无权导入客户档案")
    job = run_import_job(admin_app, admin_demo, stolen)
    assert (job.status, job.error) == ("failed", "上传的文件已失效，请重新上传")
    assert counts(admin_demo) == before


def test_an_unreadable_file_fails_its_check_beside_the_form(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, admin_app: Starlette,
    tmp_path: Path,
) -> None:  # fmt: skip
    csrf = sign_in(admin_demo.user("market_dept"))
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"not a workbook")
    job_id = job_of(upload(browser_client, csrf, path, "application/octet-stream"))
    token = job_row(admin_demo, job_id).params["token"]
    assert run_import_job(admin_app, admin_demo, job_id).status == "failed"
    panel = poll(browser_client, job_id)
    assert 'id="import-error"' in panel and "broken.xlsx：无法读取XLSX文件" in panel
    # the unreadable upload is not kept
    folder = UploadStore.under(admin_app.state.settings.upload_dir).folder
    assert list(folder.glob(f"{token}.*")) == []


SECRET = "retailgis-admin-test-secret-0123456789"  # VAULT's (tests/admin/conftest.py)


def _wait(demo: Demo, job_id: int) -> Job:
    deadline = time.monotonic() + 60
    while (job := job_row(demo, job_id)).status not in FINISHED:
        assert time.monotonic() < deadline, f"the worker did not finish job {job_id}"
        time.sleep(0.1)
    return job


def test_the_worker_runs_the_check_and_the_import_with_its_own_vault_and_upload_dir(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, admin_app: Starlette,
    tmp_path: Path,
) -> None:  # fmt: skip
    # given the worker as `retailgis worker` runs it: configured from the settings alone
    # (the upload directory under the data directory, the vault from the secret key)
    app_settings = admin_app.state.settings
    assert Vault(SECRET.encode()).fingerprint("1") == VAULT.fingerprint("1")
    settings = Settings(app_env="test", data_dir=app_settings.data_dir, secret_key=SECRET)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(settings, admin_demo.engine, stop))
    worker.start()
    try:
        csrf = sign_in(admin_demo.user("market_dept"))
        path = import_file(admin_demo, tmp_path, start=800_001, rows=2, bad_row=None)
        # when a file is uploaded and imported, each job woken by its NOTIFY
        check = job_of(upload(browser_client, csrf, path))
        assert _wait(admin_demo, check).status == "done"
        report = poll(browser_client, check)
        assert "导入全部 2 行" in report
        job_id = job_of(start_import(browser_client, csrf, report, "all"))
        assert _wait(admin_demo, job_id).status == "done"
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    # then the shops are imported and their personal values sealed with the app's key
    assert "已导入客户 <b>2</b> 户" in poll(browser_client, job_id)
    code = new_codes(800_001, 1)[0]
    with Session(admin_demo.engine) as s:
        shop = s.scalar(select(Customer).where(Customer.customer_code == code))
        assert shop is not None
        record = s.scalar(
            select(LedgerEntry.new_value).where(
                LedgerEntry.customer_id == shop.id, LedgerEntry.field_key == IMPORT_RECORD
            )
        )
    assert record["phone"]["masked"] == mask_phone(shop.phone)
    assert VAULT.open(record["phone"]) == shop.phone


def test_a_role_without_the_import_right_cannot_upload(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo, admin_app: Starlette,
    tmp_path: Path,
) -> None:  # fmt: skip
    csrf = sign_in(admin_demo.user("customer_manager"))
    page = browser_client.get("/admin/files").text
    assert 'id="upload-form"' not in page and 'id="export"' in page
    path = import_file(admin_demo, tmp_path, start=730_001, rows=1, bad_row=None)
    customers, queued = customers_count(admin_demo), import_jobs(admin_demo)
    folder = UploadStore.under(admin_app.state.settings.upload_dir).folder
    stored = sorted(folder.glob("*")) if folder.exists() else []
    report = upload(browser_client, csrf, path)
    assert "您的角色无权导入客户档案" in report and customers_count(admin_demo) == customers
    assert import_jobs(admin_demo) == queued
    assert (sorted(folder.glob("*")) if folder.exists() else []) == stored


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
