"""ReserveInventory / ReleaseInventory and BurnLoyaltyPoints / RestoreLoyaltyPoints in moto's
DynamoDB: one effect per order however often a step runs, and no overselling under races."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers.errors import InsufficientPoints, InventoryUnavailable, LoyaltyLedgerUnavailable, OutOfStock
from handlers.inventory import Inventory
from handlers.loyalty import Loyalty
from handlers.orders import Order
from tests.integration.stores import Stores

# -- inventory ----------------------------------------------------------------------------------


def test_reserve_decrements_stock_and_writes_the_reservation(stores: Stores, inventory: Inventory) -> None:
    stores.add_sku("HOODIE-M", stock=[3])
    stores.add_sku("TEE", stock=[5])
    stores.add_order("o-1", lines=[("HOODIE-M", 2), ("TEE", 1)])
    assert inventory.reserve("o-1") == {"reserved": {"HOODIE-M": 2, "TEE": 1}}
    assert (stores.stock("HOODIE-M"), stores.stock("TEE")) == ([1], [4])
    assert "ReserveInventory" in stores.order("o-1")["steps"]


def test_reserve_invoked_twice_decrements_once(stores: Stores, inventory: Inventory) -> None:
    stores.add_sku("HOODIE-M", stock=[3])
    stores.add_order("o-1", lines=[("HOODIE-M", 1)])
    inventory.reserve("o-1")
    inventory.reserve("o-1")
    assert stores.stock("HOODIE-M") == [2]


def test_out_of_stock_is_a_domain_error_and_changes_nothing(stores: Stores, inventory: Inventory) -> None:
    stores.add_sku("HOODIE-M", stock=[1])
    stores.add_sku("TEE", stock=[5])
    stores.add_order("o-1", lines=[("TEE", 1), ("HOODIE-M", 2)])
    with pytest.raises(OutOfStock, match="HOODIE-M"):
        inventory.reserve("o-1")
    assert (stores.stock("HOODIE-M"), stores.stock("TEE")) == ([1], [5])
    assert stores.order("o-1")["steps"] == {}


def test_sku_missing_from_the_catalog_is_out_of_stock(stores: Stores, inventory: Inventory) -> None:
    stores.add_order("o-1", lines=[("GHOST", 1)])
    with pytest.raises(OutOfStock, match="not in the catalog"):
        inventory.reserve("o-1")


def test_reservation_falls_back_to_a_shard_that_has_stock(stores: Stores, inventory: Inventory) -> None:
    stores.add_sku("HOODIE-M", stock=[0, 0, 1, 0])
    stores.add_order("o-1", lines=[("HOODIE-M", 1)])
    inventory.reserve("o-1")
    assert stores.stock("HOODIE-M") == [0, 0, 0, 0]


@pytest.mark.parametrize("shards", [[5], [2, 0, 1, 2]], ids=["one item", "sharded"])
def test_twenty_concurrent_reservations_for_the_last_five_units_sell_exactly_five(
    stores: Stores, inventory: Inventory, shards: list[int]
) -> None:
    # GIVEN 5 hoodies left and 20 orders for one each
    stores.add_sku("HOODIE-M", stock=shards)
    orders = [f"o-{i}" for i in range(20)]
    for order in orders:
        stores.add_order(order, lines=[("HOODIE-M", 1)])

    def attempt(order: str) -> str:
        # as Step Functions would: retry what is transient, stop at a domain error
        for _ in range(50):
            try:
                inventory.reserve(order)
                return "reserved"
            except InventoryUnavailable:
                continue
            except OutOfStock:
                return "out of stock"
        return "gave up"

    # WHEN they all reserve at once
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, orders))
    # THEN exactly five sold, none oversold
    assert sorted(outcomes).count("reserved") == 5, outcomes
    assert outcomes.count("out of stock") == 15
    assert stores.stock("HOODIE-M") == [0] * len(shards)


def test_release_gives_the_stock_back_once(stores: Stores, inventory: Inventory) -> None:
    stores.add_sku("HOODIE-M", stock=[3])
    stores.add_order("o-1", lines=[("HOODIE-M", 2)])
    inventory.reserve("o-1")
    assert inventory.release("o-1") == {"released": {"HOODIE-M": 2}}
    assert inventory.release("o-1") == {"released": {}}
    assert stores.stock("HOODIE-M") == [3]
    assert "ReleaseInventory" in stores.order("o-1")["steps"]


def test_release_of_a_reservation_that_never_happened_changes_nothing(stores: Stores, inventory: Inventory) -> None:
    stores.add_sku("HOODIE-M", stock=[3])
    stores.add_order("o-1", lines=[("HOODIE-M", 2)])
    assert inventory.release("o-1") == {"released": {}}
    assert stores.stock("HOODIE-M") == [3]


# -- loyalty ------------------------------------------------------------------------------------


def test_burn_debits_the_balance_and_writes_one_ledger_entry_however_often_it_runs(
    stores: Stores, loyalty: Loyalty
) -> None:
    stores.add_account("cust-1", 500)
    stores.add_order("o-1", points=200)
    loyalty.burn("o-1")
    loyalty.burn("o-1")
    assert stores.balance("cust-1") == 300
    assert stores.loyalty.get_item(Key={"pk": "LEDGER#o-1#BURN"})["Item"]["points"] == 200


def test_insufficient_points_is_a_domain_error_and_changes_nothing(stores: Stores, loyalty: Loyalty) -> None:
    stores.add_account("cust-1", 100)
    stores.add_order("o-1", points=200)
    with pytest.raises(InsufficientPoints):
        loyalty.burn("o-1")
    assert stores.balance("cust-1") == 100
    assert "Item" not in stores.loyalty.get_item(Key={"pk": "LEDGER#o-1#BURN"})


def test_customer_without_an_account_cannot_burn_points(stores: Stores, loyalty: Loyalty) -> None:
    stores.add_order("o-1", customer_id="cust-new", points=1)
    with pytest.raises(InsufficientPoints):
        loyalty.burn("o-1")


def test_order_without_points_burns_nothing_and_completes(stores: Stores, loyalty: Loyalty) -> None:
    stores.add_order("o-1", points=0)
    assert loyalty.burn("o-1") == {"burned": 0}
    assert "BurnLoyaltyPoints" in stores.order("o-1")["steps"]


def test_restore_gives_back_what_was_burned_once(stores: Stores, loyalty: Loyalty) -> None:
    stores.add_account("cust-1", 500)
    stores.add_order("o-1", points=200)
    loyalty.burn("o-1")
    assert loyalty.restore("o-1") == {"restored": 200}
    assert loyalty.restore("o-1") == {"restored": 0}
    assert stores.balance("cust-1") == 500


def test_restore_when_nothing_was_burned_changes_nothing(stores: Stores, loyalty: Loyalty) -> None:
    stores.add_account("cust-1", 500)
    stores.add_order("o-1", points=200)
    assert loyalty.restore("o-1") == {"restored": 0}
    assert stores.balance("cust-1") == 500
    assert "RestoreLoyaltyPoints" in stores.order("o-1")["steps"]


# -- load and contention are transient, inside a transaction too ------------------------------------

TRANSIENT_FAILURES: dict[str, dict[str, Any]] = {
    "throttled request": {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
    # Inside TransactionCanceledException DynamoDB names load with codes of their own.
    "conflicting transaction": {
        "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
        "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
    },
    "throttled inside the transaction": {
        "Error": {"Code": "TransactionCanceledException", "Message": "throttled"},
        "CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}, {"Code": "None"}],
    },
    "provisioned throughput inside the transaction": {
        "Error": {"Code": "TransactionCanceledException", "Message": "throttled"},
        "CancellationReasons": [{"Code": "ProvisionedThroughputExceeded"}, {"Code": "None"}],
    },
}


def fail_next_transaction(table: Any, response: dict[str, Any]) -> None:
    """DynamoDB answers the next TransactWriteItems on ``table``'s client with ``response``
    (moto neither throttles nor reports conflicts)."""
    pending = [response]

    def answer(**_: Any) -> None:
        if pending:
            raise ClientError(pending.pop(), "TransactWriteItems")  # type: ignore[arg-type]

    table.meta.client.meta.events.register("before-call.dynamodb.TransactWriteItems", answer)


def before_next_transaction(table: Any, land: Callable[[], None]) -> None:
    """Run ``land`` just before the next TransactWriteItems on ``table``'s client goes out:
    another task's write landing between a handler's reads and its transaction."""
    pending = [land]

    def run_first(**_: Any) -> None:
        if pending:
            pending.pop()()

    table.meta.client.meta.events.register("before-call.dynamodb.TransactWriteItems", run_first)


@dataclass
class Write:
    """One of the four transactional writes, the error it raises under load, and what it changes."""

    prepare: Callable[[Inventory, Loyalty], object]
    act: Callable[[Inventory, Loyalty], object]
    unavailable: type[Exception]
    table: Callable[[Stores], Any]
    state: Callable[[Stores], object]
    task: str


WRITES = {
    "reserve": Write(
        lambda i, lo: None,
        lambda i, lo: i.reserve("o-1"),
        InventoryUnavailable,
        lambda s: s.inventory,
        lambda s: s.stock("HOODIE-M"),
        "ReserveInventory",
    ),
    "release": Write(
        lambda i, lo: i.reserve("o-1"),
        lambda i, lo: i.release("o-1"),
        InventoryUnavailable,
        lambda s: s.inventory,
        lambda s: s.stock("HOODIE-M"),
        "ReleaseInventory",
    ),
    "burn": Write(
        lambda i, lo: None,
        lambda i, lo: lo.burn("o-1"),
        LoyaltyLedgerUnavailable,
        lambda s: s.loyalty,
        lambda s: s.balance("cust-1"),
        "BurnLoyaltyPoints",
    ),
    "restore": Write(
        lambda i, lo: lo.burn("o-1"),
        lambda i, lo: lo.restore("o-1"),
        LoyaltyLedgerUnavailable,
        lambda s: s.loyalty,
        lambda s: s.balance("cust-1"),
        "RestoreLoyaltyPoints",
    ),
}


@pytest.mark.parametrize("failure", list(TRANSIENT_FAILURES))
@pytest.mark.parametrize("write", list(WRITES))
def test_load_or_contention_on_a_write_is_transient_and_changes_nothing(
    stores: Stores, inventory: Inventory, loyalty: Loyalty, write: str, failure: str
) -> None:
    # GIVEN an order for 1 hoodie of 3 and 200 points of 500, and the step before this write done
    stores.add_sku("HOODIE-M", stock=[3])
    stores.add_account("cust-1", 500)
    stores.add_order("o-1", lines=[("HOODIE-M", 1)], points=200)
    case = WRITES[write]
    case.prepare(inventory, loyalty)
    before = case.state(stores)
    # WHEN DynamoDB answers its transaction with load or contention
    fail_next_transaction(case.table(stores), TRANSIENT_FAILURES[failure])
    # THEN the write is retryable, changed nothing and is not recorded as done
    with pytest.raises(case.unavailable):
        case.act(inventory, loyalty)
    assert case.state(stores) == before
    assert case.task not in stores.order("o-1")["steps"]
    case.act(inventory, loyalty)  # the retry
    assert case.state(stores) != before and case.task in stores.order("o-1")["steps"]


def test_a_refusal_that_is_not_a_condition_is_not_read_as_one(stores: Stores, inventory: Inventory) -> None:
    # A ValidationError inside the cancellation is a bug, not "the data refused": it surfaces.
    stores.add_sku("HOODIE-M", stock=[3])
    stores.add_order("o-1", lines=[("HOODIE-M", 1)])
    inventory.reserve("o-1")
    fail_next_transaction(
        stores.inventory,
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "invalid"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "ValidationError"}, {"Code": "None"}],
        },
    )
    with pytest.raises(ClientError):
        inventory.release("o-1")
    assert stores.stock("HOODIE-M") == [2] and "ReleaseInventory" not in stores.order("o-1")["steps"]


# -- an undo racing its late effect ----------------------------------------------------------------


def test_a_reservation_landing_while_the_release_runs_is_released_too(stores: Stores, inventory: Inventory) -> None:
    # GIVEN a release that found nothing held
    stores.add_sku("HOODIE-M", stock=[3])
    stores.add_order("o-1", lines=[("HOODIE-M", 2)])
    late = inventory._reservation("o-1", Order.of(stores.orders_table.get("o-1")).items, {"HOODIE-M": 0})
    # WHEN the late reservation's transaction lands just before the release's
    before_next_transaction(
        stores.inventory, lambda: stores.inventory.meta.client.transact_write_items(TransactItems=late)
    )
    inventory.release("o-1")
    # THEN the release saw it and gave it back
    assert stores.stock("HOODIE-M") == [3]


def test_a_burn_landing_while_the_restore_runs_is_restored_too(stores: Stores, loyalty: Loyalty) -> None:
    stores.add_account("cust-1", 500)
    stores.add_order("o-1", points=200)
    late = [loyalty._entry("o-1", "cust-1", "BURN", 200), loyalty._balance("cust-1", -200)]
    before_next_transaction(stores.loyalty, lambda: stores.loyalty.meta.client.transact_write_items(TransactItems=late))
    loyalty.restore("o-1")
    assert stores.balance("cust-1") == 500
