"""BurnLoyaltyPoints / RestoreLoyaltyPoints: spend the points an order redeems, or give them back.

Loyalty table (key ``pk``):
- ``ACCOUNT#<customerId>``: ``balance``
- ``LEDGER#<orderId>#BURN`` and ``LEDGER#<orderId>#RESTORE``: ``points``, ``customerId``
- ``FENCE#<orderId>:BurnLoyaltyPoints:undo``: the restore ran (``handlers.contract.fence_key``)

Each ledger entry is written in the same transaction as the balance change, so an entry
exists exactly when its effect does, and a second run finds it and changes nothing. Fenced
by ``handlers.toolkit.Effect``: the restore writes the table's fence in the same transaction
(alone, on the condition that no burn exists, when there is nothing to give back), and a
burn carries the fence check: a burn that lands after its restore, or a second saga's, is
refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3

from handlers.config import setting
from handlers.errors import InsufficientPoints, LoyaltyLedgerUnavailable
from handlers.orders import Order
from handlers.toolkit import Cancelled, Effect, Forward, TaskResult, Undo, WorkItems, saga_task

BURN = "BurnLoyaltyPoints"
RESTORE = "RestoreLoyaltyPoints"
POINTS = Effect(BURN, compensation=RESTORE)


def account_key(customer_id: str) -> str:
    return f"ACCOUNT#{customer_id}"


def ledger_key(order_id: str, direction: str) -> str:
    return f"LEDGER#{order_id}#{direction}"


class Loyalty:
    def __init__(self, orders: WorkItems, table: Any) -> None:
        self.orders = orders
        self.table = table

    def burn(self, order_id: str) -> TaskResult:
        return POINTS.run(self.orders, order_id, self._burn)

    def restore(self, order_id: str) -> TaskResult:
        """Give back what this order burned, and fence the step: a burn that lands later is
        refused. Nothing burned, nothing restored, the fence all the same."""
        return POINTS.run_undo(self.orders, order_id, self._restore)

    def _burn(self, call: Forward) -> TaskResult:
        order = Order.of(call.item)
        points = order.loyaltyPoints
        if points > 0:
            entry = self._entry(order.orderId, order.customerId, "BURN", points)
            try:  # item 0 is the ledger entry, 1 the balance
                call.transact(self.table, [entry, self._balance(order.customerId, -points)], LoyaltyLedgerUnavailable)
            except Cancelled as cancelled:
                if not cancelled.refused(0):  # refused(0): burned by an earlier run, not restored
                    raise InsufficientPoints(f"{points} points") from None
        return {"burned": points}

    def _restore(self, call: Undo) -> TaskResult:
        order_id = call.order_id
        customer_id = call.item["customerId"]

        def attempt() -> tuple[list[dict[str, Any]], int]:
            if self._read(ledger_key(order_id, "RESTORE")) is not None:
                return [], 0  # restored by an earlier run: its fence is in already
            burn = self._read(ledger_key(order_id, "BURN"))
            if burn is None:  # nothing to give back, as long as no burn lands meanwhile
                return [self._exists(ledger_key(order_id, "BURN"), False)], 0
            points = int(burn["points"])
            return [
                self._entry(order_id, customer_id, "RESTORE", points),
                self._balance(customer_id, points),
                self._exists(ledger_key(order_id, "BURN"), True),
            ], points

        return {"restored": call.transact(self.table, attempt, LoyaltyLedgerUnavailable)}

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
    return Loyalty(WorkItems(dynamodb.Table(setting("ORDERS_TABLE"))), dynamodb.Table(setting("LOYALTY_TABLE")))


@saga_task(BURN)
def burn_handler(order_id: str) -> TaskResult:
    return loyalty().burn(order_id)


@saga_task(RESTORE, compensation=True)
def restore_handler(order_id: str) -> TaskResult:
    return loyalty().restore(order_id)
