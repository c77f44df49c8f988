"""The sandbox's speed levers (README, "Sandbox speed"): each is on by default and off with
``SANDBOX_LEVERS_OFF``. No test here measures time: each checks that its lever is pulled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import pytest
from werkzeug.test import Client

from sandbox.aws.server import (
    GATE_LINGER_SECONDS,
    LEVERS,
    SWITCH_INTERVAL_SECONDS,
    PriorityGate,
    ReusedRequestThreads,
    Runtimes,
    application,
    http_server,
    levers_off,
    switch_interval,
)
from sandbox.runtime.functions import FunctionSpec, LambdaRuntime
from sandbox.up import SAGA_NICENESS, behind_the_request_path, provisioned_request_path

API_KEY = "sandbox-api"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def signed(key: str) -> dict[str, str]:
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/20261129/eu-west-3/sqs/aws4_request, "
        "SignedHeaders=host, Signature=0",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def until(condition: Any, what: str) -> None:
    """Wait for a state another thread reaches; a generous bound, never a measurement."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def test_levers_off_reads_the_comma_list_and_names_an_unknown_lever() -> None:
    assert levers_off({}) == frozenset()
    assert levers_off({"SANDBOX_LEVERS_OFF": "api-gate,saga-nice"}) == {"api-gate", "saga-nice"}
    assert {"api-gate", "saga-nice", "api-warm", "gate-linger", "switch-interval"} <= set(LEVERS)
    with pytest.raises(ValueError, match="no-such-lever"):
        levers_off({"SANDBOX_LEVERS_OFF": "no-such-lever"})


# -- api-gate ------------------------------------------------------------------------------------


def test_other_requests_wait_at_the_gate_while_a_priority_request_is_in_flight() -> None:
    gate = PriorityGate(max_wait=600)
    passed = threading.Event()

    def saga_request() -> None:
        with gate.passage(priority=False):
            passed.set()

    with gate.passage(priority=True):
        threading.Thread(target=saga_request, daemon=True).start()
        until(lambda: gate.figures()["waiting"] == 1, "the saga request waits at the gate")
        assert not passed.is_set()
    until(passed.is_set, "the saga request goes in once the priority request is out")
    figures = gate.figures() | {"heldSeconds": 0, "prioritySeconds": 0}
    assert figures == {"priorityRequests": 1, "prioritySeconds": 0, "held": 1, "heldSeconds": 0, "waiting": 0}


def test_a_request_waits_at_most_max_wait_and_none_waits_when_no_priority_request_is_in() -> None:
    gate = PriorityGate(max_wait=0)
    with gate.passage(priority=False):
        pass
    assert gate.figures()["held"] == 0
    with gate.passage(priority=True), gate.passage(priority=False):  # bounded: it goes in anyway
        pass
    assert gate.figures()["held"] == 1


def test_the_gate_stays_shut_for_its_linger_after_the_last_priority_request_left() -> None:
    gate = PriorityGate(max_wait=0, linger=600)
    with gate.passage(priority=True):
        pass
    with gate.passage(priority=False):  # bounded by max_wait 0: it goes in, having been held
        pass
    assert gate.figures()["held"] == 1


def test_the_embedded_aws_puts_requests_through_the_gate_unless_the_lever_is_off() -> None:
    # GIVEN the embedded AWS's application with the levers on
    app, gate = application(Runtimes("http://127.0.0.1:9"), levers_off({}), frozenset({API_KEY}))
    assert gate is not None and gate.linger == GATE_LINGER_SECONDS
    client = Client(app)
    # WHEN the API's functions and a saga send requests
    for key in (API_KEY, "sandbox", API_KEY):
        client.post("/", data="Action=ListQueues", headers=signed(key))
    # THEN the gate counted the priority ones, and serves its figures
    figures = client.post("/_sandbox/gate").json
    assert figures is not None and figures["priorityRequests"] == 2
    # AND with the lever off there is no gate
    _, off = application(
        Runtimes("http://127.0.0.1:9"), levers_off({"SANDBOX_LEVERS_OFF": "api-gate"}), frozenset({API_KEY})
    )
    assert off is None
    _, no_linger = application(
        Runtimes("http://127.0.0.1:9"), levers_off({"SANDBOX_LEVERS_OFF": "gate-linger"}), frozenset({API_KEY})
    )
    assert no_linger is not None and no_linger.linger == 0


def test_the_embedded_aws_switches_threads_more_often_unless_the_lever_is_off() -> None:
    assert switch_interval(levers_off({})) == SWITCH_INTERVAL_SECONDS < sys.getswitchinterval()
    assert switch_interval(levers_off({"SANDBOX_LEVERS_OFF": "switch-interval"})) == sys.getswitchinterval()


# -- saga-nice and api-warm ----------------------------------------------------------------------


def test_warmed_workers_start_as_many_as_asked_and_a_lowered_function_runs_at_the_lower_priority() -> None:
    runtime = LambdaRuntime({"PATH": os.environ.get("PATH", "")}, default_concurrency=1)
    handler = "tests.integration.runtime_handlers.report_niceness"
    for name in ("intake", "saga-step"):
        runtime.deploy(FunctionSpec(name, ARN + name, handler, timeout_seconds=60))
    runtime.allow_workers("intake", 2)
    runtime.lower_priority("saga-step", SAGA_NICENESS)
    try:
        runtime.warm(1, more={ARN + "intake": 5})  # intake's limit is 2
        assert [len(runtime.functions[name]._idle) for name in ("intake", "saga-step")] == [2, 1]
        assert runtime.invoke("saga-step", {}) == os.nice(0) + SAGA_NICENESS
        assert runtime.invoke("intake", {}) == os.nice(0)
    finally:
        runtime.stop()


def specs(*names: str) -> list[FunctionSpec]:
    return [FunctionSpec(name, ARN + name, "handlers.x.handler") for name in names]


def test_every_function_but_the_request_paths_is_lowered_unless_saga_nice_is_off() -> None:
    functions = specs("authorizer", "intake", "AuthorizePayment", "starter", "sweeper")
    request_path = {ARN + "authorizer", ARN + "intake"}
    assert behind_the_request_path(functions, request_path, levers_off({})) == [
        "AuthorizePayment",
        "starter",
        "sweeper",
    ]
    assert behind_the_request_path(functions, request_path, levers_off({"SANDBOX_LEVERS_OFF": "saga-nice"})) == []


def test_the_request_path_is_warmed_to_its_whole_concurrency_unless_api_warm_is_off() -> None:
    request_path = {ARN + "authorizer", ARN + "intake"}
    assert provisioned_request_path(request_path, 6, levers_off({})) == {ARN + "authorizer": 6, ARN + "intake": 6}
    assert provisioned_request_path(request_path, 6, levers_off({"SANDBOX_LEVERS_OFF": "api-warm"})) == {}


PULLED = """
import gc, json, logging, sys
from moto.core import responses
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from sandbox.aws import moto_patches
from sandbox.aws.server import levers_off, pull_levers

targets = [
    (DynamoDBBackend, "transact_write_items"), (AmazonStateLanguageParser, "parse"), (json_path, "parse"),
    (responses, "method_names_from_class"), (SQSBackend, "is_message_valid_based_on_retention_period"),
    (StepFunctionsParserBackend, "start_execution"), (DynamoHandler, "call_action"),
    (DynamoResult, "execute_result"),
]
unpatched = {name: getattr(owner, name) for owner, name in targets}
pull_levers(levers_off(), frozenset({"api-key"}))
patched = {name: getattr(owner, name) is not unpatched[name] for owner, name in targets}
print(json.dumps({
    "patched": patched,
    "switch_interval": sys.getswitchinterval(),
    "frozen": gc.get_freeze_count(),
    "quiet": logging.getLogger("werkzeug").level == logging.WARNING,
    "priority": sorted(moto_patches._priority_access_keys),
}))
"""

PROCESS_LEVERS = (
    "gc-freeze,quiet-log,api-priority,item-snapshots,parse-cache,jsonpath-cache,backend-lookup,"
    "queue-attributes,switch-interval,item-json"
)


def pulled(off: str) -> dict[str, Any]:
    # In a process of its own: the levers patch moto and tune the collector process-wide.
    environment = {**os.environ, "SANDBOX_LEVERS_OFF": off}
    out = subprocess.run([sys.executable, "-c", PULLED], capture_output=True, text=True, check=True, env=environment)
    return dict(json.loads(out.stdout))


def test_the_embedded_aws_pulls_each_of_its_levers_unless_it_is_off_and_always_patches_what_no_lever_owns() -> None:
    on, off = pulled(""), pulled(PROCESS_LEVERS)
    assert all(on["patched"].values()), on["patched"]
    assert on["switch_interval"] == SWITCH_INTERVAL_SECONDS and on["frozen"] > 0 and on["quiet"]
    assert on["priority"] == ["api-key"]
    # every lever off: only what is no lever (one execution per name, one DynamoDB request at a time)
    assert [name for name, done in off["patched"].items() if done] == ["start_execution", "call_action"]
    assert off["switch_interval"] == sys.getswitchinterval() and off["frozen"] == 0 and not off["quiet"]
    assert off["priority"] == []


# -- request-threads -----------------------------------------------------------------------------


def reused_threads(server: Any) -> ReusedRequestThreads | None:
    owner = getattr(server.process_request, "__self__", None)
    return owner if isinstance(owner, ReusedRequestThreads) else None


def test_a_request_thread_serves_the_next_request_and_a_busy_one_never_holds_a_request_back() -> None:
    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/hold":
            release.wait(60)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(threading.get_ident()).encode()]

    server = http_server(0, app, levers_off({}))
    threads = reused_threads(server)
    assert threads is not None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"

    def get(path: str) -> bytes:
        with urllib.request.urlopen(url + path, timeout=60) as response:
            return bytes(response.read())

    try:
        first = get("/")
        until(lambda: threads._waiting == 1, "the thread waits for the next request")
        assert get("/") == first  # the same thread, reused
        until(lambda: threads._waiting == 1, "the thread waits again")
        held: list[bytes] = []
        holder = threading.Thread(target=lambda: held.append(get("/hold")))
        holder.start()
        until(lambda: threads._waiting == 0, "the waiting thread took the held request")
        assert get("/") != first  # a new thread: the busy one holds nothing back
        release.set()
        holder.join(60)
        assert held == [first]
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_request_threads_off_leaves_werkzeug_a_thread_per_request() -> None:
    server = http_server(0, lambda environ, start_response: [], levers_off({"SANDBOX_LEVERS_OFF": "request-threads"}))
    server.server_close()
    assert reused_threads(server) is None
