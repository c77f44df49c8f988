"""The order as the orders table holds it, and the few ways the handlers touch it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from handlers.contract import CANCELLED_COMPENSATED, fence_attribute
from handlers.errors import AlreadyCompensated, OrderNotFound


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postalCode: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$")


class OrderLine(BaseModel):
    sku: str
    quantity: int
    unitPrice: int
    """Minor units (cents), from the catalog at intake."""


class Order(BaseModel):
    """An order item; amounts in minor units, timestamps ISO 8601 UTC."""

    model_config = ConfigDict(extra="ignore")

    orderId: str
    customerId: str
    status: str
    items: list[OrderLine]
    total: int
    currency: str
    paymentToken: str
    shippingAddress: Address
    loyaltyPoints: int = 0
    createdAt: str
    steps: dict[str, str] = {}
    chargeId: str | None = None
    refundId: str | None = None
    bookingId: str | None = None
    cancellationId: str | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class OrdersTable:
    """The orders table (key ``orderId``), through a boto3 ``Table`` resource."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, order_id: str) -> Order:
        item = self.table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
        if item is None:
            raise OrderNotFound(order_id)
        return Order.model_validate(item)

    def find(self, order_id: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")  # type: ignore[no-any-return]

    def create(self, item: dict[str, Any]) -> bool:
        """Write a new order; False when an order with that id exists already."""
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(orderId)")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def forward(self, order_id: str, step: str) -> Order:
        """The order a forward step is about to act on; refuses when ``step`` was undone (its
        partner fence is set) or the order is settled as cancelled: a late or second run."""
        item = self.find(order_id)
        if item is None:
            raise OrderNotFound(order_id)
        if fence_attribute(step) in item or item.get("status") == CANCELLED_COMPENSATED:
            raise AlreadyCompensated(f"{step} of {order_id} was compensated")
        return Order.model_validate(item)

    def fence(self, order_id: str, step: str) -> Order:
        """Record that ``step``'s compensator runs (kept from the first time); returns the order
        as of that write: a result a forward stamp records after it is refused, so what the
        compensator sees here is final."""
        try:
            response = self.table.update_item(
                Key={"orderId": order_id},
                UpdateExpression="SET #fence = if_not_exists(#fence, :now)",
                ConditionExpression="attribute_exists(orderId)",
                ExpressionAttributeNames={"#fence": fence_attribute(step)},
                ExpressionAttributeValues={":now": now()},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise OrderNotFound(order_id) from error
            raise
        return Order.model_validate(response["Attributes"])

    def stamp(self, order_id: str, task: str, *, fenced_by: str | None = None, **attributes: str) -> None:
        """Record that ``task`` completed (``steps.<task>``), with what it produced. With
        ``fenced_by`` (a forward step's name) the write is refused once that step was undone:
        ``AlreadyCompensated``, and its result is never recorded."""
        names = {"#task": task} | {f"#{key}": key for key in attributes}
        values = {":now": now()} | {f":{key}": value for key, value in attributes.items()}
        assignments = ["steps.#task = :now"] + [f"#{key} = :{key}" for key in attributes]
        condition = "attribute_exists(orderId)"
        if fenced_by is not None:
            names["#fence"] = fence_attribute(fenced_by)
            condition += " AND attribute_not_exists(#fence)"
        try:
            self.table.update_item(
                Key={"orderId": order_id},
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            if fenced_by is not None and self.find(order_id) is not None:
                raise AlreadyCompensated(f"{fenced_by} of {order_id} was compensated") from error
            raise OrderNotFound(order_id) from error
