"""BookShipment / CancelShipment: a courier slot for the order, or its cancellation.

The courier honours our keys (``{orderId}:BookShipment`` and ``...:undo``); the order item
keeps ``bookingId``. Cancelling a booking that never landed voids its key at the courier.
"""

from __future__ import annotations

from functools import lru_cache

import boto3

from handlers.config import setting
from handlers.contract import COURIER, step_key, undo_key
from handlers.errors import CourierUnavailable, NoCourierCapacity
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
        order = self.orders.get(order_id)
        if order.bookingId:
            return {"bookingId": order.bookingId}
        parcels = sum(line.quantity for line in order.items)
        response = self.courier.post(
            "/bookings",
            {"reference": order_id, "address": order.shippingAddress.model_dump(), "parcels": parcels},
            idempotency_key=step_key(order_id, BOOK),
        )
        if response.status == 409:  # no slot left, or already cancelled
            raise NoCourierCapacity(str(response.body.get("error", "no capacity")))
        booking_id = str(response.body["bookingId"])
        self.orders.stamp(order_id, BOOK, bookingId=booking_id)
        return {"bookingId": booking_id, "slot": response.body.get("slot")}

    def cancel(self, order_id: str) -> TaskResult:
        self.orders.get(order_id)  # a compensator for an unknown order is a bug, not a no-op
        response = self.courier.post(
            "/cancellations",
            {"bookingIdempotencyKey": step_key(order_id, BOOK), "reference": order_id},
            idempotency_key=undo_key(order_id, BOOK),
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
