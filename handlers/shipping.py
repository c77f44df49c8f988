"""BookShipment / CancelShipment: a courier slot for the order, or its cancellation.

The courier honours our keys (``{orderId}:BookShipment`` and ``...:undo``); the order item
keeps ``bookingId``. Fenced like payment: the cancellation sets the order's fence first, then
cancels the stored ``bookingId``, or voids the booking's key when none was recorded; a booking
recorded after the fence is refused.
"""

from __future__ import annotations

from functools import lru_cache

import boto3

from handlers.config import setting
from handlers.contract import COURIER, step_key, undo_key
from handlers.errors import AlreadyCompensated, CourierUnavailable, NoCourierCapacity
from handlers.orders import OrdersTable
from handlers.partners import PartnerClient, partner_from_environment
from handlers.saga_task import TaskResult, saga_task

BOOK = "BookShipment"
CANCEL = "CancelShipment"


class Shipping:
    def __init__(self, orders: OrdersTable, courier: PartnerClient) -> None:
        self.orders = orders
        self.courier = courier

    def book(self, order_id: str) -> TaskResult:
        order = self.orders.forward(order_id, BOOK)
        if order.bookingId:
            return {"bookingId": order.bookingId}
        parcels = sum(line.quantity for line in order.items)
        response = self.courier.post(
            "/bookings",
            {"reference": order_id, "address": order.shippingAddress.model_dump(), "parcels": parcels},
            idempotency_key=step_key(order_id, BOOK),
        )
        if response.status == 409 and response.body.get("error") == "booking_cancelled":
            raise AlreadyCompensated(f"{BOOK} of {order_id}: our cancellation voided the key first")
        if response.status == 409:
            raise NoCourierCapacity(str(response.body.get("error", "no capacity")))
        booking_id = str(response.body["bookingId"])
        self.orders.stamp(order_id, BOOK, fenced_by=BOOK, bookingId=booking_id)
        return {"bookingId": booking_id, "slot": response.body.get("slot")}

    def cancel(self, order_id: str) -> TaskResult:
        order = self.orders.get(order_id)  # a compensator for an unknown order is a bug, not a no-op
        if order.cancellationId:
            return {"cancellationId": order.cancellationId}
        order = self.orders.fence(order_id, BOOK)
        # By id when we recorded one: the courier forgets keys after a while, ids it keeps.
        target = (
            {"bookingId": order.bookingId} if order.bookingId else {"bookingIdempotencyKey": step_key(order_id, BOOK)}
        )
        response = self.courier.post(
            "/cancellations", {**target, "reference": order_id}, idempotency_key=undo_key(order_id, BOOK)
        )
        cancellation_id = str(response.body["cancellationId"])
        self.orders.stamp(order_id, CANCEL, cancellationId=cancellation_id)
        return {"cancellationId": cancellation_id}


@lru_cache(maxsize=1)
def shipping() -> Shipping:
    courier = partner_from_environment(COURIER, CourierUnavailable)
    return Shipping(OrdersTable(boto3.resource("dynamodb").Table(setting("ORDERS_TABLE"))), courier)


@saga_task(BOOK)
def book_handler(order_id: str) -> TaskResult:
    return shipping().book(order_id)


@saga_task(CANCEL, compensation=True)
def cancel_handler(order_id: str) -> TaskResult:
    return shipping().cancel(order_id)
