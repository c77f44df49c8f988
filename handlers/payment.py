"""AuthorizePayment / RefundPayment: charge the card through the gateway, or give it back.

Idempotent twice over: the gateway honours our keys (``{orderId}:AuthorizePayment`` and
``...:undo``) for about a day, and the order item keeps ``chargeId`` / ``refundId`` for good.

Fenced: the refund first sets the order's fence (``handlers.contract.fence_attribute``), then
refunds the stored ``chargeId``, or, when no charge was recorded, voids the charge's key at
the gateway (refunding it if it landed). A charge recorded after the fence is refused, and a
charge that lands after the void is refused by the gateway, so neither a late authorization
nor a second saga keeps money the saga gave back.
"""

from __future__ import annotations

from functools import lru_cache

import boto3

from handlers.config import setting
from handlers.contract import PAYMENT_GATEWAY, step_key, undo_key
from handlers.errors import AlreadyCompensated, PaymentDeclined, PaymentGatewayUnavailable
from handlers.orders import OrdersTable
from handlers.partners import PartnerClient, partner_from_environment
from handlers.saga_task import TaskResult, saga_task

CHARGE = "AuthorizePayment"
REFUND = "RefundPayment"


class Payments:
    def __init__(self, orders: OrdersTable, gateway: PartnerClient) -> None:
        self.orders = orders
        self.gateway = gateway

    def authorize(self, order_id: str) -> TaskResult:
        order = self.orders.forward(order_id, CHARGE)
        if order.chargeId:
            return {"chargeId": order.chargeId}
        response = self.gateway.post(
            "/charges",
            {
                "amount": order.total,
                "currency": order.currency,
                "token": order.paymentToken,
                "reference": order_id,
            },
            idempotency_key=step_key(order_id, CHARGE),
        )
        if response.status == 409:  # our refund voided the key before this charge arrived
            raise AlreadyCompensated(f"{CHARGE} of {order_id}: {response.body.get('error', 'voided')}")
        if response.status == 402:
            raise PaymentDeclined(str(response.body.get("error", "declined")))
        charge_id = str(response.body["chargeId"])
        self.orders.stamp(order_id, CHARGE, fenced_by=CHARGE, chargeId=charge_id)
        return {"chargeId": charge_id}

    def refund(self, order_id: str) -> TaskResult:
        """Refund the recorded charge, or void its key if none was recorded (a timeout)."""
        order = self.orders.get(order_id)
        if order.refundId:
            return {"refundId": order.refundId}
        order = self.orders.fence(order_id, CHARGE)
        # By id when we recorded one: the gateway forgets keys after ~24 h, ids it keeps.
        target = (
            {"chargeId": order.chargeId} if order.chargeId else {"chargeIdempotencyKey": step_key(order_id, CHARGE)}
        )
        response = self.gateway.post(
            "/refunds", {**target, "reference": order_id}, idempotency_key=undo_key(order_id, CHARGE)
        )
        refund_id = str(response.body["refundId"])
        self.orders.stamp(order_id, REFUND, refundId=refund_id)
        return {"refundId": refund_id}


@lru_cache(maxsize=1)
def payments() -> Payments:
    gateway = partner_from_environment(PAYMENT_GATEWAY, PaymentGatewayUnavailable)
    return Payments(OrdersTable(boto3.resource("dynamodb").Table(setting("ORDERS_TABLE"))), gateway)


@saga_task(CHARGE)
def authorize_handler(order_id: str) -> TaskResult:
    return payments().authorize(order_id)


@saga_task(REFUND, compensation=True)
def refund_handler(order_id: str) -> TaskResult:
    return payments().refund(order_id)
