"""The periodic run from the outside: ``retailgis tick`` and the serving app's task."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from api.app import create_app
from api.cli import main
from api.settings import Settings, SettingsError
from domain.models import Duty


def _seed_org(url: str) -> None:
    """A city with a delivery planner, a county with its department and one market area."""
    eng = create_engine(url, poolclass=NullPool)
    with eng.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO org_units (id, code, name, kind, parent_id) VALUES"
                " (1, 'xa', '西安市烟草公司', 'city', NULL),"
                " (2, 'yt', '雁塔区营销部', 'county', 1),"
                " (3, 'yt-01', '雁塔区第一市场部', 'market_area', 2);"
                "INSERT INTO users (username, display_name, role, org_unit_id) VALUES"
                " ('delivery', '配送部', 'delivery_dept', 1),"
                " ('county_yt', '雁塔县区', 'county_dept', 2),"
                " ('mm01', '市场经理', 'market_manager', 3)"
            )
        )
    eng.dispose()


def _duties(url: str) -> list[tuple[str, str]]:
    eng = create_engine(url, poolclass=NullPool)
    with Session(eng) as s:
        rows = s.execute(select(Duty.kind, Duty.period).order_by(Duty.kind, Duty.period))
        out = [(k, p) for k, p in rows]
    eng.dispose()
    return out


def _tick(url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["tick", *args], env={"DATABASE_URL": url})


def test_cli_tick_runs_once_and_prints_counts(fresh_db_url: str) -> None:
    # given a database with a city, a county and a market area
    _seed_org(fresh_db_url)
    # when ticking on 2026-11-23
    res = _tick(fresh_db_url, "--now", "2026-11-23T09:00")
    # then the four duties are created, committed, and counted in Chinese
    assert res.exit_code == 0, res.output
    assert "新生成任务 4 项" in res.stdout and "超期督办 0 项" in res.stdout
    assert _duties(fresh_db_url) == [
        ("classification_table", "2026-12"),
        ("monthly_check", "2026-11"),
        ("quarterly_adjustment", "2026-Q4"),
        ("static_review", "2026-H2"),
    ]
    # when ticking again, then nothing new
    res = _tick(fresh_db_url, "--now", "2026-11-23T09:05")
    assert res.exit_code == 0 and "新生成任务 0 项" in res.stdout
    assert len(_duties(fresh_db_url)) == 4


def test_cli_tick_reports_an_uncovered_calendar_year_and_keeps_the_rest(
    fresh_db_url: str,
) -> None:
    # given the org, on 2026-12-10 the next classification table falls in 2027
    _seed_org(fresh_db_url)
    # when ticking, then the covered duties are committed and the gap is reported (exit 2)
    res = _tick(fresh_db_url, "--now", "2026-12-10T09:00")
    assert res.exit_code == 2, res.output
    assert "新生成任务 3 项" in res.stdout and "2027" in res.stderr
    assert ("monthly_check", "2026-12") in _duties(fresh_db_url)
    assert not any(kind == "classification_table" for kind, _ in _duties(fresh_db_url))


def test_tick_seconds_setting() -> None:
    assert Settings().tick_seconds == 0  # apps built in tests never tick by default
    assert Settings.from_env({}).tick_seconds == 300
    assert Settings.from_env({"RETAILGIS_TICK_SECONDS": "0"}).tick_seconds == 0
    for bad, message in (("-1", "must be >= 0"), ("often", "must be an integer")):
        with pytest.raises(SettingsError, match=f"RETAILGIS_TICK_SECONDS {message}"):
            Settings.from_env({"RETAILGIS_TICK_SECONDS": bad})


def _wait_for(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _messages(caplog: pytest.LogCaptureFixture, prefix: str, containing: str) -> list[str]:
    messages = [r.getMessage() for r in caplog.records]
    return [m for m in messages if m.startswith(prefix) and containing in m]


def test_the_test_settings_start_no_periodic_task(db_url: str) -> None:
    engine = create_engine(db_url, poolclass=NullPool)
    with TestClient(create_app(Settings(app_env="test"), engine)) as client:
        assert client.app.state.tick_task is None  # type: ignore[attr-defined]
    engine.dispose()


def test_serving_runs_the_periodic_task_and_cancels_it_on_shutdown(
    fresh_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given an app configured to tick every second
    caplog.set_level(logging.INFO, logger="retailgis")
    _seed_org(fresh_db_url)
    engine = create_engine(fresh_db_url, poolclass=NullPool)
    app = create_app(Settings(app_env="test", tick_seconds=1), engine)
    # when it serves, then the periodic run happens (at start and again a second later)
    with TestClient(app) as client:
        assert _wait_for(lambda: len(_messages(caplog, "periodic run: ", "escalated")) >= 2)
        assert client.get("/healthz").status_code == 200
        task = app.state.tick_task
    # and on shutdown the task is cancelled
    assert task.done() and task.cancelled()
    engine.dispose()


def test_a_failing_periodic_run_is_logged_and_the_server_keeps_serving(
    empty_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given an app ticking against a database without the schema
    caplog.set_level(logging.INFO, logger="retailgis")
    engine = create_engine(empty_db_url, poolclass=NullPool)
    app = create_app(Settings(app_env="test", tick_seconds=1), engine)
    with TestClient(app) as client:
        # when the runs fail, then each failure is logged and requests are still answered
        assert _wait_for(lambda: len(_messages(caplog, "periodic run failed", "")) >= 2)
        assert client.get("/healthz").status_code == 503
        assert not app.state.tick_task.done()
    engine.dispose()


def test_the_lock_is_per_database_transaction(fresh_db_url: str) -> None:
    # given one session holding the run's lock, a CLI tick on the same database skips
    from domain.tickets.scheduler import TICK_LOCK_KEY

    _seed_org(fresh_db_url)
    eng = create_engine(fresh_db_url, poolclass=NullPool)
    with eng.connect() as holder:
        holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": TICK_LOCK_KEY})
        res = _tick(fresh_db_url, "--now", "2026-11-23T09:00")
        assert res.exit_code == 0 and "本次跳过" in res.stderr
        holder.rollback()
    with Session(eng) as s:
        assert s.scalar(select(func.count()).select_from(Duty)) == 0
    eng.dispose()
