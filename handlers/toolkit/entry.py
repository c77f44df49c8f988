"""What every saga step and compensator Lambda shares: input, logs, metrics (traces are Lambda's own).

Step Functions sends the whole saga document (components/saga/compiler.py); a task needs
only ``orderId`` from it, and reads the rest from the saga's table. The document is the state
machine's, not a client's: the check is of its shape, without a validation library to load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers import ownership
from handlers.toolkit.work_items import first_read

logger = Logger()
metrics = Metrics(namespace="OrderSaga")

TaskResult = dict[str, Any]
LambdaEntry = Callable[[dict[str, Any], LambdaContext], TaskResult]


class BadTaskInput(ValueError):
    """The saga document has no usable ``orderId``: a bug in the state machine, not load."""


def order_id_of(event: dict[str, Any]) -> str:
    """The part of the saga document a task reads; the rest passes through untouched."""
    order_id = event.get("orderId") if isinstance(event, dict) else None
    if not isinstance(order_id, str) or not 1 <= len(order_id) <= 80:
        raise BadTaskInput(f"orderId must be a string of 1 to 80 characters, not {order_id!r}")
    return order_id


def saga_task(task: str, *, compensation: bool = False) -> Callable[[Callable[[str], TaskResult]], LambdaEntry]:
    """Turn ``work(order_id) -> result`` into the Lambda entry point of saga task ``task``."""

    def wrap(work: Callable[[str], TaskResult]) -> LambdaEntry:
        @wraps(work)
        def run(event: dict[str, Any], context: LambdaContext) -> TaskResult:
            logger.append_keys(task=task)
            metrics.add_dimension("Task", task)
            started = time.perf_counter()
            try:
                order_id = order_id_of(event)
                logger.set_correlation_id(order_id)
                # Before any effect: a passive region, or one that no longer owns the order, stands down.
                guard = ownership.from_environment()
                if guard is None:
                    result = work(order_id)
                else:
                    with first_read(guard.table.name, order_id, guard.check_task(order_id)):
                        result = work(order_id)
            except Exception as error:
                metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
                metrics.add_metadata(key="error", value=type(error).__name__)
                logger.warning("task failed", extra={"error": type(error).__name__})
                raise
            finally:
                elapsed_ms = (time.perf_counter() - started) * 1000
                metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
            metrics.add_metric(name="Succeeded", unit=MetricUnit.Count, value=1)
            if compensation:
                metrics.add_metric(name="Compensations", unit=MetricUnit.Count, value=1)
            logger.info("task done", extra={"result": result})
            return result

        # No Powertools Tracer: Lambda's active tracing records the invocation, and its X-Ray
        # SDK would cost more cold start than the rest of the module (README, Cold start).
        entry = metrics.log_metrics(run)
        return logger.inject_lambda_context(entry)

    return wrap
