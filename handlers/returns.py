"""The returns saga's handlers (``examples/returns_saga.py``): only the business calls.

    ReceiveReturn (undo: RejectReturn) -> RefundReturn -> RestockReturn

A return is of a whole CONFIRMED order; its item in the returns table is keyed by that
order's id. ``handlers.toolkit.Effect`` makes each call idempotent and fenced: the gateway
gets the step's key, the restock is written once, and a rejected return records nothing more.
The refund has no undo (nothing takes money back), so it comes after the step that can be
undone. What the compiler does not know yet is that it is a point of no return: a restock
that fails after its retries, or a refund whose outcome is unknown (a timeout), still runs
RejectReturn, which is wrong after money went back: README, "Compose a saga", known limits.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

import boto3

from handlers.config import setting
from handlers.contract import PAYMENT_GATEWAY
from handlers.errors import InventoryUnavailable, PaymentGatewayUnavailable
from handlers.inventory import reservation_key, stock_key
from handlers.orders import Order
from handlers.partners import PartnerClient, partner_from_environment
from handlers.toolkit import Effect, Forward, TaskResult, Undo, now

RECEIVE = Effect("ReceiveReturn", compensation="RejectReturn", records="receivedAt", undo_records="rejectedAt")
REFUND = Effect("RefundReturn", records="refundId")
RESTOCK = Effect("RestockReturn")


class ReturnNotAllowed(Exception):
    """Only a CONFIRMED order can be returned."""


class RefundRefused(Exception):
    """The gateway will not refund the charge (it is disputed with the bank)."""


@cache
def _table(setting_name: str) -> Any:
    return boto3.resource("dynamodb").Table(setting(setting_name))


@lru_cache(maxsize=1)
def _gateway() -> PartnerClient:
    return partner_from_environment(PAYMENT_GATEWAY, PaymentGatewayUnavailable)


def _order(order_id: str) -> Order:
    item = _table("ORDERS_TABLE").get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
    if item is None or item.get("status") != "CONFIRMED":
        raise ReturnNotAllowed(f"order {order_id} is {item and item.get('status')}, not CONFIRMED")
    return Order.of(item)


@RECEIVE.forward
def receive_handler(call: Forward) -> TaskResult:
    _order(call.order_id)
    return {"receivedAt": now()}


@RECEIVE.undo
def reject_handler(call: Undo) -> TaskResult:
    return {"rejectedAt": now()}


@REFUND.forward
def refund_handler(call: Forward) -> TaskResult:
    order = _order(call.order_id)
    response = _gateway().post(
        "/refunds", {"chargeId": order.chargeId, "reference": f"return {call.order_id}"}, idempotency_key=call.key
    )
    if response.status == 409:
        raise RefundRefused(str(response.body.get("error", "refused")))
    return {"refundId": str(response.body["refundId"])}


def _shard(inventory: Any, order_id: str, sku: str) -> int:
    """The shard the order's reservation took the units from (0 if none is found)."""
    reservation = inventory.get_item(Key={"pk": reservation_key(order_id, sku)}).get("Item")
    return int(reservation["shard"]) if reservation else 0


@RESTOCK.forward
def restock_handler(call: Forward) -> TaskResult:
    lines = _order(call.order_id).items
    inventory = _table("INVENTORY_TABLE")
    # Units put back on the shard count as stocked, the baseline ``ops recount`` trusts.
    increments = [
        {
            "Update": {
                "TableName": inventory.name,
                "Key": {"pk": stock_key(line.sku, _shard(inventory, call.order_id, line.sku))},
                "UpdateExpression": "SET available = available + :q, stocked = stocked + :q",
                "ExpressionAttributeValues": {":q": line.quantity},
            }
        }
        for line in lines
    ]
    call.transact_once(inventory, increments, InventoryUnavailable)
    return {"restocked": {line.sku: line.quantity for line in lines}}
