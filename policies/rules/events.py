"""Every custom event bus keeps an archive, so events can be replayed after a failure or failover."""

from __future__ import annotations

from pulumi_policy import Policy, ReportViolation, Severity, StackValidationArgs

from policies.rules.base import stack_policy

BUS = "aws:cloudwatch/eventBus:EventBus"
ARCHIVE = "aws:cloudwatch/eventArchive:EventArchive"


def _archived(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    archived = {r.props.get("eventSourceArn") for r in args.resources if r.resource_type == ARCHIVE}
    for bus in (r for r in args.resources if r.resource_type == BUS):
        if bus.props.get("arn") not in archived:
            report_violation("this event bus has no archive: its events cannot be replayed", bus.urn)


POLICIES: list[Policy] = [
    stack_policy(
        "eventbridge-bus-archive",
        "Every event bus has an archive.",
        _archived,
        severity=Severity.MEDIUM,
        remediation="Add an EventArchive with event_source_arn=bus.arn and a retention.",
    ),
]
