"""The audit: what happened, computed from the partners' ledgers and the tables, not from the
saga's own say. ``Audit.verdicts`` judges each invariant and names who breaks it (an order, or a
stock shard or loyalty account no one order explains) with what each order still holds."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from demo.driver import PARKED, LaunchDayRun
from demo.scenario import DEMO_CATALOG, POINTS_PER_CUSTOMER
from sandbox.up import Sandbox

LOST = "every accepted order has exactly one terminal status (lost)"
MONEY = "net money captured is the total if CONFIRMED, zero otherwise"
OVERSOLD = "stock is never oversold"
STOCK = "stock: initial = available + held by confirmed (and parked) orders"
POINTS = "points: initial = balance + burned by confirmed (and parked) orders"
COURIER = "courier slots only for confirmed (or parked) orders"
EXECUTIONS = "one execution per accepted order, none twice"
INVARIANTS = (LOST, MONEY, OVERSOLD, STOCK, POINTS, COURIER, EXECUTIONS)
"""Every invariant the audit judges, in the order the report lists them."""


@dataclass(frozen=True)
class Holdings:
    """What one order still holds at the partners and in the tables, as the audit found it."""

    money: int = 0
    """Net minor units captured at the payment gateway (charges minus refunds)."""
    units: tuple[tuple[str, int], ...] = ()
    """Units reserved and not released, as (``SKU#shard``, quantity)."""
    points: int = 0
    """Loyalty points burned and not restored."""
    courier_slots: tuple[str, ...] = ()
    """Courier bookings not cancelled."""


@dataclass(frozen=True)
class Breach:
    """One order (or stock shard, or loyalty account) that breaks an invariant, and the evidence."""

    subject: str
    """The order id; a ``SKU#shard`` or a customer id where no one order is to blame."""
    problem: str
    """What is wrong, in words: ``still holds HOODIE-M``, ``ran 2 executions``."""
    status: str | None = None
    """The order's status (``MISSING`` when the table has no row); None for a shard or an account."""
    holds: Holdings | None = None
    """What the order still holds; None for a shard or an account."""

    def __str__(self) -> str:
        if self.holds is None:
            return f"{self.subject}: {self.problem}"
        return f"{self.subject} ({self.status}) {self.problem}"


@dataclass(frozen=True)
class Verdict:
    """One invariant, whether it holds, and who breaks it."""

    invariant: str
    breaches: list[Breach]

    @property
    def passed(self) -> bool:
        return not self.breaches


@dataclass
class Audit:
    accepted: int
    by_status: Counter[str]
    breaches: dict[str, list[Breach]]
    """Per invariant (every name in ``INVARIANTS``), who breaks it; empty when it holds."""
    oversold_units: int
    compensations_per_step: Counter[str]
    saga_seconds: list[float]
    parked: list[dict[str, Any]] = field(default_factory=list)
    transitions: dict[str, int] = field(default_factory=dict)

    def verdicts(self) -> list[Verdict]:
        return [Verdict(name, self.breaches.get(name, [])) for name in INVARIANTS]

    def failures(self) -> list[str]:
        return [verdict.invariant for verdict in self.verdicts() if not verdict.passed]

    @property
    def lost(self) -> list[str]:
        return [breach.subject for breach in self.breaches[LOST]]

    @property
    def charged_not_confirmed(self) -> list[str]:
        return [breach.subject for breach in self.breaches[MONEY]]

    def problems(self) -> list[str]:
        """One line per breach of the stock, points, courier and execution invariants."""
        return [
            str(breach) for name in (OVERSOLD, STOCK, POINTS, COURIER, EXECUTIONS) for breach in self.breaches[name]
        ]


def scan(sandbox: Sandbox, table: str) -> list[dict[str, Any]]:
    """Every item of one of the sandbox's tables, read consistently, page by page."""
    dynamodb = sandbox.session.resource("dynamodb", endpoint_url=sandbox.aws_endpoint).Table(table)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = dynamodb.scan(ConsistentRead=True, **kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class Evidence:
    """Everything the audit reads, gathered from the sandbox after the drain."""

    accepted: list[str]
    orders: dict[str, dict[str, Any]]
    gateway_ledger: list[dict[str, Any]]
    courier_ledger: list[dict[str, Any]]
    inventory: list[dict[str, Any]]
    loyalty: list[dict[str, Any]]
    executions: Counter[str]


def gather(sandbox: Sandbox, run: LaunchDayRun) -> Evidence:
    outputs = sandbox.outputs
    names: Counter[str] = Counter()
    sfn = sandbox.aws("stepfunctions")
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=_machine(sandbox)):
        names.update(e["name"] for e in page["executions"])
    return Evidence(
        accepted=list(run.accepted),
        orders={item["orderId"]: item for item in scan(sandbox, outputs["ordersTableName"])},
        gateway_ledger=sandbox.gateway.ledger(),
        courier_ledger=sandbox.courier.ledger(),
        inventory=scan(sandbox, outputs["inventoryTableName"]),
        loyalty=scan(sandbox, outputs["loyaltyTableName"]),
        executions=names,
    )


def audit(sandbox: Sandbox, run: LaunchDayRun) -> Audit:
    evidence = gather(sandbox, run)
    result = check(evidence)
    parked = {o for o in evidence.accepted if evidence.orders.get(o, {}).get("status") == PARKED}
    result.parked = _parked(sandbox, parked, evidence.orders)
    result.transitions = _transitions(
        sandbox, {o: evidence.orders.get(o, {}).get("status", "") for o in evidence.accepted}
    )
    return result


def check(evidence: Evidence) -> Audit:
    """The invariants over the evidence: pure, so each one is tested failing too."""
    orders = evidence.orders
    status = {order_id: orders.get(order_id, {}).get("status", "MISSING") for order_id in evidence.accepted}
    confirmed = {o for o, s in status.items() if s == "CONFIRMED"}
    parked = {o for o, s in status.items() if s == PARKED}
    keep = confirmed | parked  # whose effects may stand

    # What each order still holds: net money at the gateway, reserved units, burned points, slots.
    net: dict[str, int] = defaultdict(int)
    for entry in evidence.gateway_ledger:
        if entry["type"] == "charge":
            net[entry["reference"]] += int(entry["amount"])
        elif entry["type"] == "refund":
            net[entry["reference"]] -= int(entry["amount"])
    reserved = [item for item in evidence.inventory if item["pk"].startswith("RES#") and item["status"] == "RESERVED"]
    held_units: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for item in reserved:
        held_units[item["orderId"]].append((f"{item['sku']}#{int(item['shard'])}", int(item["quantity"])))
    ledger = {item["pk"]: item for item in evidence.loyalty if item["pk"].startswith("LEDGER#")}
    burns = {  # order id -> its burn entry, for burns not restored
        key.split("#")[1]: entry
        for key, entry in ledger.items()
        if key.endswith("#BURN") and f"LEDGER#{key.split('#')[1]}#RESTORE" not in ledger
    }
    booked = {e["bookingId"]: e["reference"] for e in evidence.courier_ledger if e["type"] == "booking"}
    for entry in evidence.courier_ledger:
        if entry["type"] == "cancellation" and entry.get("bookingId"):
            booked.pop(entry["bookingId"], None)
    slots: dict[str, list[str]] = defaultdict(list)
    for booking, ref in booked.items():
        slots[ref].append(booking)

    def breach(order_id: str, problem: str) -> Breach:
        holds = Holdings(
            money=net.get(order_id, 0),
            units=tuple(held_units.get(order_id, ())),
            points=int(burns[order_id]["points"]) if order_id in burns else 0,
            courier_slots=tuple(slots.get(order_id, ())),
        )
        return Breach(order_id, problem, status.get(order_id, "NOT ACCEPTED"), holds)

    breaches: dict[str, list[Breach]] = {name: [] for name in INVARIANTS}

    # Every accepted order settled: terminal, or parked for an operator.
    breaches[LOST] = [
        breach(o, "has no row in the orders table" if s == "MISSING" else f"is still {s}")
        for o, s in status.items()
        if s not in ("CONFIRMED", "CANCELLED_COMPENSATED", PARKED)
    ]

    # Money: the gateway's ledger, per order; a parked order's money waits for the operator.
    for order_id, s in status.items():
        expected = int(orders[order_id]["total"]) if s == "CONFIRMED" else 0
        if order_id not in parked and net[order_id] != expected:
            breaches[MONEY].append(
                breach(order_id, f"captured {net[order_id] / 100:.2f} net, expected {expected / 100:.2f}")
            )

    # Stock: every shard's initial units are either available or held by an order that stands.
    initial = {f"{sku.sku}#{shard}": units for sku in DEMO_CATALOG for shard, units in enumerate(sku.stock)}
    available = {
        item["pk"].removeprefix("STOCK#"): int(item["available"])
        for item in evidence.inventory
        if item["pk"].startswith("STOCK#")
    }
    held: Counter[str] = Counter()
    for item in reserved:
        held[f"{item['sku']}#{int(item['shard'])}"] += int(item["quantity"])
        if item["orderId"] not in keep:
            breaches[STOCK].append(breach(item["orderId"], f"still holds {item['sku']}"))
    for shard, count in initial.items():
        if count != available.get(shard, 0) + held[shard]:
            breaches[STOCK].append(
                Breach(shard, f"initial {count} != available {available.get(shard)} + held {held[shard]}")
            )
    breaches[OVERSOLD] = [Breach(shard, f"available {units}") for shard, units in available.items() if units < 0]
    breaches[OVERSOLD] += [
        Breach(shard, f"held {held[shard]} of initial {count}")
        for shard, count in initial.items()
        if held[shard] > count
    ]
    oversold = sum(max(0, -units) for units in available.values()) + sum(
        max(0, held[shard] - count) for shard, count in initial.items()
    )

    # Points: every initial balance is either in the balance or burned by an order that stands.
    burned: Counter[str] = Counter()
    for order_id, entry in burns.items():
        burned[entry["customerId"]] += int(entry["points"])
        if order_id not in keep:
            breaches[POINTS].append(breach(order_id, f"kept {entry['points']} points"))
    for item in evidence.loyalty:
        if item["pk"].startswith("ACCOUNT#"):
            customer = item["pk"].removeprefix("ACCOUNT#")
            if int(item["balance"]) + burned[customer] != POINTS_PER_CUSTOMER:
                breaches[POINTS].append(
                    Breach(customer, f"{item['balance']} + burned {burned[customer]} != {POINTS_PER_CUSTOMER}")
                )

    # Courier: the slots still booked belong to orders that stand.
    breaches[COURIER] = [breach(ref, f"holds courier slot {b}") for b, ref in booked.items() if ref not in keep]

    # Executions: exactly one per accepted order.
    breaches[EXECUTIONS] = [
        breach(name, f"ran {count} executions") for name, count in evidence.executions.items() if count > 1
    ]
    breaches[EXECUTIONS] += [breach(o, "never started") for o in evidence.accepted if evidence.executions[o] == 0]

    compensations: Counter[str] = Counter()
    for order_id, s in status.items():
        if s == "CANCELLED_COMPENSATED":
            compensations.update(task for task in orders[order_id].get("steps", {}) if task in UNDO_STEPS)
    durations = [
        (_time(orders[o]["updatedAt"]) - _time(orders[o]["createdAt"])).total_seconds()
        for o, s in status.items()
        if s in ("CONFIRMED", "CANCELLED_COMPENSATED") and "updatedAt" in orders[o]
    ]
    return Audit(
        accepted=len(evidence.accepted),
        by_status=Counter(status.values()),
        breaches=breaches,
        oversold_units=oversold,
        compensations_per_step=compensations,
        saga_seconds=durations,
    )


UNDO_STEPS = {
    "RefundPayment": "AuthorizePayment",
    "ReleaseInventory": "ReserveInventory",
    "RestoreLoyaltyPoints": "BurnLoyaltyPoints",
    "CancelShipment": "BookShipment",
}


def _machine(sandbox: Sandbox) -> str:
    return str(sandbox.outputs["stateMachineArn"])


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _parked(sandbox: Sandbox, parked: set[str], orders: dict[str, Any]) -> list[dict[str, Any]]:
    """Each parked order with its step and error, peeked from the step's dead-letter queue."""
    sqs = sandbox.aws("sqs")
    found: dict[str, dict[str, Any]] = {}
    for url in sandbox.provisioned.queue_urls.values():
        if not url.endswith("-dlq") or "saga-start" in url:
            continue
        for _ in range(20):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
                "Messages", []
            )
            for message in messages:
                body = json.loads(message["Body"])
                found.setdefault(
                    body["orderId"],
                    {
                        "orderId": body["orderId"],
                        "step": body["step"],
                        "error": body["error"],
                        "taskToken": body.get("taskToken"),
                    },
                )
            if len(found) >= len(parked) or not messages:
                break
    return [found.get(o, {"orderId": o, "step": orders[o].get("parkedStep"), "error": "?"}) for o in sorted(parked)]


def _transitions(sandbox: Sandbox, status: dict[str, str]) -> dict[str, int]:
    """States entered by one confirmed and one compensated order (from the execution history)."""
    sfn = sandbox.aws("stepfunctions")
    counts: dict[str, int] = {}
    for label, wanted in (("happy", "CONFIRMED"), ("compensated", "CANCELLED_COMPENSATED")):
        sample = next((o for o, s in sorted(status.items()) if s == wanted), None)
        if sample is None:
            continue
        arn = _machine(sandbox).replace(":stateMachine:", ":execution:") + f":{sample}"
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        counts[label] = sum(1 for event in events if "stateEnteredEventDetails" in event)
    return counts
