"""State machines log and trace, and every Task state catches its errors (or a saga could end
without compensating)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, Severity

from policies.rules.base import resource_policy
from policies.rules.documents import MalformedDocument, document

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
