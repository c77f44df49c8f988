"""Reconcile: accepted orders that are not settled and have no saga are started again.

An order can be accepted and then left with nothing driving it: the intake wrote it PENDING
and ``PutEvents`` failed (the client got a 503 and gave up), or the start message failed on
all its deliveries and rests in the start queue's dead-letter queue. ``Reconciler.run``
finds both and sends each back through the normal start path: ``OrderSubmitted`` on the bus,
the rule, the start queue, the starter's ``StartExecution(name=orderId)``. That start is
idempotent, so racing the intake or a late delivery is harmless.

One code path for the scheduled sweeper (``handlers.sweeper``) and ``python -m ops
reconcile``: clients come in as arguments, nothing here reads the environment, and it
imports neither Powertools nor pydantic (a cheap cold start).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from handlers.contract import ORDER_SUBMITTED, ORDER_SUBMITTED_SOURCE
from handlers.ownership import OWNER_ATTRIBUTE, RegionControl, RegionStandsDown

SETTLED = ("CONFIRMED", "CANCELLED_COMPENSATED")
PARKED = "NEEDS_REVIEW"
# A start message is held this long while it is looked at; unhandled ones reappear after it.
HOLD_SECONDS = 60

# What happened to each order (``Finding.action``).
RESTARTED = "restarted"
"""No execution: OrderSubmitted published again (the fix)."""
WOULD_RESTART = "would restart"
"""The same, under ``dry_run``: nothing was changed."""
ADOPTED = "adopted"
"""Owned by another region (a failover): claimed for this one, and OrderSubmitted published here."""
WOULD_ADOPT = "would adopt"
"""The same, under ``dry_run``."""
RUNNING = "running"
"""An execution is driving it: nothing to do (a stale start message is deleted)."""
SETTLED_ALREADY = "settled"
"""It reached a terminal status or is parked for an operator: nothing to do."""
HALTED = "halted"
"""Its execution ended without settling it: ``python -m ops redrive`` (a human)."""
RAN_HERE_BEFORE = "ran here before"
"""Owned by another region, yet this region has an execution of that name (a second failover
of one order): a new one cannot take the name; a human looks."""
NO_ORDER = "no order item"
"""A start message for an order the table does not hold: a human looks (kept on the queue)."""
UNREADABLE = "unreadable start message"
"""A start message that is not an OrderSubmitted event (kept on the queue)."""

NEEDS_A_HUMAN = (HALTED, NO_ORDER, UNREADABLE, RAN_HERE_BEFORE)


@dataclass
class Finding:
    """One order (or start message) the reconciler looked at, and what it did."""

    order_id: str
    action: str
    source: str
    """``table`` (a PENDING order item) or ``start-dlq`` (a message in the start DLQ)."""
    status: str | None = None
    """The order item's status, if there is an item."""
    execution_status: str | None = None
    detail: str = ""


@dataclass
class Reconciliation:
    findings: list[Finding] = field(default_factory=list)
    dry_run: bool = False

    @property
    def fixed(self) -> list[Finding]:
        return [f for f in self.findings if f.action in (RESTARTED, WOULD_RESTART, ADOPTED, WOULD_ADOPT)]

    @property
    def needs_a_human(self) -> list[Finding]:
        return [f for f in self.findings if f.action in NEEDS_A_HUMAN]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "fixed": len(self.fixed),
            "needsAHuman": len(self.needs_a_human),
            "findings": [asdict(finding) for finding in self.findings],
        }


@dataclass
class _Candidate:
    order_id: str
    source: str
    customer_id: str | None = None
    receipt_handle: str | None = None


def execution_arn(state_machine_arn: str, order_id: str) -> str:
    """The execution the starter names after the order."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{order_id}"


class Reconciler:
    """Finds unsettled orders without a saga and starts them through the bus."""

    def __init__(
        self,
        *,
        orders_table: Any,
        stepfunctions: Any,
        events: Any,
        sqs: Any,
        state_machine_arn: str,
        event_bus: str,
        start_dead_letter_queue_url: str,
        region: RegionControl | None = None,
        start_event: tuple[str, str] = (ORDER_SUBMITTED_SOURCE, ORDER_SUBMITTED),
    ) -> None:
        """``orders_table`` is a boto3 ``Table`` resource; the rest are boto3 clients. With
        ``region`` (a warm-standby pair), a passive region reconciles nothing, and the active one
        adopts the unsettled orders another region owned: PENDING ones and parked ones (their
        task tokens were in the other region), claimed first, then started here.
        ``start_event``: the (source, detail-type) the saga's start rule matches."""
        self.orders = orders_table
        self.stepfunctions = stepfunctions
        self.events = events
        self.sqs = sqs
        self.state_machine_arn = state_machine_arn
        self.event_bus = event_bus
        self.start_dlq_url = start_dead_letter_queue_url
        self.region = region
        self.start_source, self.start_detail_type = start_event

    def run(
        self,
        older_than: timedelta,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Reconciliation:
        """Look at PENDING orders created before ``now - older_than`` and every message in the
        start DLQ (whatever its age: it failed five deliveries). ``dry_run`` changes nothing.
        Raises ``RegionStandsDown`` in a passive region: promote it first."""
        if self.region is not None and not self.region.active(fresh=True):
            raise RegionStandsDown(f"{self.region.region} is passive: promote it before reconciling")
        cutoff = ((now or datetime.now(UTC)) - older_than).isoformat(timespec="milliseconds")
        result = Reconciliation(dry_run=dry_run)
        candidates: dict[str, _Candidate] = {}
        for candidate in self._start_dead_letters(result):
            candidates.setdefault(candidate.order_id, candidate)
        for item in self._pending(cutoff):
            candidates.setdefault(
                item["orderId"], _Candidate(item["orderId"], "table", customer_id=item.get("customerId"))
            )
        for done, candidate in enumerate(candidates.values(), start=1):
            result.findings.append(self._reconcile(candidate, dry_run))
            if progress:
                progress(done, len(candidates))
        return result

    # -- finding candidates ---------------------------------------------------------------

    def _pending(self, cutoff: str) -> Iterator[dict[str, Any]]:
        """PENDING order items older than ``cutoff``: a scan, so run it minutes apart, not in a loop."""
        arguments: dict[str, Any] = {
            "FilterExpression": "#status = :pending AND createdAt < :cutoff",
            "ProjectionExpression": "orderId, customerId, createdAt, #status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":pending": "PENDING", ":cutoff": cutoff},
        }
        if self.region is not None:  # and orders parked in another region, whose tokens are lost
            arguments["FilterExpression"] = (
                "(#status = :pending OR (#status = :parked AND #owner <> :me)) AND createdAt < :cutoff"
            )
            arguments["ExpressionAttributeNames"]["#owner"] = OWNER_ATTRIBUTE
            arguments["ExpressionAttributeValues"] |= {":parked": PARKED, ":me": self.region.region}
        while True:
            page = self.orders.scan(**arguments)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _start_dead_letters(self, result: Reconciliation) -> Iterator[_Candidate]:
        seen: set[str] = set()
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.start_dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=HOLD_SECONDS
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                return
            for message in fresh:
                seen.add(message["MessageId"])
                try:
                    detail = json.loads(message["Body"])["detail"]
                    order_id, customer_id = str(detail["orderId"]), str(detail["customerId"])
                except (ValueError, KeyError, TypeError):
                    result.findings.append(
                        Finding(message["MessageId"], UNREADABLE, "start-dlq", detail=message["Body"][:200])
                    )
                    continue
                yield _Candidate(order_id, "start-dlq", customer_id, message["ReceiptHandle"])

    # -- deciding ---------------------------------------------------------------------------

    def _reconcile(self, candidate: _Candidate, dry_run: bool) -> Finding:
        finding = Finding(candidate.order_id, "", candidate.source)
        item = self.orders.get_item(Key={"orderId": candidate.order_id}, ConsistentRead=True).get("Item")
        if item is None:
            finding.action = NO_ORDER
            return finding
        finding.status = str(item.get("status"))
        execution = self._execution(candidate.order_id)
        finding.execution_status = execution.get("status") if execution else None
        owner = item.get(OWNER_ATTRIBUTE)
        if finding.status in SETTLED:
            finding.action = SETTLED_ALREADY
        elif self.region is not None and owner and owner != self.region.region:
            self._adopt(candidate, finding, item, execution, dry_run)
        elif finding.status == PARKED:
            finding.action = SETTLED_ALREADY
        elif execution is None:
            finding.action = WOULD_RESTART if dry_run else RESTARTED
            if not dry_run:
                self._publish(candidate.order_id, candidate.customer_id or str(item["customerId"]))
        elif execution["status"] == "RUNNING":
            finding.action = RUNNING
        else:
            finding.action = HALTED
            finding.detail = f"{execution.get('error', '')}: python -m ops redrive {candidate.order_id}"
        # The start message has served its purpose once the order has a saga or a new event.
        if candidate.receipt_handle and not dry_run and finding.action != NO_ORDER:
            self.sqs.delete_message(QueueUrl=self.start_dlq_url, ReceiptHandle=candidate.receipt_handle)
        return finding

    def _adopt(
        self,
        candidate: _Candidate,
        finding: Finding,
        item: dict[str, Any],
        execution: dict[str, Any] | None,
        dry_run: bool,
    ) -> None:
        """An unsettled order another region owned: claim it, then start it here (its steps are
        idempotent under the order's keys, so what the other region did is found, not redone)."""
        assert self.region is not None
        finding.detail = f"owned by {item.get(OWNER_ATTRIBUTE)}"
        if execution is not None:
            finding.action = RAN_HERE_BEFORE
            return
        if dry_run:
            finding.action = WOULD_ADOPT
            return
        if not self.region.claim(candidate.order_id):
            finding.action = SETTLED_ALREADY  # settled since it was read
            return
        finding.action = ADOPTED
        self._publish(candidate.order_id, candidate.customer_id or str(item["customerId"]))

    def _execution(self, order_id: str) -> dict[str, Any] | None:
        try:
            return dict(
                self.stepfunctions.describe_execution(executionArn=execution_arn(self.state_machine_arn, order_id))
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise

    def _publish(self, order_id: str, customer_id: str) -> None:
        response = self.events.put_events(
            Entries=[
                {
                    "EventBusName": self.event_bus,
                    "Source": self.start_source,
                    "DetailType": self.start_detail_type,
                    "Detail": json.dumps({"orderId": order_id, "customerId": customer_id}),
                }
            ]
        )
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise RuntimeError(f"{self.start_detail_type} for {order_id} refused: {entry.get('ErrorCode')}")
