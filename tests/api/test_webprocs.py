"""The web processes' supervisor (api/webprocs.py): a port another program holds is a
clear error before any process starts; several sockets with SO_REUSEPORT share a port."""

from __future__ import annotations

import socket

import pytest

from api.webprocs import StartFailed, listening_socket, serve_processes
from tests.support import free_port


def test_a_port_held_by_another_program_is_refused_before_anything_starts() -> None:
    # given a program listening on the port without SO_REUSEPORT
    port = free_port()
    held = socket.create_server(("127.0.0.1", port))
    try:
        # when the web processes are asked to serve there, then it is a clear error
        with pytest.raises(StartFailed, match=f"无法监听 127.0.0.1:{port}"):
            serve_processes(2, "127.0.0.1", port, "warning", 75)
    finally:
        held.close()


def test_each_process_can_bind_the_same_port() -> None:
    # given two sockets as two web processes make them
    port = free_port()
    first = listening_socket("127.0.0.1", port)
    second = listening_socket("127.0.0.1", port)
    try:
        # then both listen on the port, and a client reaches one of them
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        first.close()
        second.close()
