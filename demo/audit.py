"""The audit: what happened, computed from the partners' ledgers and the tables, not from the
saga's own say. Each invariant that fails is named in ``Audit.failures``."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from demo.driver import PARKED, LaunchDayRun
from demo.scenario import DEMO_CATALOG, POINTS_PER_CUSTOMER
from sandbox.up import Sandbox


@dataclass
class Audit:
    accepted: int
    by_status: Counter[str]
    lost: list[str]
    charged_not_confirmed: list[str]
    parked: list[dict[str, Any]]
    oversold_units: int
    stock_problems: list[str]
    points_problems: list[str]
    courier_problems: list[str]
    execution_problems: list[str]
    compensations_per_step: Counter[str]
    saga_seconds: list[float]
    transitions: dict[str, int] = field(default_factory=dict)

    def failures(self) -> list[str]:
        checks = {
            "every accepted order has exactly one terminal status (lost)": not self.lost,
            "net money captured is the total if CONFIRMED, zero otherwise": not self.charged_not_confirmed,
            "stock is never oversold": self.oversold_units == 0,
            "stock: initial = available + held by confirmed (and parked) orders": not self.stock_problems,
            "points: initial = balance + burned by confirmed (and parked) orders": not self.points_problems,
            "courier slots only for confirmed (or parked) orders": not self.courier_problems,
            "one execution per accepted order, none twice": not self.execution_problems,
        }
        return [name for name, ok in checks.items() if not ok]


def _scan(sandbox: Sandbox, table: str) -> list[dict[str, Any]]:
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
        orders={item["orderId"]: item for item in _scan(sandbox, outputs["ordersTableName"])},
        gateway_ledger=sandbox.gateway.ledger(),
        courier_ledger=sandbox.courier.ledger(),
        inventory=_scan(sandbox, outputs["inventoryTableName"]),
        loyalty=_scan(sandbox, outputs["loyaltyTableName"]),
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

    # Money: the gateway's ledger, per order.
    net: dict[str, int] = defaultdict(int)
    for entry in evidence.gateway_ledger:
        if entry["type"] == "charge":
            net[entry["reference"]] += int(entry["amount"])
        elif entry["type"] == "refund":
            net[entry["reference"]] -= int(entry["amount"])
    charged_wrong = [
        order_id
        for order_id, s in status.items()
        if order_id not in parked and net[order_id] != (int(orders[order_id]["total"]) if s == "CONFIRMED" else 0)
    ]

    # Stock: every shard's initial units are either available or held by an order that stands.
    initial = {f"{sku.sku}#{shard}": units for sku in DEMO_CATALOG for shard, units in enumerate(sku.stock)}
    available = {
        item["pk"].removeprefix("STOCK#"): int(item["available"])
        for item in evidence.inventory
        if item["pk"].startswith("STOCK#")
    }
    held: Counter[str] = Counter()
    stock_problems = []
    for item in evidence.inventory:
        if item["pk"].startswith("RES#") and item["status"] == "RESERVED":
            shard = f"{item['sku']}#{int(item['shard'])}"
            held[shard] += int(item["quantity"])
            if item["orderId"] not in keep:
                stock_problems.append(f"{item['orderId']} ({status.get(item['orderId'])}) still holds {item['sku']}")
    for shard, units in initial.items():
        if units != available.get(shard, 0) + held[shard]:
            stock_problems.append(f"{shard}: initial {units} != available {available.get(shard)} + held {held[shard]}")
    oversold = sum(max(0, -units) for units in available.values()) + sum(
        max(0, held[shard] - units) for shard, units in initial.items()
    )

    # Points: every initial balance is either in the balance or burned by an order that stands.
    burned: Counter[str] = Counter()
    points_problems = []
    ledger = {item["pk"]: item for item in evidence.loyalty if item["pk"].startswith("LEDGER#")}
    for key, entry in ledger.items():
        _, order_id, direction = key.split("#")
        if direction == "BURN" and f"LEDGER#{order_id}#RESTORE" not in ledger:
            burned[entry["customerId"]] += int(entry["points"])
            if order_id not in keep:
                points_problems.append(f"{order_id} ({status.get(order_id)}) kept {entry['points']} points")
    for item in evidence.loyalty:
        if item["pk"].startswith("ACCOUNT#"):
            customer = item["pk"].removeprefix("ACCOUNT#")
            if int(item["balance"]) + burned[customer] != POINTS_PER_CUSTOMER:
                points_problems.append(
                    f"{customer}: {item['balance']} + burned {burned[customer]} != {POINTS_PER_CUSTOMER}"
                )

    # Courier: the slots still booked belong to orders that stand.
    booked = {e["bookingId"]: e["reference"] for e in evidence.courier_ledger if e["type"] == "booking"}
    for entry in evidence.courier_ledger:
        if entry["type"] == "cancellation" and entry.get("bookingId"):
            booked.pop(entry["bookingId"], None)
    courier_problems = [
        f"{ref} ({status.get(ref)}) holds courier slot {b}" for b, ref in booked.items() if ref not in keep
    ]

    # Executions: exactly one per accepted order.
    execution_problems = [f"{name} ran {count} executions" for name, count in evidence.executions.items() if count > 1]
    execution_problems += [f"{o} never started" for o in evidence.accepted if evidence.executions[o] == 0]

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
        lost=[o for o, s in status.items() if s not in ("CONFIRMED", "CANCELLED_COMPENSATED", PARKED)],
        charged_not_confirmed=charged_wrong,
        parked=[],
        oversold_units=oversold,
        stock_problems=stock_problems,
        points_problems=points_problems,
        courier_problems=courier_problems,
        execution_problems=execution_problems,
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
