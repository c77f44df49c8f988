"""The sandbox's SQS event source mapping survives the embedded AWS refusing a call."""

from __future__ import annotations

import threading
from typing import Any, cast

from botocore.exceptions import ClientError

from sandbox.aws.provision import MappingSpec
from sandbox.runtime.pollers import QueuePoller

SPEC = MappingSpec("queue-url", "arn:aws:sqs:us-east-1:1:q", "starter", 10, 1, True)


class DarkOnDelete:
    """One message, then nothing; the first delete is refused as a dark region refuses it."""

    def __init__(self) -> None:
        self.messages = [{"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{}"}]
        self.deletes = 0
        self.received_after_refusal = threading.Event()

    def receive_message(self, **_: Any) -> dict[str, Any]:
        if self.deletes:
            self.received_after_refusal.set()
        messages, self.messages = self.messages, []
        return {"Messages": messages}

    def delete_message_batch(self, **_: Any) -> None:
        self.deletes += 1
        raise ClientError(
            {"Error": {"Code": "ServiceUnavailable", "Message": "us-east-1 is dark"}}, "DeleteMessageBatch"
        )


class Runtime:
    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        return {"batchItemFailures": []}


def test_a_refused_delete_leaves_the_poller_polling() -> None:
    sqs = DarkOnDelete()
    poller = QueuePoller(SPEC, sqs, cast(Any, Runtime()), "us-east-1").start()
    try:
        assert sqs.received_after_refusal.wait(10), "the poller stopped after the refused delete"
        assert sqs.deletes == 1 and all(thread.is_alive() for thread in poller.threads)
    finally:
        poller.stop()
