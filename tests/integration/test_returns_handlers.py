"""The returns saga's restock (``handlers/returns.py``) on moto, through its deployed entry
point: once however often it runs, on the reservation's shard, and invisible to ``recount``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

from handlers import returns
from handlers.inventory import Inventory
from handlers.recount import Recount
from handlers.toolkit.effects import work_items
from tests.integration.lambda_events import LambdaContext
from tests.integration.stores import Stores, _table


@pytest.fixture
def deployed(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The environment SagaService gives the restock task, and the return's item."""
    saga_table = _table(f"returns-{stores.orders.name}", "orderId")
    for name, table in (
        ("SAGA_TABLE", saga_table),
        ("ORDERS_TABLE", stores.orders),
        ("INVENTORY_TABLE", stores.inventory),
    ):
        monkeypatch.setenv(name, table.name)
    returns._table.cache_clear()
    work_items.cache_clear()
    yield saga_table
    returns._table.cache_clear()
    work_items.cache_clear()


def test_a_restock_puts_the_units_back_on_their_shard_once_and_recount_finds_nothing_to_correct(
    stores: Stores, deployed: Any
) -> None:
    # GIVEN a confirmed order that reserved 2 units on shard 1, and its return's item
    stores.add_sku("TEE", stock=[5, 5])
    stores.add_order("o-1", lines=[("TEE", 2)])
    Inventory(stores.orders_table, stores.inventory, rng=cast(Any, _FirstShard(1))).reserve("o-1")
    stores.orders.update_item(
        Key={"orderId": "o-1"},
        UpdateExpression="SET #s = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":c": "CONFIRMED"},
    )
    deployed.put_item(Item={"orderId": "o-1", "customerId": "cust-1", "status": "RUNNING", "steps": {}})
    assert stores.stock("TEE") == [5, 3]

    # WHEN the restock runs twice (a retry after a lost answer)
    for _ in range(2):
        returns.restock_handler({"orderId": "o-1"}, cast(Any, LambdaContext()))

    # THEN the units are back once, on the shard they came from, and counted as stocked
    assert stores.stock("TEE") == [5, 5]
    result = Recount(stores.orders, stores.inventory, stores.loyalty, pause_seconds=0).run(dry_run=True)
    assert result.corrections == []


class _FirstShard:
    """``random.Random`` stand-in: the reservation starts on ``shard``."""

    def __init__(self, shard: int) -> None:
        self.shard = shard

    def randrange(self, count: int) -> int:
        return self.shard
