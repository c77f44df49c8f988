"""State machines log and trace, and every Task state catches its errors (or a saga could end
without compensating)."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import Policy, PolicyResource, ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from policies.rules.base import resource_policy, stack_policy
from policies.rules.documents import MalformedDocument, as_list, document, statements

STATE_MACHINE = ["aws:sfn/stateMachine:StateMachine"]


def _observed(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    logging = args.props.get("loggingConfiguration") or {}
    if logging.get("level", "OFF") == "OFF" or not logging.get("logDestination"):
        report_violation("execution logging is off", None)
    if not (args.props.get("tracingConfiguration") or {}).get("enabled"):
        report_violation("X-Ray tracing is off", None)


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Task state, including those inside Parallel branches and Map iterators."""
    for name, state in states.items():
        if state.get("Type") == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from tasks(branch.get("States", {}))
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from tasks(state[key].get("States", {}))


def _tasks_catch(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    try:
        definition = document(args.props["definition"])
    except MalformedDocument as error:
        report_violation(f"the definition is not valid JSON: {error}", None)
        return
    for name, state in tasks(definition.get("States", {})):
        if not state.get("Catch"):
            report_violation(f"Task state {name!r} has no Catch: its failure would end the saga uncompensated", None)


POLICIES: list[Policy] = [
    resource_policy(
        "sfn-logging-and-tracing",
        "State machines log executions and trace with X-Ray.",
        STATE_MACHINE,
        _observed,
        severity=Severity.MEDIUM,
        remediation="Set logging_configuration (level ERROR or ALL, a log group) and "
        "tracing_configuration={'enabled': True}.",
    ),
    resource_policy(
        "sfn-every-task-catches",
        "Every Task state in the definition has a Catch.",
        STATE_MACHINE,
        _tasks_catch,
        severity=Severity.HIGH,
        remediation="Compile the definition with components.saga.compile_saga, which catches every task.",
    ),
]


ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
# Step Functions' X-Ray IAM policy: it writes segments and samples by itself.
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets")


def _allowed(resources: list[PolicyResource], role: PolicyResource) -> set[str]:
    """Actions the role's inline policies allow on '*', as lower-case patterns."""
    allowed: set[str] = set()
    names = {role.props.get("name"), role.props.get("id"), role.props.get("arn")}
    for policy in (r for r in resources if r.resource_type == ROLE_POLICY and r.props.get("role") in names):
        try:
            parsed = document(policy.props.get("policy") or "{}")
        except MalformedDocument:
            continue
        for statement in statements(parsed):
            if "*" in as_list(statement.get("Resource")):
                allowed |= {str(action).lower() for action in as_list(statement.get("Action"))}
    return allowed


def _traces_allowed(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = list(args.resources)
    for machine in (r for r in resources if r.resource_type == STATE_MACHINE[0]):
        if not (machine.props.get("tracingConfiguration") or {}).get("enabled"):
            continue
        role = next(
            (r for r in resources if r.resource_type == ROLE and r.props.get("arn") == machine.props.get("roleArn")),
            None,
        )
        if role is None:
            continue  # a role from outside the program: nothing to read
        allowed = _allowed(resources, role)
        missing = [a for a in XRAY_ACTIONS if not any(fnmatchcase(a.lower(), pattern) for pattern in allowed)]
        if missing:
            report_violation(f"traces with X-Ray but its role lacks {', '.join(missing)}", machine.urn)


POLICIES += [
    stack_policy(
        "sfn-tracing-permissions",
        "A state machine that traces may write and sample X-Ray traces.",
        _traces_allowed,
        severity=Severity.MEDIUM,
        remediation="Add iam.tracing(sampling=True) to the state machine role's policy.",
    ),
]
