"""Queues are encrypted, every saga step parks into a dead-letter queue someone watches, and
every other queue has a dead-letter queue of its own."""

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
from policies.rules.documents import MalformedDocument, document

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


EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"


def _dead_letter_targets(resources: list[PolicyResource]) -> set[object]:
    """ARNs of queues that are themselves dead-letter queues: some queue's redrive target, or
    an EventBridge target's dead-letter queue."""
    found: set[object] = set()
    for resource in resources:
        if resource.resource_type == QUEUE and resource.props.get("redrivePolicy"):
            try:
                found.add(document(resource.props["redrivePolicy"]).get("deadLetterTargetArn"))
            except MalformedDocument:
                continue  # reported below as a queue without a usable redrive policy
        if resource.resource_type == EVENT_TARGET:
            found.add((resource.props.get("deadLetterConfig") or {}).get("arn"))
    return found


def _parks_a_saga_step(resource: PolicyResource) -> bool:
    """A SagaStep's queue is where the state machine parks a task: it is the dead letter."""
    parent = resource.parent
    while parent is not None:
        if parent.resource_type == SAGA_STEP:
            return True
        parent = parent.parent
    return False


def _has_dead_letter_queue(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = list(args.resources)
    dead_letters = _dead_letter_targets(resources)
    for queue in (r for r in resources if r.resource_type == QUEUE):
        if queue.props.get("arn") in dead_letters or _parks_a_saga_step(queue):
            continue
        try:
            target = document(queue.props.get("redrivePolicy") or "{}").get("deadLetterTargetArn")
        except MalformedDocument:
            target = None
        if not target:
            report_violation(
                "a message that keeps failing would be retried until it expires: no dead-letter queue", queue.urn
            )


POLICIES += [
    stack_policy(
        "sqs-dead-letter-queue",
        "Every queue that is not itself a dead-letter queue has one.",
        _has_dead_letter_queue,
        severity=Severity.MEDIUM,
        remediation="Set redrive_policy={'deadLetterTargetArn': dlq.arn, 'maxReceiveCount': n} with an alarmed DLQ.",
    ),
]
