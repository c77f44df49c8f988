"""The payment gateway and the courier: small real HTTP services on loopback.

Each checks a bearer API key, honours ``Idempotency-Key`` (same key and body: the same
answer; same key, other body: 422) for ``key_ttl_seconds`` (a day by default, as real
gateways do; then the key is forgotten, with what it charged or voided), keeps a ledger that
tests and audits read, and takes faults: latency, failing with a status, answering too late
(after doing the work), declines by card token, and a capacity limit.

    gateway = PaymentGateway(api_key="pk_test").start()
    gateway.faults.fail_next = 2          # the next two requests answer 503
    gateway.ledger()                      # [{"type": "charge", ...}, ...]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

from sandbox.http import LoopbackServer, Reply, Request, json_reply

Answer = tuple[int, dict[str, Any]]
Route = Callable[[dict[str, Any], str], Answer]
"""``route(body, idempotency_key) -> (status, body)``; called under the service lock."""

MAX_BODY_BYTES = 64 * 1024
KEY_TTL_SECONDS = 24 * 3600.0


@dataclass
class Faults:
    """What goes wrong, and how often. Counters count down per request."""

    latency_seconds: float = 0.0
    fail_next: int = 0
    fail_status: int = 503
    late_next: int = 0
    """The next N requests are processed, then answered only after ``late_seconds``."""
    late_seconds: float = 10.0
    fail_rate: float = 0.0
    """Each request fails with ``fail_status`` with this probability (an outage)."""
    late_rate: float = 0.0
    """Each request is processed, then answered late, with this probability."""
    capacity: int | None = None
    """Courier only: at most this many active bookings (None: no limit)."""


@dataclass
class _Remembered:
    fingerprint: str
    answer: Answer


V = TypeVar("V")


class KeyedMemory(Generic[V]):
    """What a partner remembers per idempotency key, forgotten ``ttl()`` seconds after it was
    written (callers hold the service lock)."""

    def __init__(self, ttl: Callable[[], float]) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if time.monotonic() - found[0] >= self._ttl():
            del self._entries[key]
            return None
        return found[1]

    def put(self, key: str, value: V) -> None:
        self._entries[key] = (time.monotonic(), value)

    def pop(self, key: str) -> V | None:
        value = self.get(key)
        self._entries.pop(key, None)
        return value


class PartnerService:
    """An HTTP JSON API with API-key auth, idempotency keys, a ledger and fault injection."""

    name = "partner"

    def __init__(
        self, api_key: str, *, host: str = "127.0.0.1", port: int = 0, key_ttl_seconds: float = KEY_TTL_SECONDS
    ) -> None:
        self.api_key = api_key
        self.faults = Faults()
        self.key_ttl_seconds = key_ttl_seconds
        """How long an idempotency key (and what it charged, booked or voided) is remembered."""
        self._routes: dict[str, Route] = {}
        self._ledger: list[dict[str, Any]] = []
        self._answers: KeyedMemory[_Remembered] = self.memory()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._random = random.Random(0)  # fault draws: seeded, so a scenario repeats
        self._server = LoopbackServer(
            self._respond, name=self.name, host=host, port=port, max_body_bytes=MAX_BODY_BYTES
        )

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def ledger(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._ledger]

    def route(self, path: str, handler: Route) -> None:
        self._routes[path] = handler

    def record(self, entry: dict[str, Any]) -> None:
        """Append to the ledger (callers hold the lock: routes run under it)."""
        self._ledger.append({"at": time.time(), **entry})

    def memory(self) -> KeyedMemory[Any]:
        """A per-key memory that expires with this service's idempotency keys."""
        return KeyedMemory(lambda: self.key_ttl_seconds)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    # -- request handling ---------------------------------------------------------------------

    def _answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[Answer, float]:
        """The answer and how long to hold it back."""
        if method == "GET" and path == "/_admin/ledger":
            return (200, {"entries": self.ledger()}), 0.0
        if method == "POST" and path == "/_admin/faults":
            return self._set_faults(raw), 0.0
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return (401, {"error": "invalid_api_key"}), 0.0
        route = self._routes.get(path) if method == "POST" else None
        if route is None:
            return (404, {"error": "no_such_route"}), 0.0
        key = headers.get("idempotency-key", "")
        if not key:
            return (400, {"error": "idempotency_key_required"}), 0.0
        try:
            body = json.loads(raw)
        except ValueError:
            return (400, {"error": "malformed_json"}), 0.0
        if not isinstance(body, dict):
            return (400, {"error": "malformed_json"}), 0.0
        with self._lock:
            delay = self.faults.latency_seconds
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                return (self.faults.fail_status, {"error": "injected_failure"}), delay
            if self.faults.fail_rate and self._random.random() < self.faults.fail_rate:
                return (self.faults.fail_status, {"error": "injected_failure"}), delay
            if self.faults.late_next > 0:
                self.faults.late_next -= 1
                delay += self.faults.late_seconds
            elif self.faults.late_rate and self._random.random() < self.faults.late_rate:
                delay += self.faults.late_seconds
            fingerprint = hashlib.sha256(f"{path}\n{raw!r}".encode()).hexdigest()
            remembered = self._answers.get(key)
            if remembered is not None:
                if remembered.fingerprint != fingerprint:
                    return (422, {"error": "idempotency_key_reused"}), delay
                return remembered.answer, delay
            answer = route(body, key)
            self._answers.put(key, _Remembered(fingerprint, answer))
            return answer, delay

    def _set_faults(self, raw: bytes) -> Answer:
        """``POST /_admin/faults`` with any of the ``Faults`` fields (tests, the demo)."""
        try:
            changes = json.loads(raw or b"{}")
            with self._lock:
                for key, value in changes.items():
                    if key not in vars(self.faults):
                        return 400, {"error": f"unknown fault {key!r}"}
                    if key == "capacity":
                        setattr(self.faults, key, None if value is None else int(value))
                    else:
                        setattr(self.faults, key, type(getattr(self.faults, key))(value))
        except (ValueError, TypeError, AttributeError):
            return 400, {"error": "malformed_faults"}
        return 200, {"faults": vars(self.faults)}

    def _respond(self, request: Request) -> Reply:
        headers = {name.lower(): value for name, value in request.headers.items()}
        (status, body), delay = self._answer(request.method, request.path, headers, request.body)
        if delay:
            time.sleep(delay)
        return json_reply(status, body)


class PaymentGateway(PartnerService):
    """Charges and refunds. A token in ``declined_tokens`` (default ``tok_declined``) is declined.

    A refund names the charge by ``chargeId`` (kept for good) or by the charge's idempotency
    key (remembered for ``key_ttl_seconds``). Refunding a key that never charged voids it: a
    late charge with that key is then refused (409), so a timed-out authorization can be
    compensated safely while the key is remembered. A charge in ``disputed`` (the cardholder
    disputed it with their bank) cannot be refunded: 409 ``charge_disputed``, as Stripe answers.
    """

    name = "payment-gateway"

    def __init__(self, api_key: str, **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        self.declined_tokens: set[str] = {"tok_declined"}
        self.disputed: set[str] = set()
        self._charges: KeyedMemory[str] = self.memory()  # charge idempotency key -> chargeId
        self._voided: KeyedMemory[bool] = self.memory()
        self._by_id: dict[str, dict[str, Any]] = {}  # chargeId -> charge, with its refund once refunded
        self.route("/charges", self._charge)
        self.route("/refunds", self._refund)

    def _charge(self, body: dict[str, Any], key: str) -> Answer:
        amount, token = body.get("amount"), body.get("token")
        if not isinstance(amount, int) or amount <= 0 or not isinstance(token, str):
            return 400, {"error": "amount_and_token_required"}
        if self._voided.get(key):
            return 409, {"error": "charge_voided"}
        if token in self.declined_tokens:
            self.record({"type": "decline", "key": key, "reference": body.get("reference"), "amount": amount})
            return 402, {"error": "card_declined"}
        charge = {"chargeId": self.new_id("ch"), "amount": amount, "currency": body.get("currency", "USD")}
        self._charges.put(key, charge["chargeId"])
        self._by_id[charge["chargeId"]] = dict(charge)
        self.record({"type": "charge", "key": key, "reference": body.get("reference"), **charge})
        return 201, {**charge, "status": "captured"}

    def _refund(self, body: dict[str, Any], key: str) -> Answer:
        charge_id, charge_key = body.get("chargeId"), body.get("chargeIdempotencyKey")
        if isinstance(charge_id, str):
            if charge_id not in self._by_id:
                return 404, {"error": "no_such_charge"}
        elif isinstance(charge_key, str):
            charge_id = self._charges.pop(charge_key)
            if charge_id is None:
                self._voided.put(charge_key, True)
                self.record({"type": "void", "key": key, "chargeKey": charge_key, "reference": body.get("reference")})
                return 200, {"refundId": self.new_id("void"), "amount": 0}
        else:
            return 400, {"error": "charge_id_or_idempotency_key_required"}
        if charge_id in self.disputed:
            return 409, {"error": "charge_disputed"}
        charge = self._by_id[charge_id]
        if "refund" in charge:  # refunded already (by id or by key): the same refund, no money moves
            return 200, charge["refund"]
        refund = {"refundId": self.new_id("re"), "amount": charge["amount"], "chargeId": charge_id}
        charge["refund"] = refund
        self.record({"type": "refund", "key": key, "reference": body.get("reference"), **refund})
        return 200, refund


class Courier(PartnerService):
    """Bookings and cancellations, with at most ``capacity`` active bookings (None: no limit).

    A cancellation names the booking by ``bookingId`` or by its idempotency key; cancelling a
    key that never booked voids it, like the gateway's refunds.
    """

    name = "courier"

    def __init__(self, api_key: str, *, capacity: int | None = None, **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        self.faults.capacity = capacity
        self._keys: KeyedMemory[str] = self.memory()  # booking idempotency key -> bookingId
        self._voided: KeyedMemory[bool] = self.memory()
        self._active: dict[str, dict[str, Any]] = {}  # bookingId -> booking, until cancelled
        self._cancelled: dict[str, dict[str, Any]] = {}  # bookingId -> its cancellation
        self.route("/bookings", self._book)
        self.route("/cancellations", self._cancel)

    def _book(self, body: dict[str, Any], key: str) -> Answer:
        if not isinstance(body.get("address"), dict):
            return 400, {"error": "address_required"}
        if self._voided.get(key):
            return 409, {"error": "booking_cancelled"}
        if self.faults.capacity is not None and len(self._active) >= self.faults.capacity:
            return 409, {"error": "no_capacity"}
        booking = {"bookingId": self.new_id("bk"), "slot": f"slot-{len(self._active) + 1}"}
        self._keys.put(key, booking["bookingId"])
        self._active[booking["bookingId"]] = booking
        self.record({"type": "booking", "key": key, "reference": body.get("reference"), **booking})
        return 201, booking

    def _cancel(self, body: dict[str, Any], key: str) -> Answer:
        booking_id, booking_key = body.get("bookingId"), body.get("bookingIdempotencyKey")
        if isinstance(booking_id, str):
            if booking_id not in self._active and booking_id not in self._cancelled:
                return 404, {"error": "no_such_booking"}
        elif isinstance(booking_key, str):
            booking_id = self._keys.pop(booking_key)
            if booking_id is None:
                self._voided.put(booking_key, True)
        else:
            return 400, {"error": "booking_id_or_idempotency_key_required"}
        if booking_id in self._cancelled:  # cancelled already: the same cancellation, no slot moves
            return 200, self._cancelled[booking_id]
        cancellation = {"cancellationId": self.new_id("cx"), "bookingId": booking_id}
        if booking_id is not None:
            del self._active[booking_id]
            self._cancelled[booking_id] = cancellation
        self.record(
            {
                "type": "cancellation",
                "key": key,
                "bookingKey": booking_key,
                "reference": body.get("reference"),
                **cancellation,
            }
        )
        return 200, cancellation


@dataclass
class Partners:
    """Both partners, started together (tests, sandbox)."""

    gateway: PaymentGateway
    courier: Courier
    all: list[PartnerService] = field(default_factory=list)

    @classmethod
    def start(cls, gateway_key: str, courier_key: str, *, courier_capacity: int | None = None) -> Partners:
        gateway = PaymentGateway(gateway_key).start()
        courier = Courier(courier_key, capacity=courier_capacity).start()
        return cls(gateway, courier, [gateway, courier])

    def stop(self) -> None:
        for service in self.all:
            service.stop()
