"""`retailgis import …` in a subprocess against a committed database: exit codes, Chinese
summaries and reports, and an import killed with SIGKILL (or dying before its commit)
leaving no customer behind, after which a rerun completes."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from domain.demo import load_demo
from domain.imports import import_customers, read_table, start_import
from domain.vault import Vault
from tests.import_data import customer_records, headers, write_csv
from tests.leaks import sealed_values

ROOT = Path(__file__).resolve().parents[2]
SECRET = "retailgis-cli-import-test-secret-0123456789"
COUNTS = """SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM ledger_entries),
                   (SELECT count(*) FROM imports)"""


@pytest.fixture
def city_db(fresh_db_url: str) -> Iterator[tuple[str, Engine]]:
    """A committed 300-shop demo city in a private database."""
    engine = create_engine(fresh_db_url, poolclass=NullPool)
    with engine.begin() as conn:
        load_demo(conn, shops=300, seed=7, as_of=dt.date(2026, 11, 1))
    yield fresh_db_url, engine
    engine.dispose()


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ, "DATABASE_URL": url, "RETAILGIS_SECRET_KEY": SECRET,
        "RETAILGIS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "120",
    }  # fmt: skip


def _cli(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "import", *args], cwd=ROOT, env=_env(url, tmp_path),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        a, b, c = conn.execute(text(COUNTS)).one()
    return int(a), int(b), int(c)


def _points(engine: Engine, n: int) -> list[tuple[float, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT ST_X(location), ST_Y(location) FROM customers ORDER BY id")
        )
        pts = [(float(x), float(y)) for x, y in rows]
    return [pts[i % len(pts)] for i in range(n)]


def _statuses(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT status::text FROM imports ORDER BY id")))


def test_cli_refuses_a_bad_file_with_exit_1_and_a_report(
    city_db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = city_db
    # given a file whose second row has a bad licence number
    rows = customer_records(_points(engine, 2))
    rows[1][2] = "98ABC"
    path = write_csv(tmp_path / "bad.csv", headers(), rows)
    before = _counts(engine)
    # when importing it with a report
    done = _cli(url, tmp_path, "customers", str(path), "--report", str(tmp_path / "r.xlsx"))
    # then the exit status is 1, the finding is shown in Chinese and written to the report
    assert done.returncode == 1, done.stderr
    assert "第3行 专卖许可证号：专卖许可证号须为12位数字" in done.stderr
    assert "校验未通过：1/2 行有误，未导入任何数据。" in done.stderr
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx").worksheets[0]
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        ["行号", "字段", "字段名称", "错误代码", "说明"],
        [3, "licence_no", "专卖许可证号", "INVALID_FORMAT", "专卖许可证号须为12位数字"],
    ]
    assert _counts(engine) == before


def test_cli_imports_a_file_once_and_purchases_idempotently(
    city_db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = city_db
    customers, ledger, imports = _counts(engine)
    rows = customer_records(_points(engine, 5))
    path = write_csv(tmp_path / "good.csv", headers(), rows)
    # when importing a valid file
    done = _cli(url, tmp_path, "customers", str(path))
    # then its rows are in with their ledger (one entry a shop), and the summary says so
    assert done.returncode == 0, done.stderr
    assert "已导入客户 5 户（导入编号 1，共 5 行），每户的台帐已写入。" in done.stdout
    assert _counts(engine) == (customers + 5, ledger + 5, imports + 1)
    # and the ledger holds the personal values sealed, which the leak scan reads through the
    # vault (one record per shop, each field in it)
    with Session(engine) as session:
        stored = session.scalars(
            text("SELECT new_value::text FROM ledger_entries WHERE source = 'import'")
        ).all()
        opened = set(sealed_values(session, Vault(SECRET.encode())))
    assert len(stored) == 5 and not any(r[11] in t or r[13] in t for r in rows for t in stored)
    wanted = {(k, r[i]) for r in rows for k, i in (("phone", 11), ("bank_account", 12))}
    assert wanted | {("id_number", r[13]) for r in rows} <= opened
    # when importing the same file again, it is refused and nothing changes
    again = _cli(url, tmp_path, "customers", str(path))
    assert again.returncode == 1 and "不再重复导入" in again.stderr
    assert _counts(engine) == (customers + 5, ledger + 5, imports + 1)
    # and a purchase file imported twice changes nothing the second time
    rows = [["990000000001", "2026-11", "10.5", "1200.00", 12]]
    purchases = write_csv(tmp_path / "p.csv", ["客户代码", "月份", "条数", "金额", "品种数"], rows)
    first, second = (_cli(url, tmp_path, "purchases", str(purchases)) for _ in range(2))
    assert "新增 1 行，更新 0 行，未变 0 行" in first.stdout, first.stderr
    assert "新增 0 行，更新 0 行，未变 1 行" in second.stdout, second.stderr


def test_an_import_dying_before_its_commit_leaves_nothing_and_a_rerun_completes(
    city_db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = city_db
    path = write_csv(tmp_path / "f.csv", headers(), customer_records(_points(engine, 50)))
    table = read_table(path)
    before = _counts(engine)
    # given an import started (committed as running) whose load never commits
    with Session(engine) as session:
        run_id = start_import(
            session, kind="customers", file_name=table.name, sha256=table.sha256, actor_name="t"
        ).id
        session.commit()
    with Session(engine) as session:
        result = import_customers(session, table, import_id=run_id, vault=Vault(SECRET.encode()))
        assert result.imported == 50
        session.connection().invalidate()  # the process dies: the connection is gone
    # then no customer or ledger entry is left, only the import's row, still running
    assert _counts(engine) == (before[0], before[1], before[2] + 1)
    assert _statuses(engine)[-1] == "running"
    # when rerun, the import completes and the dead one is marked interrupted
    done = _cli(url, tmp_path, "customers", str(path))
    assert done.returncode == 0, done.stderr
    assert _counts(engine) == (before[0] + 50, before[1] + 50, before[2] + 2)
    assert _statuses(engine)[-2:] == ["interrupted", "done"]


def _wait_for_copy(engine: Engine, proc: subprocess.Popen[str], deadline: float) -> None:
    sql = text(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
        " AND (query LIKE 'COPY customers%' OR query LIKE 'COPY import_rendered%')"
    )
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the import finished before it could be killed"
        with engine.connect() as conn:
            if conn.scalar(sql):
                return
        time.sleep(0.05)
    raise AssertionError("the import never started writing")


def _wait_idle(engine: Engine, deadline: float) -> None:
    sql = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if not conn.scalar(sql):
                return
        time.sleep(0.05)
    raise AssertionError("the killed import's backend did not end")


@pytest.mark.slow
def test_an_import_killed_with_sigkill_while_writing_leaves_nothing(
    city_db: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = city_db
    rows = customer_records(_points(engine, 30_000))
    path = write_csv(tmp_path / "big.csv", headers(), rows)
    before = _counts(engine)
    # given the CLI importing 30,000 rows, killed with SIGKILL once it is writing (COPY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "import", "customers", str(path)], cwd=ROOT,
        env=_env(url, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for_copy(engine, proc, time.monotonic() + 300)
        assert _statuses(engine)[-1:] == ["running"]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    _wait_idle(engine, time.monotonic() + 60)
    # then there are no new customers nor ledger entries; the import's row stays running
    assert _counts(engine) == (before[0], before[1], before[2] + 1)
    # when rerun, it completes
    done = _cli(url, tmp_path, "customers", str(path))
    assert done.returncode == 0, done.stderr
    assert _counts(engine)[0] == before[0] + 30_000
    assert _statuses(engine)[-2:] == ["interrupted", "done"]
