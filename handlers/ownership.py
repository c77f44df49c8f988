"""Which region is active, and which region owns an order: the warm standby's guard.

Both live in the orders table, a global table, so the surviving region can change them alone
(one conditional write to its own replica; no call into the failed region, no deploy):

- the **control item** (``orderId = "#region-control"``) names the active region and an epoch.
  With no control item, a region's deployed role decides (``REGION_ROLE``: ``primary`` is
  active, ``standby`` passive). ``python -m ops promote`` writes it in the region it promotes.
- every order carries ``ownerRegion``: intake writes its own region; reconcile in the active
  region claims (conditionally) the unsettled orders another region owned.

A passive region accepts no order (intake answers 503), starts no saga (the starter drops what
the primary forwarded: the archive and the replicated table keep it) and sweeps nothing. A saga
task in a passive region, or on an order another region owns, raises ``RegionStandsDown``
before any effect, and the state machine ends the execution there: no compensation, no status
write (``components.saga.ownership``). Both are read on the *local* replica: under
last-writer-wins replication a region learns of a promotion or a claim only once it has
replicated (README, "Disaster recovery": the window, and why fences keep it harmless).

Pure boto3 and the standard library: the starter and every task load it on their cold start.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

CONTROL_KEY = "#region-control"
"""The control item's ``orderId``: no order id (a UUID) can take it."""
OWNER_ATTRIBUTE = "ownerRegion"
CLAIMED_ATTRIBUTE = "ownerClaimedAt"
"""Set when a region took the order over from another (adopted): its saga there compensates
every step on a failure, since the lost region may have done more than replicated."""
ROLES = ("primary", "standby")
SETTLED = ("CONFIRMED", "CANCELLED_COMPENSATED")
CACHE_SECONDS = 2.0
"""How long a function trusts the control item it read: promotion takes effect within this."""


class RegionStandsDown(Exception):
    """This region is passive, or another region owns the order: the task does nothing and the
    execution ends without effects."""


class PromotionRefused(Exception):
    """The control item changed since it was read (another promotion): nothing was written."""


@dataclass(frozen=True)
class Control:
    """The control item, as this region's replica holds it."""

    active_region: str | None
    """None: no promotion ever happened; each region's deployed role decides."""
    epoch: int = 0
    promoted_at: str | None = None


class RegionControl:
    """One region's view of the control item and of order ownership, through a boto3 ``Table``."""

    def __init__(
        self,
        table: Any,
        region: str,
        role: str,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"REGION_ROLE must be one of {ROLES}, not {role!r}")
        self.table, self.region, self.role = table, region, role
        self.cache_seconds, self.clock = cache_seconds, clock
        self._cached: tuple[float, Control] | None = None

    def control(self, *, fresh: bool = False) -> Control:
        now = self.clock()
        if not fresh and self._cached is not None and now - self._cached[0] < self.cache_seconds:
            return self._cached[1]
        item = self.table.get_item(Key={"orderId": CONTROL_KEY}, ConsistentRead=True).get("Item")
        control = (
            Control(str(item["activeRegion"]), int(item.get("epoch", 0)), item.get("promotedAt"))
            if item and item.get("activeRegion")
            else Control(None)
        )
        self._cached = (now, control)
        return control

    def active(self, *, fresh: bool = False) -> bool:
        control = self.control(fresh=fresh)
        if control.active_region is None:
            return self.role == "primary"
        return control.active_region == self.region

    def check_task(self, order_id: str) -> dict[str, Any] | None:
        """Before a saga task's first effect: stand down unless this region is active and owns
        the order (an order without an owner predates ownership: the active region's). Returns
        the order item as read (consistent, whole, None when absent): the task's own first read
        of it (``handlers.toolkit.work_items.first_read``)."""
        if not self.active():
            raise RegionStandsDown(f"{self.region} is passive: {order_id} is not worked here")
        item: dict[str, Any] | None = self.table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
        owner = (item or {}).get(OWNER_ATTRIBUTE)
        if owner and owner != self.region:
            raise RegionStandsDown(f"{order_id} is owned by {owner}, not {self.region}")
        return item

    def startable(self, order_id: str) -> dict[str, Any] | None:
        """Whether this region may start a saga for the order: it is active, the order item is
        here (replicated) and no other region owns it. The starter drops what is not: an event
        the primary forwarded before a failover belongs to an order reconcile adopts. Returns
        None, or what the execution input adds: ``{"adopted": True}`` for an adopted order."""
        if not self.active():
            return None
        item = self.table.get_item(
            Key={"orderId": order_id},
            ConsistentRead=True,
            ProjectionExpression="#owner, #claimed",
            ExpressionAttributeNames={"#owner": OWNER_ATTRIBUTE, "#claimed": CLAIMED_ATTRIBUTE},
        ).get("Item")
        if item is None or item.get(OWNER_ATTRIBUTE, self.region) != self.region:
            return None
        return {"adopted": True} if CLAIMED_ATTRIBUTE in item else {}

    def promote(self, expected_epoch: int, *, by: str = "ops") -> Control:
        """Make this region the active one: one conditional write to the local replica. Refused
        (``PromotionRefused``) when the epoch moved since it was read."""
        control = Control(self.region, expected_epoch + 1, datetime.now(UTC).isoformat(timespec="milliseconds"))
        try:
            self.table.put_item(
                Item={
                    "orderId": CONTROL_KEY,
                    "activeRegion": control.active_region,
                    "epoch": control.epoch,
                    "promotedAt": control.promoted_at,
                    "promotedBy": by,
                },
                ConditionExpression="attribute_not_exists(orderId) OR epoch = :expected",
                ExpressionAttributeValues={":expected": expected_epoch},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise PromotionRefused(f"the control item is no longer at epoch {expected_epoch}") from error
            raise
        self._cached = (self.clock(), control)
        return control

    def claim(self, order_id: str) -> bool:
        """Take over an unsettled order for this region; False when it is settled (or gone)."""
        try:
            self.table.update_item(
                Key={"orderId": order_id},
                UpdateExpression="SET #owner = :me, #claimed = :now",
                ConditionExpression="attribute_exists(orderId) AND NOT #status IN (:confirmed, :cancelled)",
                ExpressionAttributeNames={
                    "#owner": OWNER_ATTRIBUTE,
                    "#claimed": CLAIMED_ATTRIBUTE,
                    "#status": "status",
                },
                ExpressionAttributeValues={
                    ":me": self.region,
                    ":now": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    ":confirmed": SETTLED[0],
                    ":cancelled": SETTLED[1],
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


@lru_cache(maxsize=1)
def from_environment() -> RegionControl | None:
    """This function's guard, from ``REGION_ROLE``, ``ORDERS_TABLE`` and Lambda's ``AWS_REGION``;
    None without ``REGION_ROLE`` (a saga outside the order program, a test): no checks."""
    role = os.environ.get("REGION_ROLE")
    if not role:
        return None
    import boto3  # here: the unguarded path loads nothing

    table = boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])
    return RegionControl(table, os.environ["AWS_REGION"], role)
