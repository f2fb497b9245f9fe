"""The background worker: runs queued jobs (route planning, the admin's customer imports)
outside the web process.

``retailgis worker`` runs it on its own; ``retailgis serve`` starts one as a child process
unless ``RETAILGIS_BACKGROUND_WORKER=0``. Workers wait on ``LISTEN jobs`` (a trigger
notifies at commit) with a timeout, so a job starts at once and nothing polls hard.
Several workers may run against one database: claims use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import signal
import subprocess
import sys
import threading

import psycopg
from sqlalchemy.engine import Engine

import domain.planning  # noqa: F401  (registers the planning job handlers)
from api.db import make_sessionmaker
from api.secrets import make_vault
from api.settings import Settings
from domain.imports import jobs as import_jobs  # registers the customer import's handler
from domain.jobs import fail_abandoned, run_next
from domain.planning import SETTINGS as PLANNING
from domain.workcal.store import loader_for
from domain.workcal.stored import STORED

log = logging.getLogger("retailgis.worker")
ABANDONED_AFTER = dt.timedelta(minutes=5)
WAIT_S = 5.0


def configure(settings: Settings) -> None:
    PLANNING["planning"] = settings.planning
    # the vault (personal values of imported records) is read when an import first runs
    import_jobs.configure(settings.upload_dir, functools.cache(lambda: make_vault(settings)))


def _listen_url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def run_worker(settings: Settings, engine: Engine, stop: threading.Event | None = None) -> None:
    """Run jobs until ``stop`` is set (or SIGTERM/SIGINT when run as a process)."""
    configure(settings)
    stop = stop or threading.Event()
    sessions = make_sessionmaker(engine)
    STORED.install(loader_for(sessions))  # the calendar years entered by IT
    with sessions.begin() as session:
        failed = fail_abandoned(session, ABANDONED_AFTER)
    if failed:
        log.warning("jobs %s had lost their worker and are marked failed", failed)
    with psycopg.connect(_listen_url(engine), autocommit=True) as listener:
        listener.execute("LISTEN jobs")
        while not stop.is_set():
            while not stop.is_set() and run_next(sessions) is not None:
                pass
            for _ in listener.notifies(timeout=WAIT_S, stop_after=1):
                break


def run_forever(settings: Settings, engine: Engine) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("worker %s waiting for jobs", os.getpid())
    run_worker(settings, engine, stop)


def spawn_worker() -> subprocess.Popen[bytes]:
    """A worker process beside the web server (same environment, same database)."""
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker"])
