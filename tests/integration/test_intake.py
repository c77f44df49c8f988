"""The intake Lambda through its real entry point: API Gateway proxy events in, moto behind it."""

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from handlers import intake
from tests.integration.lambda_events import LambdaContext, api_event
from tests.integration.stores import Stores

CUSTOMER = {
    "sub": "cust-1",
    "customerId": "cust-1",
    "scopes": "orders:write orders:read",
    "clientId": "web-shop",
    "role": "customer",
}
OTHER_CUSTOMER = {**CUSTOMER, "sub": "cust-2", "customerId": "cust-2"}
STAFF = {
    "sub": "ops@example.com",
    "customerId": "",
    "scopes": "OrderOps",
    "clientId": "ops-console",
    "role": "staff",
}

ORDER: dict[str, Any] = {
    "items": [{"sku": "HOODIE-M", "quantity": 1}, {"sku": "TEE", "quantity": 2}],
    "shippingAddress": {
        "name": "Ada",
        "line1": "1 Main St",
        "city": "Springfield",
        "postalCode": "12345",
        "country": "US",
    },
    "paymentToken": "tok_visa",
    "loyaltyPoints": 100,
}


class Api:
    """Calls the intake handler the way API Gateway does, and reads what it left behind."""

    def __init__(self, stores: Stores, events_queue: str) -> None:
        self.stores = stores
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.events_queue = events_queue

    def post(
        self,
        body: Any,
        *,
        key: str | None = "key-00000001",
        caller: dict[str, str] = CUSTOMER,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        sent = dict(headers or {})
        if key is not None:
            sent["Idempotency-Key"] = key
        event = api_event("POST", "/orders", body=body, headers=sent, caller=caller)
        return self._call(event)

    def get(self, order_id: str, *, caller: dict[str, str] = CUSTOMER) -> tuple[int, dict[str, Any]]:
        event = api_event(
            "GET",
            f"/orders/{order_id}",
            caller=caller,
            resource="/orders/{orderId}",
            path_parameters={"orderId": order_id},
        )
        return self._call(event)

    def _call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = intake.lambda_handler(event, LambdaContext())
        return response["statusCode"], json.loads(response["body"])

    def configure_bus(self, bus: str, monkeypatch: pytest.MonkeyPatch) -> str:
        """Point the handler at ``bus``; returns the bus it used before."""
        before = os.environ["EVENT_BUS"]
        monkeypatch.setenv("EVENT_BUS", bus)
        intake.intake.cache_clear()
        return before

    def orders(self) -> list[dict[str, Any]]:
        return list(self.stores.orders.scan()["Items"])

    def published(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.events_queue, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.events_queue, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(message["Body"]) for message in messages]


@pytest.fixture
def api(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    stores.add_sku("HOODIE-M", price=4900)
    stores.add_sku("TEE", price=1500)
    bus = f"orders-{stores.orders.name}"
    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    events.create_event_bus(Name=bus)
    queue = sqs.create_queue(QueueName=f"{bus}-submitted")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="submitted", EventBusName=bus, EventPattern=json.dumps({"detail-type": ["OrderSubmitted"]}))
    events.put_targets(Rule="submitted", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    monkeypatch.setenv("ORDERS_TABLE", stores.orders.name)
    monkeypatch.setenv("INVENTORY_TABLE", stores.inventory.name)
    monkeypatch.setenv("EVENT_BUS", bus)
    intake.intake.cache_clear()
    yield Api(stores, queue)
    intake.intake.cache_clear()


def test_order_is_accepted_priced_from_the_catalog_and_published(api: Api) -> None:
    status, body = api.post(ORDER)
    assert status == 202 and body["status"] == "PENDING"
    [order] = api.orders()
    assert order["orderId"] == body["orderId"]
    assert (order["status"], order["customerId"], order["total"]) == ("PENDING", "cust-1", 4900 + 2 * 1500)
    assert [line["unitPrice"] for line in order["items"]] == [4900, 1500]
    [event] = api.published()
    assert (event["detail-type"], event["detail"]) == (
        "OrderSubmitted",
        {"orderId": body["orderId"], "customerId": "cust-1"},
    )


def test_same_key_and_body_replays_the_same_202(api: Api) -> None:
    first = api.post(ORDER)
    assert api.post(ORDER) == first
    assert len(api.orders()) == 1


def test_same_key_with_another_body_is_a_conflict_and_changes_nothing(api: Api) -> None:
    api.post(ORDER)
    api.published()
    status, body = api.post({**ORDER, "loyaltyPoints": 0})
    assert (status, body["error"]["code"]) == (409, "idempotency_key_reused")
    assert api.orders()[0]["loyaltyPoints"] == 100
    assert api.published() == []


def test_same_key_from_another_customer_is_another_order(api: Api) -> None:
    api.post(ORDER)
    api.post(ORDER, caller=OTHER_CUSTOMER)
    assert len(api.orders()) == 2


BAD_REQUESTS: dict[str, tuple[dict[str, Any], int, str]] = {
    "missing key": ({"key": None}, 400, "idempotency_key_required"),
    "short key": ({"key": "abc"}, 400, "invalid_idempotency_key"),
    "malformed JSON": ({"body": "{not json"}, 400, "malformed_json"),
    "oversized body": ({"body": json.dumps({**ORDER, "pad": "x" * 20_000})}, 413, "body_too_large"),
    "price smuggled into a line": (
        {"body": {**ORDER, "items": [{"sku": "TEE", "quantity": 1, "unitPrice": 1}]}},
        422,
        "invalid_order",
    ),
    "total smuggled": ({"body": {**ORDER, "total": 1}}, 422, "invalid_order"),
    "status smuggled": ({"body": {**ORDER, "status": "CONFIRMED"}}, 422, "invalid_order"),
    "unknown field": ({"body": {**ORDER, "coupon": "FREE"}}, 422, "invalid_order"),
    "unknown SKU": ({"body": {**ORDER, "items": [{"sku": "GHOST", "quantity": 1}]}}, 422, "unknown_sku"),
    "zero quantity": ({"body": {**ORDER, "items": [{"sku": "TEE", "quantity": 0}]}}, 422, "invalid_order"),
    "negative quantity": (
        {"body": {**ORDER, "items": [{"sku": "TEE", "quantity": -1}]}},
        422,
        "invalid_order",
    ),
    "quantity as a string": (
        {"body": {**ORDER, "items": [{"sku": "TEE", "quantity": "1"}]}},
        422,
        "invalid_order",
    ),
    "no items": ({"body": {**ORDER, "items": []}}, 422, "invalid_order"),
    "duplicate SKU": (
        {"body": {**ORDER, "items": [{"sku": "TEE", "quantity": 1}, {"sku": "TEE", "quantity": 1}]}},
        422,
        "duplicate_sku",
    ),
    "negative points": ({"body": {**ORDER, "loyaltyPoints": -5}}, 422, "invalid_order"),
    "body is a list": ({"body": [ORDER]}, 422, "invalid_order"),
    "read-only token": ({"caller": {**CUSTOMER, "scopes": "orders:read"}}, 403, "forbidden"),
    "staff token": ({"caller": STAFF}, 403, "forbidden"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_a_clear_4xx_and_writes_nothing(api: Api, case: str) -> None:
    overrides, expected_status, expected_code = BAD_REQUESTS[case]
    body = overrides.get("body", ORDER)
    kwargs = {key: value for key, value in overrides.items() if key != "body"}
    status, answer = api.post(body, **kwargs)
    assert (status, answer["error"]["code"]) == (expected_status, expected_code), answer
    assert api.orders() == [] and api.published() == []


def test_validation_errors_name_the_field(api: Api) -> None:
    _, answer = api.post({**ORDER, "items": [{"sku": "TEE", "quantity": 1, "price": 1}]})
    assert answer["error"]["details"] == [{"field": "items.0", "problem": "Object contains unknown field `price`"}]


def test_unpublished_order_gets_503_and_the_retry_publishes_it(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the bus is unreachable (misnamed) when the order arrives
    bus = api.configure_bus("no-such-bus", monkeypatch)
    status, answer = api.post(ORDER)
    assert (status, answer["error"]["code"]) == (503, "try_again")
    assert [order["status"] for order in api.orders()] == ["PENDING"]
    # WHEN the client retries with the same key once the bus is back
    api.configure_bus(bus, monkeypatch)
    status, body = api.post(ORDER)
    # THEN the same order is accepted and its event is published
    assert status == 202
    assert [event["detail"]["orderId"] for event in api.published()] == [body["orderId"]]


def leave_unprocessed(times: int) -> None:
    """The intake's next ``times`` catalog reads are throttled whole: DynamoDB hands every
    key back unprocessed (moto never throttles)."""
    pending = [times]

    def throttled(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not pending[0]:
            return None
        pending[0] -= 1
        requested = json.loads(params["body"])["RequestItems"]  # wire format, as DynamoDB hands it back
        parsed = {"Responses": {name: [] for name in requested}, "UnprocessedKeys": requested}
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), parsed

    events = intake.intake().catalog.meta.client.meta.events
    events.register("before-call.dynamodb.BatchGetItem", throttled)


def test_a_throttled_catalog_read_is_read_again_not_an_unknown_sku(api: Api) -> None:
    leave_unprocessed(times=2)
    status, body = api.post(ORDER)
    assert status == 202, body
    assert len(api.orders()) == 1


def test_a_catalog_that_stays_throttled_is_a_503_and_writes_nothing(api: Api) -> None:
    leave_unprocessed(times=intake.CATALOG_READ_ATTEMPTS)
    status, body = api.post(ORDER)
    assert (status, body["error"]["code"]) == (503, "try_again")
    assert api.orders() == []


def test_owner_reads_the_order_without_its_payment_token(api: Api) -> None:
    _, placed = api.post(ORDER)
    status, order = api.get(placed["orderId"])
    assert status == 200 and order["orderId"] == placed["orderId"] and order["total"] == 7900
    assert "paymentToken" not in order and "requestHash" not in order


def test_another_customer_gets_404_for_an_order_that_exists(api: Api) -> None:
    _, placed = api.post(ORDER)
    status, answer = api.get(placed["orderId"], caller=OTHER_CUSTOMER)
    assert (status, answer["error"]["code"]) == (404, "order_not_found")


def test_staff_with_order_ops_read_any_order(api: Api) -> None:
    _, placed = api.post(ORDER)
    status, order = api.get(placed["orderId"], caller=STAFF)
    assert status == 200 and order["customerId"] == "cust-1"


def test_unknown_order_is_404(api: Api) -> None:
    assert api.get("00000000-0000-0000-0000-000000000000")[0] == 404
