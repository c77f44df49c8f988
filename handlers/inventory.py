"""ReserveInventory / ReleaseInventory: hold stock for an order, or give it back.

Inventory table (key ``pk``):
- ``SKU#<sku>``: ``price`` (minor units), ``currency``, ``name``, ``shards``
- ``STOCK#<sku>#<shard>``: ``available``; a hot SKU's stock is split over ``shards`` items,
  because one item takes about 1,000 writes/s
- ``RES#<orderId>#<sku>``: ``quantity``, ``shard``, ``status`` (RESERVED | RELEASED)

A reservation is written in the same transaction as the stock decrement, so running the
step twice never decrements twice. A line must fit in one shard.
"""

from __future__ import annotations

import random
from contextlib import suppress
from functools import lru_cache
from typing import Any

import boto3

from handlers.config import setting
from handlers.errors import InventoryUnavailable, OutOfStock
from handlers.orders import OrderLine, OrdersTable
from handlers.saga_task import TaskResult, saga_task
from handlers.transactions import Cancelled, transact

RESERVE = "ReserveInventory"
RELEASE = "ReleaseInventory"


def stock_key(sku: str, shard: int) -> str:
    return f"STOCK#{sku}#{shard}"


def reservation_key(order_id: str, sku: str) -> str:
    return f"RES#{order_id}#{sku}"


class Inventory:
    def __init__(self, orders: OrdersTable, table: Any, *, rng: random.Random | None = None) -> None:
        self.orders = orders
        self.table = table
        self.rng = rng or random.Random()

    def reserve(self, order_id: str) -> TaskResult:
        lines = self.orders.get(order_id).items
        # Each line starts on a random shard (spreading a hot SKU's writes) and walks the rest.
        untried = {line.sku: self._shard_order(line.sku) for line in lines}
        while True:
            shards = {sku: order[0] for sku, order in untried.items()}
            try:
                transact(self.table.meta.client, self._reservation(order_id, lines, shards), InventoryUnavailable)
                break
            except Cancelled as cancelled:
                if any(cancelled.refused(2 * i) for i in range(len(lines))):
                    break  # reserved by an earlier run of this step: same outcome
                for i, line in enumerate(lines):
                    if cancelled.refused(2 * i + 1):
                        untried[line.sku].pop(0)
                        if not untried[line.sku]:
                            raise OutOfStock(line.sku) from None
        self.orders.stamp(order_id, RESERVE)
        return {"reserved": {line.sku: line.quantity for line in lines}}

    def release(self, order_id: str) -> TaskResult:
        """Give back every unit this order holds; nothing held, nothing done."""
        lines = self.orders.get(order_id).items
        held = [item for line in lines if (item := self._held(order_id, line)) is not None]
        if held:
            # Cancelled: a concurrent release got there first, and released what we held.
            with suppress(Cancelled):
                transact(self.table.meta.client, self._release(held), InventoryUnavailable)
        self.orders.stamp(order_id, RELEASE)
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

    def _held(self, order_id: str, line: OrderLine) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": reservation_key(order_id, line.sku)}, ConsistentRead=True).get("Item")
        return item if item is not None and item["status"] == "RESERVED" else None

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
    orders = OrdersTable(dynamodb.Table(setting("ORDERS_TABLE")))
    return Inventory(orders, dynamodb.Table(setting("INVENTORY_TABLE")))


@saga_task(RESERVE)
def reserve_handler(order_id: str) -> TaskResult:
    return inventory().reserve(order_id)


@saga_task(RELEASE, compensation=True)
def release_handler(order_id: str) -> TaskResult:
    return inventory().release(order_id)
