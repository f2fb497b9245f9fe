"""What the admin is built with: passed in by the composition root (`api.app`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from admin.basemaps import Basemap, make_basemap
from domain.vault import Vault
from domain.workcal import WorkingCalendar


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class AdminConfig:
    sessions: sessionmaker[Session]
    vault: Vault
    calendar: WorkingCalendar
    basemap: Basemap = field(default_factory=make_basemap)
    production: bool = False
    # Uploaded files wait here between the validation report and the import.
    upload_dir: Path = Path("/tmp")
    # Sign-ins verifying a password hash at once (argon2id is deliberately slow and big).
    hash_concurrency: int = 2
    clock: Callable[[], dt.datetime] = _utcnow
