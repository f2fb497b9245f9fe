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

    def _read(self, token: str, sha256: str, user_id: int) -> tuple[dict[str, Any], bytes]:
        gone = DomainError(NOT_FOUND, GONE, "file")
        if not _ID.fullmatch(token):
            raise gone
        try:
            meta = json.loads((self.folder / f"{token}.meta.json").read_text())
            suffix = meta["suffix"] if meta["suffix"] in SUFFIXES else ".csv"
            data = (self.folder / f"{token}{suffix}").read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            raise gone from None
        digest = hashlib.sha256(data).hexdigest()
        if meta.get("user_id") != user_id or not secrets.compare_digest(digest, sha256):
            raise gone
        if digest != meta.get("sha256"):
            raise gone
        return meta, data

    def find(self, token: str, sha256: str, *, user_id: int) -> Upload:
        """The upload of this id if it is ``user_id``'s and its content still has this
        sha256 (NOT_FOUND "上传的文件已失效" otherwise)."""
        meta, _ = self._read(token, sha256, user_id)
        return Upload(token, str(meta["name"]), sha256)

    def table(self, token: str, sha256: str, *, user_id: int) -> Table:
        """The upload's table, read again and checked as ``find`` does."""
        meta, data = self._read(token, sha256, user_id)
        return parse_table(str(meta["name"]), data)

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
