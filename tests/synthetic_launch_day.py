"""A launch day made up in memory (no sandbox): the plan of a small scenario, a run whose
latency climbs in the spike and drains after it, and an audit judged by the real ``check``
over hand-made ledgers, for the report's tests."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from demo.audit import Evidence, check
from demo.driver import LaunchDayRun, Sample, SentRequest
from demo.report import summary
from demo.scenario import CUSTOMERS, DEMO_CATALOG, POINTS_PER_CUSTOMER, Knobs, Plan, make_plan

KNOBS = Knobs(orders=60, spike=10, outage=6, seed=5)
PARKED_ORDER = "o-013"
BROKEN_ORDER = "o-008"
"""Cancelled, yet still charged, holding a hoodie, 300 points and a courier slot."""
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _status(n: int) -> str:
    if f"o-{n:03d}" == PARKED_ORDER:
        return "NEEDS_REVIEW"
    return "CANCELLED_COMPENSATED" if n % 4 == 0 else "CONFIRMED"


def launch_day(*, broken: bool = True) -> tuple[dict[str, Any], LaunchDayRun, Plan]:
    """(report, run, plan); with ``broken`` the audit fails on BROKEN_ORDER's leftovers."""
    plan = make_plan(KNOBS)
    rng = random.Random(1)
    run = LaunchDayRun()
    settled_at: dict[str, float] = {}
    started_at: dict[str, float] = {}
    for n, order in enumerate(plan.orders):
        order_id = f"o-{n:03d}"
        busy = plan.spike_start <= order.at < plan.spike_end + 4
        if busy and n % 5 == 0:  # throttled once, then retried with the same key
            run.requests.append(SentRequest(order.at + 0.05, 50.0, 429, order.key, None))
        latency = rng.uniform(90, 400) + (rng.uniform(1500, 7000) if busy else 0.0)
        answered = order.at + latency / 1000
        run.requests.append(SentRequest(answered, latency, 202, order.key, order_id))
        run.accepted[order_id] = order.key
        started_at[order_id] = answered + (rng.uniform(2, 8) if busy else 0.3)
        settled_at[order_id] = started_at[order_id] + rng.uniform(3, 9)
    run.duration_s = max(settled_at.values()) + 1
    for second in range(int(run.duration_s) + 1):
        known = [r.order_id for r in run.requests if r.order_id and r.at <= second]
        by_status = Counter(_status(int(o[2:])) if settled_at[o] <= second else "PENDING" for o in known)
        run.samples.append(
            Sample(
                at=float(second),
                submitted=sum(1 for o in plan.orders if o.at <= second),
                accepted=len(known),
                by_status=dict(by_status),
                start_queue_depth=sum(1 for o in known if started_at[o] > second),
            )
        )
    run.drained = True

    result = check(_evidence(run, settled_at, broken=broken))
    result.parked = [{"orderId": PARKED_ORDER, "step": "BookShipment", "error": "CourierTimeout", "taskToken": "t"}]
    result.transitions = {"happy": 6, "compensated": 5}
    return summary(KNOBS, run, result), run, plan


def _evidence(run: LaunchDayRun, settled_at: dict[str, float], *, broken: bool) -> Evidence:
    orders: dict[str, dict[str, Any]] = {}
    gateway: list[dict[str, Any]] = []
    courier: list[dict[str, Any]] = []
    for order_id in run.accepted:
        n = int(order_id[2:])
        status, total = _status(n), 5900 + 100 * (n % 7)
        steps = {"RefundPayment": "t", "ReleaseInventory": "t"} if status == "CANCELLED_COMPENSATED" else {}
        if status == "CANCELLED_COMPENSATED" and n % 8 == 0:
            steps["CancelShipment"] = "t"
        orders[order_id] = {
            "orderId": order_id,
            "status": status,
            "total": total,
            "steps": steps,
            "createdAt": START.isoformat(),
            "updatedAt": (START + timedelta(seconds=settled_at[order_id])).isoformat(),
        }
        gateway.append({"type": "charge", "reference": order_id, "amount": total})
        if status == "CANCELLED_COMPENSATED" and not (broken and order_id == BROKEN_ORDER):
            gateway.append({"type": "refund", "reference": order_id, "amount": total})
        if status == "CONFIRMED":
            courier.append({"type": "booking", "reference": order_id, "bookingId": f"bk_{n}"})
    inventory: list[dict[str, Any]] = [
        {"pk": f"STOCK#{sku.sku}#{shard}", "available": units}
        for sku in DEMO_CATALOG
        for shard, units in enumerate(sku.stock)
    ]
    loyalty: list[dict[str, Any]] = [
        {"pk": f"ACCOUNT#cust-{n}", "balance": POINTS_PER_CUSTOMER} for n in range(1, CUSTOMERS + 1)
    ]
    if broken:  # its release, restore and cancellation never happened
        inventory.append(
            {
                "pk": f"RES#{BROKEN_ORDER}#HOODIE-M",
                "orderId": BROKEN_ORDER,
                "sku": "HOODIE-M",
                "shard": 2,
                "quantity": 1,
                "status": "RESERVED",
            }
        )
        inventory[2]["available"] -= 1  # HOODIE-M#2: the unit left the shelf with the reservation
        loyalty.append({"pk": f"LEDGER#{BROKEN_ORDER}#BURN", "customerId": "cust-9", "points": 300})
        loyalty[8]["balance"] -= 300
        courier.append({"type": "booking", "reference": BROKEN_ORDER, "bookingId": "bk_late"})
    return Evidence(
        accepted=list(run.accepted),
        orders=orders,
        gateway_ledger=gateway,
        courier_ledger=courier,
        inventory=inventory,
        loyalty=loyalty,
        executions=Counter(list(run.accepted)),
    )
