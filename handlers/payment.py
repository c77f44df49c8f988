"""AuthorizePayment / RefundPayment: charge the card through the gateway, or give it back.

Idempotent twice over: the gateway honours our keys (``{orderId}:AuthorizePayment`` and
``...:undo``) for about a day, and the order item keeps ``chargeId`` / ``refundId`` for good.

Fenced (``handlers.toolkit.Effect``): the refund refunds the stored ``chargeId``, or, when no
charge was recorded, voids the charge's key at the gateway (refunding it if it landed). A
charge recorded after the fence is refused, and a charge that lands after the void is refused
by the gateway, so neither a late authorization nor a second saga keeps money the saga gave back.
"""

from __future__ import annotations

from functools import lru_cache

import boto3

from handlers.config import setting
from handlers.contract import PAYMENT_GATEWAY
from handlers.errors import PaymentDeclined, PaymentGatewayUnavailable
from handlers.orders import Order
from handlers.partners import PartnerClient, partner_from_environment
from handlers.toolkit import Effect, Forward, TaskResult, Undo, WorkItems, saga_task

CHARGE = "AuthorizePayment"
REFUND = "RefundPayment"
PAYMENT = Effect(CHARGE, compensation=REFUND, records="chargeId", undo_records="refundId")


class Payments:
    def __init__(self, orders: WorkItems, gateway: PartnerClient) -> None:
        self.orders = orders
        self.gateway = gateway

    def authorize(self, order_id: str) -> TaskResult:
        return PAYMENT.run(self.orders, order_id, self._charge)

    def refund(self, order_id: str) -> TaskResult:
        return PAYMENT.run_undo(self.orders, order_id, self._refund)

    def _charge(self, call: Forward) -> TaskResult:
        order = Order.of(call.item)
        charge = {"amount": order.total, "currency": order.currency, "token": order.paymentToken}
        response = self.gateway.post("/charges", {**charge, "reference": order.orderId}, idempotency_key=call.key)
        if response.status == 409:  # our refund voided the key before this charge arrived
            raise call.compensated(str(response.body.get("error", "voided")))
        if response.status == 402:
            raise PaymentDeclined(str(response.body.get("error", "declined")))
        return {"chargeId": str(response.body["chargeId"])}

    def _refund(self, call: Undo) -> TaskResult:
        """Refund the recorded charge, or void its key if none was recorded (a timeout)."""
        # By id when we recorded one: the gateway forgets keys after ~24 h, ids it keeps.
        charge_id = call.item.get("chargeId")
        target = {"chargeId": charge_id} if charge_id else {"chargeIdempotencyKey": call.forward_key}
        response = self.gateway.post("/refunds", {**target, "reference": call.order_id}, idempotency_key=call.key)
        return {"refundId": str(response.body["refundId"])}


@lru_cache(maxsize=1)
def payments() -> Payments:
    gateway = partner_from_environment(PAYMENT_GATEWAY, PaymentGatewayUnavailable)
    return Payments(WorkItems(boto3.resource("dynamodb").Table(setting("ORDERS_TABLE"))), gateway)


@saga_task(CHARGE)
def authorize_handler(order_id: str) -> TaskResult:
    return payments().authorize(order_id)


@saga_task(REFUND, compensation=True)
def refund_handler(order_id: str) -> TaskResult:
    return payments().refund(order_id)
