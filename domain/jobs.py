"""A PostgreSQL-backed job queue for long work (route planning, customer imports), never run
in a request.

``enqueue`` adds a row (a trigger NOTIFYs ``jobs`` at commit); a worker process claims
the oldest queued job with ``FOR UPDATE SKIP LOCKED`` (so several workers share the queue
safely), runs its handler and records the outcome. Handlers report progress through
``Progress``, which writes the fraction and a message in short transactions of their own
(readable by the API while the job runs) and tells the handler when a cancel was asked.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from domain.access import Principal, role_rights
from domain.errors import INVALID, NOT_FOUND, DomainError, describe_unexpected
from domain.models import Job

log = logging.getLogger("retailgis.jobs")

FINISHED = ("done", "failed", "cancelled")


class Cancelled(Exception):
    """The job was cancelled while it ran."""


@dataclass
class Progress:
    """Progress of one running job, written at most every ``interval_s`` seconds."""

    sessions: sessionmaker[Session]
    job_id: int
    interval_s: float = 0.5
    _last: float = field(default=0.0, init=False)
    _fraction: float = field(default=0.0, init=False)
    _cancelled: bool = field(default=False, init=False)

    def __call__(self, fraction: float, message: str | None = None, *, force: bool = False) -> bool:
        """Record progress (0..1) and a message; False once a cancel has been requested."""
        self._fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        if not force and message is None and now - self._last < self.interval_s:
            return not self._cancelled
        self._last = now
        values: dict[str, Any] = {
            "progress": self._fraction,
            "heartbeat_at": dt.datetime.now(dt.UTC),
        }
        if message is not None:
            values["message"] = message
        with self.sessions.begin() as session:
            cancel = session.scalar(
                update(Job).where(Job.id == self.job_id).values(**values)
                .returning(Job.cancel_requested)
            )  # fmt: skip
        self._cancelled = bool(cancel)
        return not self._cancelled

    def check(self, message: str | None = None) -> None:
        """Raise Cancelled if a cancel has been requested (asks the database now)."""
        if not self(self._fraction, message, force=True):
            raise Cancelled


Handler = Callable[[sessionmaker[Session], Job, Progress], Mapping[str, Any]]
HANDLERS: dict[str, Handler] = {}
FAILURE_HOOKS: dict[str, Callable[[Session, Job], None]] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def enqueue(
    session: Session, kind: str, params: Mapping[str, Any], created_by_id: int | None
) -> Job:
    if kind not in HANDLERS:
        raise DomainError(INVALID, f"未知的后台任务类型：{kind}", "kind")
    job = Job(kind=kind, params=dict(params), created_by_id=created_by_id, status="queued",
              progress=0.0, cancel_requested=False)  # fmt: skip
    session.add(job)
    session.flush()
    return job


def _sees_all(principal: Principal) -> bool:
    return role_rights(principal.role).scope == "city"


def get_job(session: Session, principal: Principal, job_id: int) -> Job:
    """A job its creator (or a city-scope role) may see."""
    job = session.get(Job, job_id)
    if job is None or not (job.created_by_id == principal.user_id or _sees_all(principal)):
        raise DomainError(NOT_FOUND, "找不到该后台任务", "id")
    return job


def request_cancel(session: Session, principal: Principal, job_id: int) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None or not (job.created_by_id == principal.user_id or _sees_all(principal)):
        raise DomainError(NOT_FOUND, "找不到该后台任务", "id")
    if job.status in FINISHED:
        raise DomainError(INVALID, f"任务已结束（{job.status}），无法取消", "id")
    job.cancel_requested = True
    if job.status == "queued":
        _finish(session, job, "cancelled", message="已取消")
    session.flush()
    return job


def _finish(session: Session, job: Job, status: str, **values: Any) -> None:
    job.status = status
    job.finished_at = dt.datetime.now(dt.UTC)
    for key, value in values.items():
        setattr(job, key, value)
    hook = FAILURE_HOOKS.get(job.kind)
    if status != "done" and hook is not None:
        hook(session, job)


CLAIM = text(
    """
    UPDATE jobs SET status = 'running', started_at = now(), heartbeat_at = now()
    WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY id
                FOR UPDATE SKIP LOCKED LIMIT 1)
    RETURNING id
    """
)


def run_next(sessions: sessionmaker[Session]) -> int | None:
    """Claim the oldest queued job and run it to its end; its id, or None if none waited."""
    with sessions.begin() as session:
        job_id: int | None = session.scalar(CLAIM)
    if job_id is None:
        return None
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
    progress = Progress(sessions, job_id)
    try:
        result = HANDLERS[job.kind](sessions, job, progress)
    except Cancelled:
        _close(sessions, job_id, "cancelled", message="已取消")
    except DomainError as err:
        _close(sessions, job_id, "failed", error=err.message)
    except Exception as exc:  # described without its message: it may echo personal data
        log.error("job %s failed: %s", job_id, describe_unexpected(exc, f"job {job.kind}"))
        _close(sessions, job_id, "failed", error="任务执行出错，详情见服务器日志")
    else:
        _close(sessions, job_id, "done", result=dict(result), progress=1.0)
    return job_id


def _close(sessions: sessionmaker[Session], job_id: int, status: str, **values: Any) -> None:
    with sessions.begin() as session:
        job = session.get(Job, job_id, with_for_update=True)
        assert job is not None
        _finish(session, job, status, **values)


def fail_abandoned(session: Session, older_than: dt.timedelta) -> list[int]:
    """Jobs whose worker died (no heartbeat for ``older_than``) are marked failed."""
    limit = dt.datetime.now(dt.UTC) - older_than
    jobs = session.scalars(
        select(Job).where(Job.status == "running", Job.heartbeat_at < limit).with_for_update()
    ).all()
    for job in jobs:
        _finish(session, job, "failed", error="后台进程中断，任务未完成，请重新提交")
    return [j.id for j in jobs]
