"""Queues are encrypted, and every saga step parks into a dead-letter queue someone watches."""

from __future__ import annotations

from pulumi_policy import (
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.base import SAGA_STEP, resource_policy, stack_policy

QUEUE = "aws:sqs/queue:Queue"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _encrypted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not (args.props.get("sqsManagedSseEnabled") or args.props.get("kmsMasterKeyId")):
        report_violation("messages are stored unencrypted", None)


def _children(resources: list[PolicyResource], parent: PolicyResource, typ: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == typ and r.parent is not None and r.parent.urn == parent.urn]


def _step_dead_letter_queue(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = list(args.resources)
    for step in (r for r in resources if r.resource_type == SAGA_STEP):
        queues = _children(resources, step, QUEUE)
        if not queues:
            report_violation("this saga step has no dead-letter queue: a parked order would be lost", step.urn)
            continue
        watched = {
            (alarm.props.get("dimensions") or {}).get("QueueName") for alarm in _children(resources, step, ALARM)
        }
        for queue in queues:
            if queue.props.get("name") not in watched:
                report_violation(f"no alarm watches the depth of {queue.props.get('name')}", step.urn)


POLICIES: list[Policy] = [
    resource_policy(
        "sqs-encryption",
        "SQS queues encrypt messages at rest.",
        [QUEUE],
        _encrypted,
        severity=Severity.MEDIUM,
        remediation="Set sqs_managed_sse_enabled=True (or a KMS key).",
    ),
    stack_policy(
        "saga-step-dead-letter-queue",
        "Every saga step has a dead-letter queue and an alarm on its depth.",
        _step_dead_letter_queue,
        severity=Severity.HIGH,
        remediation="Build steps with components.step.SagaStep, which creates both.",
    ),
]
