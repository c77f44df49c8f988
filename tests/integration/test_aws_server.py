"""The embedded AWS's in-process path: the interpreter's own calls go straight into moto's
server application and must answer exactly as they would over HTTP."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from sandbox.aws.server import dispatch_in_process


@pytest.fixture(scope="module")
def client() -> Any:
    app = DomainDispatcherApplication(create_backend_app)
    dispatch = dispatch_in_process(app)

    def build(service: str) -> Any:
        made = boto3.client(  # type: ignore[call-overload]
            service,
            region_name="eu-west-3",  # a region no other test uses: this app's backends are the process's
            endpoint_url="http://localhost:5999",  # never dialled: the requests are answered in process
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )
        dispatch(made)
        return made

    return build


def test_dynamodb_writes_conditions_and_errors_answer_as_over_http(client: Any) -> None:
    db = client("dynamodb")
    db.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    db.put_item(TableName="orders", Item={"pk": {"S": "o-1"}, "status": {"S": "PENDING"}})
    updated = db.update_item(
        TableName="orders",
        Key={"pk": {"S": "o-1"}},
        UpdateExpression="SET #s = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":c": {"S": "CONFIRMED"}},
        ReturnValues="ALL_NEW",
    )
    assert updated["Attributes"]["status"] == {"S": "CONFIRMED"}
    with pytest.raises(db.exceptions.ConditionalCheckFailedException):
        db.put_item(TableName="orders", Item={"pk": {"S": "o-1"}}, ConditionExpression="attribute_not_exists(pk)")


def test_queues_and_events_answer_as_over_http(client: Any) -> None:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody='{"orderId": "o-1"}')
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ['{"orderId": "o-1"}']
    events = client("events")
    assert (
        events.put_events(Entries=[{"Source": "saga.order", "DetailType": "OrderConfirmed", "Detail": "{}"}])[
            "FailedEntryCount"
        ]
        == 0
    )
