"""The launch-day scenario as data: every order, when it is sent, and how the client behaves.

Decided up front from the seed, so the same seed makes the same decisions (which customer,
which items, which duplicates and retries, when the courier goes down, which orders meet a
late or crashing Lambda); how the saga races play out is the sandbox's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from components.order_saga import ORDER_SAGA
from sandbox.seed import ADDRESS, CATALOG, Sku

HOODIE = "HOODIE-M"
CUSTOMERS = 60
POINTS_PER_CUSTOMER = 1000
DEMO_CATALOG: tuple[Sku, ...] = (
    Sku(HOODIE, "Launch hoodie, size M", 5900, (6, 6, 6, 6)),  # 24 units over 4 shards: it sells out
    *(sku for sku in CATALOG if sku.sku != HOODIE),
)


@dataclass(frozen=True)
class Knobs:
    orders: int = 200
    spike: float = 50.0
    """Spike rate as a multiple of the baseline (1 order per second)."""
    outage: float = 10.0
    """Seconds the courier is down (timeouts and 503s), from one second into the spike."""
    seed: int = 7
    time_scale: float = 0.05
    baseline_rate: float = 1.0


@dataclass(frozen=True)
class PlannedOrder:
    at: float
    """Seconds after the start when the client sends it."""
    customer: str
    key: str
    """The Idempotency-Key."""
    body: dict[str, Any]
    duplicate: bool = False
    """Sent twice at once with the same key (a double click)."""
    retried: bool = False
    """Sent again with the same key after its answer (a client that timed out)."""
    faults: tuple[tuple[str, str], ...] = ()
    """(task, fault) for this order's Lambda invocations: ``late_start`` (runs after its state
    timed out and its compensator ran), ``late_answer``, ``crash_after`` (the worker dies after
    the effect); see ``sandbox.runtime.functions.InvocationFaults``."""


@dataclass(frozen=True)
class Plan:
    orders: list[PlannedOrder]
    spike_start: float
    spike_end: float
    outage_start: float
    outage_end: float

    @property
    def duration(self) -> float:
        return max(order.at for order in self.orders)


def make_plan(knobs: Knobs) -> Plan:
    rng = random.Random(knobs.seed)
    calm = max(1, round(knobs.orders * 0.1))
    spiking = knobs.orders - 2 * calm
    base, peak = knobs.baseline_rate, knobs.baseline_rate * knobs.spike
    spike_start = calm / base
    spike_end = spike_start + spiking / peak
    times = (
        [i / base for i in range(calm)]
        + [spike_start + i / peak for i in range(spiking)]
        + [spike_end + i / base for i in range(calm)]
    )
    orders = []
    for n, at in enumerate(times):
        in_spike = spike_start <= at < spike_end
        items = [{"sku": rng.choice(["TEE-M", "CAP"]), "quantity": rng.randint(1, 2)}]
        if rng.random() < (0.6 if in_spike else 0.2):
            items.insert(0, {"sku": HOODIE, "quantity": 1})
        body: dict[str, Any] = {
            "items": items,
            "shippingAddress": ADDRESS,
            "paymentToken": "tok_declined" if rng.random() < 0.04 else "tok_visa",
        }
        if rng.random() < 0.3:
            body["loyaltyPoints"] = rng.choice([100, 300, 600, 900])
        roll = rng.random()
        orders.append(
            PlannedOrder(
                at=at,
                customer=f"cust-{rng.randint(1, CUSTOMERS)}",
                key=f"demo-{knobs.seed}-{n:05d}",
                body=body,
                duplicate=roll < 0.05,
                retried=0.05 <= roll < 0.10,
            )
        )
    outage_start = spike_start + 1.0
    return Plan(_with_faults(orders, rng), spike_start, spike_end, outage_start, outage_start + knobs.outage)


# Every run meets each race on purpose, not by luck: a reservation and a burn that land after
# their undo, one of each answered late, and a worker dying after each step's effect.
LAMBDA_FAULTS: tuple[tuple[str, str], ...] = (
    ("ReserveInventory", "late_start"),
    ("ReserveInventory", "late_start"),
    ("BurnLoyaltyPoints", "late_start"),
    ("BurnLoyaltyPoints", "late_start"),
    ("ReserveInventory", "late_answer"),
    ("BurnLoyaltyPoints", "late_answer"),
    *((step.name, "crash_after") for step in ORDER_SAGA.steps),
)
LATE_SECONDS = max(step.timeout_seconds for step in ORDER_SAGA.steps) + 5
"""A late invocation waits past every state's timeout: Step Functions has given up on it."""


def _reaches(order: PlannedOrder, task: str) -> bool:
    """Whether the order's saga surely gets as far as ``task`` (and, for the burn, burns):
    a declined card stops at the first step, the hoodie sells out at the second."""
    if order.body["paymentToken"] != "tok_visa":
        return False
    steps = [step.name for step in ORDER_SAGA.steps]
    if steps.index(task) > steps.index("ReserveInventory") and any(i["sku"] == HOODIE for i in order.body["items"]):
        return False
    return task != "BurnLoyaltyPoints" or bool(order.body.get("loyaltyPoints"))


def _with_faults(orders: list[PlannedOrder], rng: random.Random) -> list[PlannedOrder]:
    """Give each Lambda fault to a distinct order that reaches the faulty task."""
    candidates = list(range(len(orders)))
    rng.shuffle(candidates)
    faults: dict[int, tuple[str, str]] = {}
    for task, fault in LAMBDA_FAULTS:
        pick = next((i for i in candidates if i not in faults and _reaches(orders[i], task)), None)
        if pick is not None:
            faults[pick] = (task, fault)
    return [replace(order, faults=(faults[i],)) if i in faults else order for i, order in enumerate(orders)]
