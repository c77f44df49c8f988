"""The patches to moto's internals: pinned to the source they were written against, and each
keeping moto's behaviour (the whole integration suite runs with them on, see conftest)."""

from __future__ import annotations

import gc
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.dynamodb.responses import DynamoResult

from sandbox.aws import moto_patches
from sandbox.aws.moto_patches import PATCHED, SOURCE_DIGESTS, source_digest


@pytest.mark.parametrize("name", sorted(PATCHED))
def test_the_moto_source_a_patch_relies_on_is_the_one_it_was_written_against(name: str) -> None:
    assert source_digest(name) == SOURCE_DIGESTS[name], f"moto changed {name}: re-read the patch"


def test_every_patched_name_is_pinned() -> None:
    assert set(PATCHED) == set(SOURCE_DIGESTS)


def _table(aws: None) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_a_cancelled_transaction_undoes_its_writes_and_keeps_other_items(aws: None) -> None:
    db = boto3.client("dynamodb")
    table = _table(aws)
    db.put_item(TableName=table, Item={"pk": {"S": "stock"}, "n": {"N": "5"}})
    db.put_item(TableName=table, Item={"pk": {"S": "bystander"}, "n": {"N": "1"}})
    # WHEN a transaction decrements stock, adds a reservation, then fails its last condition
    with pytest.raises(ClientError) as refused:
        db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "stock"}},
                        "UpdateExpression": "SET n = n - :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {"pk": {"S": "reservation"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "fence"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    # THEN nothing it wrote remains, and the item it never named is untouched
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    items = {i["pk"]["S"]: i for i in db.scan(TableName=table)["Items"]}
    assert set(items) == {"stock", "bystander"}
    assert items["stock"]["n"] == {"N": "5"}
    assert items["bystander"]["n"] == {"N": "1"}


def test_a_committed_transaction_writes_every_item(aws: None) -> None:
    db = boto3.client("dynamodb")
    table = _table(aws)
    db.put_item(TableName=table, Item={"pk": {"S": "stock"}, "n": {"N": "5"}})
    db.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "stock"}},
                    "UpdateExpression": "SET n = n - :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Put": {"TableName": table, "Item": {"pk": {"S": "reservation"}}}},
        ]
    )
    items = {i["pk"]["S"]: i for i in db.scan(TableName=table)["Items"]}
    assert items["stock"]["n"] == {"N": "4"} and "reservation" in items


def test_the_parse_cache_gives_each_execution_fresh_components(aws: None) -> None:
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    first, tree = moto_patches._parse_with_cached_tree(definition)
    second, cached_tree = moto_patches._parse_with_cached_tree(definition)
    assert cached_tree is tree  # parsed once
    assert first is not second  # built twice: executions never share state
    assert type(first) is type(second)


def test_the_program_cache_builds_each_definition_once_with_every_heap_key_drawn(aws: None) -> None:
    from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import MaxAttemptsDecl

    retry = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]
    task = {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "Retry": retry}
    definition = json.dumps({"StartAt": "Work", "States": {"Work": {**task, "End": True}}})
    first, tree = moto_patches._shared_program(definition)
    second, cached_tree = moto_patches._shared_program(definition)
    assert first is second and tree is cached_tree  # parsed and built once
    # the retrier's attempt count lives in each execution's heap under this key: drawn before
    # any execution could race another for it
    [max_attempts] = [c for c in moto_patches._components(first) if isinstance(c, MaxAttemptsDecl)]
    assert vars(max_attempts)["_EvalComponent__heap_key"] is not None
    with pytest.raises(AttributeError, match="frozen"):
        first.states.states["Work"].name = "Other"  # a write to a shared component raises instead of racing


def test_a_definition_with_a_map_state_gets_a_copy_per_execution(aws: None) -> None:
    iterator = {"StartAt": "Each", "States": {"Each": {"Type": "Pass", "End": True}}}
    definition = json.dumps({"StartAt": "All", "States": {"All": {"Type": "Map", "Iterator": iterator, "End": True}}})
    first, tree = moto_patches._shared_program(definition)
    second, cached_tree = moto_patches._shared_program(definition)
    assert cached_tree is tree and first is not second
    first.states.states["All"].comment = "a copy is not frozen"


def test_the_jsonpath_cache_parses_each_path_once_for_the_interpreter_and_eventbridge(aws: None) -> None:
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    interpreter, eventbridge, results = json_path.parse, jsonpath_ng.ext.parse, result_path.parse  # type: ignore[attr-defined]
    assert interpreter("$.order.orderId") is interpreter("$.order.orderId")
    assert eventbridge("$.detail") is interpreter("$.detail")  # EventTemplateParser imports it per call
    assert results("$.result") is results("$.result")
    assert json_path.extract_json("$.order.orderId", {"order": {"orderId": "o-1"}}) == "o-1"


def test_a_received_message_is_checked_against_its_queues_retention_without_computing_every_attribute(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.sqs.models import Queue, sqs_backends

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}", Attributes={"MessageRetentionPeriod": "60"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    sqs.send_message(QueueUrl=url, MessageBody="expired")
    [queue] = [q for q in sqs_backends["123456789012"]["us-east-1"].queues.values() if url.endswith(q.name)]
    queue._messages[1].sent_timestamp -= 61_000  # type: ignore[operator,assignment]  # past its 60 s of retention
    computed: list[str] = []
    every_attribute = Queue.attributes.fget  # type: ignore[attr-defined]

    def counted(queue: Queue) -> Any:
        computed.append(queue.name)
        return every_attribute(queue)

    monkeypatch.setattr(Queue, "attributes", property(counted))
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in received] == ["kept"]
    assert computed == []  # each message's check read the period, not every attribute


# -- item-json: the same JSON as moto's serializer, for every wire-shaped operation ----------------

ATTRIBUTE_VALUES = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=8)),
        st.builds(lambda n: {"N": str(n)}, st.integers(-(10**9), 10**9)),
        st.builds(lambda b: {"B": b}, st.binary(max_size=8)),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(min_size=1, max_size=4), min_size=1, max_size=3)),
        st.builds(lambda s: {"NS": sorted(map(str, s))}, st.sets(st.integers(0, 99), min_size=1, max_size=3)),
        st.builds(lambda s: {"BS": sorted(s)}, st.sets(st.binary(min_size=1, max_size=4), min_size=1, max_size=3)),
    ),
    lambda inner: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=4)),
        st.builds(lambda values: {"L": values}, st.lists(inner, max_size=4)),
    ),
    max_leaves=12,
)


@dataclass
class BothWays:
    differences: list[str] = field(default_factory=list)
    contexts: dict[str, Any] = field(default_factory=dict)
    """The last context of each operation compared."""


@pytest.fixture
def both_ways(aws: None, monkeypatch: pytest.MonkeyPatch) -> BothWays:
    """Every DynamoDB response answered both ways, moto's serializer's answer sent; each
    operation whose bodies differ is listed."""
    seen = BothWays()

    def both(self: Any, context: Any) -> Any:
        fast = moto_patches._result_as_json(self, context)
        full = PATCHED["ActionResult.execute_result"](self, context)
        # The same JSON value, number types included (1 is not 1.0); key order is JSON's to ignore.
        mine, moto_s = (
            (fast[0], fast[1]["Content-Type"], json.dumps(json.loads(fast[2]), sort_keys=True)),
            (full[0], full[1]["Content-Type"], json.dumps(json.loads(full[2]), sort_keys=True)),
        )
        if mine != moto_s:
            seen.differences.append(f"{context.operation_model.name}: {mine} != {moto_s}")
        seen.contexts[context.operation_model.name] = context
        return full

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    return seen


ITEMS_TABLE: dict[str, str] = {}
"""The one table the property test's examples write to (made by the first)."""


@given(item=st.dictionaries(st.text(min_size=1, max_size=6).filter(lambda k: k != "pk"), ATTRIBUTE_VALUES, max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_item_json_writes_any_item_as_moto_s_serializer_does(both_ways: BothWays, item: dict[str, Any]) -> None:
    both_ways.differences.clear()  # this example's only: a failure must not follow the shrinking
    db = boto3.client("dynamodb")
    if "name" not in ITEMS_TABLE:
        ITEMS_TABLE["name"] = _table(None)
    table = ITEMS_TABLE["name"]
    key = {"pk": {"S": uuid.uuid4().hex}}
    db.put_item(TableName=table, Item={**key, **item})
    assert db.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == {**key, **item}
    db.put_item(TableName=table, Item={**key, **item}, ReturnValues="ALL_OLD")
    assert both_ways.differences == []


def test_item_json_answers_every_wire_shaped_operation_as_moto_s_serializer_does(both_ways: BothWays) -> None:
    db: Any = boto3.client("dynamodb")  # keyword arguments spread from dicts below
    table = _table(None)
    order = {
        "status": {"S": "PENDING"},
        "lines": {"L": [{"M": {"sku": {"S": "TEE-M"}, "quantity": {"N": "1"}}}]},
        "steps": {"M": {"ChargePayment": {"S": "2026-11-29T20:00:00.000Z"}}},
        "note": {"S": "ünïcode ✓"},
        "receipt": {"B": b"\x00\xff"},
        "tags": {"SS": ["a", "b"]},
        "gift": {"BOOL": False},
        "coupon": {"NULL": True},
    }
    keys = [{"pk": {"S": f"o{n}"}} for n in range(3)]
    total = {"ReturnConsumedCapacity": "TOTAL"}
    for key in keys:
        db.put_item(TableName=table, Item={**key, **order}, **total)
    db.put_item(TableName=table, Item={**keys[0], **order}, ReturnValues="ALL_OLD")
    db.get_item(TableName=table, Key=keys[0], ConsistentRead=True, **total)
    db.get_item(TableName=table, Key={"pk": {"S": "absent"}})
    db.get_item(TableName=table, Key=keys[0], ProjectionExpression="lines[0].sku, steps")
    db.update_item(
        TableName=table,
        Key=keys[1],
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "CONFIRMED"}},
        ReturnValues="ALL_NEW",
        **total,
    )
    db.update_item(TableName=table, Key=keys[1], UpdateExpression="REMOVE coupon", ReturnValues="UPDATED_OLD")
    db.batch_get_item(RequestItems={table: {"Keys": [*keys, {"pk": {"S": "absent"}}]}}, ReturnConsumedCapacity="TOTAL")
    db.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}} for key in keys])
    db.query(TableName=table, KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": keys[2]["pk"]})
    db.scan(TableName=table, Limit=2, **total)  # a page: LastEvaluatedKey
    db.scan(TableName=table, Select="COUNT")
    db.delete_item(TableName=table, Key=keys[2], ReturnValues="ALL_OLD", **total)
    assert both_ways.differences == []
    assert set(both_ways.contexts) >= {
        "PutItem",
        "GetItem",
        "UpdateItem",
        "BatchGetItem",
        "TransactGetItems",
        "Query",
        "Scan",
        "DeleteItem",
    }


def test_item_json_leaves_what_is_not_wire_shaped_to_moto_s_serializer(both_ways: BothWays) -> None:
    db = boto3.client("dynamodb")
    table = _table(None)
    assert isinstance(db.describe_table(TableName=table)["Table"]["CreationDateTime"], datetime)  # the serializer's
    db.get_item(TableName=table, Key={"pk": {"S": "absent"}})
    context = both_ways.contexts["GetItem"]
    odd = DynamoResult({"Item": {"at": {"S": datetime(2026, 11, 29, tzinfo=UTC)}}})  # no JSON: the serializer's
    assert moto_patches._result_as_json(odd, context) == PATCHED["ActionResult.execute_result"](odd, context)


def test_the_action_lookup_lists_a_response_class_once(aws: None) -> None:
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler

    names = responses.method_names_from_class  # type: ignore[attr-defined]
    assert names(DynamoHandler) is names(DynamoHandler)
    assert "update_item" in names(DynamoHandler)


def test_the_collectors_pause_counts_while_it_runs_and_a_stop_without_its_start_counts_nothing() -> None:
    pauses = moto_patches.CollectorPauses()
    pauses("stop", {"generation": 2})  # added to gc.callbacks while a collection ran
    assert pauses.total == 0.0
    pauses("start", {"generation": 2})
    time.sleep(0.01)
    assert pauses.total >= 0.01  # a waiter that reads it inside the collection sees the pause so far
    pauses("stop", {"generation": 2})
    counted = pauses.total
    time.sleep(0.01)
    assert pauses.total == counted


def test_concurrent_starts_of_one_name_run_one_execution(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # A duplicate delivery to the starter starts one order's saga twice at once. moto's window
    # between its name check and its record (a deep copy, a constructor) is widened here, so
    # that every start lands in it.
    from moto.stepfunctions.parser import models
    from moto.stepfunctions.parser.backend.execution import Execution

    class SlowToBuild(Execution):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            time.sleep(0.05)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(models, "Execution", SlowToBuild)
    sfn = boto3.client("stepfunctions")
    definition = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 5, "End": True}}}
    machine = sfn.create_state_machine(
        name=f"once-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/saga",
    )["stateMachineArn"]
    together = threading.Barrier(4)

    def start(_: int) -> str:
        together.wait()
        return str(sfn.start_execution(stateMachineArn=machine, name="order-1", input="{}")["executionArn"])

    with ThreadPoolExecutor(4) as pool:
        [execution] = set(pool.map(start, range(4)))  # the same input: each start gets the one execution
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]] == [execution]
    sfn.stop_execution(executionArn=execution)


def test_a_scaled_timeout_does_not_count_the_time_the_collector_stopped_the_process() -> None:
    # The suite scales a 30 s state timeout to 0.3 s, and a full collection of its heap stops
    # every thread for up to 0.4 s (measured): that read as a States.Timeout the order never had.
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    heap: list[list[int]] = [[] for _ in range(1_000_000)]  # a heap whose full collection takes a while (~0.1 s)
    with moto_patches.time_scale(0.01):
        event_type = vars(execute_state)["threading"].Event  # as time_scale patched it
        event, waiting, waited = event_type(), threading.Event(), []

        def wait() -> None:
            started = time.perf_counter()
            waiting.set()
            timed_out = not event.wait(100)  # 1 s, scaled
            waited.append((time.perf_counter() - started, timed_out))

        paused_before = event_type.pauses.total
        waiter = threading.Thread(target=wait)
        waiter.start()
        waiting.wait()
        time.sleep(0.02)
        gc.collect()  # every thread stops, the waiter's clock does not
        waiter.join()
        paused = event_type.pauses.total - paused_before
    del heap
    [(seconds, timed_out)] = waited
    assert timed_out
    assert seconds >= 1.0 + paused - 0.005, (seconds, paused)


def _waiters(lock: moto_patches.PriorityLock) -> int:
    return len(lock._condition._waiters)  # type: ignore[attr-defined]


@pytest.mark.parametrize("attempt", range(10))  # without priority the order is a coin toss each time
def test_a_waiting_priority_request_takes_the_dynamodb_lock_before_earlier_waiters(attempt: int) -> None:
    lock = moto_patches.PriorityLock()
    order: list[str] = []

    def take(name: str, priority: bool) -> None:
        with lock.hold(priority=priority):
            order.append(name)

    def wait_for(waiters: int) -> None:
        deadline = time.monotonic() + 5
        while _waiters(lock) < waiters:
            assert time.monotonic() < deadline, "a request never queued for the lock"
            time.sleep(0.005)

    threads = [
        threading.Thread(target=take, args=("saga", False)),
        threading.Thread(target=take, args=("intake", True)),
    ]
    with lock.hold():
        # GIVEN a saga request queued for the lock, then an intake request queued behind it
        threads[0].start()
        wait_for(1)
        threads[1].start()
        wait_for(2)
    # WHEN the holder lets go, THEN intake goes first
    for thread in threads:
        thread.join(5)
    assert order == ["intake", "saga"]


def test_the_dynamodb_lock_is_reentrant_for_its_holder() -> None:
    lock = moto_patches.PriorityLock()
    with lock.hold(), lock.hold(priority=True):
        pass
    with lock.hold(priority=True):  # and free again afterwards
        pass


# -- global tables, emulated: replication with a lag, last writer wins, dark regions -------------


@pytest.fixture
def replicated(aws: None) -> Iterator[str]:
    """One table in us-east-1 and us-west-2, replicated 200 ms behind."""
    name = f"g-{uuid.uuid4().hex[:8]}"
    for region in ("us-east-1", "us-west-2"):
        boto3.client("dynamodb", region_name=region).create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    moto_patches.replication.configure({name: ["us-east-1", "us-west-2"]}, lag_seconds=0.2)
    yield name
    moto_patches.replication.configure({}, lag_seconds=0)
    moto_patches.come_back("us-east-1")


def item(region: str, table: str, key: str) -> dict[str, Any] | None:
    found = boto3.client("dynamodb", region_name=region).get_item(TableName=table, Key={"pk": {"S": key}})
    return found.get("Item")


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_write_reaches_the_other_region_after_the_lag_not_before(replicated: str) -> None:
    east = boto3.client("dynamodb", region_name="us-east-1")
    east.put_item(TableName=replicated, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    assert item("us-west-2", replicated, "a") is None  # not yet: asynchronous
    assert eventually(lambda: item("us-west-2", replicated, "a") == {"pk": {"S": "a"}, "v": {"N": "1"}})
    # Transactions and deletions replicate too, item by item.
    east.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": replicated, "Item": {"pk": {"S": "b"}}}},
            {"Delete": {"TableName": replicated, "Key": {"pk": {"S": "a"}}}},
        ]
    )
    assert eventually(
        lambda: item("us-west-2", replicated, "a") is None and item("us-west-2", replicated, "b") is not None
    )


def test_conditions_are_checked_on_the_local_replica_and_the_last_writer_wins(replicated: str) -> None:
    # GIVEN both regions write the same item within the lag, each passing its local condition
    east, west = (boto3.client("dynamodb", region_name=r) for r in ("us-east-1", "us-west-2"))
    absent = "attribute_not_exists(pk)"
    east.put_item(TableName=replicated, Item={"pk": {"S": "x"}, "by": {"S": "east"}}, ConditionExpression=absent)
    west.put_item(TableName=replicated, Item={"pk": {"S": "x"}, "by": {"S": "west"}}, ConditionExpression=absent)
    # THEN both converge on the later write
    assert eventually(lambda: item("us-east-1", replicated, "x") == item("us-west-2", replicated, "x"))
    assert item("us-east-1", replicated, "x") == {"pk": {"S": "x"}, "by": {"S": "west"}}


def test_a_dark_region_neither_sends_nor_receives_until_it_comes_back_and_takes_the_backlog_first(
    replicated: str,
) -> None:
    east, west = (boto3.client("dynamodb", region_name=r) for r in ("us-east-1", "us-west-2"))
    # GIVEN an east write still within the lag when east goes dark
    east.put_item(TableName=replicated, Item={"pk": {"S": "late"}, "by": {"S": "east"}})
    moto_patches.lights.go_dark("us-east-1")
    # WHEN west writes meanwhile (the surviving region), including the same item
    west.put_item(TableName=replicated, Item={"pk": {"S": "new"}, "by": {"S": "west"}})
    west.put_item(TableName=replicated, Item={"pk": {"S": "late"}, "by": {"S": "west"}})
    time.sleep(0.5)
    # THEN nothing crossed in either direction
    assert item("us-west-2", replicated, "late") == {"pk": {"S": "late"}, "by": {"S": "west"}}
    assert item("us-east-1", replicated, "new") is None
    # WHEN east comes back: west's writes are applied to it at once (before anything else runs)
    backlog = moto_patches.come_back("us-east-1")
    assert backlog >= 2
    assert item("us-east-1", replicated, "new") == {"pk": {"S": "new"}, "by": {"S": "west"}}
    # AND east's older write, replicated late, loses to west's newer one in both regions
    assert eventually(lambda: not any(moto_patches.replication.pending().values()))
    for region in ("us-east-1", "us-west-2"):
        assert item(region, replicated, "late") == {"pk": {"S": "late"}, "by": {"S": "west"}}
