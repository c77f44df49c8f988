"""BurnLoyaltyPoints / RestoreLoyaltyPoints: spend the points an order redeems, or give them back.

Loyalty table (key ``pk``):
- ``ACCOUNT#<customerId>``: ``balance``
- ``LEDGER#<orderId>#BURN`` and ``LEDGER#<orderId>#RESTORE``: ``points``, ``customerId``
- ``FENCE#<orderId>:BurnLoyaltyPoints:undo``: the restore ran (``handlers.contract.fence_key``)

Each ledger entry is written in the same transaction as the balance change, so an entry
exists exactly when its effect does, and a second run finds it and changes nothing. The
restore writes its fence in the same transaction (alone, on the condition that no burn
exists, when there is nothing to give back), and a burn is conditioned on the fence's
absence: a burn that lands after its restore, or a second saga's, is refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3

from handlers.config import setting
from handlers.errors import AlreadyCompensated, InsufficientPoints, LoyaltyLedgerUnavailable
from handlers.orders import OrdersTable
from handlers.saga_task import TaskResult, saga_task
from handlers.transactions import Cancelled, fence_absent, fence_put, transact, undo_fenced

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
        order = self.orders.forward(order_id, BURN)
        points = order.loyaltyPoints
        if points > 0:
            entry = self._entry(order_id, order.customerId, "BURN", points)
            debit = self._balance(order.customerId, -points)
            try:
                # Item 0 is the fence, 1 the ledger entry, 2 the balance.
                transact(
                    self.table.meta.client,
                    [fence_absent(self.table.name, order_id, BURN), entry, debit],
                    LoyaltyLedgerUnavailable,
                )
            except Cancelled as cancelled:
                if cancelled.refused(0):
                    raise AlreadyCompensated(f"{BURN} of {order_id} was restored") from None
                if not cancelled.refused(1):  # refused(1): burned by an earlier run, not restored
                    raise InsufficientPoints(f"{points} points") from None
        self.orders.stamp(order_id, BURN, fenced_by=BURN)
        return {"burned": points}

    def restore(self, order_id: str) -> TaskResult:
        """Give back what this order burned, and fence the step: a burn that lands later is
        refused. Nothing burned, nothing restored, the fence all the same."""
        # The order's fence first: from here on this step's result is never recorded as done.
        order = self.orders.fence(order_id, BURN)

        def attempt() -> tuple[list[dict[str, Any]], int]:
            items = [fence_put(self.table.name, order_id, BURN)]
            if self._read(ledger_key(order_id, "RESTORE")) is not None:
                return items, 0  # restored by an earlier run: its fence is in already
            burn = self._read(ledger_key(order_id, "BURN"))
            if burn is None:  # nothing to give back, as long as no burn lands meanwhile
                return [*items, self._exists(ledger_key(order_id, "BURN"), False)], 0
            points = int(burn["points"])
            return [
                *items,
                self._entry(order_id, order.customerId, "RESTORE", points),
                self._balance(order.customerId, points),
                self._exists(ledger_key(order_id, "BURN"), True),
            ], points

        restored = undo_fenced(self.table.meta.client, attempt, LoyaltyLedgerUnavailable)
        self.orders.stamp(order_id, RESTORE)
        return {"restored": restored}

    def _read(self, key: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")  # type: ignore[no-any-return]

    def _entry(self, order_id: str, customer_id: str, direction: str, points: int) -> dict[str, Any]:
        """A ledger entry, written once: a second run of its transaction is refused by it."""
        entry = {"pk": ledger_key(order_id, direction), "customerId": customer_id, "points": points}
        return {"Put": {"TableName": self.table.name, "Item": entry, "ConditionExpression": "attribute_not_exists(pk)"}}

    def _balance(self, customer_id: str, delta: int) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": {"pk": account_key(customer_id)},
            "UpdateExpression": "SET balance = balance + :delta",
            "ExpressionAttributeValues": {":delta": delta},
        }
        if delta < 0:
            update["ConditionExpression"] = "balance >= :needed"
            update["ExpressionAttributeValues"][":needed"] = -delta
        return {"Update": update}

    def _exists(self, key: str, exists: bool) -> dict[str, Any]:
        condition = "attribute_exists(pk)" if exists else "attribute_not_exists(pk)"
        return {"ConditionCheck": {"TableName": self.table.name, "Key": {"pk": key}, "ConditionExpression": condition}}


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
