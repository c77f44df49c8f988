"""The demo's summary (terminal, JSON) and its HTML report with plots (inline SVG: no plotting
library needed)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from sandbox.demo.audit import Audit
from sandbox.demo.driver import Run
from sandbox.demo.scenario import Knobs, Plan


def percentile(samples: Sequence[float], q: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def summary(knobs: Knobs, run: Run, result: Audit) -> dict[str, Any]:
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
        "problems": result.stock_problems
        + result.points_problems
        + result.courier_problems
        + result.execution_problems,
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
        f"  HTTP: {report['http_statuses']}; {report['duration_s']} s",
        f"  Lambda faults injected: {report['lambda_faults']}",
    ]
    if report["parked"]:
        lines.append(f"parked orders ({len(report['parked'])}): answer each, see README 'Answering a parked order'")
        lines += [f"  {p['orderId']}  at {p['step']}: {p['error']}" for p in report["parked"]]
    if report["invariants_failed"]:
        lines.append("AUDIT FAILED: " + "; ".join(report["invariants_failed"]))
        lines += [f"  {problem}" for problem in report["problems"][:20]]
    else:
        lines.append("audit: every invariant holds")
    return "\n".join(lines)


def _svg_lines(
    title: str, series: dict[str, list[tuple[float, float]]], marks: Sequence[tuple[float, str]] = ()
) -> str:
    """A small line chart: ``series`` of (x, y) points, with labelled vertical marks."""
    width, height, pad = 640, 240, 40
    points = [p for values in series.values() for p in values] or [(0.0, 0.0)]
    max_x = max(x for x, _ in points) or 1.0
    max_y = max(y for _, y in points) or 1.0

    def sx(x: float) -> float:
        return pad + (width - 2 * pad) * x / max_x

    def sy(y: float) -> float:
        return height - pad - (height - 2 * pad) * y / max_y

    colors = ["#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd"]
    parts = [
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-size="11">',
        f'<text x="{pad}" y="16" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#333"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#333"/>',
        f'<text x="{width - pad}" y="{height - 10}" text-anchor="end">{max_x:.0f} s</text>',
        f'<text x="4" y="{pad}">{max_y:.0f}</text>',
    ]
    for at, label in marks:
        parts.append(
            f'<line x1="{sx(at):.1f}" y1="{pad}" x2="{sx(at):.1f}" y2="{height - pad}" '
            'stroke="#aaa" stroke-dasharray="4"/>'
        )
        parts.append(f'<text x="{sx(at) + 3:.1f}" y="{pad + 10}" fill="#777">{html.escape(label)}</text>')
    for n, (name, values) in enumerate(series.items()):
        color = colors[n % len(colors)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        parts.append(f'<text x="{width - pad - 150}" y="{pad + 14 * n}" fill="{color}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_bars(title: str, values: dict[str, int]) -> str:
    width, bar = 640, 22
    height = 40 + bar * max(1, len(values))
    top = max(values.values(), default=1) or 1
    parts = [
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-size="11">',
        f'<text x="10" y="16" font-weight="bold">{html.escape(title)}</text>',
    ]
    for n, (name, count) in enumerate(sorted(values.items())):
        y = 30 + n * bar
        parts.append(f'<text x="10" y="{y + 14}">{html.escape(name)}</text>')
        parts.append(f'<rect x="170" y="{y}" width="{400 * count / top:.1f}" height="{bar - 6}" fill="#d62728"/>')
        parts.append(f'<text x="{175 + 400 * count / top:.1f}" y="{y + 14}">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def as_html(report: dict[str, Any], run: Run, plan: Plan) -> str:
    marks = [
        (plan.spike_start, "spike"),
        (plan.spike_end, "spike ends"),
        (plan.outage_start, "courier down"),
        (plan.outage_end, "courier back"),
    ]
    latency = {
        "intake latency (ms), accepted": [
            (r.at, r.latency_ms) for r in sorted(run.requests, key=lambda r: r.at) if r.status == 202
        ]
    }
    backlog = {
        "in flight": [(s.at, float(s.in_flight)) for s in run.samples],
        "saga-start queue": [(s.at, float(s.start_queue_depth)) for s in run.samples],
    }
    states = {
        status: [(s.at, float(s.by_status.get(status, 0))) for s in run.samples]
        for status in ("CONFIRMED", "CANCELLED_COMPENSATED", "NEEDS_REVIEW", "PENDING")
    }
    verdict = (
        "<p style='color:#2ca02c'><b>Audit: every invariant holds.</b></p>"
        if not report["invariants_failed"]
        else "<p style='color:#d62728'><b>Audit failed:</b> "
        + html.escape("; ".join(report["invariants_failed"]))
        + "</p>"
    )
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in report.items()
        if k not in ("parked", "problems")
    )
    parked = "".join(
        f"<li>{html.escape(p['orderId'])} at {html.escape(str(p['step']))}: {html.escape(str(p['error']))}</li>"
        for p in report["parked"]
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>order-saga launch day</title></head>
<body style="font-family: sans-serif; max-width: 700px; margin: 2em auto">
<h1>Launch day in the sandbox</h1>{verdict}
{_svg_lines("Intake latency over time", latency, marks)}
{_svg_lines("Saga backlog", backlog, marks)}
{_svg_lines("Orders by status over time", states, marks)}
{_svg_bars("Compensations per step (cancelled orders)", report["compensations_per_step"])}
<h2>Summary</h2><table border="1" cellpadding="4" style="border-collapse: collapse">{rows}</table>
<h2>Parked orders</h2><ul>{parked or "<li>none</li>"}</ul>
</body></html>"""
