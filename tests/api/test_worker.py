"""The background worker: a committed job wakes it (LISTEN jobs), it runs the handler,
reports progress, honours a cancel, and marks jobs whose worker died as failed."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from api.settings import Settings
from api.worker import run_worker
from domain.jobs import HANDLERS, Progress, enqueue, fail_abandoned, handler, run_next
from domain.models import Job


@handler("test_echo")
def _echo(sessions: sessionmaker[Session], job: Job, progress: Progress) -> Mapping[str, Any]:
    progress(0.5, "一半", force=True)
    return {"echo": job.params["say"]}


@handler("test_wait")
def _wait(sessions: sessionmaker[Session], job: Job, progress: Progress) -> Mapping[str, Any]:
    while True:  # until cancelled (the test asks), checking the flag as a handler should
        progress.check("等待取消")
        time.sleep(0.05)


PHONE = "13912345678"


@handler("test_fail")
def _fail(sessions: sessionmaker[Session], job: Job, progress: Progress) -> Mapping[str, Any]:
    # as a database error does: its message echoes the row (here a phone number)
    raise RuntimeError(f"Failing row contains (1, 某某商店, {PHONE})")


@pytest.fixture
def engine(fresh_db_url: str) -> Iterator[Engine]:
    eng = create_engine(fresh_db_url, poolclass=NullPool)
    yield eng
    eng.dispose()


@pytest.fixture
def worker(engine: Engine) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(Settings(), engine, stop), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=15)
    assert not thread.is_alive()


def queue(engine: Engine, kind: str, params: dict[str, Any]) -> int:
    with Session(engine) as s, s.begin():
        return enqueue(s, kind, params, None).id


def wait_for(engine: Engine, job_id: int, statuses: tuple[str, ...]) -> Job:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with Session(engine) as s:
            job = s.get(Job, job_id)
            assert job is not None
            if job.status in statuses:
                s.expunge(job)
                return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {statuses}")


def test_a_committed_job_is_run_by_the_worker(engine: Engine, worker: None) -> None:
    job_id = queue(engine, "test_echo", {"say": "你好"})
    job = wait_for(engine, job_id, ("done", "failed"))
    assert (job.status, job.result, job.progress, job.message) == (
        "done", {"echo": "你好"}, 1.0, "一半",
    )  # fmt: skip
    assert job.started_at is not None and job.finished_at is not None


def test_a_running_job_stops_when_cancelled(engine: Engine, worker: None) -> None:
    job_id = queue(engine, "test_wait", {})
    wait_for(engine, job_id, ("running",))
    with Session(engine) as s, s.begin():
        s.get(Job, job_id, with_for_update=True).cancel_requested = True  # type: ignore[union-attr]
    job = wait_for(engine, job_id, ("cancelled", "failed", "done"))
    assert (job.status, job.message) == ("cancelled", "已取消")


def test_a_failed_job_is_logged_without_its_message(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = queue(engine, "test_fail", {})
    with caplog.at_level(logging.DEBUG, logger="retailgis"):
        assert run_next(sessionmaker(engine)) == job_id
    job = wait_for(engine, job_id, ("failed",))
    assert job.error == "任务执行出错，详情见服务器日志"
    logged = "\n".join(caplog.text.splitlines())
    assert f"job {job_id} failed: unexpected RuntimeError in job test_fail" in logged
    assert PHONE not in logged


def test_an_unknown_kind_is_refused_and_nothing_is_queued(engine: Engine) -> None:
    with Session(engine) as s:
        with pytest.raises(Exception) as err:
            enqueue(s, "no_such_kind", {}, None)
        assert getattr(err.value, "code", None) == "INVALID"
        s.rollback()
        assert s.query(Job).count() == 0


def test_a_job_whose_worker_died_is_marked_failed(engine: Engine) -> None:
    job_id = queue(engine, "test_echo", {"say": "x"})
    with Session(engine) as s, s.begin():
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.heartbeat_at = "running", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with Session(engine) as s, s.begin():
        assert fail_abandoned(s, dt.timedelta(minutes=5)) == [job_id]
    with Session(engine) as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status == "failed" and "中断" in (job.error or "")


def teardown_module() -> None:
    for kind in ("test_echo", "test_wait", "test_fail"):
        HANDLERS.pop(kind, None)
