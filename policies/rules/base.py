"""Building rules: every policy is mandatory unless said otherwise, and names its remediation.

Python's pulumi-policy has no ``validate_resource_of_type``: ``resource_policy`` filters on
``args.resource_type`` for the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

SAGA_STEP = "order-saga:index:SagaStep"
"""The component type of ``components.step.SagaStep``."""

Check = Callable[[ResourceValidationArgs, ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation], None]


def resource_policy(
    name: str,
    description: str,
    types: Iterable[str],
    check: Check,
    *,
    severity: Severity,
    remediation: str,
    config_schema: PolicyConfigSchema | None = None,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> ResourceValidationPolicy:
    wanted = frozenset(types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type in wanted:
            check(args, report_violation)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement,
        severity=severity,
        remediation_steps=remediation,
        config_schema=config_schema,
    )


def stack_policy(
    name: str,
    description: str,
    check: StackCheck,
    *,
    severity: Severity,
    remediation: str,
    config_schema: PolicyConfigSchema | None = None,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=name,
        description=description,
        validate=check,
        enforcement_level=enforcement,
        severity=severity,
        remediation_steps=remediation,
        config_schema=config_schema,
    )


def config(args: ResourceValidationArgs | StackValidationArgs, schema: PolicyConfigSchema | None) -> dict[str, Any]:
    """The policy's config, with the schema's defaults for what is not set."""
    defaults = {
        key: spec["default"] for key, spec in (schema.properties if schema else {}).items() if "default" in spec
    }
    return {**defaults, **dict(args.get_config() or {})}


def component_types(urn: str) -> list[str]:
    """The types of the components a resource sits in, outermost first, read from its URN.

    A resource policy sees no parent chain, only its URN, and the engine writes every
    ancestor's type there (``urn:pulumi:<stack>::<project>::<A>$<B>$<type>::<name>``), so the
    URN is how a resource rule knows it is inside a component. Splitting on ``::`` at most three
    times keeps a name that contains ``::`` whole.
    """
    parts = urn.split("::", 3)
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
        raise ValueError(f"not a Pulumi URN: {urn!r}")
    return parts[2].split("$")[:-1]
