"""The dashboard's per-step widgets query exactly the metrics the handlers emit.

A CloudWatch metric is known by its namespace, name and its whole set of dimensions: a
widget that names ``Task`` alone finds nothing when Powertools also writes ``service``.
The handler side is the real ``saga_task`` entry point, run in a fresh interpreter with the
environment the program gives the function (Powertools reads it at import).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from components.observability import dashboard_body, task_service
from synth.program import ROOT

EMIT = """
from handlers.toolkit import saga_task
from tests.integration.lambda_events import LambdaContext
saga_task("AuthorizePayment")(lambda order_id: {{"chargeId": "ch-1"}})({{"orderId": "order-1"}}, LambdaContext())
"""


def emitted_metrics(task: str) -> dict[str, dict[str, str]]:
    """Metric name -> its dimensions, from the EMF the task's entry point prints."""
    environment = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": task_service(task),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    out = subprocess.run(
        [sys.executable, "-c", EMIT.format()], capture_output=True, text=True, check=True, env=environment, cwd=ROOT
    )
    found: dict[str, dict[str, str]] = {}
    for line in out.stdout.splitlines():
        blob: dict[str, Any] = json.loads(line) if line.startswith("{") else {}
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            [dimension_names] = directive["Dimensions"]
            for metric in directive["Metrics"]:
                found[metric["Name"]] = {name: blob[name] for name in dimension_names}
    return found


def test_step_latency_widget_names_every_dimension_the_handler_writes() -> None:
    emitted = emitted_metrics("AuthorizePayment")
    body = dashboard_body("us-east-1", "arn:machine", ["AuthorizePayment"], {"AuthorizePayment": "dlq"})
    [latency_widget] = [w for w in body["widgets"] if w["properties"]["title"].startswith("Step latency")]
    [metric] = latency_widget["properties"]["metrics"]
    namespace, name, *pairs = metric
    queried = dict(zip(pairs[::2], pairs[1::2], strict=True))
    assert (namespace, name) == ("OrderSaga", "Latency")
    assert queried == emitted["Latency"]
