"""DynamoDB ``TransactWriteItems``: which item refused, and which failures are only load."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

# Throttling, conflicts with a concurrent transaction, service hiccups: worth a retry.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "InternalServerError",
        "TransactionConflict",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)


class Cancelled(Exception):
    """The transaction was cancelled; ``codes[i]`` is why item ``i`` refused (None: it did not)."""

    def __init__(self, codes: list[str | None]) -> None:
        super().__init__(codes)
        self.codes = codes

    def refused(self, index: int) -> bool:
        return self.codes[index] == "ConditionalCheckFailed"


def transact(client: Any, items: list[dict[str, Any]], unavailable: type[Exception]) -> None:
    """Write ``items`` atomically. Raises ``Cancelled`` when a condition refuses, and
    ``unavailable`` when the failure is load or contention rather than data."""
    try:
        client.transact_write_items(TransactItems=items)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "TransactionCanceledException":
            reasons = error.response.get("CancellationReasons") or [{}] * len(items)
            codes = [reason.get("Code") if reason.get("Code") != "None" else None for reason in reasons]
            if any(code in TRANSIENT_CODES for code in codes):
                raise unavailable(f"transaction cancelled: {codes}") from error
            raise Cancelled(codes) from error
        if code in TRANSIENT_CODES:
            raise unavailable(code) from error
        raise
