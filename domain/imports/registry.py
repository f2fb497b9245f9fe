"""The ``imports`` table: starting, finishing and discarding an import.

An import's row is meant to be committed on its own before the load (status ``running``),
then locked by the load's transaction until it commits as ``done``. A row still
``running`` but not locked belongs to an import that died (killed, machine lost): the next
import of the same file marks it ``interrupted``. The data of such an import was never
committed, so a rerun simply starts again.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from domain.errors import DUPLICATE, NOT_FOUND, DomainError
from domain.models import Import

CHINA = dt.timezone(dt.timedelta(hours=8))


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _refuse_repeat(session: Session, kind: str, sha256: str) -> None:
    done = session.scalars(
        select(Import)
        .where(Import.kind == kind, Import.sha256 == sha256, Import.status == "done")
        .order_by(Import.id)
        .limit(1)
    ).first()
    if done is not None and kind == "customers":
        raise DomainError(
            DUPLICATE,
            f"该文件已于{_when(done.started_at)}导入（导入编号{done.id}，"
            f"{done.rows_inserted}行），不再重复导入",
        )


def _settle_running(session: Session, kind: str, sha256: str) -> None:
    """Mark dead runs of the same file interrupted; refuse while one is alive."""
    same = (Import.kind == kind, Import.sha256 == sha256, Import.status == "running")
    running = set(session.scalars(select(Import.id).where(*same)))
    dead = set(session.scalars(select(Import.id).where(*same).with_for_update(skip_locked=True)))
    alive = running - dead
    if alive:
        raise DomainError(DUPLICATE, f"同一文件正在导入中（导入编号{min(alive)}），请稍后再试")
    if dead:
        session.execute(
            update(Import)
            .where(Import.id.in_(dead))
            .values(status="interrupted", finished_at=dt.datetime.now(dt.UTC))
        )


def start_import(
    session: Session,
    *,
    kind: str,
    file_name: str,
    sha256: str,
    actor_name: str,
    actor_id: int | None = None,
) -> Import:
    """A new ``running`` import of a file; DUPLICATE when this customer file was imported
    already or is being imported now. Does not commit."""
    _refuse_repeat(session, kind, sha256)
    _settle_running(session, kind, sha256)
    row = Import(
        kind=kind, file_name=file_name, sha256=sha256, actor_name=actor_name,
        actor_id=actor_id, request_id=uuid.uuid4(), status="running",
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def lock_import(session: Session, import_id: int) -> Import:
    """The running import, locked until the transaction ends (so it is seen as alive)."""
    row = session.scalars(
        select(Import)
        .where(Import.id == import_id, Import.status == "running")
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise DomainError(NOT_FOUND, f"导入编号{import_id}不存在或已结束")
    return row


def finish_import(
    session: Session,
    row: Import,
    *,
    total: int,
    refused: int,
    inserted: int,
    updated: int = 0,
    unchanged: int = 0,
) -> None:
    row.status = "done"
    row.rows_total, row.rows_refused = total, refused
    row.rows_inserted, row.rows_updated, row.rows_unchanged = inserted, updated, unchanged
    row.finished_at = dt.datetime.now(dt.UTC)
    session.flush()


def discard_import(session: Session, import_id: int) -> None:
    """A refused import leaves nothing behind, not even its row."""
    session.execute(delete(Import).where(Import.id == import_id))
