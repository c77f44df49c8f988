"""The demo's audit fails for each broken invariant, on hand-made evidence."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from demo.audit import Evidence, check
from demo.scenario import CUSTOMERS, DEMO_CATALOG, POINTS_PER_CUSTOMER

ORDERS = {
    "o-ok": {
        "orderId": "o-ok",
        "status": "CONFIRMED",
        "total": 5900,
        "steps": {},
        "createdAt": "2026-11-29T00:00:00+00:00",
        "updatedAt": "2026-11-29T00:00:02+00:00",
    },
    "o-no": {
        "orderId": "o-no",
        "status": "CANCELLED_COMPENSATED",
        "total": 1500,
        "steps": {"RefundPayment": "t", "ReleaseInventory": "t"},
    },
}


def evidence() -> Evidence:
    """A consistent world: o-ok bought a hoodie with 100 points; o-no was charged and refunded."""
    stock: list[dict[str, Any]] = [
        {"pk": f"STOCK#{sku.sku}#{n}", "available": units} for sku in DEMO_CATALOG for n, units in enumerate(sku.stock)
    ]
    stock[0]["available"] -= 1
    inventory = [
        *stock,
        {
            "pk": "RES#o-ok#HOODIE-M",
            "orderId": "o-ok",
            "sku": "HOODIE-M",
            "shard": 0,
            "quantity": 1,
            "status": "RESERVED",
        },
    ]
    accounts: list[dict[str, Any]] = [
        {"pk": f"ACCOUNT#cust-{n}", "balance": POINTS_PER_CUSTOMER} for n in range(1, CUSTOMERS + 1)
    ]
    accounts[0]["balance"] -= 100
    loyalty = [*accounts, {"pk": "LEDGER#o-ok#BURN", "customerId": "cust-1", "points": 100}]
    return Evidence(
        accepted=["o-ok", "o-no"],
        orders=copy.deepcopy(ORDERS),
        gateway_ledger=[
            {"type": "charge", "reference": "o-ok", "amount": 5900},
            {"type": "charge", "reference": "o-no", "amount": 1500},
            {"type": "refund", "reference": "o-no", "amount": 1500},
        ],
        courier_ledger=[{"type": "booking", "reference": "o-ok", "bookingId": "bk_1"}],
        inventory=inventory,
        loyalty=loyalty,
        executions=Counter({"o-ok": 1, "o-no": 1}),
    )


def test_consistent_world_passes() -> None:
    result = check(evidence())
    assert result.failures() == []
    assert result.by_status == Counter({"CONFIRMED": 1, "CANCELLED_COMPENSATED": 1})
    assert result.compensations_per_step == Counter({"RefundPayment": 1, "ReleaseInventory": 1})


def breaks(change: Callable[[Evidence], Any]) -> list[str]:
    world = evidence()
    change(world)
    return check(world).failures()


@pytest.mark.parametrize(
    ("what", "change", "invariant"),
    [
        ("refund missing", lambda w: w.gateway_ledger.pop(), "net money"),
        (
            "charged twice",
            lambda w: w.gateway_ledger.append({"type": "charge", "reference": "o-ok", "amount": 5900}),
            "net money",
        ),
        ("order never settled", lambda w: w.orders["o-no"].update(status="PENDING"), "lost"),
        (
            "reservation leaked",
            lambda w: w.inventory.append(
                {
                    "pk": "RES#o-no#CAP",
                    "orderId": "o-no",
                    "sku": "CAP",
                    "shard": 0,
                    "quantity": 1,
                    "status": "RESERVED",
                }
            ),
            "stock: initial",
        ),
        ("oversold", lambda w: w.inventory.__setitem__(0, {**w.inventory[0], "available": -1}), "oversold"),
        (
            "points kept",
            lambda w: w.loyalty.append({"pk": "LEDGER#o-no#BURN", "customerId": "cust-2", "points": 50}),
            "points",
        ),
        (
            "courier slot kept",
            lambda w: w.courier_ledger.append({"type": "booking", "reference": "o-no", "bookingId": "bk_2"}),
            "courier",
        ),
        ("two executions", lambda w: w.executions.update({"o-ok": 1}), "one execution"),
    ],
)
def test_each_broken_invariant_is_named(what: str, change: Callable[[Evidence], Any], invariant: str) -> None:
    failures = breaks(change)
    assert any(invariant in failure for failure in failures), (what, failures)
