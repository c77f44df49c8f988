"""The offline policy check: every rule of the pack over a synthesized resource graph.

    python -m policies check --stack prod-use1 [--format text|json|markdown]
    python -m policies check --graph build/prod-use1.resources.json
    python -m policies check --stack prod-use1 --config policies/policy-config.json

Resource rules see each resource's inputs (as at ``pulumi preview``); stack rules see every
resource's outputs, parents and property dependencies (as after it). Both get them the way
pulumi-policy's analyzer hands them over in the engine: wrapped by ``unknown_checking_proxy``
(mappings and sequences, not dicts and lists), and a rule that touches an unknown value is
reported as an advisory "can't run during preview", not as a verdict. Exit 1 when a mandatory
policy is violated, 0 otherwise, 2 when the stack or graph cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies.rules import POLICIES
from synth.graph import Graph, GraphError, Resource


@dataclass(frozen=True)
class Violation:
    policy: str
    severity: str
    enforcement: str
    resourceType: str
    resource: str
    message: str


def _options(parent: str | None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def _stack_resources(resources: list[Resource]) -> list[PolicyResource]:
    """PolicyResources with their outputs, parents and dependencies linked, as the engine gives them."""
    built: dict[str, PolicyResource] = {}
    for resource in resources:
        built[resource.urn] = PolicyResource(
            resource_type=resource.type,
            props=unknown_checking_proxy(resource.outputs or resource.inputs),
            urn=resource.urn,
            name=resource.name,
            opts=_options(resource.parent),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
    for resource in resources:
        policy_resource = built[resource.urn]
        policy_resource.parent = built.get(resource.parent or "")
        policy_resource.dependencies = [built[u] for u in resource.dependencies if u in built]
        policy_resource.property_dependencies = {
            key: [built[u] for u in urns if u in built] for key, urns in resource.property_dependencies.items()
        }
    return list(built.values())


class _Reporter:
    """Collects one policy's violations, resolving the URN it names to the resource."""

    def __init__(self, policy: Policy, graph: Graph, found: list[Violation]) -> None:
        self.policy = policy
        self.graph = graph
        self.found = found
        self.resource: Resource | None = None  # the resource a resource rule is looking at

    def __call__(self, message: str, urn: str | None = None) -> None:
        level = self.policy.enforcement_level or EnforcementLevel.MANDATORY
        self._append(message, urn, level)

    def cannot_run(self, error: UnknownValueError) -> None:
        """What the engine's analyzer reports when a rule touches an unknown value: advisory."""
        message = f"can't run policy '{self.policy.name}' during preview: {error.message}"
        self._append(message, None, EnforcementLevel.ADVISORY)

    def _append(self, message: str, urn: str | None, level: EnforcementLevel) -> None:
        target = self.graph.by_urn(urn or "") or self.resource
        typ, where = (target.type, target.urn) if target else ("stack", urn or "")
        severity = self.policy.severity.value if self.policy.severity else "medium"
        self.found.append(Violation(self.policy.name, severity, level.value, typ, where, message))


def evaluate(
    graph: Graph, policies: Sequence[Policy] = POLICIES, config: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Violation]:
    """Run every policy; returns what each reported. ``config`` is the pack's configuration as
    ``pulumi up --policy-pack-config`` reads it: by policy name, that policy's settings."""
    found: list[Violation] = []
    for policy in policies:
        report = _Reporter(policy, graph, found)
        settings = dict((config or {}).get(policy.name) or {})
        if isinstance(policy, StackValidationPolicy):
            _run(policy.validate, StackValidationArgs(_stack_resources(graph.resources), config=settings), report)
            continue
        assert isinstance(policy, ResourceValidationPolicy)
        for resource in (r for r in graph.resources if r.custom):
            report.resource = resource
            args = ResourceValidationArgs(
                resource.type,
                unknown_checking_proxy(resource.inputs),
                resource.urn,
                resource.name,
                _options(resource.parent),
                None,
                config=settings,
            )
            _run(policy.validate, args, report)
    return found


Args = TypeVar("Args", ResourceValidationArgs, StackValidationArgs)


def _run(validate: Callable[[Args, ReportViolation], object], args: Args, report: _Reporter) -> None:
    try:
        validate(args, report)
    except UnknownValueError as error:
        report.cannot_run(error)


def mandatory(violations: Sequence[Violation]) -> list[Violation]:
    return [v for v in violations if v.enforcement == EnforcementLevel.MANDATORY.value]


def as_text(violations: Sequence[Violation], subject: str) -> str:
    if not violations:
        return f"{subject}: {len(POLICIES)} policies, no violations"
    lines = [f"{subject}: {len(violations)} violation(s), {len(mandatory(violations))} mandatory"]
    for v in violations:
        lines.append(f"  [{v.enforcement}/{v.severity}] {v.policy}: {v.resource}\n      {v.message}")
    return "\n".join(lines)


def as_markdown(violations: Sequence[Violation], subject: str) -> str:
    if not violations:
        return f"### Policy check: `{subject}`\n\n:white_check_mark: {len(POLICIES)} policies, no violations.\n"
    header = (
        f"### Policy check: `{subject}`\n\n"
        f"**{len(mandatory(violations))} mandatory** of {len(violations)} violation(s): "
        f"{'this blocks the deploy' if mandatory(violations) else 'advisory only'}.\n\n"
        "| policy | enforcement | severity | resource | message |\n|---|---|---|---|---|\n"
    )
    rows = [
        f"| `{v.policy}` | {v.enforcement} | {v.severity} "
        f"| `{v.resource.rsplit('::', 1)[-1]}` ({v.resourceType}) | {v.message.replace('|', '/')} |"
        for v in violations
    ]
    return header + "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies check", description="Run the policy pack offline.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", action="append", help="synthesize this stack and check it (repeatable)")
    source.add_argument("--graph", action="append", type=Path, help="check a *.resources.json written earlier")
    parser.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    parser.add_argument(
        "--config", type=Path, help="the pack's configuration, as for `pulumi up --policy-pack-config FILE`"
    )
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config.read_text()) if args.config else {}
    except (OSError, ValueError) as error:
        print(f"policy check: cannot read --config {args.config}: {error}", file=sys.stderr)
        return 2
    if not isinstance(config, dict) or not all(isinstance(v, dict) for v in config.values()):
        print("policy check: --config must map policy names to their settings", file=sys.stderr)
        return 2

    from synth.program import SynthError, run_synth  # only the --stack path needs the program

    reports: list[tuple[str, list[Violation]]] = []
    try:
        for stack in args.stack or []:
            reports.append((stack, evaluate(run_synth(stack), config=config)))
        for path in args.graph or []:
            reports.append((str(path), evaluate(Graph.load(path), config=config)))
    except (SynthError, GraphError) as error:
        print(f"policy check: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps([asdict(v) for _, violations in reports for v in violations], indent=2))
    else:
        render = as_markdown if args.format == "markdown" else as_text
        print("\n".join(render(violations, subject) for subject, violations in reports))
    return 1 if any(mandatory(violations) for _, violations in reports) else 0


def timed_check(stack: str) -> tuple[float, float, int]:
    """(synth seconds, evaluation seconds, violations): what bench/policy_check.py measures."""
    from synth.program import run_synth

    started = time.perf_counter()
    graph = run_synth(stack)
    synthesized = time.perf_counter()
    violations = evaluate(graph)
    return synthesized - started, time.perf_counter() - synthesized, len(violations)
