"""The loopback server every local part serves from (sandbox/http.py)."""

from __future__ import annotations

import contextlib
import socket
import urllib.parse
import urllib.request

from sandbox.http import LoopbackServer, Reply, Request

BURST = 40
"""More connections at once than socketserver's default backlog of 5, fewer than ours."""


def test_a_burst_of_connections_waits_in_the_backlog_instead_of_having_its_syns_dropped() -> None:
    def respond(request: Request) -> Reply:
        return Reply(200, b"ok")

    server = LoopbackServer(respond, name="burst")  # not serving yet: nothing accepts
    address = urllib.parse.urlsplit(server.url)
    with contextlib.ExitStack() as connections:
        # WHEN a burst connects while the accept loop is away (5 s each: a queued connection
        # completes at once on loopback; a dropped SYN is sent again, but with nothing accepted
        # there is still no room, and its connect times out)
        for _ in range(BURST):
            connections.enter_context(socket.create_connection((address.hostname, address.port), timeout=5))
        # THEN every one is queued, and the server, once serving, answers
        server.start()
        try:
            with urllib.request.urlopen(f"{server.url}/", timeout=30) as response:
                assert response.read() == b"ok"
        finally:
            connections.close()
            server.stop()
