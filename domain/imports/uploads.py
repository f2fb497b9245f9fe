"""Uploaded customer files waiting for their check and import (the admin's 导入导出).

Each file is kept under the uploads folder by a random id, beside a small JSON record of its
name, sha256 and owner. A check or an import names the id and the sha256, never a path: the
file is read again, its sha256 recomputed and compared, and it must be the caller's. Files
never imported are removed after a day.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import NOT_FOUND, DomainError
from domain.imports.files import Table, parse_table

SUFFIXES = (".csv", ".xlsx")
KEEP_S = 24 * 3600
_ID = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
GONE = "上传的文件已失效，请重新上传"


@dataclass(frozen=True)
class Upload:
    """A stored upload: its id, the file's name as uploaded and its sha256."""

    token: str
    name: str
    sha256: str


@dataclass(frozen=True)
class UploadStore:
    """The customer uploads under ``folder`` (created with mode 0700 when first written)."""

    folder: Path

    @classmethod
    def under(cls, upload_dir: Path) -> UploadStore:
        """The customer imports' place in the application's upload directory."""
        return cls(upload_dir / "customer-imports")

    def save(self, name: str, data: bytes, *, user_id: int) -> Upload:
        """Keep ``data`` under a new random id (``name``'s suffix must be .csv or .xlsx)."""
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            raise ValueError(f"not an import file: {name!r}")
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sweep()
        token = secrets.token_hex(16)
        digest = hashlib.sha256(data).hexdigest()
        (self.folder / f"{token}{suffix}").write_bytes(data)
        meta = {"name": name, "suffix": suffix, "sha256": digest, "user_id": user_id}
        (self.folder / f"{token}.meta.json").write_text(json.dumps(meta, ensure_ascii=False))
        return Upload(token, name, digest)

    def _meta(self, token: str, sha256: str, user_id: int) -> dict[str, Any]:
        """The upload's record if it is ``user_id``'s and names this sha256."""
        gone = DomainError(NOT_FOUND, GONE, "file")
        if not (_ID.fullmatch(token) and _SHA256.fullmatch(sha256)):
            raise gone
        try:
            meta = json.loads((self.folder / f"{token}.meta.json").read_text())
        except (OSError, ValueError):
            raise gone from None
        if not isinstance(meta, dict) or meta.get("suffix") not in SUFFIXES:
            raise gone
        if meta.get("user_id") != user_id or meta.get("sha256") != sha256:
            raise gone
        return meta

    def find(self, token: str, sha256: str, *, user_id: int) -> Upload:
        """The upload of this id if it is ``user_id``'s and was stored with this sha256
        (NOT_FOUND "上传的文件已失效" otherwise). Its content is not read here: ``table``
        reads it and checks the sha256 again when the job runs."""
        meta = self._meta(token, sha256, user_id)
        return Upload(token, str(meta.get("name")), sha256)

    def table(self, token: str, sha256: str, *, user_id: int) -> Table:
        """The upload's table, read again: its content must still have this sha256."""
        meta = self._meta(token, sha256, user_id)
        try:
            data = (self.folder / f"{token}{meta['suffix']}").read_bytes()
        except OSError:
            raise DomainError(NOT_FOUND, GONE, "file") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise DomainError(NOT_FOUND, GONE, "file")
        return parse_table(str(meta.get("name")), data)

    def forget(self, token: str) -> None:
        if _ID.fullmatch(token):
            for part in self.folder.glob(f"{token}.*"):
                part.unlink(missing_ok=True)

    def sweep(self) -> None:
        """Uploads never imported are removed after a day."""
        cutoff = time.time() - KEEP_S
        for old in self.folder.glob("*.meta.json"):
            with suppress(OSError):  # another process may remove it meanwhile
                if old.stat().st_mtime < cutoff:
                    self.forget(old.name.removesuffix(".meta.json"))
