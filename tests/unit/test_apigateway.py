"""The API Gateway emulation over the real sandbox graph, with a stand-in runtime: the answers
API Gateway gives before and around an integration."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, cast

import pytest

from sandbox.apigateway import RestApi
from sandbox.runtime.functions import LambdaRuntime
from sandbox.seed import EXAMPLE_ORDER
from synth.graph import Graph
from synth.program import run_synth


class StandInRuntime:
    """Allows every token; the intake answers after ``delay`` seconds (or when released)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.usage_key = ""

    def invoke(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("type") == "TOKEN":
            statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["*"]}
            return {
                "principalId": "cust-1",
                "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                "context": {"customerId": "cust-1"},
                "usageIdentifierKey": self.usage_key,
            }
        self.release.wait(5)
        return {"statusCode": 202, "headers": {}, "body": json.dumps({"orderId": "o-1"})}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return run_synth("sandbox", out=Path(tmp_path_factory.mktemp("graph")) / "sandbox.json")


def api_with(graph: Graph, runtime: StandInRuntime, timeout: float) -> RestApi:
    api = RestApi(graph, cast(LambdaRuntime, runtime), "us-east-1", integration_timeout=timeout)
    runtime.usage_key = max(api.plans, key=lambda key: api.plans[key].bucket.capacity)  # not the throttled one
    return api


def post_order(api: RestApi, body: str) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": "Bearer t", "Idempotency-Key": "k-1", "Content-Type": "application/json"}
    status, _, payload = api.handle("POST", f"/{api.stage}/orders", headers, body)
    return status, json.loads(payload)


def test_an_integration_slower_than_the_timeout_gets_504_and_the_next_request_is_served(graph: Graph) -> None:
    runtime = StandInRuntime()
    api = api_with(graph, runtime, timeout=0.2)
    assert post_order(api, json.dumps(EXAMPLE_ORDER)) == (504, {"message": "Endpoint request timed out"})
    runtime.release.set()
    assert post_order(api, json.dumps(EXAMPLE_ORDER))[0] == 202


def test_a_body_nested_too_deep_to_parse_is_a_400(graph: Graph) -> None:
    runtime = StandInRuntime()
    runtime.release.set()
    api = api_with(graph, runtime, timeout=5)
    deep = '{"items": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert post_order(api, deep) == (400, {"message": "Invalid request body"})
    assert post_order(api, json.dumps(EXAMPLE_ORDER))[0] == 202
