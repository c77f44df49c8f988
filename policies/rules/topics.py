"""Alarm topics and their keys: a topic encrypted with a key its publishers cannot use takes
every alarm silently (CloudWatch's action fails with a KMS error, nobody is paged), and keys
rotate."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.base import resource_policy, stack_policy
from policies.rules.documents import MalformedDocument, as_list, document, statements

TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ALARM_ACTIONS = ("alarmActions", "okActions", "insufficientDataActions")
# What a publisher needs on the topic's key (AWS: "encrypted topics ... kms:Decrypt and
# kms:GenerateDataKey*").
PUBLISH_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


def _publishers(resources: list[PolicyResource], topic_arn: Any) -> set[str]:
    found = set()
    for resource in resources:
        if resource.resource_type == ALARM and any(
            topic_arn in as_list(resource.props.get(key)) for key in ALARM_ACTIONS
        ):
            found.add("cloudwatch.amazonaws.com")
        if resource.resource_type == EVENT_TARGET and resource.props.get("arn") == topic_arn:
            found.add("events.amazonaws.com")
    return found


def _key(resources: list[PolicyResource], reference: str) -> PolicyResource | None:
    """The Key resource a topic's ``kmsMasterKeyId`` names: by ARN, key id or alias."""
    for alias in (r for r in resources if r.resource_type == ALIAS):
        if reference in (alias.props.get("name"), alias.props.get("arn")):
            reference = str(alias.props.get("targetKeyId"))
    return next(
        (r for r in resources if r.resource_type == KEY and reference in (r.props.get("arn"), r.props.get("keyId"))),
        None,
    )


def _grants(policy: dict[str, Any], service: str) -> bool:
    granted: set[str] = set()
    for statement in statements(policy):
        principal = statement.get("Principal")
        services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if service in services:
            granted |= {
                needed
                for needed in PUBLISH_ACTIONS
                for pattern in as_list(statement.get("Action"))
                if fnmatchcase(needed.lower(), str(pattern).lower())
            }
    return granted == set(PUBLISH_ACTIONS)


def _key_usable(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = list(args.resources)
    for topic in (r for r in resources if r.resource_type == TOPIC):
        reference = topic.props.get("kmsMasterKeyId")
        publishers = _publishers(resources, topic.props.get("arn"))
        if not reference or not publishers:
            continue
        if str(reference).startswith("alias/aws/"):
            report_violation(
                f"encrypted with the AWS managed key {reference}, whose policy cannot grant "
                f"{', '.join(sorted(publishers))}: every alarm action fails with a KMS error",
                topic.urn,
            )
            continue
        key = _key(resources, str(reference))
        if key is None:
            report_violation(f"its key {reference} is not in the program: its policy cannot be checked", topic.urn)
            continue
        try:
            policy = document(key.props.get("policy") or "{}")
        except MalformedDocument as error:
            report_violation(f"the key policy is not valid JSON: {error}", key.urn)
            continue
        for service in sorted(publishers):
            if not _grants(policy, service):
                report_violation(
                    f"its key's policy does not let {service} use it (kms:Decrypt, kms:GenerateDataKey*): "
                    "every publish fails",
                    topic.urn,
                )


def _rotated(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = args.props.get("customerMasterKeySpec") or args.props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and not args.props.get("enableKeyRotation"):
        report_violation("automatic key rotation is off", None)


POLICIES: list[Policy] = [
    stack_policy(
        "sns-topic-key-usable-by-publishers",
        "An encrypted topic's key lets its publishers (CloudWatch alarms, EventBridge targets) use it.",
        _key_usable,
        severity=Severity.HIGH,
        remediation="Encrypt the topic with a customer managed key whose policy grants the publishing service "
        "kms:Decrypt and kms:GenerateDataKey* (components.observability.topic_key_policy), never alias/aws/sns.",
    ),
    resource_policy(
        "kms-key-rotation",
        "Symmetric KMS keys rotate automatically.",
        [KEY],
        _rotated,
        severity=Severity.MEDIUM,
        remediation="Set enable_key_rotation=True.",
    ),
]
