"""The HTML report, looked at in headless Chromium: no console message, no chart without data,
and a screenshot kept at build/demo-report.png.

Console messages (script errors, and SVG attributes the browser refuses, such as a NaN in a
path) are read from Chromium's log on stderr; marks are counted by a probe script that this
test adds to its copy of the page (the report itself runs no script). A mark counts when the
browser laid it out with a size: a path of one point or a bar of no width does not.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from demo.html_report import as_html
from synth.program import ROOT
from tests.synthetic_launch_day import launch_day

BUILD = ROOT / "build"
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH; `make test` installs Debian's (apt-get install chromium)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROBE = """<pre id="probe" hidden></pre><script>
document.getElementById("probe").textContent = JSON.stringify(
  [...document.querySelectorAll("svg.chart")].map((svg) => ({
    chart: svg.getAttribute("aria-label"),
    marks: [...svg.querySelectorAll(".mark")].filter((m) => {
      const box = m.getBBox();
      return box.width > 0 || box.height > 0;
    }).length,
  })));
</script>"""
CHARTS = ["Intake latency over time", "Saga backlog", "Orders by status over time", "Compensations per step"]


def _chromium(page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *flags, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def look(page_html: str, name: str) -> tuple[list[str], dict[str, int]]:
    """Open the page with the probe; returns the console messages and the marks per chart."""
    page = BUILD / f"{name}.html"
    page.parent.mkdir(exist_ok=True)
    page.write_text(page_html.replace("</body>", PROBE + "</body>"))
    done = _chromium(page, "--enable-logging=stderr", "--v=0", "--dump-dom")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    probe = re.search(r'<pre id="probe" hidden="">(.*?)</pre>', done.stdout, re.S)
    assert probe, f"the probe did not run: {done.stdout[-500:]}"
    charts: list[dict[str, Any]] = json.loads(html.unescape(probe.group(1)))
    return console, {chart["chart"]: chart["marks"] for chart in charts}


def test_the_report_renders_with_no_console_message_and_data_in_every_chart() -> None:
    # GIVEN the report of a launch day whose audit fails
    page = as_html(*launch_day())
    # WHEN a browser opens it
    console, marks = look(page, "demo-report-test")
    _chromium(BUILD / "demo-report-test.html", f"--screenshot={BUILD / 'demo-report.png'}", "--window-size=1200,3000")
    # THEN it logged nothing, and every chart drew data
    assert console == []
    assert list(marks) == CHARTS
    assert all(count > 0 for count in marks.values()), marks
    assert (BUILD / "demo-report.png").stat().st_size > 50_000


def test_the_browser_check_sees_an_empty_chart_and_a_refused_attribute() -> None:
    # GIVEN the same report with the latency chart's marks gone and a NaN in the backlog's path
    page = as_html(*launch_day())
    latency = re.search(r'<svg class="chart"[^>]*aria-label="Intake latency over time".*?</svg>', page, re.S)
    backlog = re.search(r'<svg class="chart"[^>]*aria-label="Saga backlog".*?</svg>', page, re.S)
    assert latency and backlog
    emptied = re.sub(r'<(circle|path) class="mark"[^>]*/>', "", latency.group(0))
    broken = backlog.group(0).replace('class="mark" d="M', 'class="mark" d="MNaN,', 1)
    page = page.replace(latency.group(0), emptied).replace(backlog.group(0), broken)
    # WHEN a browser opens it
    console, marks = look(page, "demo-report-broken-test")
    # THEN the check fails on both: the empty chart, and the console error
    assert marks["Intake latency over time"] == 0
    assert any("Error: <path> attribute d" in line for line in console), console
