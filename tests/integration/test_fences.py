"""Every effect is fenced by its undo, for each of the four step pairs, on the real handlers,
moto's DynamoDB, the local partners and a real OpenBao.

A task Step Functions timed out keeps running in Lambda, and a second saga can run for the
same order (a standby region, a manual restart). Whatever the order of events, an order whose
step was undone ends with no net effect: no money, stock, points or courier slot kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from handlers.contract import CANCELLED_COMPENSATED
from handlers.errors import AlreadyCompensated
from handlers.inventory import RESERVE, Inventory
from handlers.loyalty import BURN, Loyalty
from handlers.payment import CHARGE, Payments
from handlers.shipping import BOOK, Shipping
from handlers.toolkit import TaskResult, WorkItems
from sandbox.outside.partners import Partners
from tests.integration.stores import Interleaved, Stores

ORDER = "o-1"
PAIRS = ["payment", "inventory", "loyalty", "shipping"]


@dataclass
class Pair:
    """A forward step and its compensator, and the net effect they leave behind."""

    forward_on: Callable[[WorkItems], Callable[[str], TaskResult]]
    """The forward step, built on the given orders table (to interleave another task)."""
    undo: Callable[[str], TaskResult]
    net: Callable[[], Any]
    """What the world holds for the order: money, stock, points or booked slots."""
    table: Any
    """The orders table."""
    step: str

    def forward(self, order_id: str) -> TaskResult:
        return self.forward_on(WorkItems(self.table))(order_id)


def booked(partners: Partners) -> list[str]:
    slots = {e["bookingId"] for e in partners.courier.ledger() if e["type"] == "booking"}
    return sorted(slots - {e["bookingId"] for e in partners.courier.ledger() if e["type"] == "cancellation"})


def money(partners: Partners) -> int:
    sign = {"charge": 1, "refund": -1}
    return sum(sign.get(e["type"], 0) * int(e.get("amount", 0)) for e in partners.gateway.ledger())


@pytest.fixture(params=PAIRS)
def pair(request: pytest.FixtureRequest, stores: Stores) -> Pair:
    # GIVEN an order for 2 hoodies (of 3) that redeems 300 points (of 1,000)
    stores.add_sku("HOODIE-M", stock=[3])
    stores.add_account("cust-1", 1000)
    stores.add_order(ORDER, lines=[("HOODIE-M", 2)], points=300)
    if request.param in ("payment", "shipping"):
        partners: Partners = request.getfixturevalue("partners")
    if request.param == "payment":
        payments: Payments = request.getfixturevalue("payments")
        return Pair(
            lambda orders: Payments(orders, payments.gateway).authorize,
            payments.refund,
            lambda: money(partners),
            stores.orders,
            CHARGE,
        )
    if request.param == "inventory":
        inventory: Inventory = request.getfixturevalue("inventory")
        return Pair(
            lambda orders: Inventory(orders, inventory.table, rng=inventory.rng).reserve,
            inventory.release,
            lambda: stores.stock("HOODIE-M"),
            stores.orders,
            RESERVE,
        )
    if request.param == "loyalty":
        loyalty: Loyalty = request.getfixturevalue("loyalty")
        return Pair(
            lambda orders: Loyalty(orders, loyalty.table).burn,
            loyalty.restore,
            lambda: stores.balance("cust-1"),
            stores.orders,
            BURN,
        )
    shipping: Shipping = request.getfixturevalue("shipping")
    return Pair(
        lambda orders: Shipping(orders, shipping.courier).book,
        shipping.cancel,
        lambda: booked(partners),
        stores.orders,
        BOOK,
    )


def overtaken(pair: Pair, at: Literal["read", "stamp"], by: Callable[[str], object]) -> Callable[[str], TaskResult]:
    """The forward step, overtaken once at ``at`` by ``by`` (see ``Interleaved``)."""
    return pair.forward_on(Interleaved(pair.table, at, by))


def test_undo_first_then_the_late_forward_effect_lands_on_its_fence(pair: Pair) -> None:
    # GIVEN the forward step read its order, then stalled (Step Functions timed it out)
    before = pair.net()
    late = overtaken(pair, "read", pair.undo)  # its compensator runs, finding nothing to undo
    # WHEN the late step goes on to its effect
    with pytest.raises(AlreadyCompensated):
        late(ORDER)
    # THEN the effect never lands, and nothing is left behind
    assert pair.net() == before


def test_undo_between_the_effect_and_its_record_gives_the_effect_back(pair: Pair, stores: Stores) -> None:
    # GIVEN the forward step's effect landed, and its compensator overtakes it before it records it
    before = pair.net()
    late = overtaken(pair, "stamp", pair.undo)
    # WHEN the late step goes on to record it
    with pytest.raises(AlreadyCompensated):
        late(ORDER)
    # THEN nothing is left behind, and the order does not say the step is done
    assert pair.net() == before
    assert pair.step not in stores.order(ORDER)["steps"]


def test_a_crash_after_the_effect_is_undone_by_the_compensator(pair: Pair) -> None:
    # GIVEN a step that crashes after its effect landed, before it records it (out of memory,
    # an odd partner reply, a refused write): the saga compensates the step itself
    before = pair.net()

    def crash(order_id: str) -> None:
        raise RuntimeError("the worker died after the effect")

    with pytest.raises(RuntimeError):
        overtaken(pair, "stamp", crash)(ORDER)
    assert pair.net() != before  # the effect did land
    # WHEN its compensator runs
    pair.undo(ORDER)
    # THEN the effect is given back
    assert pair.net() == before


@pytest.mark.parametrize("effect_first", [True, False], ids=["after its effect", "with nothing to undo"])
def test_undo_then_a_second_saga_redoes_nothing(pair: Pair, effect_first: bool) -> None:
    # GIVEN a step undone (after its effect, or before it ever ran)
    before = pair.net()
    if effect_first:
        pair.forward(ORDER)
    pair.undo(ORDER)
    # WHEN a second saga for the order runs the step again (and undoes it again)
    with pytest.raises(AlreadyCompensated):
        pair.forward(ORDER)
    pair.undo(ORDER)
    # THEN it refused: the undone effect is not reported as done, nor done again
    assert pair.net() == before


def test_no_forward_step_acts_on_an_order_settled_as_cancelled(pair: Pair, stores: Stores) -> None:
    before = pair.net()
    stores.orders.update_item(
        Key={"orderId": ORDER},
        UpdateExpression="SET #status = :cancelled",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":cancelled": CANCELLED_COMPENSATED},
    )
    with pytest.raises(AlreadyCompensated):
        pair.forward(ORDER)
    assert pair.net() == before


@pytest.mark.parametrize("pair", ["payment", "shipping"], indirect=True)
def test_undo_after_the_partner_forgot_its_keys_undoes_the_recorded_effect(pair: Pair, partners: Partners) -> None:
    # GIVEN an effect recorded at the partner, then the partner's keys expire (a park answered
    # after a weekend)
    before = pair.net()
    pair.forward(ORDER)
    partners.gateway.key_ttl_seconds = partners.courier.key_ttl_seconds = 0.0
    # WHEN the compensator runs
    pair.undo(ORDER)
    # THEN it undid the recorded charge or booking by its id, not voided a forgotten key
    assert pair.net() == before
    undo = [e["type"] for e in (partners.gateway.ledger() + partners.courier.ledger())]
    assert "void" not in undo
