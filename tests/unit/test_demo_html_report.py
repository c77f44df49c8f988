"""The HTML report's structure, on a made-up launch day: axes with ticks and units, the spike and
the outage as spans, no Python reprs, and the audit per invariant with its culprits."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import escape

import pytest

from demo import html_report
from demo.audit import INVARIANTS, MONEY
from demo.driver import LaunchDayRun, SentRequest
from demo.html_report import as_html, nice_ticks, rolling_latency, summary_rows
from tests.synthetic_launch_day import BROKEN_ORDER, PARKED_ORDER, launch_day

SVG = "{http://www.w3.org/2000/svg}"
TIME_CHARTS = {
    "Intake latency over time": "latency (s)",
    "Saga backlog": "orders",
    "Orders by status over time": "orders",
}


def charts(page: str) -> dict[str, ET.Element]:
    """Every chart on the page by its label (each SVG is well-formed XML on its own)."""
    found = [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", page, re.S)]
    return {svg.attrib["aria-label"]: svg for svg in found}


def texts(svg: ET.Element, css_class: str) -> list[ET.Element]:
    return [t for t in svg.iter(f"{SVG}text") if t.attrib.get("class") == css_class]


@pytest.fixture(scope="module")
def page() -> str:
    return as_html(*launch_day())


def test_every_time_chart_has_ticks_and_units_on_both_axes(page: str) -> None:
    found = charts(page)
    assert set(found) == {*TIME_CHARTS, "Compensations per step"}
    for label, y_unit in TIME_CHARTS.items():
        axis_labels = [t.text for t in texts(found[label], "axis-label")]
        assert axis_labels == ["time since start (s)", y_unit], label
        ticks = [t.text for t in texts(found[label], "tick")]
        assert len(ticks) >= 8 and "0" in ticks, (label, ticks)
    bars = found["Compensations per step"]
    assert [t.text for t in texts(bars, "axis-label")] == ["orders"]
    assert [t.text for t in texts(bars, "tick")] == ["0", "5", "10", "15"]


def test_spike_and_outage_are_shaded_and_labelled_in_lanes_of_their_own(page: str) -> None:
    for label in TIME_CHARTS:
        svg = charts(page)[label]
        spans = [r for r in svg.iter(f"{SVG}rect") if r.attrib.get("class") == "span"]
        assert len(spans) == 2, label
        names = texts(svg, "span-label")
        assert [t.text for t in names] == [
            "spike (10\N{MULTIPLICATION SIGN} baseline)",
            "courier outage (503s and late answers)",
        ]
        first, second = (float(t.attrib["y"]) for t in names)
        assert second - first >= 12, "labels share a lane and may overlap"


def test_every_time_chart_has_a_legend_and_data_marks(page: str) -> None:
    for label in TIME_CHARTS:
        svg = charts(page)[label]
        assert len(texts(svg, "legend")) >= 2, label
        assert [m for m in svg.iter() if m.attrib.get("class") == "mark"], label


def test_no_python_repr_reaches_the_page(page: str) -> None:
    for repr_start in ("{'", "[(", "Counter(", "None", "True", "False"):
        assert repr_start not in page, repr_start


def test_the_audit_lists_every_invariant_and_the_culprits_with_what_they_hold(page: str) -> None:
    rows = re.findall(r'<tr class="invariant">(.*?)</tr>', page, re.S)
    assert len(rows) == len(INVARIANTS)
    for name, row in zip(INVARIANTS, rows, strict=True):
        assert escape(name) in row
    failed = [name for name, row in zip(INVARIANTS, rows, strict=True) if "✗ failed" in row]
    assert len(failed) == 4 and MONEY in failed
    evidence = re.findall(r'<table class="evidence">(.*?)</table>', page, re.S)
    assert len(evidence) == 4
    for table in evidence:  # the broken order, and what it still holds
        for held in (
            BROKEN_ORDER,
            "CANCELLED_COMPENSATED",
            "60.00",
            "1 \N{MULTIPLICATION SIGN} HOODIE-M#2",
            "300",
            "bk_late",
        ):
            assert f"<td>{held}</td>" in table, held
    assert "Audit failed: 4 of 7 invariants broken" in page


def test_a_passing_audit_says_so_and_lists_no_culprits() -> None:
    page = as_html(*launch_day(broken=False))
    assert page.count("✓ passed") == len(INVARIANTS)
    assert "✗" not in page and 'class="evidence"' not in page
    assert "Audit: every invariant holds." in page
    assert f"<td>{PARKED_ORDER}</td><td>BookShipment</td><td>CourierTimeout</td>" in page


def test_no_compensations_show_a_sentence_not_an_empty_chart() -> None:
    report, run, plan = launch_day(broken=False)
    page = as_html({**report, "compensations_per_step": {}}, run, plan)
    assert "Compensations per step" not in charts(page)
    assert "No order was compensated." in page


def test_the_summary_is_in_words() -> None:
    report, _, _ = launch_day()
    rows = dict(summary_rows({**report, "a_future_key": {"x": 1, "y": [2.5, True]}}))
    assert rows["submitted"] == "60 orders in 70 requests"
    assert re.fullmatch(r"p50 \d+\.\d\d s · p99 \d+\.\d\d s", rows["intake latency (accepted)"])
    assert rows["HTTP answers"] == "202 \N{MULTIPLICATION SIGN} 60 · 429 \N{MULTIPLICATION SIGN} 10"
    assert rows["a future key"] == "x 1 · y 2.5, yes"
    assert "audit" not in rows and "problems" not in rows


@pytest.mark.parametrize(
    ("top", "ticks"),
    [(7.16, [0, 2, 4, 6, 8]), (60, [0, 20, 40, 60]), (0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]), (15, [0, 5, 10, 15])],
)
def test_ticks_are_round_numbers_past_the_top(top: float, ticks: list[float]) -> None:
    assert nice_ticks(top) == ticks


def test_rolling_latency_breaks_where_the_window_is_empty() -> None:
    # GIVEN accepted requests answered at 1 s and 2 s, then none until 12 s; a 429 is not counted
    run = LaunchDayRun(
        requests=[
            SentRequest(1.0, 100.0, 202, "k1", "o1"),
            SentRequest(2.0, 300.0, 202, "k2", "o2"),
            SentRequest(3.0, 9999.0, 429, "k3", None),
            SentRequest(12.0, 50.0, 202, "k3", "o3"),
        ]
    )
    # WHEN percentiles run over a 5 s window, every second
    rolling = rolling_latency(run, window=5.0)
    p50 = dict(rolling["p50"])
    # THEN each second sees only its window, and nothing is drawn where the window is empty
    assert (p50[0.0], p50[1.0], p50[2.0], p50[6.0], p50[7.0], p50[12.0]) == (None, 100.0, 300.0, 300.0, None, 50.0)
    assert dict(rolling["p99"])[2.0] == 300.0
    assert rolling_latency(LaunchDayRun()) == {"p50": [], "p99": []}


def test_small_figures_keep_their_digits() -> None:
    assert html_report._num(0.05) == "0.05"
    assert html_report._num(1234.56) == "1,234.6"
    assert html_report._num(7.0) == "7"
