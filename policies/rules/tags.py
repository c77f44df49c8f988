"""Resources carry the tags that say whose they are and who pays."""

from __future__ import annotations

from pulumi_policy import Policy, PolicyConfigSchema, ReportViolation, ResourceValidationArgs, Severity

from policies.rules.base import config, resource_policy

TAGGED_TYPES = [
    "aws:dynamodb/table:Table",
    "aws:lambda/function:Function",
    "aws:iam/role:Role",
    "aws:sqs/queue:Queue",
    "aws:sfn/stateMachine:StateMachine",
    "aws:cloudwatch/eventBus:EventBus",
    "aws:cloudwatch/eventRule:EventRule",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:sns/topic:Topic",
    "aws:apigateway/restApi:RestApi",
    "aws:apigateway/stage:Stage",
    "aws:apigateway/usagePlan:UsagePlan",
    "aws:apigateway/apiKey:ApiKey",
]
TAGS_SCHEMA = PolicyConfigSchema(
    properties={
        "requiredTags": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["project", "owner", "cost-center"],
        }
    }
)


def _tagged(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    tags = args.props.get("tags") or {}
    missing = [tag for tag in config(args, TAGS_SCHEMA)["requiredTags"] if not tags.get(tag)]
    if missing:
        report_violation(f"missing tags: {', '.join(missing)}", None)


POLICIES: list[Policy] = [
    resource_policy(
        "required-tags",
        "Resources carry the required tags.",
        TAGGED_TYPES,
        _tagged,
        severity=Severity.LOW,
        config_schema=TAGS_SCHEMA,
        remediation="Set order-saga:tags in the stack config (components pass it to every resource).",
    ),
]
