"""The saga's own table (key ``orderId``): one item per saga, the record of what its steps did.

Every effect's fence starts here: a compensator sets ``<Step>Undone`` on the item before it
undoes anything, and a forward step reads the item before it acts and records its result on
the condition that the fence is still absent. Items are plain dicts (no model to build on a
cold start); a saga's own view of them lives with its handlers (``handlers.orders.Order``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from handlers.contract import CANCELLED_COMPENSATED, fence_attribute
from handlers.errors import AlreadyCompensated, OrderNotFound

Item = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_first_read: ContextVar[tuple[str, str, Item | None] | None] = ContextVar("first_read", default=None)


@contextmanager
def first_read(table_name: str, order_id: str, item: Item | None) -> Iterator[None]:
    """An invocation whose first read of the saga's item was made already (the region guard's,
    a consistent read of the whole item): the task's own first read of that item returns it
    rather than read it again, one request fewer per task. Later reads go to the table, and so
    does every read after a write here (``create``, ``fence``, ``stamp``): a read after an effect
    must see it."""
    token = _first_read.set((table_name, order_id, item))
    try:
        yield
    finally:
        _first_read.reset(token)


class WorkItems:
    """The saga's table, through a boto3 ``Table`` resource."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def find(self, order_id: str) -> Item | None:
        made = _first_read.get()
        if made is not None and made[:2] == (self.table.name, order_id):
            _first_read.set(None)
            return made[2]
        return self.table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")  # type: ignore[no-any-return]

    def get(self, order_id: str) -> Item:
        item = self.find(order_id)
        if item is None:
            raise OrderNotFound(order_id)
        return item

    def create(self, item: Item) -> bool:
        """Write a new item (with the empty ``steps`` map stamps write into); False when one
        with that id exists already."""
        _first_read.set(None)
        try:
            self.table.put_item(Item={"steps": {}, **item}, ConditionExpression="attribute_not_exists(orderId)")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def forward(self, order_id: str, step: str) -> Item:
        """The item a forward step is about to act on; refuses when ``step`` was undone (its
        fence is set) or the saga is settled as cancelled: a late or second run."""
        item = self.get(order_id)
        if fence_attribute(step) in item or item.get("status") == CANCELLED_COMPENSATED:
            raise AlreadyCompensated(f"{step} of {order_id} was compensated")
        return item

    def fence(self, order_id: str, step: str) -> Item:
        """Record that ``step``'s compensator runs (kept from the first time); returns the item
        as of that write: a result a forward stamp records after it is refused, so what the
        compensator sees here is final."""
        _first_read.set(None)
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
        return response["Attributes"]  # type: ignore[no-any-return]

    def stamp(self, order_id: str, task: str, *, fenced_by: str | None = None, **attributes: str) -> None:
        """Record that ``task`` completed (``steps.<task>``), with what it produced. With
        ``fenced_by`` (a forward step's name) the write is refused once that step was undone:
        ``AlreadyCompensated``, and its result is never recorded."""
        _first_read.set(None)
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
