"""Sweeper: on a schedule, start a saga for every accepted order that has none.

The logic is ``handlers.reconcile`` (the same code ``python -m ops reconcile`` runs). Metrics
in namespace ``OrderSaga``: ``OrdersReconciled`` (sagas it had to start: each one is a fault
upstream, so an alarm fires on any) and ``OrdersNeedingOperator`` (halted executions,
start messages without an order: listed in the log).
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers import ownership
from handlers.config import setting
from handlers.contract import ORDER_SUBMITTED, ORDER_SUBMITTED_SOURCE
from handlers.reconcile import Reconciler

logger = Logger()
metrics = Metrics(namespace="OrderSaga")
# No Powertools Tracer: it loads the X-Ray SDK at construction (README, Cold start); Lambda's
# active tracing records the invocation, and botocore carries the trace on every AWS call.

DEFAULT_MIN_AGE_SECONDS = "900"
"""Younger PENDING orders may still be on their way through the start queue."""


@lru_cache(maxsize=1)
def reconciler() -> Reconciler:
    return Reconciler(
        orders_table=boto3.resource("dynamodb").Table(setting("ORDERS_TABLE")),
        stepfunctions=boto3.client("stepfunctions"),
        events=boto3.client("events"),
        sqs=boto3.client("sqs"),
        state_machine_arn=setting("STATE_MACHINE_ARN"),
        event_bus=setting("EVENT_BUS"),
        start_dead_letter_queue_url=setting("START_DLQ_URL"),
        region=ownership.from_environment(),
        start_event=(setting("START_SOURCE", ORDER_SUBMITTED_SOURCE), setting("START_DETAIL_TYPE", ORDER_SUBMITTED)),
    )


def sweep(sweeper: Reconciler, min_age: timedelta) -> dict[str, Any]:
    try:
        result = sweeper.run(min_age)
    except ownership.RegionStandsDown as passive:  # a standby sweeps nothing until promoted
        logger.info("region is passive: nothing swept", extra={"reason": str(passive)})
        return {"passive": True}
    metrics.add_metric(name="OrdersReconciled", unit=MetricUnit.Count, value=len(result.fixed))
    metrics.add_metric(name="OrdersNeedingOperator", unit=MetricUnit.Count, value=len(result.needs_a_human))
    for finding in result.fixed:
        logger.warning("order had no saga: started it", extra={"finding": finding.__dict__})
    for finding in result.needs_a_human:
        logger.error("order needs an operator", extra={"finding": finding.__dict__})
    return result.as_dict()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An EventBridge scheduled event; its content does not matter."""
    return sweep(reconciler(), timedelta(seconds=int(setting("MIN_AGE_SECONDS", DEFAULT_MIN_AGE_SECONDS))))
