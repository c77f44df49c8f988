"""The reconcile logic and the sweeper's entry point on moto: a bus whose rule feeds the start
queue, the start queue's dead-letter queue, and a state machine whose executions run, wait
or halt as their input says."""

from __future__ import annotations

import importlib
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from handlers import sweeper
from handlers.ownership import RegionControl, RegionStandsDown
from handlers.reconcile import (
    ADOPTED,
    HALTED,
    NO_ORDER,
    RAN_HERE_BEFORE,
    RESTARTED,
    RUNNING,
    SETTLED_ALREADY,
    UNREADABLE,
    WOULD_ADOPT,
    WOULD_RESTART,
    Reconciler,
)
from tests.integration.lambda_events import LambdaContext
from tests.integration.stores import Stores

_serial = itertools.count()
MINUTES_15 = timedelta(minutes=15)
# Executions named after orders: "halt" fails as the compiled saga's Halted state does.
MACHINE = {
    "StartAt": "Outcome",
    "States": {
        "Outcome": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.outcome", "StringEquals": "halt", "Next": "Halted"}],
            "Default": "Wait",
        },
        "Wait": {"Type": "Wait", "Seconds": 600, "End": True},
        "Halted": {"Type": "Fail", "Error": "SagaHalted", "Cause": "a status write failed"},
    },
}


@dataclass
class Region:
    stores: Stores
    reconciler: Reconciler
    start_queue: str
    start_dlq: str
    machine: str
    bus: str

    def order(self, order_id: str, *, status: str = "PENDING", age: timedelta = timedelta(hours=1)) -> None:
        created = (datetime.now(UTC) - age).isoformat(timespec="milliseconds")
        self.stores.orders.put_item(
            Item={"orderId": order_id, "customerId": "cust-1", "status": status, "createdAt": created}
        )

    def dead_letter(self, body: Any) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        boto3.client("sqs").send_message(QueueUrl=self.start_dlq, MessageBody=text)

    def started(self) -> list[str]:
        """Order ids of the OrderSubmitted events the rule delivered to the start queue."""
        messages = boto3.client("sqs").receive_message(QueueUrl=self.start_queue, MaxNumberOfMessages=10)
        return sorted(json.loads(m["Body"])["detail"]["orderId"] for m in messages.get("Messages", []))

    def dead_letters(self) -> int:
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=self.start_dlq,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def execute(self, order_id: str, outcome: str) -> None:
        boto3.client("stepfunctions").start_execution(
            stateMachineArn=self.machine, name=order_id, input=json.dumps({"outcome": outcome})
        )


@pytest.fixture
def region(aws: None) -> Region:
    n = next(_serial)
    sqs, events, sfn = boto3.client("sqs"), boto3.client("events"), boto3.client("stepfunctions")
    dlq = sqs.create_queue(QueueName=f"start-dlq-{n}")["QueueUrl"]
    queue = sqs.create_queue(QueueName=f"start-{n}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = events.create_event_bus(Name=f"orders-{n}")["EventBusArn"].rsplit("/", 1)[-1]
    pattern = {"source": ["order-saga.intake"], "detail-type": ["OrderSubmitted"]}
    events.put_rule(Name=f"submitted-{n}", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=f"submitted-{n}", EventBusName=bus, Targets=[{"Id": "start", "Arn": queue_arn}])
    machine = sfn.create_state_machine(
        name=f"sweeper-order-{n}", definition=json.dumps(MACHINE), roleArn="arn:aws:iam::123456789012:role/saga"
    )["stateMachineArn"]
    stores = Stores.create()
    reconciler = Reconciler(
        orders_table=stores.orders,
        stepfunctions=sfn,
        events=events,
        sqs=sqs,
        state_machine_arn=machine,
        event_bus=bus,
        start_dead_letter_queue_url=dlq,
    )
    return Region(stores, reconciler, queue, dlq, machine, bus)


def actions(result: Any) -> dict[str, str]:
    return {finding.order_id: finding.action for finding in result.findings}


def test_old_pending_order_without_a_saga_is_started_through_the_bus_and_a_young_one_is_left(
    region: Region,
) -> None:
    region.order("old", age=timedelta(hours=1))
    region.order("young", age=timedelta(minutes=1))
    result = region.reconciler.run(MINUTES_15)
    assert actions(result) == {"old": RESTARTED}
    assert region.started() == ["old"]
    assert [f.order_id for f in result.fixed] == ["old"] and result.needs_a_human == []


def test_start_dead_letter_is_started_whatever_its_age_and_then_deleted(region: Region) -> None:
    region.order("stuck", age=timedelta(seconds=5))
    region.dead_letter({"detail-type": "OrderSubmitted", "detail": {"orderId": "stuck", "customerId": "cust-1"}})
    result = region.reconciler.run(MINUTES_15)
    assert [(f.order_id, f.action, f.source) for f in result.findings] == [("stuck", RESTARTED, "start-dlq")]
    assert region.started() == ["stuck"]
    assert region.dead_letters() == 0


def test_running_halted_and_settled_orders_are_not_started_again(region: Region) -> None:
    region.order("running")
    region.execute("running", "wait")
    region.order("halted")
    region.execute("halted", "halt")
    region.order("confirmed", status="CONFIRMED")
    region.dead_letter({"detail-type": "OrderSubmitted", "detail": {"orderId": "confirmed", "customerId": "cust-1"}})
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while boto3.client("stepfunctions").describe_execution(executionArn=_arn(region, "halted"))["status"] != "FAILED":
        assert datetime.now(UTC) < deadline, "the halting execution did not fail"
    result = region.reconciler.run(MINUTES_15)
    assert actions(result) == {"running": RUNNING, "halted": HALTED, "confirmed": SETTLED_ALREADY}
    assert "python -m ops redrive halted" in next(f.detail for f in result.findings if f.order_id == "halted")
    assert [f.order_id for f in result.needs_a_human] == ["halted"]
    assert region.started() == []
    assert region.dead_letters() == 0  # the stale start message of a settled order is gone


def test_start_messages_without_an_order_or_unreadable_are_kept_for_a_human(region: Region) -> None:
    region.dead_letter({"detail-type": "OrderSubmitted", "detail": {"orderId": "ghost", "customerId": "cust-1"}})
    region.dead_letter("not json")
    result = region.reconciler.run(MINUTES_15)
    assert sorted(f.action for f in result.findings) == sorted([NO_ORDER, UNREADABLE])
    assert len(result.needs_a_human) == 2 and region.started() == []
    assert region.dead_letters() == 2


def test_dry_run_changes_nothing(region: Region) -> None:
    region.order("old")
    region.order("stuck", age=timedelta(seconds=5))
    region.dead_letter({"detail-type": "OrderSubmitted", "detail": {"orderId": "stuck", "customerId": "cust-1"}})
    result = region.reconciler.run(MINUTES_15, dry_run=True)
    assert actions(result) == {"old": WOULD_RESTART, "stuck": WOULD_RESTART}
    assert region.started() == [] and region.dead_letters() == 1


def test_sweeper_entry_point_reports_what_it_fixed_as_a_metric(
    region: Region, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the sweeper's environment, as the program sets it
    for name, value in {
        "ORDERS_TABLE": region.stores.orders.name,
        "STATE_MACHINE_ARN": region.machine,
        "EVENT_BUS": region.bus,
        "START_DLQ_URL": region.start_dlq,
        "MIN_AGE_SECONDS": "900",
        "POWERTOOLS_SERVICE_NAME": "order-saga-sweeper",
    }.items():
        monkeypatch.setenv(name, value)
    entry = importlib.reload(sweeper)  # imported as Lambda does: with its environment set
    region.order("old")
    region.order("young", age=timedelta(minutes=1))
    # WHEN the schedule fires
    answer = entry.lambda_handler({"detail-type": "Scheduled Event", "source": "aws.events"}, LambdaContext())
    # THEN it started the old order only, and said so in its metrics
    assert (answer["fixed"], answer["needsAHuman"]) == (1, 0)
    assert region.started() == ["old"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [metrics] = emf
    assert (metrics["OrdersReconciled"], metrics["OrdersNeedingOperator"]) == ([1.0], [0.0])
    assert metrics["service"] == "order-saga-sweeper"  # the dimension the sweeper's alarm watches
    entry.reconciler.cache_clear()


def _arn(region: Region, order_id: str) -> str:
    return region.machine.replace(":stateMachine:", ":execution:") + f":{order_id}"


# -- after a failover: the promoted region adopts what the lost one left -------------------------


def owned(region: Region, order_id: str, owner: str, status: str = "PENDING") -> None:
    created = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="milliseconds")
    region.stores.orders.put_item(
        Item={"orderId": order_id, "customerId": "cust-1", "status": status, "createdAt": created, "ownerRegion": owner}
    )


def test_promoted_standby_adopts_pending_and_parked_orders_of_the_lost_region(region: Region) -> None:
    # GIVEN the standby's replica holds what the lost primary owned: pending, parked, settled
    standby = RegionControl(region.stores.orders, "us-west-2", "standby", cache_seconds=0)
    region.reconciler.region = standby
    owned(region, "pending", "us-east-1")
    owned(region, "parked", "us-east-1", status="NEEDS_REVIEW")
    owned(region, "done", "us-east-1", status="CONFIRMED")
    owned(region, "local-parked", "us-west-2", status="NEEDS_REVIEW")
    # WHEN still passive, reconcile refuses and changes nothing
    with pytest.raises(RegionStandsDown):
        region.reconciler.run(timedelta(0))
    assert region.started() == []
    # AND once promoted, a dry run says what it would do
    standby.promote(0)
    assert actions(region.reconciler.run(timedelta(0), dry_run=True)) == {
        "pending": WOULD_ADOPT,
        "parked": WOULD_ADOPT,
    }
    # WHEN reconcile runs
    result = region.reconciler.run(timedelta(0))
    # THEN both unsettled orders are claimed for the standby and started through its bus
    assert actions(result) == {"pending": ADOPTED, "parked": ADOPTED}
    assert region.started() == ["parked", "pending"]
    owners = {o: region.stores.orders.get_item(Key={"orderId": o})["Item"]["ownerRegion"] for o in ("pending", "done")}
    assert owners == {"pending": "us-west-2", "done": "us-east-1"}


def test_an_order_this_region_already_ran_is_left_to_a_human(region: Region) -> None:
    standby = RegionControl(region.stores.orders, "us-west-2", "standby", cache_seconds=0)
    standby.promote(0)
    region.reconciler.region = standby
    owned(region, "twice", "us-east-1")
    region.execute("twice", "wait")
    result = region.reconciler.run(timedelta(0))
    assert actions(result) == {"twice": RAN_HERE_BEFORE}
    assert result.needs_a_human and region.started() == []
