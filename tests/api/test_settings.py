"""Settings come from the environment once; bad values are refused with the variable named."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.secrets import load_secret, make_vault
from api.settings import Settings, SettingsError


def test_defaults_and_overrides(tmp_path: Path) -> None:
    s = Settings.from_env({"RETAILGIS_DATA_DIR": str(tmp_path), "RETAILGIS_PG_PORT": "6000"})
    assert (s.data_dir, s.pg_dir, s.pg_port, s.port, s.database_url) == (
        tmp_path,
        tmp_path / "pg",
        6000,
        8000,
        None,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RETAILGIS_PORT": "eighty"}, "RETAILGIS_PORT must be an integer"),
        ({"APP_ENV": "prod"}, "APP_ENV must be development, test or production"),
        ({"RETAILGIS_SECRET_KEY": "short"}, "RETAILGIS_SECRET_KEY must be at least 32"),
        ({"RETAILGIS_WORKERS": "0"}, "RETAILGIS_WORKERS must be >= 1"),
        ({"RETAILGIS_WORKERS": "two"}, "RETAILGIS_WORKERS must be an integer"),
        ({"RETAILGIS_KEEPALIVE_SECONDS": "0"}, "RETAILGIS_KEEPALIVE_SECONDS must be >= 1"),
    ],
)
def test_bad_values_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_web_workers_default_to_one_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert Settings.from_env({}).workers == 2
    monkeypatch.setattr("os.cpu_count", lambda: 32)
    assert Settings.from_env({}).workers == 8  # at most 8 by default
    assert Settings.from_env({"RETAILGIS_WORKERS": "3"}).workers == 3
    assert Settings().workers == 1  # apps built by tests serve in-process


def test_keep_alive_outlasts_the_client_pools() -> None:
    assert Settings.from_env({}).keep_alive_seconds == 75  # httpx keeps 5 s, aiohttp 15 s
    assert Settings.from_env({"RETAILGIS_KEEPALIVE_SECONDS": "30"}).keep_alive_seconds == 30


def test_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    s = Settings.from_env({"RETAILGIS_DATA_DIR": str(tmp_path)})
    first = load_secret(s)
    assert load_secret(s) == first and len(first) >= 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0
    sealed = make_vault(s).seal("phone", "13800001111")
    assert make_vault(s).open(sealed) == "13800001111"
    configured = Settings.from_env(
        {"RETAILGIS_SECRET_KEY": "x" * 40, "RETAILGIS_DATA_DIR": str(tmp_path)}
    )
    assert load_secret(configured) == b"x" * 40
