"""Traces without the X-Ray SDK: the order's trace reaches the saga through the starter.

Lambda's active tracing records each invocation and botocore forwards the function's trace
(``_X_AMZN_TRACE_ID``) on every AWS call; the one hop that needs our help is the starter,
whose own trace is the SQS batch's, not the order's. These tests capture the HTTP request
the starter's client would send (no network).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from handlers.starter import Starter, carry_trace_header

ORDER_TRACE = "Root=1-67891233-abcdef012345678912345678;Parent=463ac35c9f6413ad;Sampled=1"
STARTER_TRACE = "Root=1-67891233-000000000000000000000000;Parent=53995c3f42cd8ad8;Sampled=1"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:order"


class _Raw:
    def stream(self, **_: Any) -> Any:
        yield b'{"executionArn": "arn:x", "startDate": 0}'


def sent_headers(client: Any) -> list[dict[str, str]]:
    """Answer every request of ``client`` locally; returns the headers of each one sent."""
    sent: list[dict[str, str]] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        # Prepared headers are bytes on the wire.
        sent.append(
            {key: value.decode() if isinstance(value, bytes) else value for key, value in request.headers.items()}
        )
        return AWSResponse(request.url, 200, HTTPHeaders(), _Raw())

    client.meta.events.register("before-send.sfn.StartExecution", answer)
    return sent


def record(trace: str | None) -> dict[str, Any]:
    """One SQS record, as the starter's event holds it."""
    body = {"detail-type": "OrderSubmitted", "detail": {"orderId": "order-1", "customerId": "cust-1"}}
    attributes = {"ApproximateReceiveCount": "1", **({"AWSTraceHeader": trace} if trace else {})}
    return {"messageId": "m-1", "body": json.dumps(body), "attributes": attributes}


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the Lambda runtime sets for the starter's own invocation: botocore turns it into
    # the X-Amzn-Trace-Id header of every call.
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "order-saga-prod-use1-saga-starter")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", STARTER_TRACE)


def test_saga_starts_on_the_orders_trace_not_the_starters_batch_trace(in_lambda: None) -> None:
    client = carry_trace_header(boto3.client("stepfunctions", region_name="us-east-1"))
    sent = sent_headers(client)
    Starter(client, MACHINE).start(record(ORDER_TRACE))
    assert sent[0]["X-Amzn-Trace-Id"] == ORDER_TRACE


def test_without_the_hook_step_functions_would_see_the_starters_trace(in_lambda: None) -> None:
    # Why carry_trace_header exists: the body's traceHeader loses to botocore's header.
    client = boto3.client("stepfunctions", region_name="us-east-1")
    sent = sent_headers(client)
    Starter(client, MACHINE).start(record(ORDER_TRACE))
    assert sent[0]["X-Amzn-Trace-Id"] == STARTER_TRACE


def test_message_without_a_trace_keeps_the_starters_own(in_lambda: None) -> None:
    client = carry_trace_header(boto3.client("stepfunctions", region_name="us-east-1"))
    sent = sent_headers(client)
    Starter(client, MACHINE).start(record(None))
    assert sent[0]["X-Amzn-Trace-Id"] == STARTER_TRACE
