"""Run state machines in moto's ASL interpreter with our own Lambda runtime and clock.

moto executes ASL when ``execute_state_machine`` is on, but its Lambda needs Docker, and
retry waits and state timeouts run in real time. Three seams fix that without touching the
deployed definition:

- ``route_lambda_invokes`` answers every ``lambda.Invoke`` made through a boto3 session
  (the interpreter uses the default session of its own process) with a Python callable;
- ``time_scale`` scales the interpreter's retry sleeps and task timeouts;
- ``reuse_interpreter_clients`` stops it building a boto3 client for every task it runs.
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.compat import HTTPHeaders
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_dynamodb,
    state_task_service_events,
    state_task_service_sqs,
)
from moto.stepfunctions.parser.asl.utils import boto_client

from sandbox.runtime.errors import FunctionError

Invoke = Callable[[str, Any], Any]
"""``invoke(function_name_or_arn, payload) -> result``; raise ``FunctionError`` to fail."""


def route_lambda_invokes(session: boto3.Session, invoke: Invoke) -> Callable[[], None]:
    """Answer ``lambda.Invoke`` calls made through ``session``; returns the undo function."""

    def before_call(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # url_path is /2015-03-31/functions/<quoted name or ARN>/invocations
        function = urllib.parse.unquote(params["url_path"].split("/")[3])
        payload = json.loads(params["body"] or b"null")
        parsed: dict[str, Any] = {"StatusCode": 200, "ResponseMetadata": {"HTTPStatusCode": 200}}
        try:
            result = invoke(function, payload)
        except FunctionError as error:
            parsed["FunctionError"] = "Unhandled"
            result = {"errorType": error.error_type, "errorMessage": error.message}
        parsed["Payload"] = io.BytesIO(json.dumps(result).encode())
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), parsed

    # botocore's stubs type handlers as returning None; a before-call handler may return
    # (http_response, parsed) to answer the call itself.
    session.events.register("before-call.lambda.Invoke", before_call)  # type: ignore[arg-type]
    return lambda: session.events.unregister("before-call.lambda.Invoke", before_call)  # type: ignore[arg-type]


class _ScaledEvent(threading.Event):
    factor = 1.0

    def wait(self, timeout: float | None = None) -> bool:
        return super().wait(None if timeout is None else timeout * self.factor)


class _ScaledThreading:
    """The ``threading`` module as execute_state sees it, with task timeouts scaled."""

    def __init__(self, factor: float) -> None:
        self.Event = type("ScaledEvent", (_ScaledEvent,), {"factor": factor})

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class _ScaledClock:
    """The ``time`` module as the retrier sees it: sleeps are recorded, then scaled."""

    def __init__(self, factor: float, requested: list[float]) -> None:
        self.factor = factor
        self.requested = requested

    def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        time.sleep(seconds * self.factor)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextmanager
def time_scale(factor: float, *, timeouts: bool = True) -> Iterator[list[float]]:
    """Run retry waits (and, with ``timeouts``, task timeouts) at ``factor`` x real time.

    Tests scale both, to reach a timeout without waiting for it. The sandbox scales only the
    waits: a timeout guards real work (a cold start, a slow partner) that runs in real time.
    Yields the list of retry waits the definition asked for, unscaled, in order.
    """
    if factor <= 0:
        raise ValueError("time scale must be > 0")
    requested: list[float] = []
    patches: list[tuple[Any, str, Any]] = [(retrier_decl, "time", _ScaledClock(factor, requested))]
    if timeouts:
        patches.append((execute_state, "threading", _ScaledThreading(factor)))
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, replacement in patches:
        setattr(module, name, replacement)
    try:
        yield requested
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


# The modules of the task types our sagas use, each holding its own reference.
_CLIENT_USERS = (
    lambda_eval_utils,
    state_task_service_dynamodb,
    state_task_service_events,
    state_task_service_sqs,
)


def reuse_interpreter_clients() -> Callable[[], None]:
    """Make the interpreter reuse one boto3 client per (region, service) instead of building one
    per task (tens of milliseconds of CPU each, a saga's largest cost in the sandbox). Clients
    are thread-safe; they copy the session's event hooks when built, so route Lambda invokes
    first. Returns the undo function."""
    original = boto_client.boto_client_for
    cache: dict[tuple[str, str], BaseClient] = {}
    lock = threading.Lock()

    def cached(region: str, service: str, state_credentials: Any = None) -> BaseClient:
        with lock:
            if (region, service) not in cache:
                cache[(region, service)] = original(region=region, service=service, state_credentials=state_credentials)
            return cache[(region, service)]

    for module in _CLIENT_USERS:
        module.boto_client_for = cached  # type: ignore[attr-defined]

    def undo() -> None:
        for module in _CLIENT_USERS:
            module.boto_client_for = original  # type: ignore[attr-defined]

    return undo
