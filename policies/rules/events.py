"""Every custom event bus keeps an archive, so events can be replayed after a failure or failover,
and forwarding to another region keeps what it cannot deliver."""

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


RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"


def _arn_region(arn: object) -> str:
    parts = str(arn).split(":")
    return parts[3] if len(parts) > 3 and parts[0] == "arn" else ""


def _cross_region_dlq(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = list(args.resources)
    rules = [r for r in resources if r.resource_type == RULE]
    for target in (r for r in resources if r.resource_type == TARGET):
        arn = str(target.props.get("arn") or "")
        if ":event-bus/" not in arn:
            continue
        rule = next(
            (
                r
                for r in rules
                if r.props.get("name") == target.props.get("rule")
                and (r.props.get("eventBusName") or "default") == (target.props.get("eventBusName") or "default")
            ),
            None,
        )
        if rule is None or _arn_region(rule.props.get("arn")) == _arn_region(arn):
            continue
        if not (target.props.get("deadLetterConfig") or {}).get("arn"):
            report_violation(
                f"forwards to a bus in {_arn_region(arn)} with no dead-letter queue: events it cannot deliver "
                "(the other region down) are dropped after the retries",
                target.urn,
            )
        if not target.props.get("retryPolicy"):
            report_violation("forwards to another region with no retry policy of its own", target.urn)


POLICIES += [
    stack_policy(
        "eventbridge-cross-region-target-dlq",
        "A target that is a bus in another region has a dead-letter queue and a retry policy.",
        _cross_region_dlq,
        severity=Severity.HIGH,
        remediation="Set dead_letter_config={'arn': queue.arn} (a queue whose policy lets events.amazonaws.com "
        "send from this rule) and retry_policy on the EventTarget.",
    ),
]
