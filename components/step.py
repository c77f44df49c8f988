"""``SagaStepComponent`` (type ``order-saga:index:SagaStep``): a step and its compensator, composed.

Each task is its own Lambda with its own role (``Function``); the step owns the dead-letter
queue its parked tasks go to, and an alarm on that queue's depth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import saga
from components.function import Function, FunctionArgs, FunctionSettings
from components.observability import queue_depth_alarm

DLQ_RETENTION_SECONDS = 14 * 24 * 3600


@dataclass
class TaskArgs:
    """One task's code and what it may touch."""

    handler: str
    statements: Sequence[dict[str, Any]] = ()
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    reserved_concurrency: int | None = None


@dataclass
class SagaStepComponentArgs:
    step: saga.SagaStep
    """The declaration: its name, its compensation's name, its timeout."""
    forward: TaskArgs
    compensation: TaskArgs | None
    """Required exactly when the declaration names a compensation."""
    function: FunctionSettings
    alarm_topic_arn: pulumi.Input[str]
    name_prefix: str
    region: str

    def problems(self) -> list[str]:
        found = []
        name = self.step.name
        if (self.compensation is None) != (self.step.compensation is None):
            found.append(f"step {name!r}: give a compensation handler exactly when the step declares a compensation")
        if self.function.timeout_seconds >= self.step.timeout_seconds:
            found.append(
                f"step {name!r}: the Lambda timeout ({self.function.timeout_seconds}s) must be shorter than "
                f"the state's ({self.step.timeout_seconds}s), so Lambda's own timeout ends a hung call"
            )
        return found


class SagaStepComponent(pulumi.ComponentResource):
    """Forward and compensating functions, the step's dead-letter queue and its alarm."""

    function_arns: dict[str, pulumi.Output[str]]
    """By task name: the step's, and its compensation's."""
    dead_letter_queue_url: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    dead_letter_queue_name: pulumi.Output[str]

    def __init__(self, name: str, args: SagaStepComponentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__("order-saga:index:SagaStep", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tasks = [(args.step.name, args.forward)]
        if args.step.compensation and args.compensation:
            tasks.append((args.step.compensation, args.compensation))

        self.function_arns = {}
        self.role_arns: dict[str, pulumi.Output[str]] = {}
        """By task: its function's role (what Vault's ``aws`` auth binds for a partner's key)."""
        for task, task_args in tasks:
            physical = f"{args.name_prefix}-{task}"
            function = Function(
                physical,
                FunctionArgs(
                    handler=task_args.handler,
                    role_name=f"{physical}-{args.region}",
                    settings=args.function,
                    statements=task_args.statements,
                    environment=task_args.environment,
                    reserved_concurrency=task_args.reserved_concurrency,
                ),
                opts=child,
            )
            self.function_arns[task] = function.function_arn
            self.role_arns[task] = function.role_arn

        queue = aws.sqs.Queue(
            f"{name}-dlq",
            name=f"{args.name_prefix}-{args.step.name}-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=dict(args.function.tags),
            opts=child,
        )
        queue_depth_alarm(
            f"{name}-dlq-depth",
            alarm_name=f"{args.name_prefix}-{args.step.name}-parked",
            description=f"Orders parked at {args.step.name}: an operator must answer retry or compensate",
            queue_name=queue.name,
            topic_arn=args.alarm_topic_arn,
            tags=args.function.tags,
            opts=child,
        )
        self.dead_letter_queue_url = queue.url
        self.dead_letter_queue_arn = queue.arn
        self.dead_letter_queue_name = queue.name
        self.register_outputs({"functionArns": self.function_arns, "deadLetterQueueUrl": queue.url})
