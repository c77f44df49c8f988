"""Logs expire and alarms page someone: a log group without retention keeps (and bills)
forever, an alarm without an action changes state where nobody sees it."""

from __future__ import annotations

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, Severity

from policies.rules.base import resource_policy
from policies.rules.documents import as_list

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _retention(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.props.get("retentionInDays"):
        report_violation("no retention: the logs (and their cost) are kept forever", None)


def _alarm_acts(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.props.get("actionsEnabled") is False:
        report_violation("the alarm's actions are disabled", None)
    elif not as_list(args.props.get("alarmActions")):
        report_violation("the alarm has no action for the ALARM state: nobody would be told", None)


POLICIES: list[Policy] = [
    resource_policy(
        "cloudwatch-log-group-retention",
        "Log groups set a retention.",
        [LOG_GROUP],
        _retention,
        severity=Severity.LOW,
        remediation="Set retention_in_days (order-saga:logRetentionDays).",
    ),
    resource_policy(
        "cloudwatch-alarm-actions",
        "Alarms have an enabled action for the ALARM state.",
        [ALARM],
        _alarm_acts,
        severity=Severity.MEDIUM,
        remediation="Set alarm_actions=[alarm topic ARN] and leave actions_enabled on.",
    ),
]
