"""Process helpers for the fault tests: the postmaster's pid and children, a hard crash."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from api.pgcluster import EmbeddedCluster


def is_gone(pid: int) -> bool:
    """True when the process no longer exists or is a zombie nobody reaped yet."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def children(pid: int) -> list[int]:
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields and int(fields[1]) == pid:
            found.append(int(stat_file.parent.name))
    return found


def wait_gone(pids: list[int], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not all(is_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"{what} did not exit"
        time.sleep(0.05)


def kill_postmaster(cluster: EmbeddedCluster) -> int:
    """SIGKILL the postmaster only (pid from postmaster.pid), then wait until its children
    noticed and exited on their own, as after a real crash; return the pid."""
    pid = int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
    assert cluster.status().pid == pid
    orphans = children(pid)
    os.kill(pid, signal.SIGKILL)
    wait_gone([pid, *orphans], 60, "the postmaster's children")
    return pid
