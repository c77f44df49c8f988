"""Make moto's DynamoDB safe for concurrent requests.

Real DynamoDB isolates transactions and conditional writes. moto's ``transact_write_items``
deep-copies whole tables and restores them on a cancelled transaction, so under concurrent
requests a rollback can erase another request's write or resurrect sold stock (seen: 20
racing reservations, ``RuntimeError: dictionary changed size during iteration``). Running
each DynamoDB request under one lock restores the isolation our code relies on; the races
between requests, which conditions must guard, remain.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

_lock = threading.RLock()
_original_call_action = DynamoHandler.call_action


def _serialized_call_action(self: DynamoHandler) -> Any:
    with _lock:
        return _original_call_action(self)


def serialize_dynamodb_requests() -> None:
    """Idempotent: run every moto DynamoDB request in this process under one lock."""
    DynamoHandler.call_action = _serialized_call_action  # type: ignore[method-assign]
