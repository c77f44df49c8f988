"""Lambda functions: a timeout that is set (and short for saga steps), active tracing, and no
environment variable that looks like a secret."""

from __future__ import annotations

import re

from pulumi_policy import Policy, PolicyConfigSchema, ReportViolation, ResourceValidationArgs, Severity

from policies.rules.base import config, resource_policy

FUNCTION = ["aws:lambda/function:Function"]
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|API_?KEY|CREDENTIAL)", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|\bsk_(live|test)_\w+|\bgh[pousr]_\w{20,}|://[^/\s:@]+:[^/\s@]+@)"
)

TIMEOUT_SCHEMA = PolicyConfigSchema(properties={"maxStepTimeoutSeconds": {"type": "integer", "default": 30}})


def _timeout(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    timeout = args.props.get("timeout")
    if timeout is None:
        report_violation("no timeout set: the provider default (3 s) is an accident, not a decision", None)
        return
    limit = config(args, TIMEOUT_SCHEMA)["maxStepTimeoutSeconds"]
    if "order-saga:index:SagaStep" in args.urn and timeout > limit:
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
        "Every function sets its timeout; saga steps keep it short.",
        FUNCTION,
        _timeout,
        severity=Severity.MEDIUM,
        config_schema=TIMEOUT_SCHEMA,
        remediation="Set timeout= explicitly; below the state's TimeoutSeconds for saga steps.",
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
