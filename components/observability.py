"""Alarms, the alarm topic and the saga dashboard.

Alarms: every dead-letter queue's depth (``queue_depth_alarm``, used by the components that
own a queue), failed executions, and parked orders (the sum over the steps' queues).
Optional ServiceNow and Datadog hooks subscribe to the topic when their URLs are configured.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

METRICS_NAMESPACE = "OrderSaga"


def task_service(task: str) -> str:
    """A saga task's ``POWERTOOLS_SERVICE_NAME``. Powertools writes it as the ``service``
    dimension of every metric next to ``Task``, so a widget must name both to find them."""
    return f"order-saga-{task}"


def queue_depth_alarm(
    name: str,
    *,
    alarm_name: str,
    description: str,
    queue_name: pulumi.Input[str],
    topic_arn: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.MetricAlarm:
    """Alarm as soon as one message waits in the queue: each is an order needing a human."""
    return aws.cloudwatch.MetricAlarm(
        name,
        name=alarm_name,
        alarm_description=description,
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": queue_name},
        statistic="Maximum",
        period=60,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=[topic_arn],
        tags=dict(tags),
        opts=opts,
    )


ALARM_PUBLISHERS = ("cloudwatch.amazonaws.com",)
"""Who publishes to the alarm topic: CloudWatch alarms. (No EventBridge rule targets it; one
that did would add ``events.amazonaws.com`` here.)"""


def topic_key_policy(account_id: pulumi.Input[str], publishers: Sequence[str]) -> dict[str, Any]:
    """The alarm topic's key: the account administers it (AWS's default key policy), and the
    services that publish may encrypt with it. ``alias/aws/sns`` cannot be used instead: its
    policy is AWS's, grants no service, and cannot be edited, so every alarm action fails."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account_id, ":root")},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "PublishersEncryptMessages",
                "Effect": "Allow",
                "Principal": {"Service": list(publishers)},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ],
    }


class AlarmTopic(pulumi.ComponentResource):
    """Where alarms go: email, and ServiceNow / Datadog webhooks when configured. Encrypted
    with a key of its own that CloudWatch may use."""

    topic_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        name_prefix: str,
        account_id: pulumi.Input[str] | None = None,
        email: str | None = None,
        servicenow_url: str | None = None,
        datadog_url: str | None = None,
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("order-saga:index:AlarmTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{name_prefix} alarm topic: CloudWatch alarms encrypt notifications with it",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.json_dumps(
                topic_key_policy(account_id or aws.get_caller_identity_output().account_id, ALARM_PUBLISHERS)
            ),
            tags=dict(tags or {}),
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/{name_prefix}-alarms", target_key_id=key.key_id, opts=child)
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{name_prefix}-alarms",
            kms_master_key_id=key.arn,
            tags=dict(tags or {}),
            opts=child,
        )
        subscriptions = {
            "email": ("email", email),
            "servicenow": ("https", servicenow_url),
            "datadog": ("https", datadog_url),
        }
        for label, (protocol, endpoint) in subscriptions.items():
            if endpoint:
                aws.sns.TopicSubscription(
                    f"{name}-{label}", topic=topic.arn, protocol=protocol, endpoint=endpoint, opts=child
                )
        self.topic_arn = topic.arn
        self.register_outputs({"topicArn": topic.arn})


@dataclass
class SagaDashboardArgs:
    state_machine_arn: pulumi.Input[str]
    step_names: Sequence[str]
    dead_letter_queue_names: Mapping[str, pulumi.Input[str]]
    """By step name."""
    topic_arn: pulumi.Input[str]
    name_prefix: str
    region: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        return [
            f"no dead-letter queue given for step {step!r}"
            for step in self.step_names
            if step not in self.dead_letter_queue_names
        ]


class SagaDashboard(pulumi.ComponentResource):
    """Failed-execution and parked-order alarms, and the dashboard on-call opens first."""

    def __init__(self, name: str, args: SagaDashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__("order-saga:index:SagaDashboard", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        aws.cloudwatch.MetricAlarm(
            f"{name}-failed-executions",
            name=f"{args.name_prefix}-saga-executions-failed",
            alarm_description="Saga executions failed outright (not compensated): bookkeeping or park broke",
            namespace="AWS/States",
            metric_name="ExecutionsFailed",
            dimensions={"StateMachineArn": args.state_machine_arn},
            statistic="Sum",
            period=60,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[args.topic_arn],
            tags=tags,
            opts=child,
        )
        # One query per step queue, and their sum: the number of parked orders.
        depth: list[Any] = [
            {
                "id": f"q{i}",
                "return_data": False,
                "metric": {
                    "namespace": "AWS/SQS",
                    "metric_name": "ApproximateNumberOfMessagesVisible",
                    "dimensions": {"QueueName": queue},
                    "period": 60,
                    "stat": "Maximum",
                },
            }
            for i, queue in enumerate(args.dead_letter_queue_names.values())
        ]
        parked: Any = {
            "id": "parked",
            "expression": f"SUM([{','.join(query['id'] for query in depth)}])",
            "label": "parked orders",
            "return_data": True,
        }
        aws.cloudwatch.MetricAlarm(
            f"{name}-parked-orders",
            name=f"{args.name_prefix}-orders-parked",
            alarm_description="Orders parked for an operator, over all steps",
            metric_queries=[*depth, parked],
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[args.topic_arn],
            tags=tags,
            opts=child,
        )
        body = pulumi.Output.all(
            machine=args.state_machine_arn, queues=pulumi.Output.all(**args.dead_letter_queue_names)
        ).apply(
            lambda resolved: json.dumps(
                dashboard_body(args.region, resolved["machine"], args.step_names, resolved["queues"])
            )
        )
        aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=f"{args.name_prefix}-saga", dashboard_body=body, opts=child
        )
        self.register_outputs({})


def dashboard_body(
    region: str, state_machine_arn: str, steps: Sequence[str], queues: Mapping[str, str]
) -> dict[str, Any]:
    """Saga success rate, compensation rate, per-step latency, dead-letter depth."""

    def widget(title: str, metrics: list[Any], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "metrics": metrics,
                "stat": stat,
                "period": 60,
                "view": "timeSeries",
            },
        }

    started = [
        "AWS/States",
        "ExecutionsStarted",
        "StateMachineArn",
        state_machine_arn,
        {"id": "started", "visible": False},
    ]
    succeeded = [
        "AWS/States",
        "ExecutionsSucceeded",
        "StateMachineArn",
        state_machine_arn,
        {"id": "succeeded", "visible": False},
    ]
    # The handlers emit Compensations per Task (and service): add them all up.
    compensations = [
        {
            "id": "compensations",
            "visible": False,
            "expression": "SUM(SEARCH('{OrderSaga,Task,service} MetricName=\"Compensations\"', 'Sum', 60))",
        }
    ]
    return {
        "widgets": [
            widget(
                "Saga success rate (%)",
                [started, succeeded, [{"expression": "100 * succeeded / started", "label": "success %"}]],
                0,
                0,
            ),
            widget(
                "Compensations per 100 sagas",
                [
                    started,
                    compensations,
                    [{"expression": "100 * compensations / started", "label": "compensation rate"}],
                ],
                12,
                0,
            ),
            widget(
                "Step latency p99 (ms)",
                [[METRICS_NAMESPACE, "Latency", "Task", step, "service", task_service(step)] for step in steps],
                0,
                6,
                stat="p99",
            ),
            widget(
                "Dead-letter depth (parked orders)",
                [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queues[step]] for step in steps],
                12,
                6,
                stat="Maximum",
            ),
        ]
    }
