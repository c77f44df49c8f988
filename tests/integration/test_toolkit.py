"""The handler toolkit on its own (``handlers.toolkit``): what a team gets without writing it.
The order saga's fence tests (``test_fences.py``) run the toolkit through the four pairs."""

from __future__ import annotations

from typing import Any, cast

import pytest

from handlers.errors import AlreadyCompensated, InventoryUnavailable
from handlers.inventory import stock_key
from handlers.toolkit import Effect, Forward, TaskResult
from tests.integration.stores import Stores

GIFT = Effect("WrapGift", compensation="UnwrapGift", records="wrapId", undo_records="unwrapId")
RESTOCK = Effect("Restock")


def increment(stores: Stores, units: int) -> list[dict[str, Any]]:
    return [
        {
            "Update": {
                "TableName": stores.inventory.name,
                "Key": {"pk": stock_key("TEE", 0)},
                "UpdateExpression": "SET available = available + :q",
                "ExpressionAttributeValues": {":q": units},
            }
        }
    ]


def test_a_forward_effect_recorded_once_is_not_called_again(stores: Stores) -> None:
    stores.add_order("o-1")
    calls: list[str] = []

    def wrap(call: Forward) -> TaskResult:
        calls.append(call.key)
        return {"wrapId": f"w-{len(calls)}"}

    assert GIFT.run(stores.orders_table, "o-1", wrap) == {"wrapId": "w-1"}
    assert GIFT.run(stores.orders_table, "o-1", wrap) == {"wrapId": "w-1"}
    assert calls == ["o-1:WrapGift"]


def test_after_the_undo_the_forward_effect_is_refused_before_its_business_runs(stores: Stores) -> None:
    stores.add_order("o-1")
    undone = GIFT.run_undo(stores.orders_table, "o-1", lambda call: {"unwrapId": call.key})
    assert undone == {"unwrapId": "o-1:WrapGift:undo"}
    with pytest.raises(AlreadyCompensated):
        GIFT.run(stores.orders_table, "o-1", lambda call: pytest.fail("the business ran after its undo"))
    assert "wrapId" not in stores.order("o-1")


def test_a_result_returned_after_the_undo_started_is_never_recorded(stores: Stores) -> None:
    stores.add_order("o-1")

    def late(call: Forward) -> TaskResult:  # the undo runs while this call is at the partner
        GIFT.run_undo(stores.orders_table, "o-1", lambda undo: {"unwrapId": "u-1"})
        return {"wrapId": "w-late"}

    with pytest.raises(AlreadyCompensated):
        GIFT.run(stores.orders_table, "o-1", late)
    assert "wrapId" not in stores.order("o-1")


def test_transact_once_writes_once_however_often_the_step_runs(stores: Stores) -> None:
    stores.add_sku("TEE", stock=[10])
    stores.add_order("o-1")

    def restock(call: Forward) -> TaskResult:
        return {"written": call.transact_once(stores.inventory, increment(stores, 2), InventoryUnavailable)}

    assert RESTOCK.run(stores.orders_table, "o-1", restock) == {"written": True}
    assert RESTOCK.run(stores.orders_table, "o-1", restock) == {"written": False}
    assert stores.stock("TEE") == [12]


def test_a_fenced_table_write_after_its_undo_is_refused_and_changes_nothing(stores: Stores) -> None:
    stores.add_sku("TEE", stock=[10])
    stores.add_order("o-1")
    stock = Effect("Stock", compensation="Unstock")
    item = stores.orders_table.get("o-1")
    # The undo's transaction (here with nothing to give back) writes the table's fence.
    stock.run_undo(
        stores.orders_table,
        "o-1",
        lambda call: {"undone": call.transact(stores.inventory, lambda: ([], 0), InventoryUnavailable)},
    )
    late = Forward("Stock", "o-1", item, fenced=True)  # a run that read the item before the undo
    with pytest.raises(AlreadyCompensated):
        late.transact(stores.inventory, increment(stores, 5), InventoryUnavailable)
    assert stores.stock("TEE") == [10]


def test_an_effect_without_a_compensation_cannot_be_undone() -> None:
    with pytest.raises(TypeError, match="Restock declares no compensation"):
        RESTOCK.undo(lambda call: {})


def test_a_recorded_result_must_be_a_string(stores: Stores) -> None:
    stores.add_order("o-1")
    with pytest.raises(TypeError, match="'wrapId' as a string"):
        GIFT.run(stores.orders_table, "o-1", lambda call: {"wrapId": 7})


@pytest.mark.parametrize("event", [{}, {"orderId": ""}, {"orderId": 7}, {"orderId": "o" * 81}, ["orderId"]])
def test_a_saga_document_without_a_usable_order_id_is_refused_before_any_work(event: Any) -> None:
    from handlers.toolkit.entry import BadTaskInput
    from tests.integration.lambda_events import LambdaContext

    entry = RESTOCK.forward(lambda call: pytest.fail("the business ran on a bad document"))
    with pytest.raises(BadTaskInput, match="orderId must be a string of 1 to 80 characters"):
        entry(event, cast(Any, LambdaContext()))
