"""The order bus and what hangs off it: the archive, forwarding to the standby, and the saga
start path (rule -> SQS queue -> starter Lambda -> StartExecution named by orderId).

An EventBridge target cannot name the execution, so a duplicate event would start a second
saga; the queue and the starter make the start idempotent and absorb a spike in front of
the Step Functions start quota.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import iam
from components.function import Function, FunctionArgs, FunctionSettings
from components.observability import queue_depth_alarm
from handlers.contract import ORDER_SUBMITTED, ORDER_SUBMITTED_SOURCE

START_DLQ_RETENTION_SECONDS = 14 * 24 * 3600
START_MAX_RECEIVES = 5
# Concurrent starters cap the StartExecution rate: 10 pollers x batches of 10 stays well
# under the Standard quota (us-east-1: 300/s sustained); the queue holds the rest of a spike.
STARTER_MAX_CONCURRENCY = 10


# EventBridge's own maximum: keep retrying the standby's bus for 24 hours.
FORWARD_MAX_AGE_SECONDS = 24 * 3600


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
    """Where the alarm on undeliverable forwarded events goes (with ``forward_to_bus_arn``)."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        if not 1 <= self.archive_retention_days <= 3650:
            return [f"archive_retention_days must be 1..3650, not {self.archive_retention_days}"]
        return []


def bus_name(name_prefix: str) -> str:
    return f"{name_prefix}-orders"


class OrderEvents(pulumi.ComponentResource):
    bus_name: pulumi.Output[str]
    bus_arn: pulumi.Output[str]

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
        # What the standby's bus does not take within the retries (its region down) waits here,
        # alarmed, instead of being dropped.
        dlq = aws.sqs.Queue(
            f"{name}-forward-dlq",
            name=f"{args.name_prefix}-forward-to-standby-dlq",
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
            retry_policy={"maximum_event_age_in_seconds": FORWARD_MAX_AGE_SECONDS, "maximum_retry_attempts": 185},
            opts=child,
        )
        if args.alarm_topic_arn is not None:
            queue_depth_alarm(
                f"{name}-forward-dlq-depth",
                alarm_name=f"{args.name_prefix}-forward-to-standby-dlq",
                description="Events the standby's bus did not take: replay them once it is back",
                queue_name=dlq.name,
                topic_arn=args.alarm_topic_arn,
                tags=tags,
                opts=child,
            )


@dataclass
class SagaStarterArgs:
    bus_name: pulumi.Input[str]
    state_machine_arn: pulumi.Input[str]
    function: FunctionSettings
    alarm_topic_arn: pulumi.Input[str]
    name_prefix: str
    region: str
    tags: Mapping[str, str] = field(default_factory=dict)


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
            name=f"{args.name_prefix}-order-submitted",
            event_bus_name=args.bus_name,
            event_pattern=json.dumps({"source": [ORDER_SUBMITTED_SOURCE], "detail-type": [ORDER_SUBMITTED]}),
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
        starter = Function(
            f"{args.name_prefix}-saga-starter",
            FunctionArgs(
                handler="handlers.starter.lambda_handler",
                role_name=f"{args.name_prefix}-saga-starter-{args.region}",
                settings=args.function,
                environment={
                    "STATE_MACHINE_ARN": args.state_machine_arn,
                    "POWERTOOLS_SERVICE_NAME": "order-saga-starter",
                },
                statements=[
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
            description="OrderSubmitted events that could not start a saga",
            queue_name=dlq.name,
            topic_arn=args.alarm_topic_arn,
            tags=tags,
            opts=child,
        )
        self.queue_url = queue.url
        self.dead_letter_queue_url = dlq.url
        self.dead_letter_queue_arn = dlq.arn
        self.register_outputs({"queueUrl": queue.url})
