"""The order saga's view of its item in the orders table: what its steps read.

Intake validated the order when it wrote it (``handlers.order_request``); here the item is
only read, into plain dataclasses (DynamoDB numbers arrive as ``Decimal``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.toolkit import Item


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unitPrice: int
    """Minor units (cents), from the catalog at intake."""


@dataclass(frozen=True)
class Order:
    """An order item; amounts in minor units, timestamps ISO 8601 UTC."""

    orderId: str
    customerId: str
    items: list[OrderLine]
    total: int
    currency: str
    paymentToken: str
    shippingAddress: dict[str, Any]
    loyaltyPoints: int
    chargeId: str | None
    bookingId: str | None

    @classmethod
    def of(cls, item: Item) -> Order:
        return cls(
            orderId=item["orderId"],
            customerId=item["customerId"],
            items=[OrderLine(line["sku"], int(line["quantity"]), int(line["unitPrice"])) for line in item["items"]],
            total=int(item["total"]),
            currency=item["currency"],
            paymentToken=item["paymentToken"],
            shippingAddress=dict(item["shippingAddress"]),
            loyaltyPoints=int(item.get("loyaltyPoints", 0)),
            chargeId=item.get("chargeId"),
            bookingId=item.get("bookingId"),
        )
