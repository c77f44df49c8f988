"""Intake: ``POST /orders`` accepts an order, ``GET /orders/{orderId}`` shows one.

POST needs an ``Idempotency-Key``. The orderId is derived from (customer, key), so the
conditional put of the PENDING order *is* the idempotency record: the same key and body
replay the same 202, the same key with another body is a 409, and no separate store can
drift from the orders table. Prices come from the catalog; a request naming a price, a
total, a status or any unknown field is refused (422). The 202 is sent only after
``OrderSubmitted`` is on the bus; if publishing fails the client gets a 503 and its retry
with the same key publishes again, so nothing accepted is lost.

Errors are JSON ``{"error": {"code": ..., "message": ...}}`` with a stable ``code``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from decimal import Decimal
from functools import lru_cache
from typing import Any

import boto3
import msgspec
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from handlers import ownership
from handlers.config import setting
from handlers.contract import ORDER_SUBMITTED, ORDER_SUBMITTED_SOURCE
from handlers.order_request import ORDER_REQUEST, OrderRequest, address, canonical
from handlers.toolkit import WorkItems, now

logger = Logger()
metrics = Metrics(namespace="OrderSaga")

MAX_BODY_BYTES = 16 * 1024
ORDER_NAMESPACE = uuid.UUID("7f1c7a52-6a43-4d2e-9c1e-0c5b8e0f5a11")
HIDDEN_FIELDS = ("paymentToken", "requestHash", "idempotencyKey")
# A throttled BatchGetItem returns the keys it did not read; read them again, this often.
CATALOG_READ_ATTEMPTS = 4
CATALOG_BACKOFF_SECONDS = 0.05


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class Intake:
    def __init__(
        self,
        orders: WorkItems,
        catalog: Any,
        events: Any,
        event_bus: str,
        region: ownership.RegionControl | None = None,
    ) -> None:
        """``region``: this region's ``ownership.RegionControl`` (None: one region, always active)."""
        self.orders = orders
        self.catalog = catalog
        self.events = events
        self.event_bus = event_bus
        self.region = region

    def submit(self, customer_id: str, idempotency_key: str, body: str) -> tuple[int, dict[str, Any]]:
        if self.region is not None and not self.region.active():
            # A warm standby takes no order until promoted: nothing is written, the client retries.
            raise ApiError(503, "region_passive", "this region is a standby; retry with the same Idempotency-Key")
        request = parse_order(body)
        prices = self._prices([line.sku for line in request.items])
        request_hash = hashlib.sha256(canonical(request)).hexdigest()
        order_id = str(uuid.uuid5(ORDER_NAMESPACE, f"{customer_id}\n{idempotency_key}"))
        lines: list[dict[str, Any]] = [
            {"sku": line.sku, "quantity": line.quantity, "unitPrice": prices[line.sku]} for line in request.items
        ]
        item = {
            "orderId": order_id,
            "customerId": customer_id,
            "status": "PENDING",
            "items": lines,
            "total": sum(line["unitPrice"] * line["quantity"] for line in lines),
            "currency": "USD",
            "paymentToken": request.paymentToken,
            "shippingAddress": address(request.shippingAddress),
            "loyaltyPoints": request.loyaltyPoints,
            "idempotencyKey": idempotency_key,
            "requestHash": request_hash,
            "createdAt": now(),
            "steps": {},
        }
        if self.region is not None:
            item[ownership.OWNER_ATTRIBUTE] = self.region.region
        if not self.orders.create(item):
            existing = self.orders.find(order_id) or {}
            if existing.get("requestHash") != request_hash:
                raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used for another order")
            metrics.add_metric(name="IntakeReplays", unit=MetricUnit.Count, value=1)
            if existing.get("status") in ownership.SETTLED:
                return 202, {"orderId": order_id, "status": existing["status"]}  # nothing left to start
            owner = existing.get(ownership.OWNER_ATTRIBUTE)
            if self.region is not None and owner and owner != self.region.region:
                # A client failed over with its key: the order replicated here, its saga was
                # in the lost region. This region takes it over before starting one.
                self.region.claim(order_id)
        # Published on every (re)try: a lost publish is repaired by the client's retry, and
        # a duplicate event starts nothing (the execution name is the orderId).
        self._publish(order_id, customer_id)
        metrics.add_metric(name="OrdersAccepted", unit=MetricUnit.Count, value=1)
        return 202, {"orderId": order_id, "status": "PENDING"}

    def read(self, order_id: str, customer_id: str, staff: bool) -> dict[str, Any]:
        item = self.orders.find(order_id)
        if item is None or (not staff and item.get("customerId") != customer_id):
            raise ApiError(404, "order_not_found", "no such order")  # never confirm another's order exists
        metrics.add_metric(name="OrdersRead", unit=MetricUnit.Count, value=1)
        return {key: plain(value) for key, value in item.items() if key not in HIDDEN_FIELDS}

    def _prices(self, skus: list[str]) -> dict[str, int]:
        if len(set(skus)) != len(skus):
            raise ApiError(422, "duplicate_sku", "each SKU may appear once; use quantity")
        found: dict[str, int] = {}
        pending: dict[str, Any] | None = {"Keys": [{"pk": f"SKU#{sku}"} for sku in skus]}
        for attempt in range(CATALOG_READ_ATTEMPTS):
            if attempt:  # what DynamoDB left unprocessed (throttled) is retried, with jittered backoff
                time.sleep(random.uniform(0, min(CATALOG_BACKOFF_SECONDS * 2**attempt, 1.0)))
            name = self.catalog.name
            response = self.catalog.meta.client.batch_get_item(RequestItems={name: pending})
            found |= {item["pk"].removeprefix("SKU#"): int(item["price"]) for item in response["Responses"][name]}
            pending = response.get("UnprocessedKeys", {}).get(name)
            if not pending:
                break
        else:
            # Never "unknown sku" for a SKU we could not read: the client retries with its key.
            raise ApiError(503, "try_again", "the catalog is busy; retry with the same Idempotency-Key")
        unknown = sorted(set(skus) - set(found))
        if unknown:
            raise ApiError(422, "unknown_sku", f"not in the catalog: {', '.join(unknown)}")
        return found

    def _publish(self, order_id: str, customer_id: str) -> None:
        entry = {
            "EventBusName": self.event_bus,
            "Source": ORDER_SUBMITTED_SOURCE,
            "DetailType": ORDER_SUBMITTED,
            "Detail": json.dumps({"orderId": order_id, "customerId": customer_id}),
        }
        try:
            response = self.events.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            logger.exception("publishing OrderSubmitted failed")
            raise ApiError(503, "try_again", "the order is held; retry with the same Idempotency-Key") from error
        if response.get("FailedEntryCount"):
            raise ApiError(503, "try_again", "the order is held; retry with the same Idempotency-Key")


def parse_order(body: str) -> OrderRequest:
    if len(body.encode()) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    try:
        return ORDER_REQUEST.decode(body)
    except msgspec.ValidationError as error:  # JSON, but not an order (a subclass: caught first)
        raise ApiError(422, "invalid_order", "the order does not match the schema", [problem(error)]) from error
    except msgspec.DecodeError as error:
        raise ApiError(400, "malformed_json", "the body is not JSON") from error


def problem(error: msgspec.ValidationError) -> dict[str, str]:
    """msgspec reports the first problem as ``<problem> - at `$.items[0].sku```: the field as a
    dotted path (``items.0.sku``, empty for the whole body) and the problem."""
    text, _, path = str(error).rpartition(" - at `")
    if not text:  # the body itself (no path)
        return {"field": "", "problem": str(error)}
    field = path.rstrip("`").removeprefix("$").replace("[", ".").replace("]", "").lstrip(".")
    return {"field": field, "problem": text}


def plain(value: Any) -> Any:
    """DynamoDB numbers back to ints for JSON."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {key: plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [plain(inner) for inner in value]
    return value


@lru_cache(maxsize=1)
def intake() -> Intake:
    dynamodb = boto3.resource("dynamodb")
    return Intake(
        WorkItems(dynamodb.Table(setting("ORDERS_TABLE"))),
        dynamodb.Table(setting("INVENTORY_TABLE")),
        boto3.client("events"),
        setting("EVENT_BUS"),
        ownership.from_environment(),
    )


def caller(event: dict[str, Any]) -> dict[str, str]:
    """The authorizer's context: sub, customerId, scopes, clientId, role."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    return {key: str(value) for key, value in context.items()}


def header(event: dict[str, Any], name: str) -> str | None:
    """Header names are case-insensitive (HTTP/2 clients send them lower-case)."""
    wanted = name.lower()
    return next((value for key, value in (event.get("headers") or {}).items() if key.lower() == wanted), None)


def require(granted: bool) -> None:
    if not granted:
        raise ApiError(403, "forbidden", "the token does not allow this")


def submit_order(event: dict[str, Any]) -> dict[str, Any]:
    who = caller(event)
    require(who.get("role") == "customer" and "orders:write" in who.get("scopes", "").split())
    key = header(event, "Idempotency-Key")
    if not key:
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header")
    if not 8 <= len(key) <= 128 or not key.isascii() or not key.isprintable():
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 8 to 128 printable ASCII characters")
    logger.append_keys(idempotency_key=key)
    status, body = intake().submit(who["customerId"], key, event.get("body") or "")
    logger.set_correlation_id(body["orderId"])
    return respond(status, body, {"Location": f"/orders/{body['orderId']}"})


def read_order(event: dict[str, Any]) -> dict[str, Any]:
    order_id = str((event.get("pathParameters") or {}).get("orderId") or "")
    who = caller(event)
    staff = who.get("role") == "staff" and "OrderOps" in who.get("scopes", "").split()
    require(staff or (who.get("role") == "customer" and "orders:read" in who.get("scopes", "").split()))
    logger.set_correlation_id(order_id)
    return respond(200, intake().read(order_id, who.get("customerId", ""), staff))


# (method, API resource template) -> handler. Two routes need no router library: Powertools'
# event_handler package loads every resolver it has (AppSync, Bedrock, asyncio...) at import,
# about a third of a bare boto3 import on the cold-start path (README, Cold start).
ROUTES = {("POST", "/orders"): submit_order, ("GET", "/orders/{orderId}"): read_order}


def respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway proxy response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def api_error(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    logger.info("request refused", extra={"code": error.code, "status": error.status})
    metrics.add_metric(name="IntakeRefused", unit=MetricUnit.Count, value=1)
    return respond(error.status, {"error": body})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    route = ROUTES.get((str(event.get("httpMethod")), str(event.get("resource"))))
    try:
        if route is None:
            raise ApiError(404, "not_found", "no such route")
        return route(event)
    except ApiError as error:
        return api_error(error)
