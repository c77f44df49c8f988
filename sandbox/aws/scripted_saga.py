"""Deploy compiled sagas into moto and run orders through them with scripted Lambda outcomes.

The definition under test is exactly ``compile_saga``'s output; only the Lambda functions are
stand-ins, answering from a per-order script (see ``ScriptedFunctions``).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from components.saga import SagaBindings, SagaDefinition, compile_saga
from sandbox.runtime.errors import FunctionError

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUS = "orders"
TABLE = "orders"
DEADLINE_SECONDS = 20.0

OK = "ok"
HANG = "hang"
"""Outcome: the function does not answer before the state's TimeoutSeconds."""


def fails(error_type: str) -> str:
    """Outcome: the function raises an exception of this class name."""
    return f"raise:{error_type}"


@dataclass
class Call:
    order_id: str
    task: str
    payload: dict[str, Any]


class ScriptedFunctions:
    """Stands in for every saga Lambda: each invoke takes the next outcome scripted for
    (orderId, task), ``OK`` when none is left, and records the call."""

    def __init__(self) -> None:
        self.tasks: dict[str, str] = {}  # function ARN -> task name
        self.script: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.calls: list[Call] = []
        self.release = threading.Event()  # lets HANG invocations go at teardown
        self._lock = threading.Lock()

    def plan(self, order_id: str, task: str, *outcomes: str) -> None:
        self.script[(order_id, task)].extend(outcomes)

    def __call__(self, function: str, payload: Any) -> Any:
        task = self.tasks[function]
        with self._lock:
            self.calls.append(Call(payload["orderId"], task, payload))
            queued = self.script.get((payload["orderId"], task))
            outcome = queued.pop(0) if queued else OK
        if outcome == HANG:
            self.release.wait()
            raise FunctionError("Hung", "released at teardown")
        if outcome.startswith("raise:"):
            raise FunctionError(outcome.removeprefix("raise:"), f"scripted for {task}")
        return {"task": task, "done": True}

    def calls_for(self, order_id: str) -> list[str]:
        with self._lock:
            return [call.task for call in self.calls if call.order_id == order_id]


@dataclass
class SagaRun:
    """What one order went through, read back from moto after it stopped moving."""

    order_id: str
    execution_status: str
    order_status: str
    calls: list[str]
    states_entered: list[str]
    events: list[dict[str, Any]]
    parked: list[dict[str, Any]] = field(default_factory=list)
    output: Any = None
    """The execution's output, once it succeeded."""

    @property
    def event_types(self) -> list[str]:
        return [event["detail-type"] for event in self.events]


class Rig:
    """One moto account with the table, bus and event capture every deployed saga shares."""

    def __init__(self, functions: ScriptedFunctions, retry_waits: list[float]) -> None:
        self.functions = functions
        self.retry_waits = retry_waits
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self.ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.events.create_event_bus(Name=BUS)
        self._serial = itertools.count()

    def deploy(self, saga: SagaDefinition) -> DeployedSaga:
        n = next(self._serial)
        queues = {
            step.name: self.sqs.create_queue(QueueName=f"{saga.name}-{n}-{step.name}-dlq")["QueueUrl"]
            for step in saga.steps
        }
        arns = {task: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{saga.name}-{n}-{task}" for task in saga.task_names}
        self.functions.tasks.update({arn: task for task, arn in arns.items()})
        definition = compile_saga(saga, SagaBindings(arns, queues, orders_table=TABLE, event_bus=BUS))
        arn = self.sfn.create_state_machine(
            name=f"{saga.name}-{n}",
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/saga",
            type=saga.workflow,
        )["stateMachineArn"]
        events = self._capture_events(saga, n, arn)
        return DeployedSaga(self, saga, arn, list(queues.values()), events)

    def _capture_events(self, saga: SagaDefinition, n: int, state_machine: str) -> str:
        queue = self.sqs.create_queue(QueueName=f"{saga.name}-{n}-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule = f"{saga.name}-{n}-capture"
        # Step Functions lists the state machine in each event's resources: one saga's events only.
        pattern = {"source": [saga.event_source], "resources": [state_machine]}
        self.events.put_rule(Name=rule, EventBusName=BUS, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=rule, EventBusName=BUS, Targets=[{"Id": "capture", "Arn": queue_arn}])
        return queue

    def receive(self, queue_url: str) -> Iterator[dict[str, Any]]:
        """Take every message waiting in a queue, parsed."""
        while messages := self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                yield json.loads(message["Body"])

    def order_status(self, order_id: str) -> str:
        item = self.ddb.get_item(TableName=TABLE, Key={"orderId": {"S": order_id}}).get("Item", {})
        return str(item.get("status", {}).get("S", "MISSING"))

    def order_item(self, order_id: str) -> dict[str, Any]:
        return dict(self.ddb.get_item(TableName=TABLE, Key={"orderId": {"S": order_id}})["Item"])


class DeployedSaga:
    """A compiled saga running as a state machine in moto, with its queues."""

    def __init__(
        self,
        rig: Rig,
        saga: SagaDefinition,
        arn: str,
        dead_letter_queues: list[str],
        events_queue: str,
    ) -> None:
        self.rig = rig
        self.saga = saga
        self.arn = arn
        self.dead_letter_queues = dead_letter_queues
        self.events_queue = events_queue
        self._events: dict[str, list[dict[str, Any]]] = defaultdict(list)  # orderId -> events
        self._parked: dict[str, list[dict[str, Any]]] = defaultdict(list)  # orderId -> messages

    def take_parked(self, order_id: str) -> list[dict[str, Any]]:
        for url in self.dead_letter_queues:
            for message in self.rig.receive(url):
                self._parked[message["orderId"]].append(message)
        taken, self._parked[order_id] = self._parked[order_id], []
        return taken

    def events_for(self, order_id: str) -> list[dict[str, Any]]:
        for event in self.rig.receive(self.events_queue):
            self._events[event["detail"]["orderId"]].append(event)
        return list(self._events[order_id])

    def start(self, order_id: str) -> str:
        self.rig.ddb.put_item(
            TableName=TABLE,
            Item={"orderId": {"S": order_id}, "status": {"S": "PENDING"}},
            ConditionExpression="attribute_not_exists(orderId)",
        )
        return self.start_execution(order_id)

    def start_execution(self, order_id: str) -> str:
        order = {"orderId": order_id, "items": [{"sku": "HOODIE-M", "quantity": 1}]}
        response = self.rig.sfn.start_execution(stateMachineArn=self.arn, name=order_id, input=json.dumps(order))
        return str(response["executionArn"])

    def run(
        self,
        order_id: str,
        *,
        answers: Mapping[str, Sequence[dict[str, Any] | str]] | None = None,
        existing: bool = False,
    ) -> SagaRun:
        """Start an order and drive it until it ends, or parks with no answer scripted.

        ``answers`` maps a task to the operator's replies to its parks, in order: an action
        name, or a raw output document. ``existing``: the order item is there already (a
        second saga for an order another one ran).
        """
        pending = {task: list(replies) for task, replies in (answers or {}).items()}
        execution = self.start_execution(order_id) if existing else self.start(order_id)
        parked: list[dict[str, Any]] = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            status = self.rig.sfn.describe_execution(executionArn=execution)["status"]
            new = self.take_parked(order_id)
            parked += new
            for message in new:
                replies = pending.get(message["step"])
                if not replies or "taskToken" not in message:
                    return self._read(order_id, execution, parked)
                reply = replies.pop(0)
                output = {"action": reply} if isinstance(reply, str) else reply
                self.rig.sfn.send_task_success(taskToken=message["taskToken"], output=json.dumps(output))
            if status != "RUNNING":
                return self._read(order_id, execution, parked)
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"order {order_id} still RUNNING after {DEADLINE_SECONDS}s: "
                    f"calls so far {self.rig.functions.calls_for(order_id)}"
                )
            time.sleep(0.02)

    def _read(self, order_id: str, execution: str, parked: list[dict[str, Any]]) -> SagaRun:
        history = self.rig.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        entered = [
            event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event
        ]
        described = self.rig.sfn.describe_execution(executionArn=execution)
        return SagaRun(
            order_id=order_id,
            execution_status=described["status"],
            order_status=self.rig.order_status(order_id),
            calls=self.rig.functions.calls_for(order_id),
            states_entered=entered,
            events=self.events_for(order_id),
            parked=parked,
            output=json.loads(described["output"]) if "output" in described else None,
        )


_order_numbers = itertools.count()


def new_order_id(prefix: str) -> str:
    """A fresh order id: every test's orders are its own."""
    return f"{prefix}-{next(_order_numbers)}"
