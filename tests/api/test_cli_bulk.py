"""`retailgis bulk-change`, `export customers` and `report` in a subprocess against a
committed demo city: exit codes, Chinese summaries, files read back, nothing created on a
refusal."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from domain.demo import load_demo
from domain.masking import mask_bank_account
from tests.import_data import write_csv

ROOT = Path(__file__).resolve().parents[2]
SECRET = "retailgis-cli-bulk-test-secret-0123456789"
COUNTS = """SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM ticket_changes),
                   (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM export_logs)"""


@pytest.fixture
def city_db(fresh_db_url: str) -> Iterator[tuple[str, Engine]]:
    engine = create_engine(fresh_db_url, poolclass=NullPool)
    with engine.begin() as conn:
        load_demo(conn, shops=300, seed=7, as_of=dt.date(2026, 11, 1))
    yield fresh_db_url, engine
    engine.dispose()


def _cli(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "DATABASE_URL": url, "RETAILGIS_SECRET_KEY": SECRET,
        "RETAILGIS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "120",
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(int(v) for v in conn.execute(text(COUNTS)).one())


def _county_user_and_shops(engine: Engine, n: int) -> tuple[str, list[str]]:
    with engine.connect() as conn:
        username, region_id = conn.execute(
            text("""SELECT u.username, o.region_id FROM users u
                    JOIN org_units o ON o.id = u.org_unit_id
                    WHERE u.role = 'county_dept' ORDER BY u.id LIMIT 1""")
        ).one()
        codes = conn.scalars(
            text("""SELECT customer_code FROM customers
                    WHERE admin_region_id = :r AND status = 'active' ORDER BY id LIMIT :n"""),
            {"r": region_id, "n": n},
        ).all()
    return str(username), list(codes)


def test_bulk_change_refuses_a_bad_file_with_exit_1_and_creates_nothing(
    city_db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = city_db
    username, (a, b) = _county_user_and_shops(engine, 2)
    path = write_csv(tmp_path / "bulk.csv", ["客户代码", "营业面积"], [[a, "12"], [b, "很大"]])
    before = _counts(engine)
    done = _cli(url, tmp_path, "bulk-change", str(path), "--user", username,
                "--report", str(tmp_path / "r.csv"))  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "第3行 营业面积：" in done.stderr
    assert "校验未通过：共 2 行，未创建批量变更单。" in done.stderr
    with (tmp_path / "r.csv").open(encoding="utf-8-sig") as fh:
        report = list(csv.reader(fh))
    assert report[0] == ["行号", "字段", "字段名称", "错误代码", "说明"]
    assert [r[:3] for r in report[1:]] == [["3", "business_area_m2", "营业面积"]]
    assert _counts(engine) == before


def test_bulk_change_creates_one_ticket(city_db: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = city_db
    username, (a, b) = _county_user_and_shops(engine, 2)
    path = write_csv(tmp_path / "bulk.csv", ["customer_code", "business_area_m2"],
                     [[a, "12"], [b, "345.5"]])  # fmt: skip
    tickets, changes, ledger, exports = _counts(engine)
    done = _cli(url, tmp_path, "bulk-change", str(path), "--user", username, "--title", "测试批量")
    assert done.returncode == 0, done.stderr
    assert "户、2 项变更，待营销中心市场部经理审核签字。" in done.stdout
    assert _counts(engine) == (tickets + 1, changes + 2, ledger, exports)
    with engine.connect() as conn:
        kind, title, status = conn.execute(
            text("SELECT type, title, status::text FROM tickets ORDER BY id DESC LIMIT 1")
        ).one()
    assert (kind, title, status) == ("bulk_change", "测试批量", "open")


def test_export_customers_csv_is_masked_and_logged(
    city_db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = city_db
    with engine.connect() as conn:
        admin = conn.scalar(text("SELECT username FROM users WHERE role = 'it_admin' LIMIT 1"))
        code, account = conn.execute(
            text("""SELECT customer_code, bank_account FROM customers
                    WHERE bank_account IS NOT NULL AND status = 'active'
                    ORDER BY customer_code LIMIT 1""")
        ).one()
        active = conn.scalar(text("SELECT count(*) FROM customers WHERE status = 'active'"))
    out = tmp_path / "active.csv"
    done = _cli(url, tmp_path, "export", "customers", "--format", "csv", "--out", str(out),
                "--user", str(admin), "--status", "active")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"已导出 {active:,} 户到 {out}" in done.stdout
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == active + 1 and rows[0][0] == "客户代码"
    by_code = {r[0]: r for r in rows[1:]}
    assert mask_bank_account(account) in by_code[code]
    assert account not in by_code[code]
    with engine.connect() as conn:
        log = conn.execute(
            text("""SELECT u.username, l.format, l.filter, l.row_count FROM export_logs l
                    JOIN users u ON u.id = l.user_id""")
        ).one()
    assert tuple(log) == (admin, "csv", {"status": "active", "sort": "code"}, active)
    assert not out.with_name(out.name + ".part").exists()


def test_export_refused_for_an_unknown_user_logs_nothing(
    city_db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = city_db
    before = _counts(engine)
    out = tmp_path / "x.xlsx"
    done = _cli(url, tmp_path, "export", "customers", "--format", "xlsx", "--out", str(out),
                "--user", "nobody")  # fmt: skip
    assert done.returncode == 1
    assert "找不到用户 nobody" in done.stderr
    assert not out.exists()
    assert _counts(engine) == before


def test_report_writes_a_workbook(city_db: tuple[str, Engine], tmp_path: Path) -> None:
    url, _ = city_db
    out = tmp_path / "completeness.xlsx"
    done = _cli(url, tmp_path, "report", "completeness", "--month", "2026-10", "--out", str(out))
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(out, read_only=True)
    assert book.sheetnames == ["档案完整率按客户经理", "档案完整率按县区"]
    bad = _cli(url, tmp_path, "report", "routes", "--month", "2026/10", "--out", str(out))
    assert bad.returncode == 1 and "月份须为 YYYY-MM 格式" in bad.stderr
