"""Demo data for a fresh sandbox: a catalog with stock, and loyalty accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sku:
    sku: str
    name: str
    price: int  # minor units
    stock: tuple[int, ...]  # per shard


ADDRESS = {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}
EXAMPLE_ORDER = {"items": [{"sku": "TEE-M", "quantity": 1}], "shippingAddress": ADDRESS, "paymentToken": "tok_visa"}
"""An order the seeded catalog can fill: the README's curl, the benchmark, the end-to-end tests."""

CATALOG = (
    Sku("HOODIE-M", "Launch hoodie, size M", 5900, (5, 5, 5, 5)),  # the viral one: sharded
    Sku("TEE-M", "Basic tee, size M", 1500, (500,)),
    Sku("CAP", "Cap", 2000, (300,)),
)


def seed(
    dynamodb: Any,
    inventory_table: str,
    loyalty_table: str,
    *,
    catalog: tuple[Sku, ...] = CATALOG,
    customers: int = 50,
    points: int = 1000,
) -> None:
    """Write the catalog and stock shards, and ``customers`` accounts (``cust-1``...) with points;
    each counter with its baseline (``stocked``, ``granted``: handlers/recount.py)."""
    inventory = dynamodb.Table(inventory_table)
    loyalty = dynamodb.Table(loyalty_table)
    with inventory.batch_writer() as batch:
        for item in catalog:
            batch.put_item(
                Item={
                    "pk": f"SKU#{item.sku}",
                    "name": item.name,
                    "price": item.price,
                    "currency": "USD",
                    "shards": len(item.stock),
                }
            )
            for shard, available in enumerate(item.stock):
                # ``stocked``: every unit ever put on the shard, the baseline ``ops recount`` trusts
                # (a restock adds to both); ``available`` is what is left to reserve.
                batch.put_item(Item={"pk": f"STOCK#{item.sku}#{shard}", "available": available, "stocked": available})
    with loyalty.batch_writer() as batch:
        for n in range(1, customers + 1):
            # ``granted``: every point ever credited, the baseline ``ops recount`` trusts.
            batch.put_item(Item={"pk": f"ACCOUNT#cust-{n}", "balance": points, "granted": points})
