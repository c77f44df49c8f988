"""Saga starter: an SQS batch of ``OrderSubmitted`` events, each to ``StartExecution``.

The execution name is the orderId, so a duplicate event cannot start a second saga:
``ExecutionAlreadyExists`` means it already started, which is success. Anything else
(throttling, a malformed message) fails that record alone; SQS redelivers it, and after
``maxReceiveCount`` tries it rests in the start queue's dead-letter queue.

The batch loop and the envelope are ours, not Powertools' ``BatchProcessor`` and a pydantic
model: those two imports (the batch utility loads every event data class and asyncio) were
about 0.4x a bare boto3 import on this function's cold start (README, Cold start). The
contract is the same: each failed record is reported in ``batchItemFailures``, and a batch
whose every record failed raises, as Powertools' ``process_partial_response`` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any

import boto3
import msgspec
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from handlers import ownership
from handlers.config import setting
from handlers.contract import ORDER_SUBMITTED

logger = Logger()
metrics = Metrics(namespace="OrderSaga")

# \Z, not $: Python's $ also matches before a trailing newline.
ExecutionName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,80}\Z")]


class SubmittedOrder(msgspec.Struct):
    """The event's detail; other fields are ignored."""

    orderId: ExecutionName
    customerId: Annotated[str, msgspec.Meta(min_length=1)]


class OrderSubmitted(msgspec.Struct, rename={"detail_type": "detail-type"}):
    """The EventBridge envelope, as the bus rule delivers it into SQS: the start event
    (``START_DETAIL_TYPE``, ``OrderSubmitted`` for the order saga); other fields are ignored."""

    detail_type: str
    detail: SubmittedOrder


START_EVENT = msgspec.json.Decoder(OrderSubmitted)
"""A record's body to its envelope; ``msgspec.DecodeError`` (or its subclass
``ValidationError``) when it is not one."""


class BatchFailed(Exception):
    """Every record of the batch failed: the invocation fails, and SQS redelivers them all."""


class Starter:
    def __init__(
        self,
        stepfunctions: Any,
        state_machine_arn: str,
        region: ownership.RegionControl | None = None,
        detail_type: str = ORDER_SUBMITTED,
    ) -> None:
        """``region``: this region's ``ownership.RegionControl`` (None: always active);
        ``detail_type``: the event that starts this saga."""
        self.stepfunctions = stepfunctions
        self.state_machine_arn = state_machine_arn
        self.region = region
        self.detail_type = detail_type

    def start(self, record: Mapping[str, Any]) -> str:
        """Start the saga of one SQS record (as the Lambda event holds it); raises when it
        must be redelivered."""
        event = START_EVENT.decode(record["body"])
        if event.detail_type != self.detail_type:
            raise ValueError(
                f"a {event.detail_type!r} event cannot start this saga (it starts on {self.detail_type!r})"
            )
        order = event.detail
        logger.set_correlation_id(order.orderId)
        extra = self.region.startable(order.orderId) if self.region is not None else {}
        if extra is None:
            # A passive standby starts nothing: the primary runs this order. Nor does a promoted
            # one start an order it does not own (an event the primary forwarded before it was
            # lost): reconcile adopts it. The event stays in the bus's archive and the order in
            # the replicated table; the message is done with.
            metrics.add_metric(name="PassiveSkips", unit=MetricUnit.Count, value=1)
            return "not this region's: not started"
        arguments = {
            "stateMachineArn": self.state_machine_arn,
            "name": order.orderId,
            # An adopted order says so: its saga then compensates every step on a failure.
            "input": json.dumps({"orderId": order.orderId, "customerId": order.customerId, **extra}),
        }
        # The order's trace (API -> intake -> bus -> queue) arrives as the message's
        # AWSTraceHeader: the saga joins it instead of the starter's own batch trace.
        trace = (record.get("attributes") or {}).get("AWSTraceHeader")
        if trace:
            arguments["traceHeader"] = trace
        try:
            self.stepfunctions.start_execution(**arguments)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            metrics.add_metric(name="DuplicateStarts", unit=MetricUnit.Count, value=1)
            return "already started"
        metrics.add_metric(name="SagasStarted", unit=MetricUnit.Count, value=1)
        return "started"


def carry_trace_header(stepfunctions: Any) -> Any:
    """Make ``StartExecution``'s ``traceHeader`` win on ``stepfunctions``.

    In Lambda, botocore sends the function's own trace (``_X_AMZN_TRACE_ID``) as the
    ``X-Amzn-Trace-Id`` HTTP header of every call, and Step Functions prefers that header to
    the ``traceHeader`` in the body, so the body alone would not move the saga onto the
    order's trace."""

    def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if params.get("traceHeader"):
            context["order_trace_header"] = params["traceHeader"]

    def send(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("order_trace_header"):
            params["headers"]["X-Amzn-Trace-Id"] = context["order_trace_header"]

    stepfunctions.meta.events.register("before-parameter-build.sfn.StartExecution", keep)
    stepfunctions.meta.events.register("before-call.sfn.StartExecution", send)
    return stepfunctions


@lru_cache(maxsize=1)
def starter() -> Starter:
    return Starter(
        carry_trace_header(boto3.client("stepfunctions")),
        setting("STATE_MACHINE_ARN"),
        ownership.from_environment(),
        setting("START_DETAIL_TYPE", ORDER_SUBMITTED),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    """SQS partial batch response: the records to redeliver."""
    records = event["Records"]
    failures = []
    for record in records:
        try:
            starter().start(record)
        except Exception:  # this record alone goes back to the queue (then its DLQ)
            logger.exception("record failed", extra={"messageId": record["messageId"]})
            failures.append({"itemIdentifier": record["messageId"]})
    if records and len(failures) == len(records):
        raise BatchFailed(f"all {len(records)} records failed")
    return {"batchItemFailures": failures}
