"""BookShipment / CancelShipment: a courier slot for the order, or its cancellation.

The courier honours our keys (``{orderId}:BookShipment`` and ``...:undo``); the order item
keeps ``bookingId``. Fenced like payment (``handlers.toolkit.Effect``): the cancellation
cancels the stored ``bookingId``, or voids the booking's key when none was recorded; a
booking recorded after the fence is refused.
"""

from __future__ import annotations

from functools import lru_cache

import boto3

from handlers.config import setting
from handlers.contract import COURIER
from handlers.errors import CourierUnavailable, NoCourierCapacity
from handlers.orders import Order
from handlers.partners import PartnerClient, partner_from_environment
from handlers.toolkit import Effect, Forward, TaskResult, Undo, WorkItems, saga_task

BOOK = "BookShipment"
CANCEL = "CancelShipment"
SHIPMENT = Effect(BOOK, compensation=CANCEL, records="bookingId", undo_records="cancellationId")


class Shipping:
    def __init__(self, orders: WorkItems, courier: PartnerClient) -> None:
        self.orders = orders
        self.courier = courier

    def book(self, order_id: str) -> TaskResult:
        return SHIPMENT.run(self.orders, order_id, self._book)

    def cancel(self, order_id: str) -> TaskResult:
        return SHIPMENT.run_undo(self.orders, order_id, self._cancel)

    def _book(self, call: Forward) -> TaskResult:
        order = Order.of(call.item)
        parcels = sum(line.quantity for line in order.items)
        response = self.courier.post(
            "/bookings",
            {"reference": order.orderId, "address": order.shippingAddress, "parcels": parcels},
            idempotency_key=call.key,
        )
        if response.status == 409 and response.body.get("error") == "booking_cancelled":
            raise call.compensated("our cancellation voided the key first")
        if response.status == 409:
            raise NoCourierCapacity(str(response.body.get("error", "no capacity")))
        return {"bookingId": str(response.body["bookingId"]), "slot": response.body.get("slot")}

    def _cancel(self, call: Undo) -> TaskResult:
        # By id when we recorded one: the courier forgets keys after a while, ids it keeps.
        booking_id = call.item.get("bookingId")
        target = {"bookingId": booking_id} if booking_id else {"bookingIdempotencyKey": call.forward_key}
        response = self.courier.post("/cancellations", {**target, "reference": call.order_id}, idempotency_key=call.key)
        return {"cancellationId": str(response.body["cancellationId"])}


@lru_cache(maxsize=1)
def shipping() -> Shipping:
    courier = partner_from_environment(COURIER, CourierUnavailable)
    return Shipping(WorkItems(boto3.resource("dynamodb").Table(setting("ORDERS_TABLE"))), courier)


@saga_task(BOOK)
def book_handler(order_id: str) -> TaskResult:
    return shipping().book(order_id)


@saga_task(CANCEL, compensation=True)
def cancel_handler(order_id: str) -> TaskResult:
    return shipping().cancel(order_id)
