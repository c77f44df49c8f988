"""REST APIs: every method behind an authorizer (health routes may be exempted by config), and
every stage throttled and access-logged."""

from __future__ import annotations

from pulumi_policy import (
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    Severity,
    StackValidationArgs,
)

from policies.rules.base import config, stack_policy

METHOD = "aws:apigateway/method:Method"
STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
AUTHORIZED = {"CUSTOM", "COGNITO_USER_POOLS", "AWS_IAM"}

AUTHORIZER_SCHEMA = PolicyConfigSchema(
    properties={
        "exemptRoutes": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Routes that may be public, as 'METHOD /path' (e.g. 'GET /health').",
        }
    }
)


def route(method: PolicyResource) -> str:
    """'POST /orders': the path comes from the API resource the method hangs on."""
    resources = method.property_dependencies.get("resourceId") or []
    path = resources[0].props.get("path", "?") if resources else "?"
    return f"{method.props.get('httpMethod')} {path}"


def _authorized(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    exempt = set(config(args, AUTHORIZER_SCHEMA)["exemptRoutes"])
    for method in (r for r in args.resources if r.resource_type == METHOD):
        if method.props.get("authorization") not in AUTHORIZED and route(method) not in exempt:
            report_violation(f"{route(method)} has authorization {method.props.get('authorization')!r}", method.urn)


def _stage_guarded(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    settings = [r for r in args.resources if r.resource_type == METHOD_SETTINGS]
    for stage in (r for r in args.resources if r.resource_type == STAGE):
        if not (stage.props.get("accessLogSettings") or {}).get("destinationArn"):
            report_violation("the stage writes no access logs", stage.urn)
        throttled = [
            s
            for s in settings
            if s.props.get("restApi") == stage.props.get("restApi")
            and s.props.get("stageName") == stage.props.get("stageName")
            and (s.props.get("settings") or {}).get("throttlingRateLimit", -1) > 0
            and (s.props.get("settings") or {}).get("throttlingBurstLimit", -1) > 0
        ]
        if not throttled:
            report_violation("the stage sets no throttling: one client could take the whole account quota", stage.urn)


POLICIES: list[Policy] = [
    stack_policy(
        "apigateway-method-authorizer",
        "Every API method requires an authorizer.",
        _authorized,
        severity=Severity.CRITICAL,
        config_schema=AUTHORIZER_SCHEMA,
        remediation="Set authorization='CUSTOM' with the Lambda authorizer, or list the route in "
        "exemptRoutes if it must be public.",
    ),
    stack_policy(
        "apigateway-stage-throttling-and-logging",
        "Every stage throttles and writes access logs.",
        _stage_guarded,
        severity=Severity.MEDIUM,
        remediation="Add MethodSettings for '*/*' with throttling limits, and access_log_settings.",
    ),
]
