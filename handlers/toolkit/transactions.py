"""DynamoDB ``TransactWriteItems``: which item refused, which failures are only load, and the
fence items compensators write and forward effects check (``handlers.contract.fence_key``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from handlers.contract import fence_key

# Top-level error codes of a failed request that are load or contention: worth a retry.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "InternalServerError",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)

# An undo reads again when its transaction finds the state changed under it; this many times.
UNDO_ATTEMPTS = 5

CONDITION_FAILED = "ConditionalCheckFailed"
# Codes inside TransactionCanceledException's CancellationReasons (botocore's DynamoDB model:
# None, ConditionalCheckFailed, ItemCollectionSizeLimitExceeded, TransactionConflict,
# ProvisionedThroughputExceeded, ThrottlingError, ValidationError). These name the same load
# as the top-level codes, under other names: they never mean "the data refused".
TRANSIENT_REASONS = frozenset({"TransactionConflict", "ProvisionedThroughputExceeded", "ThrottlingError"})


class Cancelled(Exception):
    """A condition refused; ``codes[i]`` is why item ``i`` refused (None: it did not)."""

    def __init__(self, codes: list[str | None]) -> None:
        super().__init__(codes)
        self.codes = codes

    def refused(self, index: int) -> bool:
        return self.codes[index] == CONDITION_FAILED


def transact(client: Any, items: list[dict[str, Any]], unavailable: type[Exception]) -> None:
    """Write ``items`` atomically. Raises ``Cancelled`` only when conditions refused and nothing
    else went wrong; ``unavailable`` when any part of the failure is load or contention; the
    ``ClientError`` itself for anything else (a validation error, an item too large: a bug)."""
    try:
        client.transact_write_items(TransactItems=items)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "TransactionCanceledException":
            reasons = error.response.get("CancellationReasons")
            if not reasons:  # nothing says which item refused: do not guess it was data
                raise
            codes = [reason.get("Code") if reason.get("Code") not in (None, "None") else None for reason in reasons]
            if any(reason in TRANSIENT_REASONS or reason in TRANSIENT_CODES for reason in codes):
                raise unavailable(f"transaction cancelled: {codes}") from error
            if any(reason not in (None, CONDITION_FAILED) for reason in codes):
                raise
            raise Cancelled(codes) from error
        if code in TRANSIENT_CODES:
            raise unavailable(code) from error
        raise


def fence_put(table: str, order_id: str, step: str) -> dict[str, Any]:
    """The compensator's record that it ran; unconditional, so undoing twice stays one fence."""
    return {"Put": {"TableName": table, "Item": {"pk": fence_key(order_id, step), "orderId": order_id}}}


def fence_absent(table: str, order_id: str, step: str) -> dict[str, Any]:
    """The forward effect's condition: ``step`` has not been undone."""
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"pk": fence_key(order_id, step)},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


T = TypeVar("T")


def undo_fenced(client: Any, attempt: Callable[[], tuple[list[dict[str, Any]], T]], unavailable: type[Exception]) -> T:
    """Run a compensator's transaction: ``attempt()`` reads what is there and returns the items
    to write (its fence, its undo, and conditions that what it read still holds) with the result
    to report. A refusal means a late effect or a concurrent undo changed it: read again."""
    for _ in range(UNDO_ATTEMPTS):
        items, result = attempt()
        try:
            transact(client, items, unavailable)
            return result
        except Cancelled:
            continue
    raise unavailable(f"the undo kept racing other writes for {UNDO_ATTEMPTS} attempts")
