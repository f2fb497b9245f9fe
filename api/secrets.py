"""The application secret (encryption and fingerprints of personal data in the ledger).

From RETAILGIS_SECRET_KEY (read into Settings), else generated once into
``<data dir>/secret.key`` (mode 0600). Losing it makes sealed ledger values unreadable:
back it up with the database.
"""

from __future__ import annotations

import os
import secrets

from api.settings import Settings
from domain.vault import Vault


def load_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip().encode()


def make_vault(settings: Settings) -> Vault:
    return Vault(load_secret(settings))
