"""Recount: after a failover and the lost region's return, make every stock shard and loyalty
balance agree with the reservations and ledger entries again.

Why it is needed (README, "Disaster recovery": what holds under last-writer-wins). A saga step
writes a counter (a stock shard's ``available``, an account's ``balance``) in one transaction
with the item that explains it (a reservation ``RES#<order>#<sku>``, a ledger entry
``LEDGER#<order>#BURN|RESTORE``). Global tables replicate those items one by one and resolve
each item by last writer wins, so when the lost region's last writes arrive after the standby
rewrote some of those items, a counter can keep a decrement no reservation explains (one hoodie
unit short), or lose one a reservation still claims, and a reservation or a burn can land on an
order the standby cancelled and compensated (its undo found nothing to undo). The items that
explain are right; the counters drifted. This module puts the counters back:

1. **Orphans.** A reservation still RESERVED, or a burn with no restore, of an order that is
   CANCELLED_COMPENSATED: the compensator ran and found nothing, then the lost region's
   effect replicated in. Undone like a compensator would, in one transaction that checks the
   order's status, so the counter moves with it.
2. **Drift.** Per shard, ``drift = stocked - held - available`` (``stocked``: every unit ever
   put on the shard, a durable baseline; ``held``: the RESERVED reservations on it); per
   account, ``drift = granted - burned + restored - balance``. Every saga transaction changes a
   counter and its explaining items by opposite amounts, so drift is invariant under them: only
   replication anomalies change it. It is measured on a snapshot proven consistent: the table
   is scanned, the counters are read, the table is scanned again; explaining items only move
   forward (absent, then RESERVED, then RELEASED; a ledger entry is written once), so an item
   seen the same in both scans was the same when its counter was read. A shard whose items
   changed between the scans is measured again in the next round.
3. **Correction**: ``available = available + drift`` (``balance`` likewise), an atomic
   relative update, conditioned only on the baseline being the one measured. Nothing is
   conditioned on the counter's value, so there is no ABA: a reservation or release that runs
   between the snapshot and the correction keeps its effect, and the drift it did not change is
   still the drift. Each correction is a one-item transaction with a client request token, so
   an SDK retry of it is applied once.

Run in the **active** region once the returning region's replication backlog is in (README,
runbook step 7). A write of the lost region that replicates later still drifts a counter: run
it again (it is safe at any time: a run that finds no drift writes nothing).

Pure boto3 (``Table`` resources passed in): the operators' console runs it with their role.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from handlers.contract import CANCELLED_COMPENSATED

RESERVED, RELEASED = "RESERVED", "RELEASED"
STOCK_PREFIX, RESERVATION_PREFIX = "STOCK#", "RES#"
ACCOUNT_PREFIX, LEDGER_PREFIX = "ACCOUNT#", "LEDGER#"
ROUNDS = 8
"""Snapshots tried per counter before it is reported busy (its items kept changing)."""
PAUSE_SECONDS = 0.25

# What each correction was (``Correction.kind``).
ORPHAN_RESERVATION = "orphan reservation released"
ORPHAN_BURN = "orphan burn restored"
STOCK_DRIFT = "stock recounted"
POINTS_DRIFT = "balance recounted"


@dataclass(frozen=True)
class Correction:
    subject: str
    """The shard (``STOCK#sku#n``), the account (``ACCOUNT#cust``) or the order id."""
    kind: str
    change: int
    """Units or points added to the counter (negative: taken)."""
    detail: str = ""


@dataclass
class RecountResult:
    dry_run: bool = False
    corrections: list[Correction] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    """Counters whose items kept changing in every round: not measured, run again."""
    no_baseline: list[str] = field(default_factory=list)
    """Counters without ``stocked`` / ``granted``: cannot be recounted (a human looks)."""
    checked: int = 0

    @property
    def needs_a_human(self) -> bool:
        return bool(self.busy or self.no_baseline)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "checked": self.checked,
            "corrections": [asdict(c) for c in self.corrections],
            "busy": self.busy,
            "noBaseline": self.no_baseline,
        }


# -- the pure part: what explains each counter, and its drift ----------------------------------


def shard_of(reservation: dict[str, Any]) -> str:
    return f"{STOCK_PREFIX}{reservation['sku']}#{int(reservation['shard'])}"


def explaining_items(items: Iterable[dict[str, Any]], counter_prefix: str) -> dict[str, frozenset[tuple[Any, ...]]]:
    """By counter key, the state of every item that explains it: reservations by shard
    (``STOCK#``), ledger entries by account (``ACCOUNT#``)."""
    found: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for item in items:
        pk = str(item["pk"])
        if counter_prefix == STOCK_PREFIX and pk.startswith(RESERVATION_PREFIX):
            found[shard_of(item)].add((pk, item.get("status"), int(item["quantity"])))
        elif counter_prefix == ACCOUNT_PREFIX and pk.startswith(LEDGER_PREFIX):
            found[f"{ACCOUNT_PREFIX}{item['customerId']}"].add((pk, int(item["points"])))
    return {key: frozenset(states) for key, states in found.items()}


def explained(counter_prefix: str, states: frozenset[tuple[Any, ...]]) -> int:
    """How much of the baseline the items account for: units held, or points net burned."""
    if counter_prefix == STOCK_PREFIX:
        return sum(quantity for _, status, quantity in states if status == RESERVED)
    return sum(points if pk.endswith("#BURN") else -points for pk, points in states)


def drift(baseline: int, accounted: int, counter: int) -> int:
    """What the counter must gain for ``baseline = counter + accounted`` to hold again."""
    return baseline - accounted - counter


# -- the recount against the tables -----------------------------------------------------------


@dataclass(frozen=True)
class _Counter:
    prefix: str
    """``STOCK#`` or ``ACCOUNT#``."""
    attribute: str
    """``available`` or ``balance``."""
    baseline: str
    """``stocked`` or ``granted``."""
    kind: str


STOCK = _Counter(STOCK_PREFIX, "available", "stocked", STOCK_DRIFT)
POINTS = _Counter(ACCOUNT_PREFIX, "balance", "granted", POINTS_DRIFT)


class Recount:
    """Orphans undone, then drift corrected, for the inventory and loyalty tables of one region."""

    def __init__(
        self,
        orders_table: Any,
        inventory_table: Any,
        loyalty_table: Any,
        *,
        rounds: int = ROUNDS,
        pause_seconds: float = PAUSE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.orders, self.inventory, self.loyalty = orders_table, inventory_table, loyalty_table
        self.rounds, self.pause_seconds, self.sleep = rounds, pause_seconds, sleep
        self.run_id = uuid.uuid4()

    def run(self, *, dry_run: bool = False) -> RecountResult:
        result = RecountResult(dry_run=dry_run)
        self._orphans(result, dry_run)
        self._recount(self.inventory, STOCK, result, dry_run)
        self._recount(self.loyalty, POINTS, result, dry_run)
        return result

    # -- orphans ----------------------------------------------------------------------------------

    def _orphans(self, result: RecountResult, dry_run: bool) -> None:
        statuses: dict[str, str | None] = {}

        def cancelled(order_id: str) -> bool:
            if order_id not in statuses:
                item = self.orders.get_item(
                    Key={"orderId": order_id},
                    ConsistentRead=True,
                    ProjectionExpression="#s",
                    ExpressionAttributeNames={"#s": "status"},
                ).get("Item")
                statuses[order_id] = None if item is None else item.get("status")
            return statuses[order_id] == CANCELLED_COMPENSATED

        held = [i for i in _scan(self.inventory) if str(i["pk"]).startswith(RESERVATION_PREFIX)]
        for item in held:
            order_id = str(item["orderId"])
            if item.get("status") != RESERVED or not cancelled(order_id):
                continue
            if dry_run or self._release(item):
                result.corrections.append(
                    Correction(order_id, ORPHAN_RESERVATION, int(item["quantity"]), shard_of(item))
                )
        ledger = list(_scan(self.loyalty))
        keys = {str(entry["pk"]) for entry in ledger}
        for entry in ledger:
            pk = str(entry["pk"])
            if not (pk.startswith(LEDGER_PREFIX) and pk.endswith("#BURN")) or pk[:-4] + "RESTORE" in keys:
                continue
            order_id = pk.split("#")[1]
            if cancelled(order_id) and (dry_run or self._restore(order_id, entry)):
                account = f"{ACCOUNT_PREFIX}{entry['customerId']}"
                result.corrections.append(Correction(order_id, ORPHAN_BURN, int(entry["points"]), account))

    def _order_cancelled(self, order_id: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.orders.name,
                "Key": {"orderId": order_id},
                "ConditionExpression": "#s = :cancelled",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":cancelled": CANCELLED_COMPENSATED},
            }
        }

    def _release(self, reservation: dict[str, Any]) -> bool:
        """The reservation released and its units given back, as the compensator would have."""
        quantity = int(reservation["quantity"])
        items = [
            {
                "Update": {
                    "TableName": self.inventory.name,
                    "Key": {"pk": reservation["pk"]},
                    "UpdateExpression": "SET #s = :released",
                    "ConditionExpression": "#s = :reserved AND quantity = :q AND #shard = :shard",
                    "ExpressionAttributeNames": {"#s": "status", "#shard": "shard"},
                    "ExpressionAttributeValues": {
                        ":released": RELEASED,
                        ":reserved": RESERVED,
                        ":q": quantity,
                        ":shard": int(reservation["shard"]),
                    },
                }
            },
            {
                "Update": {
                    "TableName": self.inventory.name,
                    "Key": {"pk": shard_of(reservation)},
                    "UpdateExpression": "SET available = available + :q",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":q": quantity},
                }
            },
            self._order_cancelled(str(reservation["orderId"])),
        ]
        return _transact(self.inventory, items)

    def _restore(self, order_id: str, burn: dict[str, Any]) -> bool:
        """The burn restored (a RESTORE entry, the points back), as the compensator would have."""
        points = int(burn["points"])
        customer = str(burn["customerId"])
        items = [
            {
                "Put": {
                    "TableName": self.loyalty.name,
                    "Item": {"pk": f"{LEDGER_PREFIX}{order_id}#RESTORE", "customerId": customer, "points": points},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.loyalty.name,
                    "Key": {"pk": f"{ACCOUNT_PREFIX}{customer}"},
                    "UpdateExpression": "SET balance = balance + :p",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":p": points},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": self.loyalty.name,
                    "Key": {"pk": burn["pk"]},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            self._order_cancelled(order_id),
        ]
        return _transact(self.loyalty, items)

    # -- drift ------------------------------------------------------------------------------------

    def _recount(self, table: Any, counter: _Counter, result: RecountResult, dry_run: bool) -> None:
        todo: set[str] | None = None  # None: every counter of the table
        for attempt in range(self.rounds):
            if attempt:
                self.sleep(self.pause_seconds)
            before = list(_scan(table))
            keys = (
                todo if todo is not None else {str(i["pk"]) for i in before if str(i["pk"]).startswith(counter.prefix)}
            )
            if todo is None:
                result.checked += len(keys)
            counters = {key: self._read(table, key) for key in sorted(keys)}
            after = list(_scan(table))
            first, second = explaining_items(before, counter.prefix), explaining_items(after, counter.prefix)
            unsettled: set[str] = set()
            for key, item in counters.items():
                if item is None:
                    continue  # gone (not something a recount creates)
                states = first.get(key, frozenset())
                if states != second.get(key, frozenset()):
                    unsettled.add(key)
                    continue
                if counter.baseline not in item:
                    result.no_baseline.append(key)
                    continue
                baseline, value = int(item[counter.baseline]), int(item[counter.attribute])
                change = drift(baseline, explained(counter.prefix, states), value)
                if not change:
                    continue
                if not dry_run and not self._correct(table, counter, key, baseline, change, attempt):
                    unsettled.add(key)  # the baseline moved (a restock): measure it again
                    continue
                detail = f"{counter.attribute} {value} -> {value + change} ({counter.baseline} {baseline})"
                result.corrections.append(Correction(key, counter.kind, change, detail))
            todo = unsettled
            if not todo:
                return
        result.busy += sorted(todo or ())

    def _read(self, table: Any, key: str) -> dict[str, Any] | None:
        return table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")  # type: ignore[no-any-return]

    def _correct(self, table: Any, counter: _Counter, key: str, baseline: int, change: int, attempt: int) -> bool:
        """``counter += change``, unless the baseline moved (a restock: measured again next round)."""
        # An SDK retry of this write applies it once; a new measurement (next round) is a new write.
        token = str(uuid.uuid5(self.run_id, f"{key}#{attempt}"))
        items = [
            {
                "Update": {
                    "TableName": table.name,
                    "Key": {"pk": key},
                    "UpdateExpression": "SET #c = #c + :change",
                    "ConditionExpression": "#b = :baseline",
                    "ExpressionAttributeNames": {"#c": counter.attribute, "#b": counter.baseline},
                    "ExpressionAttributeValues": {":change": change, ":baseline": baseline},
                }
            }
        ]
        return _transact(table, items, token=token)


def _scan(table: Any) -> Iterable[dict[str, Any]]:
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = table.scan(**kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _transact(table: Any, items: list[dict[str, Any]], *, token: str | None = None) -> bool:
    """True when written; False when a condition refused (the state moved: nothing written)."""
    try:
        table.meta.client.transact_write_items(TransactItems=items, **({"ClientRequestToken": token} if token else {}))
    except ClientError as error:
        if error.response["Error"]["Code"] == "TransactionCanceledException":
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons and all(
                r in (None, "None", "ConditionalCheckFailed") for r in reasons
            ):
                return False
        raise
    return True
