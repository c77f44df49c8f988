"""What the operator's commands do, as data: trace, parked, resolve, redrive.

Reconcile is ``handlers.reconcile`` (the sweeper's code). Each command raises ``OpsError``
with the exit code when it cannot do what was asked, after changing nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from components.saga.compiler import ACTION_COMPENSATE, ACTION_RETRY
from handlers.ownership import PromotionRefused
from handlers.reconcile import PARKED, SETTLED, execution_arn
from ops.region import Region

EXIT_DONE, EXIT_HUMAN, EXIT_BAD_INPUT = 0, 1, 2
HIDDEN_FIELDS = ("paymentToken", "requestHash", "idempotencyKey")
PARTNER_REFERENCES = ("chargeId", "refundId", "bookingId")
# Long enough to look through the queues; peeked messages are made visible again at once.
PEEK_HOLD_SECONDS = 60
STALE_TOKEN_ERRORS = ("InvalidToken", "TaskTimedOut", "TaskDoesNotExist")
ACTIONS = (ACTION_RETRY, ACTION_COMPENSATE)


class OpsError(Exception):
    """The command could not do what was asked, and changed nothing."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message, self.exit_code = message, exit_code


@dataclass
class ParkedMessage:
    order_id: str
    step: str
    """The parked task: a step, or a compensator (then ``compensates`` names its step)."""
    error: str
    cause: str
    parked_at: str
    execution_arn: str
    compensates: str | None
    task_token: str | None
    queue_url: str
    receipt_handle: str

    def public(self) -> dict[str, Any]:
        """Without the task token (a capability) and the receipt handle."""
        return {
            "orderId": self.order_id,
            "step": self.step,
            "compensates": self.compensates,
            "error": self.error,
            "cause": self.cause,
            "parkedAt": self.parked_at,
            "executionArn": self.execution_arn,
            "hasTaskToken": self.task_token is not None,
        }


def resolve_command(order_id: str, action: str, region_flag: str = "") -> str:
    return f"python -m ops {region_flag}resolve {order_id} --{action}".replace("  ", " ")


def age(stamp: str | None, now: datetime | None = None) -> str:
    """``3m12s``-style age of an ISO timestamp."""
    if not stamp:
        return "?"
    seconds = int(((now or datetime.now(UTC)) - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds())
    minutes, seconds = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value][:2]
    return "".join(shown) or "0s"


class Console:
    def __init__(self, region: Region, region_flag: str = "") -> None:
        self.region = region
        self.region_flag = region_flag
        """How the commands it suggests name this region (``--sandbox ``, ``--stack prod-use1 ``)."""
        self.orders = region.orders_table()
        self.sqs = region.client("sqs")
        self.sfn = region.client("stepfunctions")

    # -- reading -------------------------------------------------------------------------------

    def order(self, order_id: str) -> dict[str, Any]:
        item = self.orders.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
        if item is None:
            raise OpsError(f"no order {order_id} in table {self.region.outputs['ordersTableName']}", EXIT_BAD_INPUT)
        return {key: _plain(value) for key, value in item.items() if key not in HIDDEN_FIELDS}

    def execution(self, order_id: str) -> dict[str, Any] | None:
        arn = execution_arn(self.region.state_machine_arn, order_id)
        try:
            described = self.sfn.describe_execution(executionArn=arn)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise
        history = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return {
            "executionArn": arn,
            "status": described["status"],
            "startDate": _stamp(described.get("startDate")),
            "stopDate": _stamp(described.get("stopDate")),
            "error": described.get("error"),
            "cause": described.get("cause"),
            "statesEntered": [
                {"state": event["stateEnteredEventDetails"]["name"], "at": _stamp(event["timestamp"])}
                for event in history
                if "stateEnteredEventDetails" in event
            ],
            "errors": [
                {
                    "type": event["type"],
                    "error": details.get("error"),
                    "cause": details.get("cause"),
                    "at": _stamp(event["timestamp"]),
                }
                for event in history
                for key, details in event.items()
                if key.endswith("FailedEventDetails") and isinstance(details, dict)
            ],
        }

    @contextmanager
    def parked_messages(self, hold: str | None = None) -> Iterator[list[ParkedMessage]]:
        """Every message in the steps' dead-letter queues. On exit each is visible again,
        except those of order ``hold`` (the caller answers, then deletes or releases them)."""
        found: list[ParkedMessage] = []
        try:
            for step, url in self.region.dead_letter_queue_urls.items():
                found += self._receive_all(step, url)
            yield found
        finally:
            self._release([m for m in found if m.order_id != hold])

    def _receive_all(self, step: str, url: str) -> list[ParkedMessage]:
        received: list[ParkedMessage] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=PEEK_HOLD_SECONDS
            ).get("Messages", [])
            if not messages:
                return received
            for message in messages:
                try:
                    body = json.loads(message["Body"])
                except ValueError:
                    body = {}
                received.append(
                    ParkedMessage(
                        order_id=str(body.get("orderId", "?")),
                        step=str(body.get("step", step)),
                        error=str(body.get("error", "")),
                        cause=str(body.get("cause", "")),
                        parked_at=str(body.get("parkedAt", "")),
                        execution_arn=str(body.get("executionArn", "")),
                        compensates=body.get("compensates"),
                        task_token=body.get("taskToken"),
                        queue_url=url,
                        receipt_handle=message["ReceiptHandle"],
                    )
                )

    def _release(self, messages: list[ParkedMessage]) -> None:
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=message.queue_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=0
            )

    # -- the commands ------------------------------------------------------------------------------

    def trace(self, order_id: str) -> dict[str, Any]:
        order = self.order(order_id)
        execution = self.execution(order_id)
        with self.parked_messages() as messages:
            parked = sorted((m for m in messages if m.order_id == order_id), key=lambda m: m.parked_at)
        return {
            "order": order,
            "partnerReferences": {key: order[key] for key in PARTNER_REFERENCES if key in order},
            "executions": [execution] if execution else [],
            "parked": [m.public() for m in parked],
            "next": self._next(order, execution, bool(parked)),
        }

    def _next(self, order: dict[str, Any], execution: dict[str, Any] | None, parked: bool) -> list[str]:
        order_id, status = order["orderId"], order.get("status")
        flag = self.region_flag
        if status in SETTLED:
            return []
        if status == PARKED and parked:
            return [resolve_command(order_id, action, flag) for action in ACTIONS]
        if execution is None:
            return [f"python -m ops {flag}reconcile --older-than 0s   (no saga drives this order)"]
        if execution["status"] == "FAILED" and execution.get("error") == "SagaHalted":
            return [f"python -m ops {flag}redrive {order_id}   (after fixing: {execution.get('cause', '')[:80]})"]
        if execution["status"] == "RUNNING":
            return ["wait: the saga is running"]
        return [f"look at the execution: it ended {execution['status']} without settling the order"]

    def parked(self) -> list[dict[str, Any]]:
        """Every NEEDS_REVIEW order, joined with its parked message (if one is visible)."""
        items = self._scan_status(PARKED)
        with self.parked_messages() as messages:
            newest: dict[str, ParkedMessage] = {}
            for each in sorted(messages, key=lambda m: m.parked_at):
                newest[each.order_id] = each
        rows = []
        for item in sorted(items, key=lambda i: str(i.get("updatedAt", ""))):
            order_id = str(item["orderId"])
            message = newest.get(order_id)
            rows.append(
                {
                    "orderId": order_id,
                    "step": message.step if message else item.get("parkedStep"),
                    "compensates": message.compensates if message else None,
                    "error": message.error if message else None,
                    "cause": message.cause if message else None,
                    "parkedAt": message.parked_at if message else item.get("updatedAt"),
                    "age": age(message.parked_at if message else item.get("updatedAt")),
                    "answerable": bool(message and message.task_token),
                    "resolve": [resolve_command(order_id, a, self.region_flag) for a in ACTIONS] if message else [],
                }
            )
        return rows

    def _scan_status(self, status: str) -> list[dict[str, Any]]:
        arguments: dict[str, Any] = {
            "FilterExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": status},
            "ProjectionExpression": "orderId, #status, parkedStep, updatedAt",
        }
        items: list[dict[str, Any]] = []
        while True:
            page = self.orders.scan(**arguments)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def resolve(self, order_id: str, action: str) -> dict[str, Any]:
        """Answer the order's parked task with ``action``; delete its message once accepted."""
        if action not in ACTIONS:
            raise OpsError(f"unknown answer {action!r}: --retry or --compensate", EXIT_BAD_INPUT)
        order = self.order(order_id)
        if order.get("status") != PARKED:
            raise OpsError(
                f"order {order_id} is not parked (status {order.get('status')}): nothing to resolve", EXIT_HUMAN
            )
        with self.parked_messages(hold=order_id) as messages:
            mine = sorted((m for m in messages if m.order_id == order_id), key=lambda m: m.parked_at, reverse=True)
            answered: ParkedMessage | None = None
            try:
                answered = self._answer(order_id, mine, action)
            finally:
                # What was not answered goes back to the queue; older parks of the same
                # order were superseded by the newest one and are deleted with it.
                for message in mine:
                    if answered is None:
                        self._release([message])
                    else:
                        self.sqs.delete_message(QueueUrl=message.queue_url, ReceiptHandle=message.receipt_handle)
        assert answered is not None
        return {"orderId": order_id, "action": action, **answered.public(), "deletedMessages": len(mine)}

    def _answer(self, order_id: str, mine: list[ParkedMessage], action: str) -> ParkedMessage:
        if not mine:
            raise OpsError(
                f"order {order_id} is NEEDS_REVIEW but no parked message is visible: another operator may be "
                f"answering it, or it was answered moments ago (python -m ops {self.region_flag}trace {order_id})",
                EXIT_HUMAN,
            )
        newest = mine[0]
        if newest.task_token is None:
            raise OpsError(
                f"order {order_id}'s message has no task token (an Express saga): start it again or compensate by hand",
                EXIT_HUMAN,
            )
        try:
            self.sfn.send_task_success(taskToken=newest.task_token, output=json.dumps({"action": action}))
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in STALE_TOKEN_ERRORS:
                raise OpsError(
                    f"the task token of order {order_id}'s message is no longer valid ({code}): its execution "
                    f"has moved on. Nothing was changed; see python -m ops {self.region_flag}trace {order_id}",
                    EXIT_HUMAN,
                ) from error
            raise
        return newest

    # -- the warm standby -------------------------------------------------------------------------

    def region_state(self) -> dict[str, Any]:
        """This region's role, which region its replica says is active, and whether it is."""
        control = self._control()
        seen = control.control(fresh=True)
        return {
            "region": self.region.name,
            "role": control.role,
            "active": control.active(),
            "activeRegion": seen.active_region,
            "epoch": seen.epoch,
            "promotedAt": seen.promoted_at,
        }

    def promote(self, expected_epoch: int | None = None) -> dict[str, Any]:
        """Make this region the active one, from this region alone: one conditional write to its
        replica of the orders table. Refused, changing nothing, when it is active already or
        when the control item is not at ``expected_epoch``."""
        control = self._control()
        seen = control.control(fresh=True)
        if control.active():
            raise OpsError(
                f"{self.region.name} is already the active region (epoch {seen.epoch}): nothing to promote", EXIT_HUMAN
            )
        if expected_epoch is not None and expected_epoch != seen.epoch:
            raise OpsError(
                f"--expect-epoch {expected_epoch}: the control item here is at epoch {seen.epoch} "
                f"(active region {seen.active_region or 'by role'}); read it with `region` and retry",
                EXIT_HUMAN,
            )
        try:
            promoted = control.promote(seen.epoch)
        except PromotionRefused as error:
            raise OpsError(f"{error}: another promotion raced this one; nothing written", EXIT_HUMAN) from error
        return {
            "region": self.region.name,
            "activeRegion": promoted.active_region,
            "epoch": promoted.epoch,
            "promotedAt": promoted.promoted_at,
            "previous": seen.active_region,
            "next": f"python -m ops {self.region_flag}reconcile --older-than 0s".replace("  ", " "),
        }

    def _control(self) -> Any:
        control = self.region.control()
        if control is None:
            raise OpsError(
                f"{self.region.label}: the stack outputs have no 'role': deploy this version before promoting",
                EXIT_BAD_INPUT,
            )
        return control

    def redrive(self, order_id: str) -> dict[str, Any]:
        """Resume the order's halted execution from where it failed."""
        self.order(order_id)
        execution = self.execution(order_id)
        if execution is None:
            raise OpsError(
                f"order {order_id} has no execution: python -m ops {self.region_flag}reconcile starts one", EXIT_HUMAN
            )
        if execution["status"] != "FAILED" or execution.get("error") != "SagaHalted":
            raise OpsError(
                f"order {order_id}'s execution is {execution['status']} ({execution.get('error') or 'no error'}), "
                "not halted: only a SagaHalted execution is redriven",
                EXIT_HUMAN,
            )
        try:
            answer = self.sfn.redrive_execution(executionArn=execution["executionArn"])
        except ClientError as error:
            raise OpsError(
                f"RedriveExecution of {execution['executionArn']} refused: {error.response['Error'].get('Code')}: "
                f"{error.response['Error'].get('Message')}",
                EXIT_HUMAN,
            ) from error
        return {
            "orderId": order_id,
            "executionArn": execution["executionArn"],
            "redriveDate": _stamp(answer.get("redriveDate")),
        }


def _stamp(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
    return str(value)


def _plain(value: Any) -> Any:
    """DynamoDB numbers as ints (amounts are minor units), for tables and JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    return value
