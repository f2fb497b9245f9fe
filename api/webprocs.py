"""Several web processes on one port, each with a listening socket of its own.

uvicorn's ``--workers`` shares one listening socket between its processes, and whichever
process wakes first accepts a whole burst of new connections: the ten keep-alive
connections of a client app's pool can all land in one process, which then runs on one
core (one GIL) while the others idle (measured: 1,300 instead of 2,150 requests/s for
one-row lookups from 10 connections on 2 processes). Here every process binds the port
itself with ``SO_REUSEPORT`` and Linux spreads new connections over the sockets by the
hash of their addresses.

The parent only supervises: it starts the processes, starts another when one dies (not
when they keep dying at start: then it stops with an error), and on SIGINT or SIGTERM
asks each to shut down gracefully (uvicorn finishes the requests in flight).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger("retailgis.web")
BACKLOG = 2048
QUICK_EXIT_S = 10.0  # a process that dies this soon after its start failed to start
MAX_QUICK_EXITS = 3
STOP_WAIT_S = 30.0


class StartFailed(RuntimeError):
    """The web processes cannot start (the port is taken, the app fails to load)."""


def listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound to host:port with SO_REUSEPORT (and listening, unless only
    probing whether the address can be had)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if listen:
            sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _serve_one(host: str, port: int, log_level: str, keep_alive: int) -> None:
    """One web process: its own socket, the app built by ``api.runtime.worker_app``."""
    import uvicorn

    sock = listening_socket(host, port)
    config = uvicorn.Config(
        "api.runtime:worker_app", factory=True, log_level=log_level, backlog=BACKLOG,
        timeout_keep_alive=keep_alive,
    )  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


def serve_processes(count: int, host: str, port: int, log_level: str, keep_alive: int) -> None:
    """Run ``count`` web processes until SIGINT or SIGTERM; raises ``StartFailed``.
    ``keep_alive``: seconds an idle keep-alive connection stays open."""
    try:  # a port held by another program is refused here, before anything starts
        listening_socket(host, port, listen=False).close()
    except OSError as exc:
        raise StartFailed(f"无法监听 {host}:{port}：{exc.strerror or exc}") from None
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter, as uvicorn does
    stopping = threading.Event()

    def start() -> tuple[BaseProcess, float]:
        process = spawn.Process(target=_serve_one, args=(host, port, log_level, keep_alive))
        process.start()
        return process, time.monotonic()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    running = [start() for _ in range(count)]
    log.info("%d web processes on %s:%d (SO_REUSEPORT)", count, host, port)
    quick_exits = 0
    try:
        while not stopping.wait(0.5):
            for i, (process, started) in enumerate(running):
                if process.is_alive():
                    continue
                quick = time.monotonic() - started < QUICK_EXIT_S
                quick_exits = quick_exits + 1 if quick else 0
                if quick_exits >= MAX_QUICK_EXITS:
                    raise StartFailed(
                        f"Web 进程启动后立即退出（退出码 {process.exitcode}），已连续 "
                        f"{quick_exits} 次，停止服务；详见上方日志"
                    )
                log.warning(
                    "web process %s exited (code %s); starting another",
                    process.pid, process.exitcode,
                )  # fmt: skip
                running[i] = start()
    finally:
        for process, _ in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        deadline = time.monotonic() + STOP_WAIT_S
        for process, _ in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
