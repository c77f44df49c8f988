"""A JSON client over real HTTP for the end-to-end tests: the status and the parsed body,
whatever the status."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """``body`` is sent as JSON, or as is when it is already a string (to send malformed JSON)."""
    data = (body if isinstance(body, str) else json.dumps(body)).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
