"""The order bus and what hangs off it: the archive, forwarding to the standby, and the saga
start path (rule -> SQS queue -> starter Lambda -> StartExecution named by orderId).

An EventBridge target cannot name the execution, so a duplicate event would start a second
saga; the queue and the starter make the start idempotent and absorb a spike in front of
the Step Functions start quota.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.function import Function, FunctionArgs, FunctionSettings
from components.observability import queue_depth_alarm
from handlers.contract import ORDER_SUBMITTED, ORDER_SUBMITTED_SOURCE

START_DLQ_RETENTION_SECONDS = 14 * 24 * 3600
START_MAX_RECEIVES = 5
# Forwarding to the standby's bus: EventBridge retries a failed delivery with backoff for up to
# a day (its maximum), then the event rests in the forwarding DLQ (14 days) and an alarm fires.
FORWARD_MAX_EVENT_AGE_SECONDS = 24 * 3600
FORWARD_MAX_RETRY_ATTEMPTS = 185
# Concurrent starters cap the StartExecution rate: 10 pollers x batches of 10 stays well
# under the Standard quota (us-east-1: 300/s sustained); the queue holds the rest of a spike.
STARTER_MAX_CONCURRENCY = 10


@dataclass(frozen=True)
class StartEvent:
    """The event that starts a saga: its ``source`` and ``detail-type``; its detail holds
    ``orderId`` (the execution's name, so one item never has two sagas) and ``customerId``."""

    source: str
    detail_type: str

    @property
    def slug(self) -> str:
        """``OrderSubmitted`` -> ``order-submitted``: the start rule's name."""
        return re.sub(r"(?<!^)(?=[A-Z])", "-", self.detail_type).lower()

    def environment(self) -> dict[str, str]:
        """The starter checks the detail type; the sweeper publishes both (``handlers/sweeper.py``)."""
        return {"START_SOURCE": self.source, "START_DETAIL_TYPE": self.detail_type}


ORDER_SUBMITTED_EVENT = StartEvent(ORDER_SUBMITTED_SOURCE, ORDER_SUBMITTED)


def _events_may_send(queue_arn: pulumi.Input[str], rule_arn: pulumi.Input[str]) -> dict[str, object]:
    """A queue policy: EventBridge may send to ``queue_arn`` for ``rule_arn`` only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }


@dataclass
class OrderEventsArgs:
    name_prefix: str
    region: str
    archive_retention_days: int = 30
    forward_to_bus_arn: pulumi.Input[str] | None = None
    """Primary only: every event is also sent to the standby's bus, for replay after failover."""
    alarm_topic_arn: pulumi.Input[str] | None = None
    """With ``forward_to_bus_arn``: alarmed when a forwarded event lands in the forwarding DLQ."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.archive_retention_days <= 3650:
            found.append(f"archive_retention_days must be 1..3650, not {self.archive_retention_days}")
        if self.forward_to_bus_arn is not None and self.alarm_topic_arn is None:
            found.append("forward_to_bus_arn needs alarm_topic_arn (the forwarding DLQ is alarmed)")
        return found


def bus_name(name_prefix: str) -> str:
    return f"{name_prefix}-orders"


class OrderEvents(pulumi.ComponentResource):
    bus_name: pulumi.Output[str]
    bus_arn: pulumi.Output[str]
    forward_dead_letter_queue_url: pulumi.Output[str] | None = None
    """Primary only: where forwarded events the standby's bus refused end up."""

    def __init__(self, name: str, args: OrderEventsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__("order-saga:index:OrderEvents", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        bus = aws.cloudwatch.EventBus(f"{name}-bus", name=bus_name(args.name_prefix), tags=tags, opts=child)
        aws.cloudwatch.EventArchive(
            f"{name}-archive",
            name=bus_name(args.name_prefix)[:48],  # archive names are at most 48 characters
            event_source_arn=bus.arn,
            retention_days=args.archive_retention_days,
            opts=child,
        )
        if args.forward_to_bus_arn is not None:
            self._forward(name, args, bus, tags)
        self.bus_name = bus.name
        self.bus_arn = bus.arn
        self.register_outputs({"busArn": bus.arn})

    def _forward(self, name: str, args: OrderEventsArgs, bus: aws.cloudwatch.EventBus, tags: dict[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-forward-role",
            name=f"{args.name_prefix}-forward-{args.region}",
            assume_role_policy=pulumi.Output.json_dumps(iam.assume_role_policy("events.amazonaws.com")),
            tags=tags,
            opts=child,
        )
        assert args.forward_to_bus_arn is not None
        aws.iam.RolePolicy(
            f"{name}-forward-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(iam.policy([iam.allow(["events:PutEvents"], [args.forward_to_bus_arn])])),
            opts=child,
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-forward",
            name=f"{args.name_prefix}-forward-to-standby",
            event_bus_name=bus.name,
            event_pattern=json.dumps({"source": [{"prefix": ""}]}),  # every event
            tags=tags,
            opts=child,
        )
        # What the standby's bus would not take (throttled, unreachable) after a day of retries.
        dlq = aws.sqs.Queue(
            f"{name}-forward-dlq",
            name=f"{args.name_prefix}-forward-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=START_DLQ_RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-forward-dlq-policy",
            queue_url=dlq.url,
            policy=pulumi.Output.json_dumps(_events_may_send(dlq.arn, rule.arn)),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-forward-target",
            rule=rule.name,
            event_bus_name=bus.name,
            arn=args.forward_to_bus_arn,
            role_arn=role.arn,
            dead_letter_config={"arn": dlq.arn},
            retry_policy={
                "maximum_event_age_in_seconds": FORWARD_MAX_EVENT_AGE_SECONDS,
                "maximum_retry_attempts": FORWARD_MAX_RETRY_ATTEMPTS,
            },
            opts=child,
        )
        assert args.alarm_topic_arn is not None  # problems() guarantees it
        queue_depth_alarm(
            f"{name}-forward-dlq-depth",
            alarm_name=f"{args.name_prefix}-forward-dlq",
            description="Events the standby's bus did not take: its archive misses them",
            queue_name=dlq.name,
            topic_arn=args.alarm_topic_arn,
            tags=tags,
            opts=child,
        )
        self.forward_dead_letter_queue_url = dlq.url


@dataclass
class SagaStarterArgs:
    bus_name: pulumi.Input[str]
    state_machine_arn: pulumi.Input[str]
    function: FunctionSettings
    alarm_topic_arn: pulumi.Input[str]
    name_prefix: str
    region: str
    started_by: StartEvent
    saga_name: str
    """The ``SagaDefinition``'s name: the starter's service is ``<saga>-saga-starter``."""
    tags: Mapping[str, str] = field(default_factory=dict)
    region_role: str | None = None
    """``primary`` or ``standby``: the starter starts nothing while its region is passive."""
    orders_table_name: pulumi.Input[str] | None = None
    """With ``region_role``: where the region control item is."""
    control_statement: dict[str, Any] | None = None
    """With ``region_role``: the IAM statement that reads the control item and order owners."""


class SagaStarter(pulumi.ComponentResource):
    queue_url: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SagaStarterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("order-saga:index:SagaStarter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            name=f"{args.name_prefix}-saga-start-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=START_DLQ_RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-queue",
            name=f"{args.name_prefix}-saga-start",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=START_DLQ_RETENTION_SECONDS,
            visibility_timeout_seconds=6 * args.function.timeout_seconds,  # AWS's advice for Lambda consumers
            redrive_policy=pulumi.Output.json_dumps(
                {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": START_MAX_RECEIVES}
            ),
            tags=tags,
            opts=child,
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            name=f"{args.name_prefix}-{args.started_by.slug}",
            event_bus_name=args.bus_name,
            event_pattern=json.dumps(
                {"source": [args.started_by.source], "detail-type": [args.started_by.detail_type]}
            ),
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=queue.url,
            policy=pulumi.Output.json_dumps(_events_may_send(queue.arn, rule.arn)),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-target", rule=rule.name, event_bus_name=args.bus_name, arn=queue.arn, opts=child
        )
        environment: dict[str, pulumi.Input[str]] = {
            "STATE_MACHINE_ARN": args.state_machine_arn,
            "POWERTOOLS_SERVICE_NAME": f"{args.saga_name}-saga-starter",
            **args.started_by.environment(),
        }
        control: list[dict[str, Any]] = []
        if args.region_role is not None:
            if args.orders_table_name is None or args.control_statement is None:
                raise ValueError("region_role needs orders_table_name and control_statement")
            environment |= {"REGION_ROLE": args.region_role, "ORDERS_TABLE": args.orders_table_name}
            control.append(args.control_statement)
        starter = Function(
            f"{args.name_prefix}-saga-starter",
            FunctionArgs(
                handler="handlers.starter.lambda_handler",
                role_name=f"{args.name_prefix}-saga-starter-{args.region}",
                settings=args.function,
                environment=environment,
                statements=[
                    *control,
                    iam.allow(["states:StartExecution"], [args.state_machine_arn]),
                    iam.allow(
                        [
                            "sqs:ReceiveMessage",
                            "sqs:DeleteMessage",
                            "sqs:GetQueueAttributes",
                            "sqs:ChangeMessageVisibility",
                        ],
                        [queue.arn],
                    ),
                ],
            ),
            opts=child,
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-mapping",
            event_source_arn=queue.arn,
            function_name=starter.function_arn,
            batch_size=10,
            maximum_batching_window_in_seconds=1,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": STARTER_MAX_CONCURRENCY},
            opts=child,
        )
        queue_depth_alarm(
            f"{name}-dlq-depth",
            alarm_name=f"{args.name_prefix}-saga-start-dlq",
            description=f"{args.started_by.detail_type} events that could not start a saga",
            queue_name=dlq.name,
            topic_arn=args.alarm_topic_arn,
            tags=tags,
            opts=child,
        )
        self.queue_url = queue.url
        self.dead_letter_queue_url = dlq.url
        self.dead_letter_queue_arn = dlq.arn
        self.register_outputs({"queueUrl": queue.url})
