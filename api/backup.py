"""Backup and restore of the application's database with pg_dump / pg_restore.

A backup is one custom-format (``-Fc``) dump taken from one snapshot; the row counts it
reports are read in that same snapshot. A restore loads the dump into a new database
beside the target, brings it to the migrations' head, and only then replaces the target
(drop, rename), so a failed restore leaves the target as it was.

The programs are the cluster's own (``find_pg_bin``), so their version matches the
embedded server. Passwords travel in ``PGPASSWORD``, never on a command line.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from psycopg import sql
from psycopg.rows import TupleRow
from sqlalchemy.engine import URL, make_url

from api.db import MIGRATIONS_DIR, head_revisions, make_engine, migrate
from api.pgcluster import find_pg_bin
from domain.access.rowsecurity import ENSURE_ROLES_SQL
from domain.catalogue.sync import sync_catalogue

# Tables whose counts a backup and a restore report (all tables are dumped).
REPORTED = (
    "customers", "ledger_entries", "tickets", "users", "purchase_records", "delivery_routes",
)  # fmt: skip
RESTORE_SUFFIX = "__restore"
TIMEOUT_S = 6 * 3600


class BackupError(RuntimeError):
    """A backup or restore failed; the message says why (in Chinese, for the CLI)."""


class RestoreRefused(BackupError):
    """The target database holds data and overwriting it was not confirmed."""


@dataclass(frozen=True)
class Database:
    """A database reached through a SQLAlchemy URL, spoken to with libpq."""

    url: URL

    @classmethod
    def parse(cls, url: str) -> Database:
        return cls(make_url(url))

    @property
    def name(self) -> str:
        if not self.url.database:
            raise BackupError("数据库地址中没有数据库名")
        return self.url.database

    def conninfo(self, database: str | None = None) -> str:
        """A libpq URI without the password (it goes through ``env``)."""
        url = self.url.set(drivername="postgresql", password=None)
        if database is not None:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)

    def sqlalchemy_url(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.url.password is not None:
            env["PGPASSWORD"] = str(self.url.password)
        return env

    def connect(self, database: str | None = None) -> psycopg.Connection[TupleRow]:
        password = None if self.url.password is None else str(self.url.password)
        return psycopg.connect(
            self.conninfo(database), password=password, autocommit=True, connect_timeout=10
        )


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int
    counts: dict[str, int]


@dataclass(frozen=True)
class RestoreReport:
    database: str
    counts: dict[str, int]
    migrated_from: str | None  # the dump's revision when it had to be migrated to head


def default_backup_path(data_dir: Path, now: dt.datetime) -> Path:
    return data_dir / "backups" / f"retailgis-{now:%Y%m%d-%H%M%S}.dump"


def _counts(conn: psycopg.Connection[TupleRow]) -> dict[str, int]:
    counts = {}
    for table in REPORTED:
        if conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone() == (None,):
            continue
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        row = conn.execute(query).fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def _run(args: list[str], db: Database, what: str) -> None:
    try:
        done = subprocess.run(
            args, env=db.env(), capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=TIMEOUT_S,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackupError(f"{what}无法运行：{exc}") from exc
    if done.returncode != 0:
        raise BackupError(f"{what}失败（退出码 {done.returncode}）：{done.stderr.strip()}")


def backup(url: str, out: Path, *, pg_bin: Path | None = None) -> BackupReport:
    """Dump the database to ``out`` (mode 0600, written whole or not at all)."""
    db = Database.parse(url)
    pg_dump = str((pg_bin or find_pg_bin()) / "pg_dump")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    with db.connect() as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        counts = _counts(conn)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        try:
            _run(
                [pg_dump, "--format=custom", "--no-password", f"--snapshot={row[0]}",
                 f"--file={partial}", f"--dbname={db.conninfo()}"],
                db, "pg_dump ",
            )  # fmt: skip
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        conn.execute("COMMIT")
    partial.replace(out)
    return BackupReport(out, out.stat().st_size, counts)


def _exists(maintenance: psycopg.Connection[TupleRow], name: str) -> bool:
    query = "SELECT 1 FROM pg_database WHERE datname = %s"
    return maintenance.execute(query, (name,)).fetchone() is not None


def has_data(db: Database) -> bool:
    """Whether the target database exists and holds customers or org units."""
    with db.connect("postgres") as maintenance:
        if not _exists(maintenance, db.name):
            return False
    with db.connect() as conn:
        for table in ("customers", "org_units"):
            if conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone() == (None,):
                continue
            query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
            if conn.execute(query).fetchone() == (True,):
                return True
    return False


@contextmanager
def _scratch(db: Database) -> Iterator[str]:
    """A new empty database beside the target; dropped unless it was renamed away."""
    name = db.name + RESTORE_SUFFIX
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with db.connect("postgres") as maintenance:
        maintenance.execute(drop)
        create = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")
        maintenance.execute(create.format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with db.connect("postgres") as maintenance:
            maintenance.execute(drop)


def _to_head(db: Database, name: str) -> str | None:
    """Bring the restored database to head; its old revision, or None when at head."""
    with db.connect(name) as conn:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    current = {str(r[0]) for r in rows}
    if current == head_revisions():
        return None
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        for revision in current:
            script.get_revision(revision)
    except CommandError:
        raise BackupError(
            f"备份中的数据库版本 {','.join(sorted(current))} 比本程序新，无法恢复；"
            "请用生成该备份的版本恢复"
        ) from None
    url = db.sqlalchemy_url(name)
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            sync_catalogue(conn)
    finally:
        engine.dispose()
    return ",".join(sorted(current))


def restore(url: str, dump: Path, *, overwrite: bool, pg_bin: Path | None = None) -> RestoreReport:
    """Restore ``dump`` as the database of ``url``; refused when it holds data unless
    ``overwrite``."""
    db = Database.parse(url)
    if not overwrite and has_data(db):
        raise RestoreRefused(
            f"目标数据库 {db.name} 中已有数据，恢复会覆盖全部现有数据；确认覆盖请加 --yes"
        )
    pg_restore = str((pg_bin or find_pg_bin()) / "pg_restore")
    with _scratch(db) as scratch:
        with db.connect(scratch) as conn:  # the dump's grants and policies name these roles
            conn.execute(ENSURE_ROLES_SQL)
        _run(
            [pg_restore, "--exit-on-error", "--no-owner", "--no-password",
             f"--dbname={db.conninfo(scratch)}", str(dump)],
            db, "pg_restore ",
        )  # fmt: skip
        migrated_from = _to_head(db, scratch)
        with db.connect("postgres") as maintenance:
            target = sql.Identifier(db.name)
            maintenance.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(target))
            maintenance.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(scratch), target)
            )
    with db.connect() as conn:
        counts = _counts(conn)
    return RestoreReport(db.name, counts, migrated_from)
