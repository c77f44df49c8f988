"""The region guard's read of the order is a saga task's first read of it (handlers/toolkit/work_items.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.toolkit.work_items import WorkItems, first_read


class Table:
    """A boto3 ``Table`` that answers every read with a fresh item and counts the reads."""

    def __init__(self, name: str) -> None:
        self.name, self.reads = name, 0

    def get_item(self, **_: Any) -> dict[str, Any]:
        self.reads += 1
        return {"Item": {"orderId": "o-1", "read": self.reads}}

    def update_item(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"orderId": "o-1"}}


def test_the_first_read_of_that_item_in_that_table_is_the_one_made_and_later_reads_go_to_the_table() -> None:
    orders = Table("orders")
    with first_read("orders", "o-1", {"orderId": "o-1", "read": "the guard's"}):
        assert WorkItems(orders).find("o-1") == {"orderId": "o-1", "read": "the guard's"}
        assert WorkItems(orders).find("o-1") == {"orderId": "o-1", "read": 1}
    assert orders.reads == 1


def test_an_order_found_absent_is_absent_for_the_task_too() -> None:
    orders = Table("orders")
    with first_read("orders", "o-1", None):
        assert WorkItems(orders).find("o-1") is None
    assert orders.reads == 0


def test_another_order_another_table_or_after_the_invocation_reads_the_table() -> None:
    orders, returns = Table("orders"), Table("returns")
    with first_read("orders", "o-1", {"orderId": "o-1", "read": "the guard's"}):
        assert WorkItems(returns).find("o-1") == {"orderId": "o-1", "read": 1}
        assert WorkItems(orders).find("o-2") == {"orderId": "o-1", "read": 1}
    assert WorkItems(orders).find("o-1") == {"orderId": "o-1", "read": 2}


def test_a_read_after_a_write_goes_to_the_table() -> None:
    orders = Table("orders")
    writes: list[Callable[[WorkItems], object]] = [
        lambda items: items.stamp("o-1", "ReleaseInventory"),
        lambda items: items.fence("o-1", "ReserveInventory"),
    ]
    for write in writes:
        with first_read("orders", "o-1", {"orderId": "o-1", "read": "the guard's"}):
            write(WorkItems(orders))
            found = WorkItems(orders).find("o-1")
            assert found == {"orderId": "o-1", "read": orders.reads}  # the table's, not the guard's
    assert orders.reads == 2
