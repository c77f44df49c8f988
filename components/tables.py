"""The order saga's tables: created (as global tables) by the primary, referenced by the standby.

All on-demand, with point-in-time recovery, encryption and deletion protection; replicas
keep PITR too. Stock is written in the active region only: global tables resolve conflicts
by last writer wins and check conditions on the local replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

TABLES = ("orders", "inventory", "loyalty")


@dataclass
class TableRefs:
    """Names and ARNs, by table (``orders``, ``inventory``, ``loyalty``)."""

    names: dict[str, pulumi.Output[str]]
    arns: dict[str, pulumi.Output[str]]


@dataclass
class OrderTablesArgs:
    name_prefix: str
    replica_region: str | None = None
    """Where the global tables keep a replica (the warm standby's region)."""
    strong_consistency_witness: str | None = None
    """Multi-Region strong consistency (MRSC): the witness region. The consistency mode cannot
    change after a table is created, and MRSC needs empty tables and three regions of one set."""
    tags: Mapping[str, str] = field(default_factory=dict)


def _key(table: str) -> str:
    return "orderId" if table == "orders" else "pk"


def _attributes(table: str) -> list[Any]:
    names = ["orderId", "customerId", "createdAt"] if table == "orders" else ["pk"]
    return [{"name": name, "type": "S"} for name in names]


def _indexes(table: str) -> list[Any]:
    """Orders by customer, newest last: "my orders" without a scan."""
    if table != "orders":
        return []
    return [{"name": "byCustomer", "hash_key": "customerId", "range_key": "createdAt", "projection_type": "ALL"}]


class OrderTables(pulumi.ComponentResource):
    refs: TableRefs

    def __init__(self, name: str, args: OrderTablesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("order-saga:index:OrderTables", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        replicas: list[Any] = (
            [
                {
                    "region_name": args.replica_region,
                    "point_in_time_recovery": True,
                    "deletion_protection_enabled": True,
                    "propagate_tags": True,
                    **({"consistency_mode": "STRONG"} if args.strong_consistency_witness else {}),
                }
            ]
            if args.replica_region
            else []
        )
        names: dict[str, pulumi.Output[str]] = {}
        arns: dict[str, pulumi.Output[str]] = {}
        for table in TABLES:
            resource = aws.dynamodb.Table(
                f"{name}-{table}",
                name=f"{args.name_prefix}-{table}",
                billing_mode="PAY_PER_REQUEST",
                point_in_time_recovery={"enabled": True},
                server_side_encryption={"enabled": True},
                deletion_protection_enabled=True,
                # Streams carry replication for global tables, and the orders' change feed.
                stream_enabled=True,
                stream_view_type="NEW_AND_OLD_IMAGES",
                replicas=replicas,
                global_table_witness={"region_name": args.strong_consistency_witness}
                if args.strong_consistency_witness
                else None,
                hash_key=_key(table),
                attributes=_attributes(table),
                global_secondary_indexes=_indexes(table),
                tags=dict(args.tags),
                opts=child,
            )
            names[table], arns[table] = resource.name, resource.arn
        self.refs = TableRefs(names, arns)
        self.register_outputs({"tableNames": names})


def order_tables(config_prefix: str, region: str, account_id: pulumi.Input[str]) -> TableRefs:
    """The order program's tables in ``region``, by their names (``OrderTables``): what another
    program's saga may be granted (``components.saga_service.Task.tables``)."""
    names = {table: pulumi.Output.from_input(f"{config_prefix}-{table}") for table in TABLES}
    arns = {
        table: pulumi.Output.concat("arn:aws:dynamodb:", region, ":", account_id, ":table/", names[table])
        for table in TABLES
    }
    return TableRefs(names, arns)


def standby_tables(primary: pulumi.StackReference, region: str, account_id: pulumi.Input[str]) -> TableRefs:
    """The primary's global tables as seen from the standby region: same names, local ARNs."""
    names = {
        table: pulumi.Output.from_input(primary.require_output(f"{table}TableName")).apply(str) for table in TABLES
    }
    arns = {
        table: pulumi.Output.concat("arn:aws:dynamodb:", region, ":", account_id, ":table/", names[table])
        for table in TABLES
    }
    return TableRefs(names, arns)
