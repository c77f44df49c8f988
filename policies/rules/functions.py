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
