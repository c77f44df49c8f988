"""IAM documents as pure functions: statements name exact ARNs.

Feed them to ``pulumi.Output.json_dumps``: ARNs may be Outputs inside the dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

Resource = pulumi.Input[str]

# Actions with no resource-level permissions: "*" is the only resource they accept.
# Step Functions and API Gateway configure log delivery through these.
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
TRACING_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# Step Functions samples its own traces: without these its X-Ray traces silently stop
# (AWS's Step Functions X-Ray IAM policy lists all four actions).
SAMPLING_ACTIONS = ("xray:GetSamplingRules", "xray:GetSamplingTargets")
NO_RESOURCE_LEVEL_ACTIONS = frozenset(
    (*LOG_DELIVERY_ACTIONS, *TRACING_ACTIONS, *SAMPLING_ACTIONS, "sts:GetCallerIdentity")
)
"""The allow-list the policy pack's iam-no-wildcard-resources uses by default."""


def assume_role_policy(service: str) -> dict[str, Any]:
    """Trust policy: only ``service`` (e.g. ``lambda.amazonaws.com``) may assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def allow(actions: Sequence[str], resources: Sequence[Resource], **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}
    if condition:
        statement["Condition"] = condition
    return statement


def allow_without_resource(actions: Sequence[str]) -> dict[str, Any]:
    """For actions that cannot be scoped (see ``NO_RESOURCE_LEVEL_ACTIONS``), and only those."""
    unscopable = set(actions) - NO_RESOURCE_LEVEL_ACTIONS
    if unscopable:
        raise ValueError(f"these actions can be scoped to resources: {sorted(unscopable)}")
    return {"Effect": "Allow", "Action": sorted(actions), "Resource": "*"}


def policy(statements: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def log_writing(log_group_arn: Resource) -> dict[str, Any]:
    """Write to exactly one log group (its streams are ``<arn>:*``)."""
    streams = pulumi.Output.concat(log_group_arn, ":*")
    return allow(["logs:CreateLogStream", "logs:PutLogEvents"], [log_group_arn, streams])


def tracing(*, sampling: bool = False) -> dict[str, Any]:
    """Send X-Ray segments; ``sampling`` for a service that samples itself (Step Functions)."""
    return allow_without_resource((*TRACING_ACTIONS, *SAMPLING_ACTIONS) if sampling else TRACING_ACTIONS)
