"""Durable tables: on-demand billing, point-in-time recovery (replicas too), encryption at rest,
deletion protection."""

from __future__ import annotations

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, Severity

from policies.rules.base import resource_policy
from policies.rules.documents import as_list

TABLE = ["aws:dynamodb/table:Table"]


def _on_demand(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    mode = args.props.get("billingMode") or "PROVISIONED"  # the provider's default
    if mode != "PAY_PER_REQUEST":
        report_violation(f"billing mode is {mode}: a 50x spike would throttle", None)


def _pitr(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not (args.props.get("pointInTimeRecovery") or {}).get("enabled"):
        report_violation("point-in-time recovery is off", None)
    for replica in as_list(args.props.get("replicas")):
        if not replica.get("pointInTimeRecovery"):
            report_violation(f"point-in-time recovery is off on the replica in {replica.get('regionName')}", None)


def _encrypted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not (args.props.get("serverSideEncryption") or {}).get("enabled"):
        report_violation("server-side encryption with KMS is not enabled", None)


def _deletion_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.props.get("deletionProtectionEnabled"):
        report_violation("deletion protection is off", None)


POLICIES: list[Policy] = [
    resource_policy(
        "dynamodb-on-demand",
        "DynamoDB tables bill on demand (a missing billing mode is PROVISIONED).",
        TABLE,
        _on_demand,
        severity=Severity.HIGH,
        remediation="Set billing_mode='PAY_PER_REQUEST'.",
    ),
    resource_policy(
        "dynamodb-point-in-time-recovery",
        "Tables and every replica keep point-in-time recovery.",
        TABLE,
        _pitr,
        severity=Severity.HIGH,
        remediation="Set point_in_time_recovery={'enabled': True}, and point_in_time_recovery=True on each replica.",
    ),
    resource_policy(
        "dynamodb-encryption",
        "Tables are encrypted with KMS.",
        TABLE,
        _encrypted,
        severity=Severity.MEDIUM,
        remediation="Set server_side_encryption={'enabled': True}.",
    ),
    resource_policy(
        "dynamodb-deletion-protection",
        "Tables cannot be deleted by accident.",
        TABLE,
        _deletion_protected,
        severity=Severity.HIGH,
        remediation="Set deletion_protection_enabled=True.",
    ),
]
