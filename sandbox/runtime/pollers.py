"""SQS event source mappings: poll a queue, invoke the function with batches, delete what it
handled. With ``ReportBatchItemFailures`` only the records it names stay on the queue, to be
redelivered after their visibility timeout (and moved to the DLQ by the redrive policy)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sandbox.aws.provision import MappingSpec
from sandbox.runtime.errors import FunctionError
from sandbox.runtime.functions import LambdaRuntime

log = logging.getLogger("sandbox.runtime.pollers")


class QueuePoller:
    def __init__(self, spec: MappingSpec, sqs: Any, runtime: LambdaRuntime, region: str) -> None:
        self.spec, self.sqs, self.runtime, self.region = spec, sqs, runtime, region
        self.stopping = threading.Event()
        self.lit = threading.Event()
        """Cleared while the region is dark: nothing is polled."""
        self.lit.set()
        self.threads = [
            threading.Thread(target=self._poll, name=f"poller-{spec.function}-{n}", daemon=True)
            for n in range(max(1, min(spec.max_concurrency, 4)))  # a 2-core machine: at most 4 pollers
        ]

    def start(self) -> QueuePoller:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)

    def _poll(self) -> None:
        while not self.stopping.is_set():
            if not self.lit.wait(0.5):
                continue
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.spec.queue_url,
                    MaxNumberOfMessages=self.spec.batch_size,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                ).get("Messages", [])
            except Exception:  # the embedded AWS is stopping
                if not self.stopping.is_set():
                    log.exception("receiving from %s failed", self.spec.queue_url)
                continue
            if messages:
                self._deliver(messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(message) for message in messages]}
        try:
            response = self.runtime.invoke(self.spec.function, event) or {}
        except FunctionError as error:
            log.warning("%s failed a batch (%s): it will be redelivered", self.spec.function, error.error_type)
            return
        failed = (
            {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            if self.spec.report_batch_item_failures
            else set()
        )
        done = [m for m in messages if m["MessageId"] not in failed]
        if not done:
            return
        try:
            self.sqs.delete_message_batch(
                QueueUrl=self.spec.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        except Exception as error:  # e.g. the region went dark after the invoke: as Lambda's
            # event source mapping does, keep polling; the batch reappears after its visibility
            # timeout and the function sees it again (its handlers are idempotent).
            log.warning(
                "deleting a handled batch from %s failed (%s): it will be redelivered", self.spec.queue_url, error
            )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.spec.queue_arn,
            "awsRegion": self.region,
        }
