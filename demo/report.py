"""The demo's summary (terminal, JSON); the HTML report is ``demo.html_report``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from demo.audit import Audit
from demo.driver import LaunchDayRun
from demo.scenario import Knobs
from sandbox.connection import python_command


def percentile(samples: Sequence[float], q: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def summary(knobs: Knobs, run: LaunchDayRun, result: Audit) -> dict[str, Any]:
    latencies = [r.latency_ms for r in run.requests if r.status == 202]
    return {
        "knobs": vars(knobs),
        "submitted": len({r.key for r in run.requests}),
        "requests": len(run.requests),
        "accepted": result.accepted,
        "confirmed": result.by_status.get("CONFIRMED", 0),
        "cancelled_compensated": result.by_status.get("CANCELLED_COMPENSATED", 0),
        "needs_review": result.by_status.get("NEEDS_REVIEW", 0),
        "lost": len(result.lost),
        "charged_not_confirmed": len(result.charged_not_confirmed),
        "oversold_units": result.oversold_units,
        "intake_latency_ms": {
            "p50": round(percentile(latencies, 0.5), 1),
            "p99": round(percentile(latencies, 0.99), 1),
        },
        "saga_seconds": {
            "p50": round(percentile(result.saga_seconds, 0.5), 2),
            "p99": round(percentile(result.saga_seconds, 0.99), 2),
        },
        "state_transitions_per_order": result.transitions,
        "compensations_per_step": dict(result.compensations_per_step),
        "lambda_faults": dict(sorted(_count(f"{task} {fault}" for _, task, fault in run.faults).items())),
        "http_statuses": {str(k): v for k, v in sorted(_count(r.status for r in run.requests).items())},
        "duration_s": round(run.duration_s, 1),
        "drained": run.drained,
        "invariants_failed": result.failures(),
        "problems": result.problems(),
        "audit": [
            {"invariant": v.invariant, "passed": v.passed, "breaches": [asdict(b) for b in v.breaches]}
            for v in result.verdicts()
        ],
        "parked": [{k: v for k, v in p.items() if k != "taskToken"} for p in result.parked],
    }


def _count(values: Any) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def as_text(report: dict[str, Any]) -> str:
    lines = [
        f"submitted {report['submitted']} orders ({report['requests']} requests), accepted {report['accepted']}",
        f"  CONFIRMED {report['confirmed']}   CANCELLED_COMPENSATED {report['cancelled_compensated']}   "
        f"NEEDS_REVIEW {report['needs_review']}   lost {report['lost']}",
        f"  charged but not confirmed {report['charged_not_confirmed']}   oversold units {report['oversold_units']}",
        f"  intake latency p50 {report['intake_latency_ms']['p50']} ms, p99 {report['intake_latency_ms']['p99']} ms; "
        f"saga p50 {report['saga_seconds']['p50']} s, p99 {report['saga_seconds']['p99']} s",
        f"  states per order: {report['state_transitions_per_order']}; "
        f"compensations: {report['compensations_per_step']}",
        f"  HTTP: {report['http_statuses']}; {report['duration_s']} s"
        + (f"; embedded AWS {report['aws_resident_mb']} MB resident" if "aws_resident_mb" in report else ""),
        f"  Lambda faults injected: {report['lambda_faults']}",
    ]
    if report["parked"]:
        python = python_command()
        lines.append(
            f"parked orders ({len(report['parked'])}): with the sandbox still up (make demo DEMO_ARGS=--keep), "
            "answer each with one of"
        )
        for p in report["parked"]:
            lines.append(f"  {p['orderId']}  at {p['step']}: {p['error']}")
            lines += [f"    {python} -m ops --sandbox resolve {p['orderId']} --{a}" for a in ("retry", "compensate")]
    if report["invariants_failed"]:
        lines.append("AUDIT FAILED: " + "; ".join(report["invariants_failed"]))
        lines += [f"  {problem}" for problem in report["problems"][:20]]
    else:
        lines.append("audit: every invariant holds")
    return "\n".join(lines)
