"""End to end: a reduced ``make dr-drill`` (20 orders) whose every invariant must hold, stock and
points included (the runbook's recount puts back what the primary's late writes skewed).

The two-region sandbox runs on ports of its own (``--port-offset 22000``: AWS 26566, APIs
30080 and 30090, issuer 30180, partners 30181/30182, Vault 30200), so it never meets another run.
"""

from __future__ import annotations

from demo.drill import DRILL_INVARIANTS, DrillKnobs, run_drill


def test_reduced_drill_loses_nothing_and_does_nothing_twice() -> None:
    report = run_drill(DrillKnobs(seed=1, orders=20, spike=5.0, port_offset=22000), quiet=True)
    assert report["invariants_failed"] == [], report["problems"]
    assert {v["invariant"] for v in report["drill"]["verdicts"]} == set(DRILL_INVARIANTS)
    for key in (
        "accepted",
        "confirmed",
        "cancelled_compensated",
        "needs_review",
        "lost",
        "charged_not_confirmed",
        "oversold_units",
        "double_effects",
        "rpo_orders",
        "duration_s",
    ):
        assert key in report, key
    assert report["lost"] == 0 and report["double_effects"] == 0
    # The standby took orders after the kill, and every accepted order settled.
    assert report["drill"]["accepted_by_standby"] > 0
    assert report["rto_seconds"]["first_accepted_by_standby"] is not None
    assert report["rto_seconds"]["all_settled"] is not None
    # The runbook ran as the README writes it: promote, reconcile, and after the return reconcile
    # and recount; the recount measured every counter (none busy, none without a baseline).
    runbook = report["drill"]["runbook"]
    # "<python> -m ops --sandbox --stack <standby> <command>"
    commands = [step["command"].split(" -m ops ", 1)[1].split(" ", 3)[3] for step in runbook]
    assert commands == ["promote", "reconcile --older-than 0s", "reconcile --older-than 0s", "recount"]
    assert all(step["exit"] in (0, 1) for step in runbook[:3])
    assert runbook[3]["exit"] == 0, runbook[3]
