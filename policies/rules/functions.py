"""Lambda functions: a short timeout for saga steps, active tracing, and no environment variable
that looks like a secret."""

from __future__ import annotations

import re

from pulumi_policy import Policy, PolicyConfigSchema, ReportViolation, ResourceValidationArgs, Severity

from policies.rules.base import SAGA_STEP, component_types, config, resource_policy

FUNCTION = ["aws:lambda/function:Function"]
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|API_?KEY|CREDENTIAL)", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|\bsk_(live|test)_\w+|\bgh[pousr]_\w{20,}|://[^/\s:@]+:[^/\s@]+@)"
)

TIMEOUT_SCHEMA = PolicyConfigSchema(properties={"maxStepTimeoutSeconds": {"type": "integer", "default": 30}})
# The provider fills a missing timeout with 3 s in its Check, before the engine shows the inputs
# to a resource policy, so the engine never sees a function without one: judge that value.
PROVIDER_DEFAULT_TIMEOUT_SECONDS = 3


def _timeout(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    timeout = args.props.get("timeout", PROVIDER_DEFAULT_TIMEOUT_SECONDS)
    limit = config(args, TIMEOUT_SCHEMA)["maxStepTimeoutSeconds"]
    if SAGA_STEP in component_types(args.urn) and timeout > limit:
        report_violation(f"a saga step's timeout is {timeout:g}s; at most {limit}s keeps the saga moving", None)


def _tracing(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if (args.props.get("tracingConfig") or {}).get("mode") != "Active":
        report_violation("X-Ray tracing is not active", None)


def _no_secret_environment(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    variables = ((args.props.get("environment") or {}).get("variables")) or {}
    for name, value in variables.items():
        if SECRET_NAME.search(name):
            report_violation(f"environment variable {name} is named like a secret", None)
        elif isinstance(value, str) and SECRET_VALUE.search(value):
            report_violation(f"environment variable {name} holds what looks like a secret", None)


POLICIES: list[Policy] = [
    resource_policy(
        "lambda-timeout",
        "Saga steps keep their functions' timeout short (a missing timeout is the provider's 3 s).",
        FUNCTION,
        _timeout,
        severity=Severity.MEDIUM,
        config_schema=TIMEOUT_SCHEMA,
        remediation="Set the step's timeout at most maxStepTimeoutSeconds, below the state's TimeoutSeconds.",
    ),
    resource_policy(
        "lambda-tracing",
        "Functions trace with X-Ray.",
        FUNCTION,
        _tracing,
        severity=Severity.LOW,
        remediation="Set tracing_config={'mode': 'Active'}.",
    ),
    resource_policy(
        "lambda-no-secrets-in-environment",
        "No secret in a function's environment, by name or by value: secrets live in Vault.",
        FUNCTION,
        _no_secret_environment,
        severity=Severity.CRITICAL,
        remediation="Store the secret in Vault and pass its path; read it with handlers.vault.",
    ),
]


PERMISSION = ["aws:lambda/permission:Permission"]
# Runtimes Lambda has deprecated (no new functions, then no updates): a deploy that touches a
# function on one of them fails. Extend with config deprecatedRuntimes as AWS deprecates more.
DEPRECATED_RUNTIMES = [
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "nodejs",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "java8",
    "go1.x",
    "provided",
    "ruby2.5",
    "ruby2.7",
    "ruby3.2",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet5.0",
    "dotnet6",
    "dotnet7",
]
RUNTIME_SCHEMA = PolicyConfigSchema(
    properties={"deprecatedRuntimes": {"type": "array", "items": {"type": "string"}, "default": DEPRECATED_RUNTIMES}}
)


def _supported_runtime(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    runtime = args.props.get("runtime")
    if runtime in config(args, RUNTIME_SCHEMA)["deprecatedRuntimes"]:
        report_violation(f"runtime {runtime} is deprecated: Lambda refuses to create or update it", None)


def _source_arn(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    principal = str(args.props.get("principal") or "")
    if principal.endswith(".amazonaws.com") and not args.props.get("sourceArn"):
        report_violation(f"{principal} may invoke the function from any resource, in any account", None)


POLICIES += [
    resource_policy(
        "lambda-supported-runtime",
        "Functions run on a runtime Lambda has not deprecated.",
        FUNCTION,
        _supported_runtime,
        severity=Severity.HIGH,
        config_schema=RUNTIME_SCHEMA,
        remediation="Move to a supported runtime (components.function.RUNTIME).",
    ),
    resource_policy(
        "lambda-permission-source-arn",
        "A permission granted to an AWS service names the resource that may invoke (SourceArn).",
        PERMISSION,
        _source_arn,
        severity=Severity.HIGH,
        remediation="Set source_arn (for API Gateway: the API's execution ARN with its stage/method/path).",
    ),
]
