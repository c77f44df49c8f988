"""The demo's HTML report: one self-contained page (inline SVG and CSS, no script, no network).

Charts share one time axis in seconds since the start; the spike and the courier outage are
shaded spans, each labelled in a lane of its own above the plot so labels never overlap. Every
data mark (a line, a dot, a bar) carries ``class="mark"``, and every chart is an
``svg.chart`` with an ``aria-label``: the browser test counts marks per chart by those.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from demo.audit import UNDO_STEPS
from demo.driver import PARKED, LaunchDayRun
from demo.report import percentile
from demo.scenario import Plan

WINDOW_S = 5.0
"""Intake latency percentiles are over the accepted requests answered in the last WINDOW_S."""
SHOWN_BREACHES = 50
"""Breaches listed per invariant; the rest are counted (``--json`` has them all)."""

TIMES = "\N{MULTIPLICATION SIGN}"

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, GREEN, RED, PURPLE, SKY, GREY = "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#777"
OUTAGE = "#8a8a8a"  # neutral: no series is drawn in it
STATUS_COLORS = {"CONFIRMED": GREEN, "CANCELLED_COMPENSATED": ORANGE, PARKED: RED, "PENDING": BLUE}

W, H = 560, 300
"""Every chart's SVG user units; the page scales it to its column."""
LEFT, RIGHT, BOTTOM, LANE, LEGEND_ROW = 58, 14, 42, 15, 18


@dataclass(frozen=True)
class _Series:
    name: str
    points: Sequence[tuple[float, float | None]]
    """(x, y); None breaks the line (no data there)."""
    color: str
    dashed: bool = False
    dots: bool = False
    """Draw each point as a dot instead of a line."""


@dataclass(frozen=True)
class _Span:
    start: float
    end: float
    label: str
    color: str


@dataclass
class _Frame:
    """Where the plot sits in the SVG, and its scales (0..x_top, 0..y_top)."""

    x_top: float
    y_top: float
    top: float
    x_ticks: list[float] = field(default_factory=list)
    y_ticks: list[float] = field(default_factory=list)

    def x(self, value: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * value / self.x_top

    def y(self, value: float) -> float:
        return H - BOTTOM - (H - BOTTOM - self.top) * value / self.y_top


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Ticks from 0 past ``top`` in steps of 1, 2 or 5 times a power of ten (about ``count``)."""
    top = top if top > 0 and math.isfinite(top) else 1.0
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [round(i * step, 10) for i in range(math.ceil(top / step - 1e-9) + 1)]


def _num(value: float) -> str:
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:g}" if abs(value) < 1 else f"{value:,.1f}"  # a time scale of 0.05 is not 0.1


def _text(x: float, y: float, text: str, **attrs: str) -> str:
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _text_width(text: str, size: float = 11.5) -> float:
    """About how wide ``text`` sets in a sans-serif at ``size`` px: enough to lay out a legend."""
    return size * sum(0.3 if c == " " else 0.7 if c.isupper() else 0.57 for c in text)


def _axes(frame: _Frame, x_label: str, y_label: str) -> list[str]:
    parts = []
    plot_right, plot_bottom = W - RIGHT, H - BOTTOM
    for tick in frame.y_ticks:
        y = frame.y(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{plot_right}" y2="{y:.1f}"/>')
        parts.append(_text(LEFT - 6, y + 4, _num(tick), text_anchor="end", class_="tick"))
    for tick in frame.x_ticks:
        x = frame.x(tick)
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{plot_bottom}" x2="{x:.1f}" y2="{plot_bottom + 5}"/>')
        parts.append(_text(x, plot_bottom + 17, _num(tick), text_anchor="middle", class_="tick"))
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}"/>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{frame.top}" x2="{LEFT}" y2="{plot_bottom}"/>')
    parts.append(_text((LEFT + plot_right) / 2, H - 6, x_label, text_anchor="middle", class_="axis-label"))
    middle = (frame.top + plot_bottom) / 2
    parts.append(
        _text(14, middle, y_label, text_anchor="middle", class_="axis-label", transform=f"rotate(-90 14 {middle:.1f})")
    )
    return parts


def _legend(items: Sequence[tuple[str, str, str]]) -> tuple[list[str], float]:
    """(name, colour, kind: line, dash or dot) in rows from the top edge; returns the parts and
    where the rows end."""
    parts, x, y = [], float(LEFT), 12.0
    for name, color, kind in items:
        width = 18 + _text_width(name) + 14
        if x + width > W - RIGHT and x > LEFT:
            x, y = float(LEFT), y + LEGEND_ROW
        if kind == "dot":
            parts.append(f'<circle cx="{x + 7:.1f}" cy="{y - 4}" r="3" fill="{color}" fill-opacity="0.5"/>')
        else:
            dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
            parts.append(
                f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 14:.1f}" y2="{y - 4}" '
                f'stroke="{color}" stroke-width="2"{dash}/>'
            )
        parts.append(_text(x + 18, y, name, class_="legend"))
        x += width
    return parts, y + 6


def _spans(frame: _Frame, spans: Sequence[_Span], lanes_top: float) -> list[str]:
    """Each span shaded over the plot, and drawn as a bar in a lane of its own above it with its
    label beside the bar (after it, or before it near the right edge): labels cannot collide."""
    parts = []
    for lane, span in enumerate(spans):
        x0, x1 = frame.x(max(0.0, span.start)), frame.x(min(span.end, frame.x_top))
        width = max(x1 - x0, 1.5)
        parts.append(
            f'<rect class="span" x="{x0:.1f}" y="{frame.top}" width="{width:.1f}" '
            f'height="{H - BOTTOM - frame.top:.1f}" fill="{span.color}" fill-opacity="0.16"/>'
        )
        middle = lanes_top + lane * LANE + LANE / 2
        parts.append(f'<rect x="{x0:.1f}" y="{middle - 3:.1f}" width="{width:.1f}" height="6" fill="{span.color}"/>')
        if x0 + width + 6 + _text_width(span.label, 11) <= W - RIGHT:
            parts.append(_text(x0 + width + 5, middle + 4, span.label, class_="span-label"))
        else:
            parts.append(_text(x0 - 5, middle + 4, span.label, text_anchor="end", class_="span-label"))
    return parts


def _path(frame: _Frame, points: Iterable[tuple[float, float | None]]) -> str:
    """An SVG path through the points, lifted where a y is None."""
    commands, pen_down = [], False
    for x, y in points:
        if y is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{frame.x(x):.1f},{frame.y(y):.1f}")
        pen_down = True
    return " ".join(commands)


def line_chart(
    label: str, series: Sequence[_Series], spans: Sequence[_Span], *, x_top: float, y_label: str, x_label: str
) -> str:
    """Lines (or dots) over time, with axes, ticks, shaded spans and a legend."""
    values = [y for s in series for _, y in s.points if y is not None]
    legend, legend_bottom = _legend(
        [(s.name, s.color, "dot" if s.dots else "dash" if s.dashed else "line") for s in series]
    )
    frame = _Frame(x_top=1.0, y_top=1.0, top=legend_bottom + LANE * len(spans) + 8)
    frame.x_ticks = nice_ticks(x_top, 8)
    frame.y_ticks = nice_ticks(max(values, default=0.0), 5)
    frame.x_top, frame.y_top = frame.x_ticks[-1], frame.y_ticks[-1]
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        *_spans(frame, spans, legend_bottom),
        *_axes(frame, x_label, y_label),
        *legend,
    ]
    for s in series:
        if s.dots:
            parts += [
                f'<circle class="mark" cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2.2" '
                f'fill="{s.color}" fill-opacity="0.35"/>'
                for x, y in s.points
                if y is not None
            ]
            continue
        path = _path(frame, s.points)
        if path:
            dash = ' stroke-dasharray="5 3"' if s.dashed else ""
            parts.append(
                f'<path class="mark" d="{path}" fill="none" stroke="{s.color}" stroke-width="2" '
                f'stroke-linejoin="round"{dash}/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(label: str, bars: Sequence[tuple[str, str, int]], *, x_label: str, color: str = ORANGE) -> str:
    """Horizontal bars, each with a name, a note under it and its count, on an axis with ticks."""
    name_width, row, top = 178, 40, 12
    bottom = top + row * len(bars)
    height = bottom + BOTTOM
    ticks = nice_ticks(max((n for _, _, n in bars), default=0), 5)
    plot_right = W - RIGHT - 30  # room for the count after the longest bar
    scale = (plot_right - name_width) / ticks[-1]
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for tick in ticks:
        x = name_width + tick * scale
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>')
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}"/>')
        parts.append(_text(x, bottom + 17, _num(tick), text_anchor="middle", class_="tick"))
    for n, (name, note, count) in enumerate(bars):
        y = top + n * row
        parts.append(_text(name_width - 8, y + 17, name, text_anchor="end", class_="category"))
        parts.append(_text(name_width - 8, y + 30, note, text_anchor="end", class_="note"))
        parts.append(
            f'<rect class="mark" x="{name_width}" y="{y + 8}" width="{count * scale:.1f}" height="{row - 16}" '
            f'fill="{color}"/>'
        )
        parts.append(_text(name_width + count * scale + 5, y + 24, _num(count), class_="value"))
    parts.append(f'<line class="axis" x1="{name_width}" y1="{top}" x2="{name_width}" y2="{bottom}"/>')
    parts.append(f'<line class="axis" x1="{name_width}" y1="{bottom}" x2="{plot_right}" y2="{bottom}"/>')
    parts.append(_text((name_width + plot_right) / 2, height - 6, x_label, text_anchor="middle", class_="axis-label"))
    parts.append("</svg>")
    return "".join(parts)


# ---- the page's figures, from the run ----


def _spans_of(plan: Plan, report: dict[str, Any]) -> list[_Span]:
    spike = report.get("knobs", {}).get("spike")
    spike_label = f"spike ({_num(spike)}{TIMES} baseline)" if spike else "spike"
    return [
        _Span(plan.spike_start, plan.spike_end, spike_label, PURPLE),
        _Span(plan.outage_start, plan.outage_end, "courier outage (503s and late answers)", OUTAGE),
    ]


def _x_top(run: LaunchDayRun, plan: Plan) -> float:
    ends = [run.duration_s, plan.outage_end, plan.duration]
    ends += [r.at for r in run.requests] + [s.at for s in run.samples]
    return max(ends)


def rolling_latency(run: LaunchDayRun, window: float = WINDOW_S) -> dict[str, list[tuple[float, float | None]]]:
    """p50 and p99 intake latency (ms) of the accepted requests answered in the last ``window``
    seconds, every second; None where the window holds none."""
    accepted = sorted((r.at, r.latency_ms) for r in run.requests if r.status == 202)
    p50: list[tuple[float, float | None]] = []
    p99: list[tuple[float, float | None]] = []
    if not accepted:
        return {"p50": p50, "p99": p99}
    t, end = 0.0, accepted[-1][0] + 1.0
    while t <= end:
        inside = [ms for at, ms in accepted if t - window < at <= t]
        p50.append((t, percentile(inside, 0.5) if inside else None))
        p99.append((t, percentile(inside, 0.99) if inside else None))
        t += 1.0
    return {"p50": p50, "p99": p99}


def _latency_figure(run: LaunchDayRun, spans: list[_Span], x_top: float) -> str:
    rolling = rolling_latency(run)
    largest = max((r.latency_ms for r in run.requests if r.status == 202), default=0.0)
    divisor, unit = (1000.0, "s") if largest >= 2000 else (1.0, "ms")

    def scaled(points: Iterable[tuple[float, float | None]]) -> list[tuple[float, float | None]]:
        return [(x, None if y is None else y / divisor) for x, y in points]

    series = [
        _Series(
            "each accepted request",
            scaled((r.at, r.latency_ms) for r in run.requests if r.status == 202),
            GREY,
            dots=True,
        ),
        _Series(f"p50 (last {_num(WINDOW_S)} s)", scaled(rolling["p50"]), BLUE),
        _Series(f"p99 (last {_num(WINDOW_S)} s)", scaled(rolling["p99"]), RED),
    ]
    return _figure(
        "Intake latency",
        "Time from sending an order to its 202, for every accepted request; lines are percentiles "
        f"over a rolling {_num(WINDOW_S)} s window.",
        line_chart(
            "Intake latency over time",
            series,
            spans,
            x_top=x_top,
            y_label=f"latency ({unit})",
            x_label="time since start (s)",
        ),
    )


def _backlog_figure(run: LaunchDayRun, spans: list[_Span], x_top: float) -> str:
    series = [
        _Series("in flight (accepted, not settled)", [(s.at, float(s.in_flight)) for s in run.samples], BLUE),
        _Series("saga-start queue depth", [(s.at, float(s.start_queue_depth)) for s in run.samples], ORANGE),
    ]
    return _figure(
        "Saga backlog",
        "Orders accepted but neither terminal nor parked, and messages waiting to start a saga (sampled each second).",
        line_chart("Saga backlog", series, spans, x_top=x_top, y_label="orders", x_label="time since start (s)"),
    )


def _status_figure(run: LaunchDayRun, spans: list[_Span], x_top: float) -> str:
    seen = {status for s in run.samples for status in s.by_status}
    statuses = [s for s in STATUS_COLORS if s in seen] + sorted(seen - set(STATUS_COLORS))
    others = [PURPLE, SKY, GREY]
    series = [_Series("accepted", [(s.at, float(s.accepted)) for s in run.samples], GREY, dashed=True)]
    series += [
        _Series(status, [(s.at, float(s.by_status.get(status, 0))) for s in run.samples], color)
        for status, color in zip(
            statuses, [STATUS_COLORS.get(s) or others[n % len(others)] for n, s in enumerate(statuses)], strict=True
        )
    ]
    return _figure(
        "Orders by status",
        "Orders in the orders table by status, against all accepted so far (sampled each second).",
        line_chart(
            "Orders by status over time", series, spans, x_top=x_top, y_label="orders", x_label="time since start (s)"
        ),
    )


def _compensation_figure(report: dict[str, Any]) -> str:
    counts: dict[str, int] = report["compensations_per_step"]
    steps = [*UNDO_STEPS, *sorted(set(counts) - set(UNDO_STEPS))]
    bars = [(step, f"undoes {UNDO_STEPS[step]}" if step in UNDO_STEPS else "", counts.get(step, 0)) for step in steps]
    caption = "Compensating steps run by the cancelled orders; one order may run several."
    if not any(n for _, _, n in bars):
        return _figure("Compensations per step", caption, '<p class="empty">No order was compensated.</p>')
    return _figure("Compensations per step", caption, bar_chart("Compensations per step", bars, x_label="orders"))


def _figure(title: str, caption: str, body: str) -> str:
    return f"<figure><h3>{escape(title)}</h3>{body}<figcaption>{escape(caption)}</figcaption></figure>"


# ---- tables: human words and numbers, never a Python repr ----


def _seconds(value: float) -> str:
    return f"{value:,.1f} s" if value >= 10 else f"{value:,.2f} s"


def _latency(ms: float) -> str:
    return _seconds(ms / 1000) if ms >= 1000 else f"{ms:,.0f} ms"


def _money(minor_units: int) -> str:
    return f"{minor_units / 100:,.2f}"


def _human(value: Any) -> str:
    """Any summary value in words: dicts as ``key value`` pairs, lists joined, booleans yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _num(value)
    if isinstance(value, dict):
        return " · ".join(f"{key} {_human(item)}" for key, item in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_human(item) for item in value) or "none"
    return str(value)


def _pair(pair: dict[str, float], show: Any) -> str:
    return f"p50 {show(pair['p50'])} · p99 {show(pair['p99'])}"


SHOWN_ELSEWHERE = {"audit", "problems", "parked", "invariants_failed"}


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary as (label, value) rows in words; keys this page does not know yet are shown too."""
    knobs = report.get("knobs", {})
    known: dict[str, tuple[str, str]] = {
        "knobs": (
            "scenario",
            f"{_human(knobs.get('orders'))} orders, spike {_human(knobs.get('spike'))}{TIMES} baseline, "
            f"courier outage {_human(knobs.get('outage'))} s, seed {_human(knobs.get('seed'))}, "
            f"time scale {_human(knobs.get('time_scale'))}"
            + "".join(
                f", {key.replace('_', ' ')} {_human(value)}"
                for key, value in knobs.items()
                if key not in ("orders", "spike", "outage", "seed", "time_scale")
            ),
        ),
        "submitted": (
            "submitted",
            f"{_human(report.get('submitted'))} orders in {_human(report.get('requests'))} requests",
        ),
        "requests": ("", ""),
        "accepted": ("accepted", _human(report.get("accepted"))),
        "confirmed": ("CONFIRMED", _human(report.get("confirmed"))),
        "cancelled_compensated": ("CANCELLED_COMPENSATED", _human(report.get("cancelled_compensated"))),
        "needs_review": ("NEEDS_REVIEW (parked)", _human(report.get("needs_review"))),
        "lost": ("lost (no terminal status)", _human(report.get("lost"))),
        "charged_not_confirmed": ("charged, not confirmed", _human(report.get("charged_not_confirmed"))),
        "oversold_units": ("oversold units", _human(report.get("oversold_units"))),
        "intake_latency_ms": ("intake latency (accepted)", _pair(report.get("intake_latency_ms", {}), _latency)),
        "saga_seconds": ("saga time (created to settled)", _pair(report.get("saga_seconds", {}), _seconds)),
        "state_transitions_per_order": ("states entered per order", _human(report.get("state_transitions_per_order"))),
        "compensations_per_step": ("compensations per step", _human(report.get("compensations_per_step"))),
        "http_statuses": (
            "HTTP answers",
            " · ".join(f"{code} {TIMES} {_num(n)}" for code, n in report.get("http_statuses", {}).items()) or "none",
        ),
        "duration_s": ("duration", _seconds(report.get("duration_s", 0.0))),
        "drained": ("drained (every order settled)", _human(report.get("drained"))),
    }
    rows = []
    for key, value in report.items():
        if key in SHOWN_ELSEWHERE:
            continue
        label, shown = known.get(key, (key.replace("_", " "), _human(value)))
        if label:
            rows.append((label, shown))
    return rows


def _cards(report: dict[str, Any]) -> str:
    audit = report.get("audit", [])
    passed = sum(1 for verdict in audit if verdict["passed"])
    latency = report.get("intake_latency_ms", {"p50": 0.0, "p99": 0.0})
    cards = [
        ("accepted", _human(report.get("accepted")), f"of {_human(report.get('submitted'))} submitted", ""),
        ("confirmed", _human(report.get("confirmed")), "CONFIRMED", "good"),
        ("compensated", _human(report.get("cancelled_compensated")), "CANCELLED_COMPENSATED", ""),
        ("parked", _human(report.get("needs_review")), "NEEDS_REVIEW", "bad" if report.get("needs_review") else ""),
        ("lost", _human(report.get("lost")), "no terminal status", "bad" if report.get("lost") else "good"),
        ("intake p99", _latency(latency["p99"]), f"p50 {_latency(latency['p50'])}", ""),
        ("audit", f"{passed} / {len(audit)}", "invariants hold", "good" if passed == len(audit) else "bad"),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card {tone}"><div class="label">{escape(label)}</div><div class="big">{escape(big)}</div>'
            f'<div class="small">{escape(small)}</div></div>'
            for label, big, small, tone in cards
        )
        + "</div>"
    )


def _held(holds: dict[str, Any] | None) -> list[str]:
    if holds is None:
        return ["", "", "", ""]
    return [
        _money(holds["money"]) if holds["money"] else "0",
        ", ".join(f"{quantity} {TIMES} {shard}" for shard, quantity in holds["units"]) or "none",
        _num(holds["points"]) if holds["points"] else "0",
        ", ".join(holds["courier_slots"]) or "none",
    ]


def audit_table(report: dict[str, Any]) -> str:
    """One row per invariant; under each failed one, who breaks it and what each still holds."""
    rows = []
    for verdict in report.get("audit", []):
        breaches = verdict["breaches"]
        mark = '<td class="pass">✓ passed</td>' if verdict["passed"] else '<td class="fail">✗ failed</td>'
        count = "" if verdict["passed"] else f"{len(breaches)} breach{'es' if len(breaches) != 1 else ''}"
        rows.append(f'<tr class="invariant">{mark}<td>{escape(verdict["invariant"])}</td><td>{count}</td></tr>')
        if verdict["passed"]:
            continue
        cells = "".join(
            "<tr>"
            + "".join(
                f"<td>{escape(cell)}</td>"
                for cell in [b["subject"], b["status"] or "", b["problem"], *_held(b["holds"])]
            )
            + "</tr>"
            for b in breaches[:SHOWN_BREACHES]
        )
        more = (
            f'<p class="more">… and {len(breaches) - SHOWN_BREACHES} more '
            "(all in <code>python -m demo --json</code>)</p>"
            if len(breaches) > SHOWN_BREACHES
            else ""
        )
        rows.append(
            '<tr class="breaches"><td></td><td colspan="2"><table class="evidence"><thead><tr>'
            "<th>order (or shard, account)</th><th>status</th><th>what is wrong</th>"
            "<th>money at gateway, net (USD)</th><th>units held</th><th>points burned</th><th>courier slots</th>"
            f"</tr></thead><tbody>{cells}</tbody></table>{more}</td></tr>"
        )
    return (
        '<table class="audit"><thead><tr><th>verdict</th><th>invariant</th><th>breaches</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _parked_table(report: dict[str, Any]) -> str:
    if not report.get("parked"):
        return '<p class="empty">No order is parked.</p>'
    rows = "".join(
        f"<tr><td>{escape(str(p.get('orderId')))}</td><td>{escape(str(p.get('step')))}</td>"
        f"<td>{escape(str(p.get('error')))}</td></tr>"
        for p in report["parked"]
    )
    head = "<tr><th>order</th><th>parked at step</th><th>error</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"


STYLE = """
body { font: 14px/1.45 system-ui, "DejaVu Sans", "Liberation Sans", sans-serif; color: #222; margin: 0;
  background: #f6f7f9; }
main { max-width: 1160px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; }
h3 { font-size: 15px; margin: 0 0 6px; } .sub { color: #555; margin: 0 0 14px; }
.verdict { padding: 10px 14px; border-radius: 6px; font-weight: 600; margin: 12px 0; }
.verdict.good { background: #e3f4ec; color: #05603f; } .verdict.bad { background: #fbe6dc; color: #8a2b00; }
.cards { display: grid; grid-template-columns: repeat(7, 1fr); gap: 10px; }
.card { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 8px 10px; }
.card .label { color: #555; font-size: 12px; } .card .big { font-size: 22px; font-weight: 600; }
.card .small { color: #666; font-size: 11px; } .card.good .big { color: #05603f; } .card.bad .big { color: #b23c00; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
figure { margin: 0; background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 10px 12px; }
figcaption { color: #555; font-size: 12px; margin-top: 4px; }
svg.chart { width: 100%; height: auto; display: block; font-family: inherit; }
svg .tick, svg .value { font-size: 11px; fill: #444; } svg .axis-label { font-size: 12px; fill: #333; }
svg .legend, svg .category { font-size: 11.5px; fill: #222; } svg .note { font-size: 10.5px; fill: #666; }
svg .span-label { font-size: 11px; fill: #333; }
svg .grid { stroke: #e6e8eb; } svg .axis { stroke: #555; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { border: 1px solid #dde1e6; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef0f3; font-weight: 600; } td.pass { color: #05603f; white-space: nowrap; }
td.fail { color: #b23c00; font-weight: 600; white-space: nowrap; }
table.evidence { font-size: 12.5px; } table.evidence th { background: #f7f8fa; }
table.evidence td { white-space: nowrap; } table.evidence td:nth-child(3) { white-space: normal; }
table.summary td:first-child { color: #444; width: 240px; } .empty, .more { color: #555; }
"""


TIMELINE_EVENTS = (
    ("killed", "the primary region goes dark"),
    ("promoted", "runbook: promote (the standby is active)"),
    ("reconciled", "runbook: reconcile (the standby adopts the primary's unsettled orders)"),
    ("first_standby_accept", "first order accepted by the standby"),
    ("all_settled", "every accepted order settled"),
    ("back", "the primary comes back (its executions resume and stand down)"),
    ("done", "replicas drained and agree; the audit runs"),
)


def drill_section(drill: dict[str, Any], report: dict[str, Any]) -> str:
    """The disaster-recovery drill: RTO and RPO, what happened when, the runbook as it ran."""
    timeline = drill.get("timeline_s", {})
    killed = timeline.get("killed")
    rows = []
    for key, label in TIMELINE_EVENTS:
        at = timeline.get(key)
        after = "" if at is None or killed is None else f"{at - killed:+.1f} s"
        rows.append(f"<tr><td>{escape(label)}</td><td>{'—' if at is None else f'{at:.1f} s'}</td><td>{after}</td></tr>")
    rto = report.get("rto_seconds", {})
    cards = [
        ("RTO: standby accepts", rto.get("first_accepted_by_standby"), "s after the kill"),
        ("RTO: all settled", rto.get("all_settled"), "s after the kill"),
        ("RPO", report.get("rpo_orders"), "orders missing at promotion"),
        ("double effects", report.get("double_effects"), "orders"),
        ("re-sent by clients", len(drill.get("resubmitted_by_clients", [])), "same key"),
    ]
    card_html = "".join(
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="big">{escape("—" if value is None else str(value))}</div>'
        f'<div class="small">{escape(unit)}</div></div>'
        for label, value, unit in cards
    )
    steps = "".join(
        f"<tr><td><code>{escape(step['command'])}</code></td><td>{step['at']:.1f} s</td>"
        f"<td>{step['seconds']:.1f} s</td><td>{step['exit']}</td></tr>"
        for step in drill.get("runbook", [])
    )
    executions = ", ".join(f"{k} {v}" for k, v in sorted(drill.get("primary_executions_by_status", {}).items()))
    return f"""<h2>Disaster-recovery drill</h2>
<p class="sub">The primary went dark mid-spike; clients failed over to the standby with their
Idempotency-Keys; the runbook ran against the standby alone; the primary came back and its
resumed executions stood down. Replication lag {escape(str(drill.get("knobs", {}).get("lag_ms")))} ms,
last writer wins.</p>
<div class="cards">{card_html}</div>
<h3>What happened when</h3>
<table class="timeline"><thead><tr><th>event</th><th>since the start</th><th>since the kill</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h3>The runbook, as it ran</h3>
<table><thead><tr><th>command</th><th>at</th><th>took</th><th>exit</th></tr></thead><tbody>{steps}</tbody></table>
<p class="sub">The primary's executions after it came back: {escape(executions or "none")};
{escape(str(drill.get("backlog_applied_to_primary", 0)))} replicated writes reached it before they resumed.</p>
"""


def as_html(report: dict[str, Any], run: LaunchDayRun, plan: Plan, drill: dict[str, Any] | None = None) -> str:
    """The whole page: verdict, key numbers, charts, the audit per invariant, summary, parked
    orders; with ``drill`` (``python -m demo.drill``), its section after the key numbers."""
    spans = _spans_of(plan, report)
    x_top = _x_top(run, plan)
    failed = report.get("invariants_failed", [])
    verdict = (
        '<p class="verdict good">Audit: every invariant holds.</p>'
        if not failed
        else f'<p class="verdict bad">Audit failed: {len(failed)} of {len(report.get("audit", []))} invariants '
        "broken (the orders and what each still holds are listed under Audit).</p>"
    )
    summary = "".join(
        f"<tr><td>{escape(label)}</td><td>{escape(value)}</td></tr>" for label, value in summary_rows(report)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>order-saga: launch day in the sandbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><main>
<h1>Launch day in the sandbox{" — region failover drill" if drill else ""}</h1>
<p class="sub">{_human(report.get("submitted"))} orders over {_seconds(report.get("duration_s", 0.0))}; the spike and
the courier outage are shaded on every chart.</p>
{verdict}
{_cards(report)}
{drill_section(drill, report) if drill else ""}
<h2>Over time</h2>
<div class="charts">
{_latency_figure(run, spans, x_top)}
{_backlog_figure(run, spans, x_top)}
{_status_figure(run, spans, x_top)}
{_compensation_figure(report)}
</div>
<h2>Audit</h2>
<p class="sub">Computed from the partners' ledgers and the tables, not from the saga's say.</p>
{audit_table(report)}
<h2>Summary</h2>
<table class="summary"><tbody>{summary}</tbody></table>
<h2>Parked orders</h2>
{_parked_table(report)}
</main></body></html>
"""
