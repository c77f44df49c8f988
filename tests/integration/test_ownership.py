"""The warm standby's switch and order ownership (handlers/ownership.py) on moto's DynamoDB."""

from __future__ import annotations

import pytest

from handlers.ownership import CONTROL_KEY, PromotionRefused, RegionControl, RegionStandsDown
from tests.integration.stores import Stores

PRIMARY, STANDBY = "us-east-1", "us-west-2"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def order(stores: Stores, order_id: str, owner: str | None, status: str = "PENDING") -> None:
    item = {"orderId": order_id, "status": status, "customerId": "cust-1"}
    if owner:
        item["ownerRegion"] = owner
    stores.orders.put_item(Item=item)


def test_without_a_promotion_the_deployed_role_decides(stores: Stores) -> None:
    assert RegionControl(stores.orders, PRIMARY, "primary").active()
    assert not RegionControl(stores.orders, STANDBY, "standby").active()


def test_promotion_from_the_standby_alone_flips_both_views(stores: Stores) -> None:
    # GIVEN both regions read the same (replicated) control item
    primary = RegionControl(stores.orders, PRIMARY, "primary", cache_seconds=0)
    standby = RegionControl(stores.orders, STANDBY, "standby", cache_seconds=0)
    # WHEN the standby promotes itself: one write to its own replica
    promoted = standby.promote(0)
    # THEN it is active, and the primary, reading the same item, is passive
    assert (promoted.active_region, promoted.epoch) == (STANDBY, 1)
    assert standby.active() and not primary.active()
    # AND failing back is the same command in the other region
    primary.promote(1)
    assert primary.active() and not standby.active()


def test_a_promotion_from_a_stale_epoch_is_refused_and_writes_nothing(stores: Stores) -> None:
    standby = RegionControl(stores.orders, STANDBY, "standby")
    standby.promote(0)
    with pytest.raises(PromotionRefused):
        RegionControl(stores.orders, PRIMARY, "primary").promote(0)
    item = stores.orders.get_item(Key={"orderId": CONTROL_KEY})["Item"]
    assert (item["activeRegion"], item["epoch"]) == (STANDBY, 1)


def test_the_switch_is_cached_for_a_moment_then_read_again(stores: Stores) -> None:
    clock = Clock()
    standby = RegionControl(stores.orders, STANDBY, "standby", cache_seconds=2, clock=clock)
    assert not standby.active()
    RegionControl(stores.orders, STANDBY, "standby").promote(0)
    assert not standby.active()  # within the cache
    clock.now = 2.5
    assert standby.active()


def test_a_task_stands_down_in_a_passive_region_or_on_an_order_owned_elsewhere(stores: Stores) -> None:
    primary = RegionControl(stores.orders, PRIMARY, "primary", cache_seconds=0)
    order(stores, "mine", PRIMARY)
    order(stores, "theirs", STANDBY)
    order(stores, "legacy", None)
    primary.check_task("mine")
    primary.check_task("legacy")  # written before ownership existed: the active region's
    with pytest.raises(RegionStandsDown, match="owned by us-west-2"):
        primary.check_task("theirs")
    RegionControl(stores.orders, STANDBY, "standby").promote(0)
    with pytest.raises(RegionStandsDown, match="passive"):
        primary.check_task("mine")


@pytest.mark.parametrize("status", ["CONFIRMED", "CANCELLED_COMPENSATED"])
def test_a_settled_order_is_never_claimed(stores: Stores, status: str) -> None:
    order(stores, "done", PRIMARY, status)
    assert not RegionControl(stores.orders, STANDBY, "standby").claim("done")
    assert stores.orders.get_item(Key={"orderId": "done"})["Item"]["ownerRegion"] == PRIMARY


@pytest.mark.parametrize("status", ["PENDING", "NEEDS_REVIEW"])
def test_an_unsettled_order_is_claimed_by_the_region_that_takes_over(stores: Stores, status: str) -> None:
    order(stores, "open", PRIMARY, status)
    assert RegionControl(stores.orders, STANDBY, "standby").claim("open")
    assert stores.orders.get_item(Key={"orderId": "open"})["Item"]["ownerRegion"] == STANDBY
    assert not RegionControl(stores.orders, STANDBY, "standby").claim("missing")
