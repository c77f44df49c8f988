"""The one loopback HTTP server every local part serves from (API, runtime, partners, issuer).

A part supplies ``respond(request) -> Reply``; the server reads the body, writes the reply
with its length, and keeps quiet (the parts keep their own records: ledgers, logs).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

log = logging.getLogger("sandbox.http")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    """Names as the client sent them; use ``header()`` to look one up."""
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})})


Respond = Callable[[Request], Reply]


class DropConnection(Exception):
    """Raised by a part to close the connection without an answer (a region gone dark)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of more connections than that, while
    # the accept loop waits for the interpreter lock, has its SYNs dropped, and each such client
    # waits for TCP's 1 s retransmission (seen: 1.02-1.09 s intakes in the bench, and listen
    # overflows in every demo). werkzeug's servers listen with 128, as here.
    request_queue_size = 128


class LoopbackServer:
    """HTTP/1.1 on ``host:port`` (0: any free port), served by daemon threads until ``stop``."""

    def __init__(
        self,
        respond: Respond,
        *,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int | None = None,
    ) -> None:
        self._server = _Server((host, port), _handler(respond, max_body_bytes))
        # stop() waits for the serving loop's next poll: 0.5 s by default, a second per test
        # that starts the two partners.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(respond: Respond, max_body_bytes: int | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if max_body_bytes is not None and length > max_body_bytes:
                # Drained, never held: the client may finish sending and read its 413.
                while length > 0:
                    chunk = self.rfile.read(min(length, 1 << 16))
                    if not chunk:
                        break
                    length -= len(chunk)
                reply = json_reply(413, {"message": "Request Too Long"})
            else:
                body = self.rfile.read(length) if length else b""
                try:
                    reply = respond(Request(self.command, self.path, dict(self.headers.items()), body))
                except DropConnection:
                    self.close_connection = True
                    return
                except Exception:  # a bug in a part answers 500 and is logged; the server keeps serving
                    log.exception("%s %s failed", self.command, self.path)
                    reply = json_reply(500, {"message": "Internal server error"})
            try:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting: a late answer nobody reads

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # each part keeps its own record; access logs would drown the output

    return Handler
