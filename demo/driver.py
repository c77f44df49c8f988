"""Play a plan against a running sandbox over HTTP, and watch the orders drain.

A client sends each order at its time with its Idempotency-Key; a 429 or 5xx is retried with
the same key (as a well-behaved client does), duplicates go out twice at once, retried ones
again after their answer. The courier goes down for the planned window. Orders planned to
meet a late or crashing Lambda get that fault set in the runtime as soon as they are accepted
(before their saga starts).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from demo.scenario import LATE_SECONDS, Knobs, Plan, PlannedOrder
from sandbox.up import Sandbox

SENDERS = 48
CLIENT_RETRIES = 5
TERMINAL = ("CONFIRMED", "CANCELLED_COMPENSATED")
PARKED = "NEEDS_REVIEW"


@dataclass
class SentRequest:
    at: float
    """Seconds after the start when it was answered."""
    latency_ms: float
    status: int
    key: str
    order_id: str | None


@dataclass
class Sample:
    at: float
    submitted: int
    accepted: int
    by_status: dict[str, int]
    start_queue_depth: int

    @property
    def in_flight(self) -> int:
        settled = sum(self.by_status.get(status, 0) for status in (*TERMINAL, PARKED))
        return self.accepted - settled


@dataclass
class LaunchDayRun:
    requests: list[SentRequest] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # orderId -> Idempotency-Key
    duration_s: float = 0.0
    drained: bool = False
    faults: list[tuple[str, str, str]] = field(default_factory=list)  # (orderId, task, fault) set


def sleep_until(started: float, at: float) -> None:
    """Sleep until ``at`` seconds after ``started`` (a ``time.monotonic()``)."""
    delay = started + at - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def send_plan(plan: Plan, started: float, send: Callable[[PlannedOrder], object], senders: int = SENDERS) -> None:
    """Send each planned order at its time after ``started``, a double-click twice at once,
    from ``senders`` clients; returns when every answer is in."""
    with ThreadPoolExecutor(senders) as pool:
        futures = []
        for order in plan.orders:
            sleep_until(started, order.at)
            futures.append(pool.submit(send, order))
            if order.duplicate:
                futures.append(pool.submit(send, order))
        wait(futures)


class Driver:
    def __init__(self, sandbox: Sandbox, plan: Plan, knobs: Knobs, progress: Callable[[Sample], None]) -> None:
        self.sandbox, self.plan, self.knobs, self.progress = sandbox, plan, knobs, progress
        self.run = LaunchDayRun()
        self.lock = threading.Lock()
        self.tokens: dict[str, str] = {}
        self.submitted = 0
        self.started = 0.0

    def play(self, drain_seconds: float = 600) -> LaunchDayRun:
        self.started = time.monotonic()
        stop_watching = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop_watching,), daemon=True)
        watcher.start()
        outage = threading.Thread(target=self._courier_outage, daemon=True)
        outage.start()
        send_plan(self.plan, self.started, self._send)
        outage.join()
        self.run.drained = self._drain(drain_seconds)
        stop_watching.set()
        watcher.join()
        self.run.duration_s = time.monotonic() - self.started
        return self.run

    def _token(self, customer: str) -> str:
        with self.lock:
            if customer not in self.tokens:
                self.tokens[customer] = self.sandbox.idp.customers.token(customer)
            return self.tokens[customer]

    def _send(self, order: PlannedOrder) -> None:
        with self.lock:
            self.submitted += 1
        self._post(order)
        if order.retried:
            self._post(order)

    def _post(self, order: PlannedOrder) -> None:
        headers = {
            "Authorization": f"Bearer {self._token(order.customer)}",
            "Idempotency-Key": order.key,
            "Content-Type": "application/json",
        }
        for attempt in range(CLIENT_RETRIES + 1):
            sent = time.monotonic()
            status, body = _post(f"{self.sandbox.api.url}/orders", order.body, headers)
            answered = time.monotonic()
            order_id = body.get("orderId") if status == 202 else None
            with self.lock:
                self.run.requests.append(
                    SentRequest(answered - self.started, (answered - sent) * 1000, status, order.key, order_id)
                )
                first = order_id is not None and order_id not in self.run.accepted
                if order_id:
                    self.run.accepted[order_id] = order.key
            if first and order_id:
                self._inject(order, order_id)
            if status != 429 and status < 500:
                return
            time.sleep(0.2 * (attempt + 1))

    def _inject(self, order: PlannedOrder, order_id: str) -> None:
        for task, fault in order.faults:
            function = self.sandbox.runtime.ending(task)
            function.faults.late_seconds = LATE_SECONDS
            function.inject(fault, order_id)
            with self.lock:
                self.run.faults.append((order_id, task, fault))

    def _courier_outage(self) -> None:
        faults = self.sandbox.courier.faults
        sleep_until(self.started, self.plan.outage_start)
        # Half the calls fail with 503, half of the rest answer after the client gave up (5 s).
        faults.late_seconds, faults.fail_rate, faults.late_rate = 6.0, 0.5, 0.5
        sleep_until(self.started, self.plan.outage_end)
        faults.fail_rate, faults.late_rate = 0.0, 0.0

    def statuses(self) -> dict[str, int]:
        table = self.sandbox.outputs["ordersTableName"]
        client = self.sandbox.aws("dynamodb")
        counts: dict[str, int] = {}
        for page in client.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="#s", ExpressionAttributeNames={"#s": "status"}
        ):
            for item in page["Items"]:
                status = item["status"]["S"]
                counts[status] = counts.get(status, 0) + 1
        return counts

    def _sample(self) -> Sample:
        queue = self.sandbox.provisioned.queue_urls[self.sandbox.outputs["sagaStartQueueUrl"].rsplit("/", 1)[-1]]
        depth = self.sandbox.aws("sqs").get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
        )
        with self.lock:
            submitted, accepted = self.submitted, len(self.run.accepted)
        return Sample(
            time.monotonic() - self.started,
            submitted,
            accepted,
            self.statuses(),
            int(depth["Attributes"]["ApproximateNumberOfMessages"]),
        )

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            sample = self._sample()
            self.run.samples.append(sample)
            self.progress(sample)

    def _drain(self, seconds: float) -> bool:
        """Wait until every accepted order is terminal or parked."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sample = self._sample()
            if sample.in_flight <= 0:
                self.run.samples.append(sample)
                return True
            time.sleep(1.0)
        return False


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return 599, {}  # no answer: the client will retry with the same key
