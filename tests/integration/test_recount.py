"""``handlers.recount`` (``python -m ops recount``): the stock and points a lost region's late
writes skew under last-writer-wins replication are put back, and a recount racing the saga's
own reservations and releases loses none of them.

The gap is reproduced with the sandbox's replication (``sandbox.aws.moto_patches``: each write
replayed into the other region after the lag, last writer wins, a dark region holding its
writes until it comes back), the real inventory and loyalty steps, and the drill's audit.
"""

from __future__ import annotations

import functools
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from demo.audit import POINTS, STOCK, Evidence, check
from handlers.contract import CANCELLED_COMPENSATED
from handlers.inventory import Inventory, stock_key
from handlers.loyalty import Loyalty
from handlers.recount import ORPHAN_BURN, ORPHAN_RESERVATION, POINTS_DRIFT, STOCK_DRIFT, Recount
from sandbox.aws import moto_patches
from tests.integration.stores import Stores

PRIMARY, STANDBY = "us-east-1", "us-west-2"
LAG_SECONDS = 1.0
_serial = itertools.count()


class Shard(random.Random):
    """An rng whose every reservation starts on one chosen shard."""

    def __init__(self, shard: int) -> None:
        super().__init__(0)
        self.shard = shard

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        return self.shard


@dataclass
class Region:
    name: str
    stores: Stores

    def inventory(self, shard: int = 0) -> Inventory:
        return Inventory(self.stores.orders_table, self.stores.inventory, rng=Shard(shard))

    def loyalty(self) -> Loyalty:
        return Loyalty(self.stores.orders_table, self.stores.loyalty)

    def recount(self, **kwargs: Any) -> Recount:
        return Recount(self.stores.orders, self.stores.inventory, self.stores.loyalty, pause_seconds=0, **kwargs)

    def settle(self, order_id: str, status: str = CANCELLED_COMPENSATED) -> None:
        """The order settled (what the saga's last state writes)."""
        self.stores.orders.update_item(
            Key={"orderId": order_id},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": status},
        )

    def reserve_and_confirm(self, order_id: str, shard: int = 0) -> None:
        self.inventory(shard).reserve(order_id)
        self.settle(order_id, "CONFIRMED")


def _tables(region: str, n: int) -> Stores:
    dynamodb = boto3.resource("dynamodb", region_name=region)
    made = []
    for name, key in ((f"r-orders-{n}", "orderId"), (f"r-inventory-{n}", "pk"), (f"r-loyalty-{n}", "pk")):
        made.append(
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        )
    return Stores(*made)


@pytest.fixture
def regions(aws: None) -> Iterator[tuple[Region, Region]]:
    """The order tables as global tables in two regions, replicated ``LAG_SECONDS`` behind."""
    n = next(_serial)
    primary, standby = Region(PRIMARY, _tables(PRIMARY, n)), Region(STANDBY, _tables(STANDBY, n))
    names = [t.name for t in (primary.stores.orders, primary.stores.inventory, primary.stores.loyalty)]
    moto_patches.replication.configure({name: [PRIMARY, STANDBY] for name in names}, lag_seconds=LAG_SECONDS)
    yield primary, standby
    moto_patches.replication.configure({}, lag_seconds=0)
    moto_patches.come_back(PRIMARY)


def replicated() -> None:
    deadline = time.monotonic() + 10
    while any(moto_patches.replication.pending().values()):
        assert time.monotonic() < deadline, "replication did not drain"
        time.sleep(0.05)


def lose_primary_then_bring_it_back(primary: Region, work_in_standby: Callable[[], None]) -> None:
    """The primary goes dark within the lag of its last writes; the standby works; the primary
    comes back and its backlog replicates (last writer wins)."""
    moto_patches.lights.go_dark(PRIMARY)
    work_in_standby()
    moto_patches.come_back(PRIMARY)
    replicated()


def audit(region: Region, accepted: list[str], *, initial: dict[str, int]) -> dict[str, list[str]]:
    """The drill's stock and points invariants over one replica (accounts start at 1,000 points,
    as in the demo)."""
    stores = region.stores
    evidence = Evidence(
        accepted=accepted,
        orders={i["orderId"]: i for i in stores.orders.scan(ConsistentRead=True)["Items"]},
        gateway_ledger=[],
        courier_ledger=[],
        inventory=stores.inventory.scan(ConsistentRead=True)["Items"],
        loyalty=stores.loyalty.scan(ConsistentRead=True)["Items"],
        executions=Counter(accepted),
    )
    found = check(evidence).breaches
    # The audit knows the demo catalog; these tests' shards are checked here the same way.
    held: dict[str, int] = {}
    for item in evidence.inventory:
        if item["pk"].startswith("RES#") and item["status"] == "RESERVED":
            key = stock_key(item["sku"], int(item["shard"]))
            held[key] = held.get(key, 0) + int(item["quantity"])
    available = {i["pk"]: int(i["available"]) for i in evidence.inventory if i["pk"].startswith("STOCK#")}
    stock = [
        f"{shard}: initial {count} != available {available[shard]} + held {held.get(shard, 0)}"
        for shard, count in initial.items()
        if count != available[shard] + held.get(shard, 0)
    ]
    stock += [str(b) for b in found[STOCK] if b.holds is not None]  # an order that should hold nothing
    return {STOCK: stock, POINTS: [str(b) for b in found[POINTS]]}


# -- stock ---------------------------------------------------------------------------------------


def test_a_late_decrement_on_a_shard_the_standby_never_rewrote_is_given_back(
    regions: tuple[Region, Region],
) -> None:
    primary, standby = regions
    primary.stores.add_sku("HOODIE-M", stock=[5, 5])
    primary.stores.add_order("o-1", lines=[("HOODIE-M", 1)])
    replicated()
    # GIVEN the primary reserves on shard 0 and goes dark before that replicates
    primary.inventory(shard=0).reserve("o-1")
    # WHEN the promoted standby, adopting the order, reserves it on shard 1, and the primary comes back
    lose_primary_then_bring_it_back(primary, lambda: standby.reserve_and_confirm("o-1", shard=1))
    initial = {stock_key("HOODIE-M", 0): 5, stock_key("HOODIE-M", 1): 5}
    # THEN the gap: the standby's reservation won, the primary's shard-0 decrement landed too
    assert standby.stores.stock("HOODIE-M") == [4, 4]
    assert audit(standby, ["o-1"], initial=initial)[STOCK] == [
        f"{stock_key('HOODIE-M', 0)}: initial 5 != available 4 + held 0"
    ]
    # WHEN the runbook's recount runs in the active region
    result = standby.recount().run()
    # THEN the unit no reservation holds is back, in both replicas
    assert [(c.subject, c.kind, c.change) for c in result.corrections] == [(stock_key("HOODIE-M", 0), STOCK_DRIFT, 1)]
    assert not result.needs_a_human
    replicated()
    for region in (standby, primary):
        assert region.stores.stock("HOODIE-M") == [5, 4]
        assert audit(region, ["o-1"], initial=initial)[STOCK] == []
    # AND a second run finds nothing to do
    assert standby.recount().run().corrections == []


def test_a_decrement_lost_under_the_standbys_newer_write_is_taken_again(regions: tuple[Region, Region]) -> None:
    primary, standby = regions
    primary.stores.add_sku("HOODIE-M", stock=[5])
    for order in ("o-p", "o-s"):
        primary.stores.add_order(order, lines=[("HOODIE-M", 1)])
    replicated()
    # GIVEN the primary's reservation of o-p, unreplicated when it goes dark
    primary.reserve_and_confirm("o-p")
    # WHEN the standby reserves another order on the same shard (its write of the shard is newer)
    lose_primary_then_bring_it_back(primary, lambda: standby.reserve_and_confirm("o-s"))
    # THEN the gap: o-p's reservation landed, its decrement lost: one unit more than exists
    assert standby.stores.stock("HOODIE-M") == [4]
    initial = {stock_key("HOODIE-M", 0): 5}
    assert audit(standby, ["o-p", "o-s"], initial=initial)[STOCK] != []
    standby.recount().run()
    replicated()
    for region in (standby, primary):
        assert region.stores.stock("HOODIE-M") == [3]
        assert audit(region, ["o-p", "o-s"], initial=initial)[STOCK] == []


def test_a_reservation_that_lands_on_an_order_the_standby_compensated_is_released(
    regions: tuple[Region, Region],
) -> None:
    primary, standby = regions
    primary.stores.add_sku("HOODIE-M", stock=[5])
    primary.stores.add_order("o-1", lines=[("HOODIE-M", 1)])
    replicated()
    primary.inventory().reserve("o-1")

    def compensate() -> None:  # the standby's release found nothing held: its fence, alone
        standby.inventory().release("o-1")
        standby.settle("o-1")

    lose_primary_then_bring_it_back(primary, compensate)
    initial = {stock_key("HOODIE-M", 0): 5}
    assert audit(standby, ["o-1"], initial=initial)[STOCK] != []  # a cancelled order holds a hoodie
    result = standby.recount().run()
    assert [(c.subject, c.kind, c.change) for c in result.corrections] == [("o-1", ORPHAN_RESERVATION, 1)]
    replicated()
    for region in (standby, primary):
        assert region.stores.stock("HOODIE-M") == [5]
        assert audit(region, ["o-1"], initial=initial)[STOCK] == []


# -- points --------------------------------------------------------------------------------------


def test_a_late_burn_and_a_lost_balance_write_are_both_put_right(regions: tuple[Region, Region]) -> None:
    primary, standby = regions
    primary.stores.add_account("cust-1", 1000)
    primary.stores.add_order("o-1", customer_id="cust-1", points=100)
    primary.stores.add_order("o-2", customer_id="cust-1", points=50)
    replicated()
    # GIVEN the primary burns o-1's points and goes dark
    primary.loyalty().burn("o-1")

    def standby_works() -> None:  # o-1 compensated (nothing burned here), o-2 burned (a newer balance)
        standby.loyalty().restore("o-1")
        standby.settle("o-1")
        standby.loyalty().burn("o-2")
        standby.settle("o-2", "CONFIRMED")

    lose_primary_then_bring_it_back(primary, standby_works)
    # THEN the gap: o-1's burn landed on a cancelled order, its balance change lost to o-2's
    assert standby.stores.balance("cust-1") == 950
    assert audit(standby, ["o-1", "o-2"], initial={})[POINTS] != []
    result = standby.recount().run()
    assert sorted((c.subject, c.kind, c.change) for c in result.corrections) == [
        ("ACCOUNT#cust-1", POINTS_DRIFT, -100),
        ("o-1", ORPHAN_BURN, 100),
    ]
    replicated()
    for region in (standby, primary):
        assert region.stores.balance("cust-1") == 950
        assert audit(region, ["o-1", "o-2"], initial={})[POINTS] == []


# -- racing the saga -----------------------------------------------------------------------------


class Interleaving:
    """An inventory table whose ``n``-th scan returns its page, and then lets another writer act,
    before the recount sees it. Scan 1 is the orphan pass; round ``k`` of the recount is scans
    ``2k`` (before it reads the counters) and ``2k + 1`` (after)."""

    def __init__(self, table: Any, after_scan: dict[int, Callable[[], object]]) -> None:
        self._table, self._after_scan, self._scans = table, after_scan, 0

    def scan(self, **kwargs: Any) -> Any:
        page = self._table.scan(**kwargs)
        self._scans += 1
        if self._scans in self._after_scan:
            self._after_scan.pop(self._scans)()
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def test_a_release_and_a_reservation_inside_the_snapshot_are_measured_again_not_miscounted(stores: Stores) -> None:
    # GIVEN one shard with one order holding a unit, and no drift
    stores.add_sku("HOODIE-M", stock=[5])
    for order in ("o-a", "o-b"):
        stores.add_order(order, lines=[("HOODIE-M", 1)])
    inventory = Inventory(stores.orders_table, stores.inventory)
    inventory.reserve("o-a")
    # WHEN o-a is released after the recount's first scan (which saw it held) and before it reads
    # the shard (5: a recount trusting that scan would take a unit: drift 5 - 1 - 5 = -1), and
    # o-b reserves after the second scan (the shard is back at 4: the same value, other holders)
    table = Interleaving(stores.inventory, {2: lambda: inventory.release("o-a"), 3: lambda: inventory.reserve("o-b")})
    result = Recount(stores.orders, table, stores.loyalty, pause_seconds=0).run()
    # THEN the snapshot that changed under it was measured again: no drift, nothing written
    assert result.corrections == [] and not result.busy
    assert stores.stock("HOODIE-M") == [4]


def test_a_reservation_after_the_snapshot_keeps_its_unit_when_the_drift_is_corrected(stores: Stores) -> None:
    # GIVEN a shard one unit short (a late replicated decrement), and an order about to reserve
    stores.add_sku("HOODIE-M", stock=[5])
    stores.add_order("o-b", lines=[("HOODIE-M", 2)])
    stores.inventory.update_item(
        Key={"pk": stock_key("HOODIE-M", 0)},
        UpdateExpression="SET available = :four",
        ExpressionAttributeValues={":four": 4},
    )
    inventory = Inventory(stores.orders_table, stores.inventory)
    # WHEN the reservation lands after the recount's snapshot, before its correction
    table = Interleaving(stores.inventory, {3: lambda: inventory.reserve("o-b")})
    result = Recount(stores.orders, table, stores.loyalty, pause_seconds=0).run()
    # THEN the correction adds the drift to what is there: the reservation's units stay taken
    assert [(c.kind, c.change) for c in result.corrections] == [(STOCK_DRIFT, 1)]
    assert stores.stock("HOODIE-M") == [3]


def test_a_shard_that_never_holds_still_is_reported_busy_and_left_alone(stores: Stores) -> None:
    stores.add_sku("HOODIE-M", stock=[50])
    orders = [f"o-{n}" for n in range(4)]
    for order in orders:
        stores.add_order(order, lines=[("HOODIE-M", 1)])
    inventory = Inventory(stores.orders_table, stores.inventory)
    stores.inventory.update_item(
        Key={"pk": stock_key("HOODIE-M", 0)},
        UpdateExpression="SET available = :v",
        ExpressionAttributeValues={":v": 49},
    )
    busy: dict[int, Callable[[], object]] = {
        2 * n + 2: functools.partial(inventory.reserve, order) for n, order in enumerate(orders)
    }
    result = Recount(
        stores.orders, Interleaving(stores.inventory, busy), stores.loyalty, rounds=4, pause_seconds=0
    ).run()
    assert result.busy == [stock_key("HOODIE-M", 0)] and result.needs_a_human
    assert [c for c in result.corrections if c.kind == STOCK_DRIFT] == []
    assert stores.stock("HOODIE-M") == [45]


def test_a_dry_run_reports_and_changes_nothing_and_a_counter_without_a_baseline_is_named(stores: Stores) -> None:
    stores.add_sku("HOODIE-M", stock=[5])
    stores.inventory.update_item(
        Key={"pk": stock_key("HOODIE-M", 0)}, UpdateExpression="SET available = :v", ExpressionAttributeValues={":v": 3}
    )
    stores.inventory.put_item(Item={"pk": stock_key("CAP", 0), "available": 7})  # seeded before baselines
    result = Recount(stores.orders, stores.inventory, stores.loyalty, pause_seconds=0).run(dry_run=True)
    assert [(c.subject, c.change) for c in result.corrections] == [(stock_key("HOODIE-M", 0), 2)]
    assert result.no_baseline == [stock_key("CAP", 0)] and result.needs_a_human
    assert stores.stock("HOODIE-M") == [3]


def test_a_restock_between_the_snapshot_and_the_correction_is_measured_again(stores: Stores) -> None:
    # GIVEN a shard one unit short
    stores.add_sku("HOODIE-M", stock=[5])
    key = {"pk": stock_key("HOODIE-M", 0)}
    stores.inventory.update_item(Key=key, UpdateExpression="SET available = :v", ExpressionAttributeValues={":v": 4})

    def restock() -> None:  # ten more units: the baseline and the counter move together
        stores.inventory.update_item(
            Key=key,
            UpdateExpression="SET stocked = stocked + :n, available = available + :n",
            ExpressionAttributeValues={":n": 10},
        )

    # WHEN the restock lands after the snapshot: the correction, conditioned on the baseline, is refused
    result = Recount(stores.orders, Interleaving(stores.inventory, {3: restock}), stores.loyalty, pause_seconds=0).run()
    # THEN the next round measures again and corrects once
    assert [(c.kind, c.change) for c in result.corrections] == [(STOCK_DRIFT, 1)]
    item = stores.inventory.get_item(Key=key)["Item"]
    assert (int(item["stocked"]), int(item["available"])) == (15, 15)
