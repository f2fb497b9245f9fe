"""`retailgis backup` and `retailgis restore` round-trip a demo city through a pg_dump file
into another database: the same rows, the same ledger; a restore over data is refused
without --yes and changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from api.cli import main
from api.db import MIGRATIONS_DIR, head_revisions, migrate
from domain.access import load_principal
from domain.customers.update import update_customer
from domain.demo import load_demo
from domain.models import Customer, User
from domain.vault import Vault

SECRET = "retailgis-backup-test-secret-0123456789"
VAULT = Vault(SECRET.encode())
TABLES = """SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"""
CHECKSUM = "SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {} t"


def _cli(url: str, tmp_path: Path, *args: str) -> Result:
    env = {
        "DATABASE_URL": url, "RETAILGIS_SECRET_KEY": SECRET,
        "RETAILGIS_DATA_DIR": str(tmp_path / "data"),
    }  # fmt: skip
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _state(url: str) -> dict[str, Any]:
    """Per-table row counts, checksums of the ledger and the customers, the revision."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = list(conn.scalars(text(TABLES)))
            state: dict[str, Any] = {
                t: conn.scalar(text(f'SELECT count(*) FROM "{t}"')) for t in tables
            }
            for table in ("ledger_entries", "customers"):
                state[f"md5:{table}"] = conn.scalar(text(CHECKSUM.format(table)))
            state["oid"] = conn.scalar(
                text("SELECT oid FROM pg_database WHERE datname = current_database()")
            )
            return state
    finally:
        engine.dispose()


def _revisions(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        revisions = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
    engine.dispose()
    return revisions


def _databases(pg_cluster: Any) -> set[str]:
    engine = create_engine(pg_cluster.url("postgres"), poolclass=NullPool)
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT datname FROM pg_database")))
    engine.dispose()
    return names


@pytest.fixture
def city_url(fresh_db_url: str) -> str:
    """A 200-shop demo city with ledger entries: 20 phones changed by the market dept."""
    engine = create_engine(fresh_db_url, poolclass=NullPool)
    with engine.begin() as conn:
        load_demo(conn, shops=200, seed=5, as_of=dt.date(2026, 11, 1), vault=VAULT)
    with Session(engine) as session, session.begin():
        user_id = session.scalar(select(User.id).where(User.role == "market_dept"))
        assert user_id is not None
        principal = load_principal(session, user_id)
        shops = session.scalars(
            select(Customer).where(Customer.status == "active").order_by(Customer.id).limit(20)
        ).all()
        for n, shop in enumerate(shops):
            update_customer(
                session, principal, shop.id, shop.version, {"phone": f"139{n:08d}"}, vault=VAULT
            )
    engine.dispose()
    return fresh_db_url


@pytest.fixture
def target(pg_cluster: Any) -> Iterator[tuple[str, str]]:
    """The name and URL of a database that does not exist yet."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    try:
        yield name, pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)
        pg_cluster.drop_database(name + "__restore")


def test_a_demo_city_round_trips_through_backup_and_restore(
    city_url: str, target: tuple[str, str], pg_cluster: Any, tmp_path: Path
) -> None:
    name, target_url = target
    source = _state(city_url)
    assert (source["customers"], source["ledger_entries"]) == (200, 20) and source["tickets"]
    # when the demo city is backed up over TCP with a password (handed over in PGPASSWORD)
    dump = tmp_path / "city.dump"
    tcp_url = pg_cluster.tcp_url(make_url(city_url).database)
    done = _cli(tcp_url, tmp_path, "backup", "--out", str(dump))
    # then the dump is written (owner-only), and its size, counts and the key are reported
    assert done.exit_code == 0, done.output
    assert dump.read_bytes()[:5] == b"PGDMP" and dump.stat().st_mode & 0o777 == 0o600
    assert f"已备份到 {dump}（" in done.stdout
    assert f"客户 200，台帐 {source['ledger_entries']:,}，工单 {source['tickets']:,}" in done.stdout
    assert "请把密钥（RETAILGIS_SECRET_KEY）与备份分开妥善保存" in done.stderr
    assert not list(tmp_path.glob("*.part"))

    # when it is restored into a database that does not exist yet
    done = _cli(target_url, tmp_path, "restore", str(dump))
    # then every table has the same rows, the ledger and customers the same checksums,
    # and the migrations are at head
    assert done.exit_code == 0, done.output
    assert f"已从 {dump} 恢复数据库 {name}：客户 200，" in done.stdout
    restored = _state(target_url)
    assert {k: v for k, v in restored.items() if k != "oid"} == {
        k: v for k, v in source.items() if k != "oid"
    }
    assert _revisions(target_url) == head_revisions()
    assert name + "__restore" not in _databases(pg_cluster)

    # when the restored database changes and the dump is restored over it without --yes
    engine = create_engine(target_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE customers SET shop_name = shop_name || '改' WHERE id = 1"))
    engine.dispose()
    changed = _state(target_url)
    refused = _cli(target_url, tmp_path, "restore", str(dump))
    # then it is refused with exit status 2 and nothing changed (same database, same rows)
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"未恢复：目标数据库 {name} 中已有数据，恢复会覆盖全部现有数据；确认覆盖请加 --yes\n"
    )
    assert _state(target_url) == changed
    assert name + "__restore" not in _databases(pg_cluster)

    # when restored again with --yes
    done = _cli(target_url, tmp_path, "restore", str(dump), "--yes")
    # then a new database with the backup's rows replaced the changed one
    assert done.exit_code == 0, done.output
    again = _state(target_url)
    assert again["oid"] != changed["oid"]
    assert {k: v for k, v in again.items() if k != "oid"} == {
        k: v for k, v in source.items() if k != "oid"
    }


def test_a_damaged_dump_is_refused_and_the_database_is_left_as_it_was(
    city_url: str, pg_cluster: Any, tmp_path: Path
) -> None:
    # given a truncated dump
    dump = tmp_path / "city.dump"
    assert _cli(city_url, tmp_path, "backup", "--out", str(dump)).exit_code == 0
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    before = _state(city_url)
    # when restoring it over the city with --yes
    done = _cli(city_url, tmp_path, "restore", str(dump), "--yes")
    # then the restore fails and the database is untouched, with no scratch copy left
    assert done.exit_code == 1
    assert done.stderr.startswith("Error: 恢复失败：pg_restore 失败（退出码 1）：")
    assert _state(city_url) == before
    assert f"{make_url(city_url).database}__restore" not in _databases(pg_cluster)


def test_a_dump_of_an_older_revision_is_migrated_and_a_newer_one_refused(
    empty_db_url: str, target: tuple[str, str], pg_cluster: Any, tmp_path: Path
) -> None:
    # given a dump of a database one migration behind head
    (head,) = head_revisions()
    previous = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(head).down_revision
    assert isinstance(previous, str)
    migrate(empty_db_url, previous)
    old = tmp_path / "old.dump"
    assert _cli(empty_db_url, tmp_path, "backup", "--out", str(old)).exit_code == 0
    name, target_url = target
    # when it is restored
    done = _cli(target_url, tmp_path, "restore", str(old))
    # then the restored database is migrated to head, and says so
    assert done.exit_code == 0, done.output
    assert done.stderr == f"备份的数据库版本为 {previous}，已迁移到最新版本。\n"
    assert _revisions(target_url) == {head}

    # given a dump made by a newer version of the program
    engine = create_engine(empty_db_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed0001'"))
    engine.dispose()
    newer = tmp_path / "newer.dump"
    assert _cli(empty_db_url, tmp_path, "backup", "--out", str(newer)).exit_code == 0
    before = _state(target_url)
    # when it is restored over the (empty) database
    refused = _cli(target_url, tmp_path, "restore", str(newer))
    # then it is refused and the database is the one it was
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: 恢复失败：备份中的数据库版本 f00dfeed0001 比本程序新，无法恢复；"
        "请用生成该备份的版本恢复\n"
    )
    assert _state(target_url) == before and _revisions(target_url) == {head}
    assert name + "__restore" not in _databases(pg_cluster)
