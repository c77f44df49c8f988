"""EventBridge schedules: moto stores a ``rate(...)`` rule and its Lambda target but never
fires it, so the sandbox does. Intervals run at the sandbox's time scale, like retry waits
(``rate(5 minutes)`` at 0.05 fires every 15 s), so a scheduled function is seen working."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from datetime import UTC, datetime

from sandbox.aws.provision import ScheduleSpec
from sandbox.runtime.errors import FunctionError
from sandbox.runtime.functions import LambdaRuntime

log = logging.getLogger("sandbox.aws.scheduler")
RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float:
    """Seconds between firings of a ``rate(...)`` expression (cron is not emulated)."""
    match = RATE.match(expression)
    if match is None:
        raise ValueError(f"the sandbox runs rate(...) schedules only, not {expression!r}")
    return int(match[1]) * UNIT_SECONDS[match[2].rstrip("s")]


class Scheduler:
    def __init__(self, spec: ScheduleSpec, runtime: LambdaRuntime, region: str, time_scale: float) -> None:
        self.spec, self.runtime, self.region = spec, runtime, region
        self.interval = rate_seconds(spec.expression) * time_scale
        self.stopping = threading.Event()
        self.lit = threading.Event()
        """Cleared while the region is dark: the schedule does not fire."""
        self.lit.set()
        self.thread = threading.Thread(target=self._run, name=f"schedule-{spec.rule}", daemon=True)

    def start(self) -> Scheduler:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            if not self.lit.is_set():
                continue
            try:
                self.runtime.invoke(self.spec.function, self._event())
            except FunctionError as error:  # EventBridge would retry; the next firing does
                log.warning("scheduled %s failed (%s): %s", self.spec.function, error.error_type, error.message)

    def _event(self) -> dict[str, object]:
        """A scheduled event as EventBridge sends it."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.spec.function.split(":")[4],
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [f"arn:aws:events:{self.region}:{self.spec.function.split(':')[4]}:rule/{self.spec.rule}"],
            "detail": {},
        }
