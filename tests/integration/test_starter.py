"""The saga starter: OrderSubmitted events from the start queue become one execution each."""

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from handlers import starter as starter_module
from handlers.ownership import RegionControl
from handlers.starter import Starter
from tests.integration.lambda_events import LambdaContext, sqs_event
from tests.integration.stores import Stores

PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def submitted(order_id: str, customer_id: str = "cust-1") -> str:
    """The body SQS holds after the bus rule delivered an intake event."""
    return json.dumps(
        {
            "version": "0",
            "id": f"evt-{order_id}",
            "detail-type": "OrderSubmitted",
            "source": "order-saga.intake",
            "account": "123456789012",
            "time": "2026-11-29T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {"orderId": order_id, "customerId": customer_id},
        }
    )


@pytest.fixture
def machine(aws: None, request: pytest.FixtureRequest) -> str:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    name = f"starter-{abs(hash(request.node.name))}"
    return str(
        sfn.create_state_machine(name=name, definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/sfn")[
            "stateMachineArn"
        ]
    )


Run = Callable[[Starter, list[str]], list[str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Run:
    """Invoke the handler's entry point on one batch, with ``starter`` behind it; returns the
    message ids SQS must redeliver."""

    def invoke(starter: Starter, bodies: list[str]) -> list[str]:
        monkeypatch.setattr(starter_module, "starter", lambda: starter)
        response = starter_module.lambda_handler(sqs_event(bodies), LambdaContext())
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    return invoke


def executions(machine: str) -> list[str]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return sorted(e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"])


def test_each_order_starts_one_execution_named_after_it(run: Run, machine: str) -> None:
    starter = Starter(boto3.client("stepfunctions", region_name="us-east-1"), machine)
    assert run(starter, [submitted("o-1"), submitted("o-2"), submitted("o-3")]) == []
    assert executions(machine) == ["o-1", "o-2", "o-3"]


def test_duplicate_event_is_success_and_starts_nothing_more(run: Run, machine: str) -> None:
    starter = Starter(boto3.client("stepfunctions", region_name="us-east-1"), machine)
    assert run(starter, [submitted("o-1")]) == []
    assert run(starter, [submitted("o-1"), submitted("o-1")]) == []
    assert executions(machine) == ["o-1"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"detail-type": "OrderSubmitted", "detail": {}}),
        submitted("bad id with spaces"),
        submitted("o-9\n"),
        json.dumps({"detail-type": "OrderCancelled", "detail": {"orderId": "o-9"}}),
        json.dumps({"detail-type": "OrderSubmitted", "detail": {"orderId": "o-9", "customerId": 7}}),
    ],
    ids=[
        "not json",
        "no orderId",
        "orderId not a valid execution name",
        "orderId with a trailing newline",
        "another event type",
        "customerId not a string",
    ],
)
def test_malformed_message_fails_alone_and_is_kept_for_redelivery(run: Run, machine: str, body: str) -> None:
    starter = Starter(boto3.client("stepfunctions", region_name="us-east-1"), machine)
    assert run(starter, [submitted("o-1"), body, submitted("o-2")]) == ["msg-1"]
    assert executions(machine) == ["o-1", "o-2"]


def test_a_batch_whose_every_record_fails_fails_the_invocation(run: Run, machine: str) -> None:
    # As Powertools' process_partial_response does: the invocation errors (and is alarmed on),
    # and SQS redelivers the whole batch.
    starter = Starter(boto3.client("stepfunctions", region_name="us-east-1"), machine)
    with pytest.raises(starter_module.BatchFailed):
        run(starter, ["not json", submitted("bad id")])
    assert executions(machine) == []


def test_throttled_start_is_a_partial_batch_failure(run: Run, machine: str) -> None:
    # GIVEN Step Functions throttles the second StartExecution of the batch
    client = boto3.client("stepfunctions", region_name="us-east-1")
    calls = {"n": 0}

    def throttle_second(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")

    client.meta.events.register("before-call.sfn.StartExecution", throttle_second)
    # WHEN the batch is processed
    failed = run(Starter(client, machine), [submitted("o-1"), submitted("o-2"), submitted("o-3")])
    # THEN only the throttled record goes back to the queue, and its redelivery starts it
    assert failed == ["msg-1"]
    assert executions(machine) == ["o-1", "o-3"]
    assert run(Starter(client, machine), [submitted("o-2")]) == []
    assert executions(machine) == ["o-1", "o-2", "o-3"]


def test_passive_standby_starts_nothing_and_lets_the_forwarded_event_go(run: Run, machine: str, stores: Stores) -> None:
    # GIVEN a standby region that was never promoted, and an order the primary owns (replicated)
    stores.orders.put_item(Item={"orderId": "o-1", "status": "PENDING", "ownerRegion": "us-east-1"})
    standby = RegionControl(stores.orders, "us-west-2", "standby", cache_seconds=0)
    starter = Starter(boto3.client("stepfunctions", region_name="us-east-1"), machine, standby)
    # WHEN the forwarded OrderSubmitted reaches its starter
    failed = run(starter, [submitted("o-1")])
    # THEN no saga starts, and the message is done with (not redelivered, not dead-lettered)
    assert failed == []
    assert executions(machine) == []
    # AND once promoted, it still starts none for an order the primary owns, or one not replicated
    standby.promote(0)
    assert run(starter, [submitted("o-1"), submitted("o-2")]) == []
    assert executions(machine) == []
    # AND once reconcile claimed it for the standby, the event starts exactly one saga, told
    # that the order is adopted (a failure then compensates every step)
    assert standby.claim("o-1")
    assert run(starter, [submitted("o-1"), submitted("o-1")]) == []
    assert executions(machine) == ["o-1"]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    started = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started == {"orderId": "o-1", "customerId": "cust-1", "adopted": True}
