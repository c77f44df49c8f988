"""The pure part of ``handlers.recount``: what explains each counter, and its drift."""

from __future__ import annotations

from typing import Any

from handlers.recount import ACCOUNT_PREFIX, STOCK_PREFIX, drift, explained, explaining_items

INVENTORY: list[dict[str, Any]] = [
    {"pk": "SKU#HOODIE-M", "shards": 2},
    {"pk": "STOCK#HOODIE-M#0", "available": 3, "stocked": 5},
    {"pk": "RES#o-1#HOODIE-M", "orderId": "o-1", "sku": "HOODIE-M", "shard": 0, "quantity": 2, "status": "RESERVED"},
    {"pk": "RES#o-2#HOODIE-M", "orderId": "o-2", "sku": "HOODIE-M", "shard": 0, "quantity": 1, "status": "RELEASED"},
    {"pk": "RES#o-3#HOODIE-M", "orderId": "o-3", "sku": "HOODIE-M", "shard": 1, "quantity": 1, "status": "RESERVED"},
    {"pk": "FENCE#o-2:ReserveInventory:undo", "orderId": "o-2"},
]
LOYALTY: list[dict[str, Any]] = [
    {"pk": "ACCOUNT#cust-1", "balance": 900, "granted": 1000},
    {"pk": "LEDGER#o-1#BURN", "customerId": "cust-1", "points": 100},
    {"pk": "LEDGER#o-2#BURN", "customerId": "cust-1", "points": 50},
    {"pk": "LEDGER#o-2#RESTORE", "customerId": "cust-1", "points": 50},
]


def test_reservations_explain_their_shard_and_only_reserved_units_are_held() -> None:
    by_shard = explaining_items(INVENTORY, STOCK_PREFIX)
    assert set(by_shard) == {"STOCK#HOODIE-M#0", "STOCK#HOODIE-M#1"}
    assert explained(STOCK_PREFIX, by_shard["STOCK#HOODIE-M#0"]) == 2
    assert drift(5, 2, 3) == 0
    # a late decrement no reservation explains: the shard must gain it back
    assert drift(5, 2, 2) == 1
    # a decrement lost under a newer write while its reservation stands: the shard must give one
    assert drift(5, 3, 3) == -1


def test_ledger_entries_explain_their_account_burns_less_restores() -> None:
    by_account = explaining_items(LOYALTY, ACCOUNT_PREFIX)
    assert set(by_account) == {"ACCOUNT#cust-1"}
    assert explained(ACCOUNT_PREFIX, by_account["ACCOUNT#cust-1"]) == 100
    assert drift(1000, 100, 900) == 0


def test_a_status_change_is_a_different_snapshot() -> None:
    released = [dict(i, status="RELEASED") if i["pk"] == "RES#o-1#HOODIE-M" else i for i in INVENTORY]
    before, after = explaining_items(INVENTORY, STOCK_PREFIX), explaining_items(released, STOCK_PREFIX)
    assert before["STOCK#HOODIE-M#0"] != after["STOCK#HOODIE-M#0"]
    assert before["STOCK#HOODIE-M#1"] == after["STOCK#HOODIE-M#1"]
