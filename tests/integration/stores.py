"""The saga's tables in moto, with the shapes the handlers expect, and ways to seed them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import boto3

from handlers.inventory import stock_key
from handlers.loyalty import account_key
from handlers.toolkit import Item, WorkItems

_serial = itertools.count()


def _table(name: str, key: str) -> Any:
    dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
    return dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@dataclass
class Stores:
    orders: Any
    inventory: Any
    loyalty: Any

    @classmethod
    def create(cls) -> Stores:
        n = next(_serial)
        return cls(_table(f"orders-{n}", "orderId"), _table(f"inventory-{n}", "pk"), _table(f"loyalty-{n}", "pk"))

    @property
    def orders_table(self) -> WorkItems:
        return WorkItems(self.orders)

    def add_sku(self, sku: str, *, price: int = 2500, stock: list[int] | None = None) -> None:
        shards = stock or [10]
        self.inventory.put_item(
            Item={"pk": f"SKU#{sku}", "price": price, "currency": "USD", "name": sku, "shards": len(shards)}
        )
        for shard, available in enumerate(shards):
            self.inventory.put_item(Item={"pk": stock_key(sku, shard), "available": available, "stocked": available})

    def stock(self, sku: str) -> list[int]:
        shards = int(self.inventory.get_item(Key={"pk": f"SKU#{sku}"})["Item"]["shards"])
        return [int(self.inventory.get_item(Key={"pk": stock_key(sku, s)})["Item"]["available"]) for s in range(shards)]

    def add_account(self, customer_id: str, balance: int) -> None:
        self.loyalty.put_item(Item={"pk": account_key(customer_id), "balance": balance, "granted": balance})

    def balance(self, customer_id: str) -> int:
        return int(self.loyalty.get_item(Key={"pk": account_key(customer_id)})["Item"]["balance"])

    def add_order(
        self,
        order_id: str,
        *,
        customer_id: str = "cust-1",
        lines: list[tuple[str, int]] | None = None,
        points: int = 0,
        token: str = "tok_visa",
    ) -> None:
        items: list[dict[str, Any]] = [
            {"sku": sku, "quantity": quantity, "unitPrice": 2500} for sku, quantity in (lines or [("TEE", 1)])
        ]
        self.orders.put_item(
            Item={
                "orderId": order_id,
                "customerId": customer_id,
                "status": "PENDING",
                "items": items,
                "total": sum(item["unitPrice"] * item["quantity"] for item in items),
                "currency": "USD",
                "paymentToken": token,
                "shippingAddress": {
                    "name": "Ada",
                    "line1": "1 Main St",
                    "city": "Springfield",
                    "postalCode": "12345",
                    "country": "US",
                },
                "loyaltyPoints": points,
                "createdAt": "2026-11-29T00:00:00.000+00:00",
                "steps": {},
            }
        )

    def order(self, order_id: str) -> dict[str, Any]:
        item: dict[str, Any] = self.orders.get_item(Key={"orderId": order_id})["Item"]
        return {key: int(value) if isinstance(value, Decimal) else value for key, value in item.items()}


class Interleaved(WorkItems):
    """The orders table of a forward step that another task overtakes once, at a chosen point:
    right after the step read its order (``"read"``: its effect lands after the other task),
    or right before it records its result (``"stamp"``: its effect landed before). This is how
    a task Step Functions timed out, and still running in Lambda, meets its compensator."""

    def __init__(self, table: Any, at: Literal["read", "stamp"], overtake: Callable[[str], object]) -> None:
        super().__init__(table)
        self.at = at
        self.overtake: Callable[[str], object] | None = overtake

    def _maybe_overtake(self, point: str, order_id: str) -> None:
        if self.at == point and self.overtake is not None:
            overtake, self.overtake = self.overtake, None
            overtake(order_id)

    def forward(self, order_id: str, step: str) -> Item:
        order = super().forward(order_id, step)
        self._maybe_overtake("read", order_id)
        return order

    def stamp(self, order_id: str, task: str, *, fenced_by: str | None = None, **attributes: str) -> None:
        self._maybe_overtake("stamp", order_id)
        super().stamp(order_id, task, fenced_by=fenced_by, **attributes)
