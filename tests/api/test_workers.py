"""`retailgis serve` with several web worker processes: both answer, a subscription gets
its ticket events whichever process holds its socket, and the periodic run keeps running
(its advisory lock makes concurrent runs one; tests/api/test_tick.py has the lock)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from websockets.sync.client import ClientConnection, connect

from domain.models import Ticket
from domain.users import create_token
from tests.support import free_port, traversable_tmpdir

pytestmark = pytest.mark.timeout(300)
BIN = Path(sys.executable).parent
SUBSCRIPTION = "subscription { ticketEvents { ticketId status } }"


@pytest.fixture
def server(fresh_db_url: str) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    root = traversable_tmpdir("rgis-workers-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        DATABASE_URL=fresh_db_url, RETAILGIS_DATA_DIR=str(root), RETAILGIS_WORKERS="2",
        RETAILGIS_DEMO_SHOPS="300", RETAILGIS_TICK_SECONDS="1",
        RETAILGIS_BACKGROUND_WORKER="0", RETAILGIS_LOG_LEVEL="info",
    )  # fmt: skip
    log = root / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "retailgis"), "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while not _healthy(base):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not become healthy"
            time.sleep(0.5)
        yield base, proc, log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _workers(proc: subprocess.Popen[str]) -> list[int]:
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return [int(p) for p in children if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def _connections_by_worker(workers: list[int], port: int) -> dict[int, int]:
    """Established TCP connections on the server port held by each worker process."""
    inodes: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if int(cols[1].split(":")[1], 16) == port and cols[3] == "01":  # ESTABLISHED
            inodes.add(cols[9])
    held: dict[int, int] = {}
    for pid in workers:
        fds = Path(f"/proc/{pid}/fd")
        links = [os.readlink(fds / fd) for fd in os.listdir(fds)]
        held[pid] = sum(link == f"socket:[{inode}]" for link in links for inode in inodes)
    return held


def _subscribe(base: str, token: str) -> ClientConnection:
    ws = connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])
    ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
    ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))
    return ws


def test_several_workers_serve_and_deliver_ticket_events_from_any_of_them(
    server: tuple[str, subprocess.Popen[str], Path], fresh_db_url: str
) -> None:
    base, proc, log = server
    engine = create_engine(fresh_db_url, poolclass=NullPool)
    with Session(engine) as s, s.begin():
        token = create_token(s, username="market_dept")  # a city role: sees every ticket
    with Session(engine) as s:
        ticket_id = s.scalars(select(Ticket.id).order_by(Ticket.id)).first()
    # given two worker processes, each holding some of the subscriptions (the kernel hands a
    # new connection to whichever process accepts first: open more until both hold some)
    workers = _workers(proc)
    assert len(workers) == 2
    port = int(base.rsplit(":", 1)[1])
    sockets = [_subscribe(base, token) for _ in range(4)]
    while min(_connections_by_worker(workers, port).values()) == 0 and len(sockets) < 40:
        sockets.append(_subscribe(base, token))
    held = _connections_by_worker(workers, port)
    assert sum(held.values()) == len(sockets) and all(n > 0 for n in held.values()), held
    time.sleep(1.0)  # the subscriptions reach their process's listener
    # when a ticket changes (committed by another session)
    with Session(engine) as s, s.begin():
        s.execute(update(Ticket).where(Ticket.id == ticket_id).values(status="withdrawn"))
    # then every subscription gets the event
    for ws in sockets:
        message = json.loads(ws.recv(timeout=30))
        assert message["type"] == "next", message
        assert message["payload"]["data"]["ticketEvents"] == {
            "ticketId": ticket_id, "status": "withdrawn"
        }  # fmt: skip
        ws.close()
    # and a query is answered, whichever process takes it
    for _ in range(4):
        res = httpx.post(
            f"{base}/graphql", json={"query": "{ customers(first: 2) { totalCount } }"},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        assert res.json() == {"data": {"customers": {"totalCount": 300}}}
    # and the periodic run ran without failing
    text = log.read_text()
    assert "periodic run" in text and "periodic run failed" not in text
    engine.dispose()
