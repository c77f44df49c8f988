"""ReserveInventory / ReleaseInventory: hold stock for an order, or give it back.

Inventory table (key ``pk``):
- ``SKU#<sku>``: ``price`` (minor units), ``currency``, ``name``, ``shards``
- ``STOCK#<sku>#<shard>``: ``available``; a hot SKU's stock is split over ``shards`` items,
  because one item takes about 1,000 writes/s
- ``RES#<orderId>#<sku>``: ``quantity``, ``shard``, ``status`` (RESERVED | RELEASED)
- ``FENCE#<orderId>:ReserveInventory:undo``: the release ran (``handlers.contract.fence_key``)

A reservation is written in the same transaction as the stock decrement, so running the
step twice never decrements twice. A line must fit in one shard. Fenced by
``handlers.toolkit.Effect``: the release writes the table's fence in the same transaction as
the increments (alone when nothing was held, on the condition that nothing is held still),
and every reservation carries the fence check: a reservation that lands after its release,
or a second saga's, is refused.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

import boto3

from handlers.config import setting
from handlers.errors import InventoryUnavailable, OutOfStock
from handlers.orders import Order, OrderLine
from handlers.toolkit import Cancelled, Effect, Forward, TaskResult, Undo, WorkItems, saga_task

RESERVE = "ReserveInventory"
RELEASE = "ReleaseInventory"
STOCK = Effect(RESERVE, compensation=RELEASE)


def stock_key(sku: str, shard: int) -> str:
    return f"STOCK#{sku}#{shard}"


def reservation_key(order_id: str, sku: str) -> str:
    return f"RES#{order_id}#{sku}"


class Inventory:
    def __init__(self, orders: WorkItems, table: Any, *, rng: random.Random | None = None) -> None:
        self.orders = orders
        self.table = table
        self.rng = rng or random.Random()

    def reserve(self, order_id: str) -> TaskResult:
        return STOCK.run(self.orders, order_id, self._reserve)

    def release(self, order_id: str) -> TaskResult:
        """Give back every unit this order holds, and fence the step: a reservation that lands
        later is refused. Nothing held, nothing given back, the fence all the same."""
        return STOCK.run_undo(self.orders, order_id, self._release_held)

    def _reserve(self, call: Forward) -> TaskResult:
        order_id = call.order_id
        lines = Order.of(call.item).items
        # Each line starts on a random shard (spreading a hot SKU's writes) and walks the rest.
        untried = {line.sku: self._shard_order(line.sku) for line in lines}
        while True:
            shards = {sku: order[0] for sku, order in untried.items()}
            try:
                call.transact(self.table, self._reservation(order_id, lines, shards), InventoryUnavailable)
                break
            except Cancelled as cancelled:
                # Per line i, its reservation (2i) and its shard (1 + 2i).
                if any(cancelled.refused(2 * i) for i in range(len(lines))):
                    break  # reserved by an earlier run of this step, not released (no fence): same outcome
                short = [line for i, line in enumerate(lines) if cancelled.refused(1 + 2 * i)]
                if not short:
                    raise InventoryUnavailable(f"transaction refused without a reason: {cancelled.codes}") from None
                for line in short:
                    untried[line.sku].pop(0)
                    if not untried[line.sku]:
                        raise OutOfStock(line.sku) from None
        return {"reserved": {line.sku: line.quantity for line in lines}}

    def _release_held(self, call: Undo) -> TaskResult:
        order_id = call.order_id
        lines = Order.of(call.item).items

        def attempt() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            found = {line.sku: self._reservation_item(order_id, line) for line in lines}
            held = [item for item in found.values() if item is not None and item["status"] == "RESERVED"]
            # Lines not held must stay so until the fence is in: a reservation racing us is seen.
            not_held = [line for line in lines if (item := found[line.sku]) is None or item["status"] != "RESERVED"]
            return [*self._release(held), *self._not_held(order_id, not_held)], held

        held = call.transact(self.table, attempt, InventoryUnavailable)
        return {"released": {item["sku"]: int(item["quantity"]) for item in held}}

    def _shard_order(self, sku: str) -> list[int]:
        item = self.table.get_item(Key={"pk": f"SKU#{sku}"}).get("Item")
        if item is None:
            raise OutOfStock(f"{sku} is not in the catalog")
        count = int(item.get("shards", 1))
        start = self.rng.randrange(count)
        return [(start + i) % count for i in range(count)]

    def _reservation(self, order_id: str, lines: list[OrderLine], shards: dict[str, int]) -> list[dict[str, Any]]:
        name = self.table.name
        items: list[dict[str, Any]] = []
        for line in lines:
            shard = shards[line.sku]
            reservation = {
                "pk": reservation_key(order_id, line.sku),
                "orderId": order_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "shard": shard,
                "status": "RESERVED",
            }
            items.append(
                {
                    "Put": {
                        "TableName": name,
                        "Item": reservation,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
            items.append(
                {
                    "Update": {
                        "TableName": name,
                        "Key": {"pk": stock_key(line.sku, shard)},
                        "UpdateExpression": "SET available = available - :q",
                        "ConditionExpression": "available >= :q",
                        "ExpressionAttributeValues": {":q": line.quantity},
                    }
                }
            )
        return items

    def _reservation_item(self, order_id: str, line: OrderLine) -> dict[str, Any] | None:
        key = {"pk": reservation_key(order_id, line.sku)}
        return self.table.get_item(Key=key, ConsistentRead=True).get("Item")  # type: ignore[no-any-return]

    def _not_held(self, order_id: str, lines: list[OrderLine]) -> list[dict[str, Any]]:
        return [
            {
                "ConditionCheck": {
                    "TableName": self.table.name,
                    "Key": {"pk": reservation_key(order_id, line.sku)},
                    "ConditionExpression": "attribute_not_exists(pk) OR #status <> :reserved",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":reserved": "RESERVED"},
                }
            }
            for line in lines
        ]

    def _release(self, held: list[dict[str, Any]]) -> list[dict[str, Any]]:
        name = self.table.name
        items: list[dict[str, Any]] = []
        for reservation in held:
            items.append(
                {
                    "Update": {
                        "TableName": name,
                        "Key": {"pk": reservation["pk"]},
                        "UpdateExpression": "SET #status = :released",
                        "ConditionExpression": "#status = :reserved",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":released": "RELEASED", ":reserved": "RESERVED"},
                    }
                }
            )
            items.append(
                {
                    "Update": {
                        "TableName": name,
                        "Key": {"pk": stock_key(reservation["sku"], int(reservation["shard"]))},
                        "UpdateExpression": "SET available = available + :q",
                        "ExpressionAttributeValues": {":q": reservation["quantity"]},
                    }
                }
            )
        return items


@lru_cache(maxsize=1)
def inventory() -> Inventory:
    dynamodb = boto3.resource("dynamodb")
    orders = WorkItems(dynamodb.Table(setting("ORDERS_TABLE")))
    return Inventory(orders, dynamodb.Table(setting("INVENTORY_TABLE")))


@saga_task(RESERVE)
def reserve_handler(order_id: str) -> TaskResult:
    return inventory().reserve(order_id)


@saga_task(RELEASE, compensation=True)
def release_handler(order_id: str) -> TaskResult:
    return inventory().release(order_id)
