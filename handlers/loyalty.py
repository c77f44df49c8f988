"""BurnLoyaltyPoints / RestoreLoyaltyPoints: spend the points an order redeems, or give them back.

Loyalty table (key ``pk``):
- ``ACCOUNT#<customerId>``: ``balance``
- ``LEDGER#<orderId>#BURN`` and ``LEDGER#<orderId>#RESTORE``: ``points``, ``customerId``

Each ledger entry is written in the same transaction as the balance change, so an entry
exists exactly when its effect does, and a second run finds it and changes nothing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3

from handlers.config import setting
from handlers.errors import InsufficientPoints, LoyaltyLedgerUnavailable
from handlers.orders import OrdersTable
from handlers.saga_task import TaskResult, saga_task
from handlers.transactions import Cancelled, transact

BURN = "BurnLoyaltyPoints"
RESTORE = "RestoreLoyaltyPoints"


def account_key(customer_id: str) -> str:
    return f"ACCOUNT#{customer_id}"


def ledger_key(order_id: str, direction: str) -> str:
    return f"LEDGER#{order_id}#{direction}"


class Loyalty:
    def __init__(self, orders: OrdersTable, table: Any) -> None:
        self.orders = orders
        self.table = table

    def burn(self, order_id: str) -> TaskResult:
        order = self.orders.get(order_id)
        points = order.loyaltyPoints
        if points > 0:
            try:
                self._write(order_id, order.customerId, "BURN", -points, check=None)
            except Cancelled as cancelled:
                if not cancelled.refused(0):  # refused(0): burned by an earlier run
                    raise InsufficientPoints(f"{points} points") from None
        self.orders.stamp(order_id, BURN)
        return {"burned": points}

    def restore(self, order_id: str) -> TaskResult:
        """Give back what this order burned; nothing burned, nothing restored."""
        order = self.orders.get(order_id)
        points = order.loyaltyPoints
        restored = 0
        if points > 0:
            try:
                self._write(order_id, order.customerId, "RESTORE", points, check=ledger_key(order_id, "BURN"))
                restored = points
            except Cancelled:
                pass  # restored by an earlier run, or never burned
        self.orders.stamp(order_id, RESTORE)
        return {"restored": restored}

    def _write(self, order_id: str, customer_id: str, direction: str, delta: int, check: str | None) -> None:
        """Ledger entry + balance change, atomically; ``check`` must exist for it to apply."""
        name = self.table.name
        entry = {"pk": ledger_key(order_id, direction), "customerId": customer_id, "points": abs(delta)}
        balance: dict[str, Any] = {
            "TableName": name,
            "Key": {"pk": account_key(customer_id)},
            "UpdateExpression": "SET balance = balance + :delta",
            "ExpressionAttributeValues": {":delta": delta},
        }
        if delta < 0:
            balance["ConditionExpression"] = "balance >= :needed"
            balance["ExpressionAttributeValues"][":needed"] = -delta
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": name, "Item": entry, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": balance},
        ]
        if check is not None:
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": {"pk": check},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            )
        transact(self.table.meta.client, items, LoyaltyLedgerUnavailable)


@lru_cache(maxsize=1)
def loyalty() -> Loyalty:
    dynamodb = boto3.resource("dynamodb")
    return Loyalty(OrdersTable(dynamodb.Table(setting("ORDERS_TABLE"))), dynamodb.Table(setting("LOYALTY_TABLE")))


@saga_task(BURN)
def burn_handler(order_id: str) -> TaskResult:
    return loyalty().burn(order_id)


@saga_task(RESTORE, compensation=True)
def restore_handler(order_id: str) -> TaskResult:
    return loyalty().restore(order_id)
