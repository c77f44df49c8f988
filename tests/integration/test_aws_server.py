"""The embedded AWS's process: the interpreter's own calls go straight into moto's server
application and must answer exactly as they would over HTTP; its collector freezes what lasts."""

from __future__ import annotations

import subprocess
import sys
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


FREEZING = """
import gc
from sandbox.aws.server import FULL_SCAN_EVERY, freeze_after_full_collections

freeze_after_full_collections()
at_start = gc.get_freeze_count()
kept = [[n] for n in range(10_000)]


class Node:
    pass


a, b = Node(), Node()
a.other, b.other = b, a  # a cycle, alive at the next freeze
gc.collect()
frozen = gc.get_freeze_count() - at_start
del a, b  # dropped after its freeze: no collection finds it until one scans everything
collected = [gc.collect() for _ in range(FULL_SCAN_EVERY)]
print(at_start, frozen, sum(collected[: FULL_SCAN_EVERY - 2]), collected[-1])
"""


def test_what_survives_a_full_collection_is_frozen_and_every_tenth_scans_everything() -> None:
    # In a process of its own: freezing is for the embedded AWS's process, not the suite's.
    out = subprocess.run([sys.executable, "-c", FREEZING], capture_output=True, text=True, check=True).stdout
    at_start, frozen, found_while_frozen, found_by_the_full_scan = (int(n) for n in out.split())
    assert at_start > 100_000  # what the server imported (moto, boto3) is never scanned again
    assert frozen >= 10_000  # the kept lists: the next full collections do not scan them
    assert found_while_frozen == 0  # the frozen cycle is out of the collector's sight...
    assert found_by_the_full_scan >= 2  # ...until the collection after an unfreeze scans it
