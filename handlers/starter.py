"""Saga starter: an SQS batch of ``OrderSubmitted`` events, each to ``StartExecution``.

The execution name is the orderId, so a duplicate event cannot start a second saga:
``ExecutionAlreadyExists`` means it already started, which is success. Anything else
(throttling, a malformed message) fails that record alone; SQS redelivers it, and after
``maxReceiveCount`` tries it rests in the start queue's dead-letter queue.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from handlers import ownership
from handlers.config import setting
from handlers.contract import ORDER_SUBMITTED

logger = Logger()
metrics = Metrics(namespace="OrderSaga")
processor = BatchProcessor(event_type=EventType.SQS)


class SubmittedOrder(BaseModel):
    model_config = ConfigDict(extra="ignore")

    orderId: str = Field(pattern=r"^[A-Za-z0-9-]{1,80}$")
    customerId: str = Field(min_length=1)


class OrderSubmitted(BaseModel):
    """The EventBridge envelope, as the bus rule delivers it into SQS: the start event
    (``START_DETAIL_TYPE``, ``OrderSubmitted`` for the order saga)."""

    model_config = ConfigDict(extra="ignore")

    detail_type: str = Field(alias="detail-type")
    detail: SubmittedOrder


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

    def start(self, record: SQSRecord) -> str:
        event = OrderSubmitted.model_validate_json(record.body)
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
        trace = record.attributes.aws_trace_header
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
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=starter().start, processor=processor, context=context)
