"""End to end: a reduced ``make dr-drill`` (20 orders) whose invariants must hold, but for the
known gap below.

The two-region sandbox runs on ports of its own (``--port-offset 22000``: AWS 26566, APIs
30080 and 30090, issuer 30180, partners 30181/30182, Vault 30200), so it never meets another run.
"""

from __future__ import annotations

from demo.audit import POINTS, STOCK
from demo.drill import DRILL_INVARIANTS, DrillKnobs, run_drill

KNOWN_RPO_GAP = {STOCK, POINTS}
"""Not closed yet (README, "Disaster recovery"; issue 14): a write the primary made just before
it went dark can replicate after its return onto an item the standby never rewrote (a stock
shard, a loyalty balance) and land by last writer wins. Seen once in a reduced drill: one
HOODIE unit short. Only these two ledgers may disagree; every other invariant must hold."""


def test_reduced_drill_loses_nothing_and_does_nothing_twice() -> None:
    report = run_drill(DrillKnobs(seed=1, orders=20, spike=5.0, port_offset=22000), quiet=True)
    assert set(report["invariants_failed"]) <= KNOWN_RPO_GAP, report["problems"]
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
    # The runbook ran as the README writes it: promote, reconcile, and reconcile after the return.
    commands = [step["command"].split(" -m ops ", 1)[1] for step in report["drill"]["runbook"]]
    assert [c.split()[-1] if c.endswith("promote") else " ".join(c.split()[-3:]) for c in commands] == [
        "promote",
        "reconcile --older-than 0s",
        "reconcile --older-than 0s",
    ]
    assert all(step["exit"] in (0, 1) for step in report["drill"]["runbook"])
