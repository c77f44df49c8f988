"""Reading the JSON documents and lists rules inspect, the way the engine hands them over.

At preview a value may be unknown: the engine's property proxy raises ``UnknownValueError``
on access, and the SDK reports "can't run during preview". These helpers let that error
pass (never catching it), so an unknown document is skipped, not misjudged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any


class MalformedDocument(ValueError):
    """A document that should be JSON is not."""


def document(value: Any) -> dict[str, Any]:
    """A policy or definition given as a JSON string (or already parsed)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError as error:
            raise MalformedDocument(str(error)) from error
    else:
        parsed = value
    if not isinstance(parsed, dict):
        raise MalformedDocument(f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def as_list(value: Any) -> list[Any]:
    """IAM allows a single value or a list wherever a list goes. In the engine a list property
    arrives as pulumi-policy's ``_ListProxy``, a ``Sequence`` but not a ``list``."""
    if value is None:
        return []
    return list(value) if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else [value]


def statements(policy: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for statement in as_list(policy.get("Statement")):
        if isinstance(statement, dict) and statement.get("Effect", "Allow") == "Allow":
            yield statement
