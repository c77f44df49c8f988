"""The embedded AWS in a process of its own: moto's server and its ASL interpreter.

Lambda tasks are forwarded over HTTP to the sandbox's runtime (``RuntimeServer``), so moto,
the interpreter and the API each get a core instead of sharing one interpreter lock. The
interpreter's own AWS calls (status writes, events, queues) go straight into the server's
WSGI application in this process: the same request handling, without a socket, a request
thread and an HTTP round trip each.

    python -m sandbox.aws.server --port 4566 --runtime-url http://127.0.0.1:PORT --time-scale 0.05

Two regions (``python -m sandbox up --standby``): moto serves every region; each region's
Lambda tasks go to that region's runtime (``POST /_sandbox/runtimes``); global tables are
replicated with a lag (``POST /_sandbox/replication``); a region can go dark and come back
(``POST /_sandbox/regions/<region>/dark`` and ``.../lit``): requests into a dark region are
refused (503), the interpreter's own calls and Lambda tasks there wait until it comes back
(its executions are frozen), and replication neither leaves nor enters it.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import os
import queue
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.compat import HTTPHeaders
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder, run_wsgi_app

from sandbox.aws.moto_patches import (
    cache_asl_parse_trees,
    cache_backend_lookup,
    cache_jsonpath_parses,
    come_back,
    lights,
    one_execution_per_name,
    read_retention_from_the_queue,
    replication,
    reuse_interpreter_clients,
    serialize_dynamodb_requests,
    serialize_items_as_json,
    time_scale,
)
from sandbox.aws.stepfunctions import Invoke, route_lambda_invokes
from sandbox.runtime.errors import FunctionError

READY = "aws ready"

LEVERS = (
    "parse-cache",
    "program-cache",
    "jsonpath-cache",
    "item-snapshots",
    "backend-lookup",
    "in-process",
    "quiet-log",
    "api-priority",
    "api-gate",
    "saga-nice",
    "api-warm",
    "gate-linger",
    "switch-interval",
    "gc-freeze",
    "queue-attributes",
    "item-json",
    "request-threads",
)
"""The sandbox's speed levers (README, "Sandbox speed"): all but ``saga-nice`` and ``api-warm``
are this process's (those two are the runtime's, ``sandbox/up.py``). ``SANDBOX_LEVERS_OFF`` (a comma list) turns
some off, so a benchmark can measure each against the others in one sitting."""


GATE_LINGER_SECONDS = 0.05
"""How long the gate stays shut after the API's last request left (lever ``gate-linger``)."""

SWITCH_INTERVAL_SECONDS = 0.001
"""The interpreter's thread switch interval here (lever ``switch-interval``; CPython's is 5 ms)."""


def switch_interval(off: frozenset[str]) -> float:
    """Lever ``switch-interval``: a thread woken by I/O (a request's socket) waits for the
    interpreter lock up to a switch interval behind each thread that is computing, and a 202's
    requests wake several times each behind tens of saga threads: switch more often."""
    return sys.getswitchinterval() if "switch-interval" in off else SWITCH_INTERVAL_SECONDS


FULL_SCAN_EVERY = 10
"""Every tenth full collection unfreezes first, so the next one scans everything (lever ``gc-freeze``)."""


def freeze_after_full_collections() -> None:
    """Lever ``gc-freeze``: a full collection stops every thread for as long as it takes to
    scan every object (measured in a seed-7 demo: 9 of them, 0.1-0.34 s each, over ~1 million
    objects: moto's state, the parse trees, the execution histories), and any request inside
    waits it out. What the server imported is frozen now (moved to the permanent generation,
    ``gc.freeze``), and after each full collection what survived it, so the next scans only
    what was allocated since.

    Safe because a frozen object is still freed by reference counting, and the collector still
    finds every cycle made after a freeze. A cycle that was alive at a freeze and dropped later
    (a running execution's task thread and its events, say) is found late: every
    ``FULL_SCAN_EVERY``-th full collection unfreezes, so the next one scans everything."""
    full_collections = itertools.count(1)

    def freeze(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            if next(full_collections) % FULL_SCAN_EVERY:
                gc.freeze()
            else:
                gc.unfreeze()

    gc.collect()
    gc.freeze()
    gc.callbacks.append(freeze)


def levers_off(environ: Any = os.environ) -> frozenset[str]:
    """The levers ``SANDBOX_LEVERS_OFF`` turns off; ValueError names an unknown one."""
    off = frozenset(filter(None, environ.get("SANDBOX_LEVERS_OFF", "").split(",")))
    if off - set(LEVERS):
        raise ValueError(
            f"SANDBOX_LEVERS_OFF: unknown lever(s) {sorted(off - set(LEVERS))}; known: {', '.join(LEVERS)}"
        )
    return off


ACCESS_KEY = re.compile(r"Credential=([^/]+)/")

IN_PROCESS = "X-Sandbox-In-Process"
"""Marks the interpreter's own calls (dispatched in process): held, not refused, in a dark region."""
CREDENTIAL_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")


class Runtimes:
    """Where each region's Lambda functions run (the runtime of that region's sandbox stack)."""

    def __init__(self, default_url: str) -> None:
        self.default_url = default_url
        self.by_region: dict[str, str] = {}

    def url(self, function: str) -> str:
        parts = function.split(":")
        region = parts[3] if function.startswith("arn:") and len(parts) > 3 else None
        return self.by_region.get(region or "", self.default_url)


def forward_to(runtimes: str | Runtimes) -> Invoke:
    """Invoke functions through their region's runtime over HTTP. A task of a dark region
    waits until the region comes back, before and after its call: its execution is frozen."""
    registry = runtimes if isinstance(runtimes, Runtimes) else Runtimes(runtimes)

    def invoke(function: str, payload: Any) -> Any:
        region = function.split(":")[3] if function.startswith("arn:") else None
        if region:
            lights.wait_lit(region)
        try:
            return _invoke(registry.url(function), function, payload)
        finally:
            if region:
                lights.wait_lit(region)

    return invoke


def _invoke(runtime_url: str, function: str, payload: Any) -> Any:
    url = f"{runtime_url}/functions/{urllib.parse.quote(function, safe='')}"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=960) as response:  # Lambda's limit, and then some
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError) as error:
        raise FunctionError("Lambda.ServiceException", f"the sandbox runtime did not answer: {error}") from error
    if "errorType" in answer:
        raise FunctionError(answer["errorType"], answer.get("errorMessage", ""))
    return answer["result"]


def regional(app: Any, runtimes: Runtimes, gate: PriorityGate | None = None) -> Any:
    """The moto application behind the two-region controls: ``/_sandbox/...`` administers
    runtimes, replication and outages; every other request into a dark region is refused (503),
    or held when it is the interpreter's own."""

    def admin(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        answer: dict[str, Any] = {}
        if path == "/_sandbox/runtimes":
            runtimes.by_region[str(body["region"])] = str(body["url"])
        elif path == "/_sandbox/replication":
            if "replicas" in body:
                replication.configure(body["replicas"], float(body.get("lagMs", 0)) / 1000)
            answer = {
                "pending": replication.pending(),
                "applied": replication.applied,
                "discarded": replication.discarded,
            }
        elif path == "/_sandbox/gate":
            answer = gate.figures() if gate is not None else {}
        elif (match := re.fullmatch(r"/_sandbox/regions/([a-z0-9-]+)/(dark|lit)", path)) is not None:
            if match[2] == "dark":
                lights.go_dark(match[1])
            else:
                answer = {"backlog": come_back(match[1])}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"message": "unknown sandbox control"}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/_sandbox/"):
            return admin(environ, start_response)
        match = CREDENTIAL_REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match is not None and lights.is_dark(match[1]):
            if environ.get("HTTP_" + IN_PROCESS.upper().replace("-", "_")):
                lights.wait_lit(match[1])  # the region's own executions: frozen until it is back
            else:
                start_response("503 Service Unavailable", [("Content-Type", "application/x-amz-json-1.0")])
                return [json.dumps({"__type": "ServiceUnavailable", "message": f"{match[1]} is dark"}).encode()]
        return app(environ, start_response)

    return application


class PriorityGate:
    """Lever ``api-gate``: while a priority request (the API's functions') is in flight, and for
    ``linger`` seconds after the last one left (lever ``gate-linger``: an intake's next call is a
    few milliseconds behind its last), every other request, and the interpreter's own calls,
    wait at the door, up to ``max_wait`` seconds each, so the process's interpreter lock goes to
    the request path.

    The sandbox's stand-in for a region where the 202 path does not share a CPU with the sagas.
    The bound keeps a saga's request from waiting out its function's timeout under a long spike;
    requests already inside run on."""

    def __init__(self, max_wait: float = 0.5, linger: float = 0.0) -> None:
        self.max_wait = max_wait
        self.linger = linger
        self._condition = threading.Condition()
        self._in_flight = 0
        self._open_at = 0.0
        """When the linger after the last priority request ends (monotonic)."""
        self.priority_requests = 0
        self.priority_seconds = 0.0
        """Time priority requests spent inside (the request path's share of an intake's time)."""
        self.held = 0
        """Other requests that found a priority request in flight (or lingering) and waited."""
        self.held_seconds = 0.0
        self.waiting = 0

    def _closed_for(self, now: float) -> float | None:
        """None when the gate is open at ``now``; else how long to wait before looking again."""
        if self._in_flight:
            return self.max_wait
        if now < self._open_at:
            return self._open_at - now
        return None

    @contextmanager
    def passage(self, priority: bool) -> Iterator[None]:
        entered = time.monotonic()
        with self._condition:
            if priority:
                self._in_flight += 1
                self.priority_requests += 1
            elif self._closed_for(entered) is not None:
                self.held += 1
                self.waiting += 1
                deadline = entered + self.max_wait
                while (now := time.monotonic()) < deadline and (closed := self._closed_for(now)) is not None:
                    self._condition.wait(min(closed, deadline - now))
                self.waiting -= 1
                self.held_seconds += time.monotonic() - entered
        try:
            yield
        finally:
            if priority:
                with self._condition:
                    self._in_flight -= 1
                    left = time.monotonic()
                    self.priority_seconds += left - entered
                    if not self._in_flight:
                        self._open_at = left + self.linger
                        self._condition.notify_all()

    def figures(self) -> dict[str, Any]:
        with self._condition:
            return {
                "priorityRequests": self.priority_requests,
                "prioritySeconds": round(self.priority_seconds, 3),
                "held": self.held,
                "heldSeconds": round(self.held_seconds, 3),
                "waiting": self.waiting,
            }


def gated(app: Any, gate: PriorityGate, priority_keys: frozenset[str]) -> Any:
    """``app`` behind ``gate``: requests signed with one of ``priority_keys`` go first."""

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/_sandbox/"):
            return app(environ, start_response)  # the controls never wait
        match = ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", ""))
        with gate.passage(match is not None and match[1] in priority_keys):
            return app(environ, start_response)

    return application


def application(
    runtimes: Runtimes, off: frozenset[str], priority_keys: frozenset[str]
) -> tuple[Any, PriorityGate | None]:
    """moto's server application with the sandbox's controls, behind the gate unless lever
    ``api-gate`` is off (or nothing has priority); returns it and the gate."""
    linger = 0.0 if "gate-linger" in off else GATE_LINGER_SECONDS
    gate = None if "api-gate" in off or not priority_keys else PriorityGate(linger=linger)
    app = regional(DomainDispatcherApplication(create_backend_app), runtimes, gate)
    return (app if gate is None else gated(app, gate, priority_keys)), gate


class _Body:
    """A response body as botocore reads it (``raw.stream()``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def dispatch_in_process(app: Any) -> Any:
    """A ``customize`` for the interpreter's clients: send each request to ``app`` directly."""

    def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        url = urllib.parse.urlsplit(request.url)
        body: Any = request.body
        if hasattr(body, "read"):
            body = body.read()
        environ = EnvironBuilder(
            path=url.path,
            query_string=url.query,
            method=request.method,
            headers=[(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()]
            + [(IN_PROCESS, "1")],
            data=body or b"",
            base_url=f"{url.scheme}://{url.netloc}",
        ).get_environ()
        chunks, status, headers = run_wsgi_app(app, environ, buffered=True)
        response_headers = HTTPHeaders()
        for name, value in headers.items():
            response_headers[name] = value
        return AWSResponse(request.url, int(status.split()[0]), response_headers, _Body(b"".join(chunks)))

    def customize(client: BaseClient) -> None:
        # A before-send handler that returns a response answers the request itself.
        client.meta.events.register("before-send", send)  # type: ignore[arg-type]

    return customize


class ReusedRequestThreads:
    """Lever ``request-threads``: werkzeug's threaded server starts a thread for every request
    (it closes every connection, so every request is a connection), and its accept loop spent
    ~16 % of the server's interpreter lock making and starting them under the bench (py-spy
    ``--gil``). A thread that finished its request waits for the next one instead; a new thread
    starts only when none is waiting, so a request never queues behind another (a long poll
    holds its thread, as before). Threads stay, as many as the most requests ever in at once."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._waiting = 0
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()

    def process_request(self, request: Any, client_address: Any) -> None:
        """The server's ``process_request``: hand the connection to a waiting thread, or start one."""
        with self._lock:
            if self._waiting:
                self._waiting -= 1
                self._requests.put((request, client_address))
                return
        threading.Thread(target=self._serve, args=(request, client_address), daemon=True).start()

    def _serve(self, request: Any, client_address: Any) -> None:
        while True:
            self.server.process_request_thread(request, client_address)  # handles and closes it
            with self._lock:
                self._waiting += 1
            request, client_address = self._requests.get()


def http_server(port: int, app: Any, off: frozenset[str]) -> Any:
    """The server's HTTP side: werkzeug's threaded server, its request threads reused unless
    ``request-threads`` is off."""
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    if "request-threads" not in off:
        server.process_request = ReusedRequestThreads(server).process_request  # type: ignore[method-assign]
    return server


def pull_levers(off: frozenset[str], priority_access_keys: frozenset[str]) -> None:
    """This process's settings and moto patches: the levers not ``off``, and the patches that
    are no lever (they make moto behave as AWS does). The application's levers (the gate, the
    in-process calls) are ``application``'s and ``main``'s."""
    sys.setswitchinterval(switch_interval(off))
    if "gc-freeze" not in off:
        freeze_after_full_collections()
    if "quiet-log" not in off:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # an access-log line per request costs CPU
    priority = frozenset() if "api-priority" in off else priority_access_keys
    serialize_dynamodb_requests(priority, item_snapshots="item-snapshots" not in off)
    one_execution_per_name()
    if "parse-cache" not in off:
        cache_asl_parse_trees(programs="program-cache" not in off)
    if "jsonpath-cache" not in off:
        cache_jsonpath_parses()
    if "backend-lookup" not in off:
        cache_backend_lookup()
    if "queue-attributes" not in off:
        read_retention_from_the_queue()
    if "item-json" not in off:
        serialize_items_as_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.aws.server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--runtime-url", required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument(
        "--priority-access-key",
        action="append",
        default=[],
        help="requests signed with it go first (the DynamoDB lock, and the gate: GET /_sandbox/gate)",
    )
    args = parser.parse_args(argv)
    try:
        off = levers_off()
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.WARNING)
    pull_levers(off, frozenset(args.priority_access_key))
    os.environ["MOTO_PORT"] = str(args.port)  # the interpreter's endpoint, for request signing and routing
    runtimes = Runtimes(args.runtime_url)
    app, _ = application(runtimes, off, frozenset(args.priority_access_key))
    route_lambda_invokes(boto3._get_default_session(), forward_to(runtimes))
    reuse_interpreter_clients(customize=None if "in-process" in off else dispatch_in_process(app))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with time_scale(args.time_scale, timeouts=False):
        server = http_server(args.port, app, off)
        threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
        request = urllib.request.Request(
            f"http://127.0.0.1:{args.port}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        print(READY, flush=True)
        stopping.wait()
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
