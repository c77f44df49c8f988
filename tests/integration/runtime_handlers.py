"""Handlers the runtime's tests deploy into real workers (each worker imports this module, so
it imports nothing heavy)."""

from __future__ import annotations

import os
from typing import Any


def report_niceness(event: Any, context: Any) -> int:
    """The nice value the worker runs at."""
    return os.nice(0)


def report_modules(event: Any, context: Any) -> dict[str, Any]:
    """The top-level packages the worker has imported, and its environment."""
    import sys

    return {"packages": sorted({name.split(".")[0] for name in sys.modules}), "environment": dict(os.environ)}


def sleep(event: Any, context: Any) -> str:
    """Sleeps ``event["seconds"]``, then answers "awake"."""
    import time

    time.sleep(float(event.get("seconds", 0)))
    return "awake"
