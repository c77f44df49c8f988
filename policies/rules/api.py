"""REST APIs: every method behind an authorizer (health routes may be exempted by config), every
stage throttled, access-logged and traced; and what breaks a deploy: logging without the
region's CloudWatch role, a deployment whose trigger misses part of the API."""

from __future__ import annotations

from pulumi_policy import (
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.rules.base import config, resource_policy, stack_policy

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


ACCOUNT = "aws:apigateway/account:Account"
DEPLOYMENT = "aws:apigateway/deployment:Deployment"
# What a deployment snapshots: a change to any of these reaches clients only by a new one.
DEPLOYED_TYPES = {
    "aws:apigateway/method:Method",
    "aws:apigateway/integration:Integration",
    "aws:apigateway/authorizer:Authorizer",
    "aws:apigateway/model:Model",
    "aws:apigateway/requestValidator:RequestValidator",
    "aws:apigateway/resource:Resource",
}
LOGGING_LEVELS = {"ERROR", "INFO"}


def _logging(stage: PolicyResource, settings: list[PolicyResource]) -> list[PolicyResource]:
    """The stage itself if it writes access logs, and its method settings that log."""
    found = [stage] if (stage.props.get("accessLogSettings") or {}).get("destinationArn") else []
    return found + [
        s
        for s in settings
        if s.props.get("restApi") == stage.props.get("restApi")
        and s.props.get("stageName") == stage.props.get("stageName")
        and (s.props.get("settings") or {}).get("loggingLevel") in LOGGING_LEVELS
    ]


def _account_role(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = list(args.resources)
    accounts = [r for r in resources if r.resource_type == ACCOUNT and r.props.get("cloudwatchRoleArn")]
    settings = [r for r in resources if r.resource_type == METHOD_SETTINGS]
    for stage in (r for r in resources if r.resource_type == STAGE):
        for logger in _logging(stage, settings):
            if not accounts:
                report_violation(
                    "logs, but no API Gateway account setting with a CloudWatch role is created or read here: "
                    "AWS refuses it (BadRequestException: CloudWatch Logs role ARN must be set in account settings)",
                    logger.urn,
                )
            elif not {a.urn for a in accounts} & {d.urn for d in logger.dependencies}:
                report_violation(
                    "logs without depending on the account setting: a first deploy may create it before the role",
                    logger.urn,
                )


def _deployment_covers_api(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = list(args.resources)
    for deployment in (r for r in resources if r.resource_type == DEPLOYMENT):
        covered = {r.urn for r in deployment.property_dependencies.get("triggers") or []}
        missing = sorted(
            r.name
            for r in resources
            if r.resource_type in DEPLOYED_TYPES
            and r.props.get("restApi") == deployment.props.get("restApi")
            and r.urn not in covered
        )
        if missing:
            report_violation(
                f"the deployment's triggers do not cover {', '.join(missing)}: a change to them would not be deployed",
                deployment.urn,
            )


def _stage_traced(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.props.get("xrayTracingEnabled"):
        report_violation("X-Ray tracing is off: the order's trace would start at the intake, not the API", None)


POLICIES += [
    stack_policy(
        "apigateway-account-cloudwatch-role",
        "A stage that logs has the region's API Gateway CloudWatch role set first (created or read here).",
        _account_role,
        severity=Severity.HIGH,
        remediation="Build the region with components.bootstrap.ApiGatewayLogging (manage, or read its owner's "
        "with order-saga:apiGatewayAccount: external) and make the stage and method settings depend on it.",
    ),
    stack_policy(
        "apigateway-deployment-covers-api",
        "A deployment's triggers depend on every method, integration, authorizer, model, validator and resource.",
        _deployment_covers_api,
        severity=Severity.MEDIUM,
        remediation="Hash every deployed resource's id and arguments into triggers (components.api.deployment_hash).",
    ),
    resource_policy(
        "apigateway-stage-tracing",
        "API stages trace with X-Ray.",
        [STAGE],
        _stage_traced,
        severity=Severity.LOW,
        remediation="Set xray_tracing_enabled=True on the stage.",
    ),
]
