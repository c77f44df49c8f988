"""The demo's audit fails for each broken invariant, on hand-made evidence."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from demo.audit import INVARIANTS, MONEY, POINTS, STOCK, Evidence, Holdings, check
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
    assert [(v.invariant, v.passed, v.breaches) for v in result.verdicts()] == [(n, True, []) for n in INVARIANTS]
    assert result.by_status == Counter({"CONFIRMED": 1, "CANCELLED_COMPENSATED": 1})
    assert result.compensations_per_step == Counter({"RefundPayment": 1, "ReleaseInventory": 1})


@pytest.mark.parametrize(
    ("what", "change", "invariant", "culprit"),
    [
        ("refund missing", lambda w: w.gateway_ledger.pop(), "net money", "o-no"),
        (
            "charged twice",
            lambda w: w.gateway_ledger.append({"type": "charge", "reference": "o-ok", "amount": 5900}),
            "net money",
            "o-ok",
        ),
        ("order never settled", lambda w: w.orders["o-no"].update(status="PENDING"), "lost", "o-no"),
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
            "o-no",
        ),
        (
            "oversold",
            lambda w: w.inventory.__setitem__(0, {**w.inventory[0], "available": -1}),
            "oversold",
            "HOODIE-M#0",
        ),
        (
            "points kept",
            lambda w: w.loyalty.append({"pk": "LEDGER#o-no#BURN", "customerId": "cust-2", "points": 50}),
            "points",
            "o-no",
        ),
        (
            "courier slot kept",
            lambda w: w.courier_ledger.append({"type": "booking", "reference": "o-no", "bookingId": "bk_2"}),
            "courier",
            "o-no",
        ),
        ("two executions", lambda w: w.executions.update({"o-ok": 1}), "one execution", "o-ok"),
    ],
)
def test_each_broken_invariant_is_named_with_its_culprit(
    what: str, change: Callable[[Evidence], Any], invariant: str, culprit: str
) -> None:
    world = evidence()
    change(world)
    verdicts = {v.invariant: v for v in check(world).verdicts()}
    [failed] = [v for name, v in verdicts.items() if invariant in name]
    assert not failed.passed, what
    assert culprit in [breach.subject for breach in failed.breaches], (what, failed.breaches)


def test_a_compensated_order_that_kept_everything_shows_what_it_holds() -> None:
    # GIVEN o-no was cancelled but its refund, release, restore and cancellation never happened
    world = evidence()
    world.gateway_ledger.pop()
    world.inventory.append(
        {"pk": "RES#o-no#CAP", "orderId": "o-no", "sku": "CAP", "shard": 1, "quantity": 2, "status": "RESERVED"}
    )
    world.loyalty.append({"pk": "LEDGER#o-no#BURN", "customerId": "cust-2", "points": 300})
    world.courier_ledger.append({"type": "booking", "reference": "o-no", "bookingId": "bk_2"})
    # WHEN the audit judges it
    verdicts = {v.invariant: v for v in check(world).verdicts()}
    # THEN each failing invariant names o-no with the same evidence: what it still holds
    kept = Holdings(money=1500, units=(("CAP#1", 2),), points=300, courier_slots=("bk_2",))
    for name in (MONEY, STOCK, POINTS):
        culprits = {b.subject: b for b in verdicts[name].breaches if b.holds is not None}
        assert culprits["o-no"].holds == kept, name
        assert culprits["o-no"].status == "CANCELLED_COMPENSATED"
    assert str(verdicts[MONEY].breaches[0]) == "o-no (CANCELLED_COMPENSATED) captured 15.00 net, expected 0.00"


def test_a_shard_that_does_not_add_up_is_named_without_an_order() -> None:
    world = evidence()
    world.inventory[1] = {**world.inventory[1], "available": 0}  # HOODIE-M#1 lost 6 units to nobody
    [shard] = check(world).verdicts()[INVARIANTS.index(STOCK)].breaches
    assert (shard.subject, shard.status, shard.holds) == ("HOODIE-M#1", None, None)
    assert str(shard) == "HOODIE-M#1: initial 6 != available 0 + held 0"
