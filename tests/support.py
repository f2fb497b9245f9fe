"""Helpers shared by tests."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def traversable_tmpdir(prefix: str) -> Path:
    """A temp dir the cluster's unprivileged OS user can reach (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("RETAILGIS_TEST_TMP", "/tmp")))
    path.chmod(0o755)
    return path
