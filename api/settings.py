"""One Settings object, built once at start from the environment and passed down."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from admin.basemaps import Basemap, BasemapError, make_basemap
from domain.planning.settings import PlanningSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _secret(env: Mapping[str, str]) -> str:
    raw = env.get("RETAILGIS_SECRET_KEY", "")
    if raw and len(raw) < 32:
        raise SettingsError("RETAILGIS_SECRET_KEY must be at least 32 characters")
    return raw


def _tick_seconds(env: Mapping[str, str]) -> int:
    seconds = _int(env, "RETAILGIS_TICK_SECONDS", 300)
    if seconds < 0:
        raise SettingsError("RETAILGIS_TICK_SECONDS must be >= 0 (0 disables the periodic run)")
    return seconds


def _workers(env: Mapping[str, str]) -> int:
    """Web worker processes: one per core by default (at most 8); Python runs one request
    at a time per process, so a second process is what uses a second core."""
    workers = _int(env, "RETAILGIS_WORKERS", min(os.cpu_count() or 1, 8))
    if workers < 1:
        raise SettingsError("RETAILGIS_WORKERS must be >= 1")
    return workers


def _keep_alive(env: Mapping[str, str]) -> int:
    seconds = _int(env, "RETAILGIS_KEEPALIVE_SECONDS", 75)
    if seconds < 1:
        raise SettingsError("RETAILGIS_KEEPALIVE_SECONDS must be >= 1")
    return seconds


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not (math.isfinite(value) and value >= minimum):
        raise SettingsError(f"{name} must be a finite number >= {minimum}, got {raw!r}")
    return value


def _planning(env: Mapping[str, str]) -> PlanningSettings:
    travel = env.get("RETAILGIS_TRAVEL", "straight")
    if travel not in ("straight", "roads"):
        raise SettingsError(f"RETAILGIS_TRAVEL must be straight or roads, not {travel!r}")
    return PlanningSettings(
        travel=travel,  # type: ignore[arg-type]
        circuity=_float(env, "RETAILGIS_CIRCUITY", 1.3, 1.0),
        urban_kmh=_float(env, "RETAILGIS_URBAN_KMH", 25.0, 1.0),
        rural_kmh=_float(env, "RETAILGIS_RURAL_KMH", 45.0, 1.0),
        service_min=int(_float(env, "RETAILGIS_SERVICE_MIN", 5, 0)),
    )


@dataclass(frozen=True)
class Settings:
    # An external PostgreSQL server; when empty the embedded cluster is used.
    database_url: str | None = None
    data_dir: Path = PROJECT_ROOT / ".data"
    pg_dir: Path = PROJECT_ROOT / ".data" / "pg"
    pg_port: int = 54329
    pg_os_user: str = "postgres"
    host: str = "127.0.0.1"
    port: int = 8000
    app_env: str = "development"
    demo_shops: int = 5000
    demo_seed: int = 42
    # The admin's basemap: offline (regions drawn, no tiles), tianditu (needs the key),
    # amap (GCJ-02, converted for display), osm, or custom (tile_url drawn in tile_crs).
    basemap: str = "offline"
    tianditu_key: str = ""
    tile_url: str = ""
    tile_crs: str = "WGS84"
    log_level: str = "info"
    # Encrypts personal values in the ledger; empty: generated into <data dir>/secret.key.
    secret_key: str = ""
    # The periodic run (duties, notice periods, escalation) while serving; 0 disables it.
    # Off unless configured (tests build apps with Settings()); from_env defaults to 300.
    tick_seconds: int = 0
    # `serve` runs this many web worker processes (uvicorn); from_env: one per core.
    workers: int = 1
    # How long an idle HTTP keep-alive connection is kept open. Longer than the client
    # pools keep theirs (httpx 5 s, aiohttp 15 s, OkHttp 5 min is their side to close),
    # so that a client never sends a request on a connection the server is closing (with
    # uvicorn's 5 s, a pooled client could get a reset in the race).
    keep_alive_seconds: int = 75
    # Route planning: travel-cost engine and speeds, service time, solver budgets.
    planning: PlanningSettings = field(default_factory=PlanningSettings)
    # `serve` starts a background worker process for jobs (route planning, the admin's
    # customer imports) unless False.
    background_worker: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def upload_dir(self) -> Path:
        """Uploaded files waiting for a background job (the admin's customer imports)."""
        return self.data_dir / "uploads"

    def admin_basemap(self) -> Basemap:
        try:
            return make_basemap(
                self.basemap, tianditu_key=self.tianditu_key, tile_url=self.tile_url,
                tile_crs=self.tile_crs,
            )  # fmt: skip
        except BasemapError as exc:
            raise SettingsError(str(exc)) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("RETAILGIS_DATA_DIR") or PROJECT_ROOT / ".data").resolve()
        app_env = env.get("APP_ENV", "development")
        if app_env not in ("development", "test", "production"):
            raise SettingsError(f"APP_ENV must be development, test or production, not {app_env!r}")
        settings = cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=data_dir,
            pg_dir=Path(env.get("RETAILGIS_PG_DIR") or data_dir / "pg").resolve(),
            pg_port=_int(env, "RETAILGIS_PG_PORT", 54329),
            pg_os_user=env.get("RETAILGIS_PG_OS_USER", "postgres"),
            host=env.get("RETAILGIS_HOST", "127.0.0.1"),
            port=_int(env, "RETAILGIS_PORT", 8000),
            app_env=app_env,
            demo_shops=_int(env, "RETAILGIS_DEMO_SHOPS", 5000),
            demo_seed=_int(env, "RETAILGIS_DEMO_SEED", 42),
            basemap=env.get("RETAILGIS_BASEMAP", "offline"),
            tianditu_key=env.get("RETAILGIS_TIANDITU_KEY", ""),
            tile_url=env.get("RETAILGIS_TILE_URL", ""),
            tile_crs=env.get("RETAILGIS_TILE_CRS", "WGS84"),
            log_level=env.get("RETAILGIS_LOG_LEVEL", "info"),
            secret_key=_secret(env),
            tick_seconds=_tick_seconds(env),
            workers=_workers(env),
            keep_alive_seconds=_keep_alive(env),
            planning=_planning(env),
            background_worker=env.get("RETAILGIS_BACKGROUND_WORKER", "1") != "0",
        )
        settings.admin_basemap()  # refuses an invalid basemap configuration at start
        return settings
