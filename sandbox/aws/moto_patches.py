"""Every change this project makes to moto's internals, in one place, pinned to one moto version.

Each patch says what it changes and why the change is safe. ``PATCHED`` names every moto
function a patch replaces or wraps, with a digest of its source as of ``MOTO_VERSION``; a test
(tests/unit/test_moto_patches.py) fails when moto changes under a patch, so an upgrade is
re-read, not trusted.

Measured on the sandbox (README, "Sandbox speed"): each lever with the profile that motivated it.

Upstream, for moto's users (issue text):

    Step Functions: ``ExecutionWorker._get_evaluation_entrypoint`` parses the state machine
    definition with ANTLR for every execution (about 40 % of the server's CPU when one
    definition runs many executions). The parse tree is immutable: caching it per definition
    string and running the ``Preprocessor`` on the cached tree gives the same components.

    Step Functions: even with the tree cached, the ``Preprocessor`` building an execution's
    components from it is a fifth of the server's CPU. Components keep no execution state
    except ``EvalComponent.heap_key``, drawn lazily (a race when executions share them): drawing
    every key at build time would let executions of one definition share one build (Map and
    Parallel states aside, which keep run records).

    Step Functions and EventBridge: ``extract_json``, ``ResultPath`` and
    ``EventTemplateParser.parse`` call jsonpath-ng's ``parse`` on every evaluation, and each
    call builds a PLY parser; the parsed paths are immutable, so an ``lru_cache`` on the path
    string removes the cost (~5 % of the server under a saga load).

    Step Functions: ``start_execution`` checks that no execution has the name, then deep-copies
    the state machine and builds the execution, and only then records it. Two concurrent
    starts of one name both pass the check, and two executions run under one name and ARN;
    AWS keeps a name to one execution of a state machine (90 days for a standard workflow).
    A lock from the check to the record closes the window.

    SQS: ``is_message_valid_based_on_retention_period`` reads the queue's retention period
    through ``get_queue_attributes``, which computes every attribute of the queue (three times,
    once per name it is asked whether the queue has), the message counts each a pass over the
    queue; for every message received. ``queue.message_retention_period`` is the same value.

    Core: ``BaseResponse.call_action`` lists the response class's methods with
    ``inspect.getmembers`` on every request (~3 % of a busy server); a class's methods do not
    change, so a cache per class gives the same answer.

    DynamoDB: ``ActionResult.execute_result`` serializes every response by walking the output
    shape with the generic serializer, which asks six alias providers for every member of every
    ``AttributeValue`` (ten members each, nested maps and lists included): 2.1 ms of server time
    for a GetItem of a 15-attribute item, ~18 % of the server under a saga load. The data-plane
    results (``dynamo_to_dict``) are already in the wire's shape, with blobs as bytes, so
    ``json.dumps`` with a base64 hook for bytes gives the same JSON (capacities as doubles).

    DynamoDB: ``transact_write_items`` deep-copies every table a transaction names to restore it
    on cancellation, so its cost grows with the table, not the transaction, and a rollback
    overwrites concurrent writes to other items. Snapshotting the items the transaction names
    gives the same rollback at the cost of the items.
"""

from __future__ import annotations

import base64
import copy
import functools
import gc
import hashlib
import heapq
import inspect
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jsonpath_ng
import jsonpath_ng.ext
import moto
from botocore.client import BaseClient
from moto import backends
from moto.core import responses as core_responses
from moto.core.responses import ActionContext, ActionResult, BaseResponse
from moto.core.utils import unix_time
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import dynamo_to_dict
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.events.utils import EventTemplateParser
from moto.sqs.models import SQSBackend
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import StateParallel
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_dynamodb,
    state_task_service_events,
    state_task_service_sqs,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

MOTO_VERSION = "5.2.5"

PATCHED: dict[str, Any] = {
    "DynamoHandler.call_action": DynamoHandler.call_action,
    "DynamoDBBackend.transact_write_items": DynamoDBBackend.transact_write_items,
    "Table.get_item": Table.get_item,
    "Table.delete_item": Table.delete_item,
    "BaseResponse.get_access_key": DynamoHandler.get_access_key,
    "AmazonStateLanguageParser.parse": AmazonStateLanguageParser.parse,
    "boto_client.boto_client_for": boto_client.boto_client_for,
    "backends.list_of_moto_modules": backends.list_of_moto_modules,
    "retrier_decl": retrier_decl,
    "execute_state": execute_state,
    "BaseResponse.call_action": BaseResponse.call_action,
    "json_path": json_path,
    "result_path": result_path,
    "EventTemplateParser.parse": EventTemplateParser.parse,
    "StepFunctionsParserBackend.start_execution": StepFunctionsParserBackend.start_execution,
    "StateMachine._handle_name_input_idempotency": StateMachine._handle_name_input_idempotency,
    "method_names_from_class": core_responses.method_names_from_class,  # type: ignore[attr-defined]
    "SQSBackend.is_message_valid_based_on_retention_period": SQSBackend.is_message_valid_based_on_retention_period,
    "ActionResult.execute_result": ActionResult.execute_result,
    "dynamo_to_dict": dynamo_to_dict,
}
"""The moto functions and modules the patches replace, wrap or rely on, as imported (unpatched)."""

SOURCE_DIGESTS = {
    "DynamoHandler.call_action": "ce5f57cf83cde340",
    "DynamoDBBackend.transact_write_items": "81db2cb7d94e39c9",
    "Table.get_item": "b08e98fe37b7e583",
    "Table.delete_item": "1594f7b07616c8cb",
    "BaseResponse.get_access_key": "d2140f0641334d03",
    "AmazonStateLanguageParser.parse": "a59a7d18760fb22e",
    "boto_client.boto_client_for": "1f44dc2ac8aa2179",
    "backends.list_of_moto_modules": "4f741a10b06500e8",
    "retrier_decl": "70bd3a0664d8eefe",
    "execute_state": "6cc52e59c727d41e",
    "BaseResponse.call_action": "26076963fd17fd1a",
    "json_path": "33a9527fc839442d",
    "result_path": "33b4fae320351419",
    "EventTemplateParser.parse": "40a5a46a321811bb",
    "StepFunctionsParserBackend.start_execution": "0f8d9dd57baf0c28",
    "StateMachine._handle_name_input_idempotency": "9a117fdd6df2c99b",
    "method_names_from_class": "9dbac89d082b655f",
    "SQSBackend.is_message_valid_based_on_retention_period": "cca23b94a5f3af9d",
    "ActionResult.execute_result": "6333faa349b58671",
    "dynamo_to_dict": "80f600124c13ddcb",
}


def source_digest(name: str) -> str:
    """sha256 of the moto source a patch relies on, as installed."""
    return hashlib.sha256(inspect.getsource(PATCHED[name]).encode()).hexdigest()[:16]


def check_version() -> None:
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"sandbox.aws.moto_patches is written against moto {MOTO_VERSION}, not {moto.__version__}: "
            "re-read each patch against the new source, then update MOTO_VERSION and SOURCE_DIGESTS"
        )


# -- DynamoDB ------------------------------------------------------------------------------------


class PriorityLock:
    """One holder at a time (re-entrant); a waiting priority request goes before the others.

    The sandbox's stand-in for what a real region gives the request path: in AWS the intake's
    writes land on their own partitions in parallel with the sagas'; here every DynamoDB request
    takes one lock, so without priority a 202 would queue behind saga work."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._holder: int | None = None
        self._depth = 0
        self._priority_waiting = 0

    @contextmanager
    def hold(self, priority: bool = False) -> Iterator[None]:
        me = threading.get_ident()
        with self._condition:
            if self._holder != me:
                self._priority_waiting += priority
                while self._holder is not None or (not priority and self._priority_waiting):
                    self._condition.wait()
                self._priority_waiting -= priority
                self._holder = me
            self._depth += 1
        try:
            yield
        finally:
            with self._condition:
                self._depth -= 1
                if self._depth == 0:
                    self._holder = None
                    self._condition.notify_all()


_dynamodb_lock = PriorityLock()
_priority_access_keys: frozenset[str] = frozenset()
_original_call_action = DynamoHandler.call_action
_original_transact_write_items = DynamoDBBackend.transact_write_items


def _serialized_call_action(self: DynamoHandler) -> Any:
    with _dynamodb_lock.hold(priority=self.get_access_key() in _priority_access_keys):
        response = _original_call_action(self)
        if replication.enabled and int(response[0]) == 200:
            replication.record(self)
        return response


def _item_key(table: Table, attributes: dict[str, Any]) -> tuple[DynamoType, DynamoType | None] | None:
    if table.hash_key_attr not in attributes:
        return None  # moto's own validation refuses it
    range_key = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in attributes:
            return None
        range_key = DynamoType(attributes[table.range_key_attr])
    return DynamoType(attributes[table.hash_key_attr]), range_key


def _restore(table: Table, hash_key: DynamoType, range_key: DynamoType | None, item: Any) -> None:
    if item is None:
        table.delete_item(hash_key, range_key)
    elif range_key is not None:
        table.items[hash_key][range_key] = item
    else:
        table.items[hash_key] = item


def _transact_with_item_snapshots(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's transaction, rolled back from copies of the items it names instead of whole tables.

    Safe because every DynamoDB request runs under ``_dynamodb_lock`` (nothing else writes
    while the transaction runs) and a transaction writes only the items it names: restoring
    those restores everything it changed."""
    snapshots = []
    for entry in transact_items:
        operation = next(iter(entry.values()), None)
        if not isinstance(operation, dict) or operation.get("TableName") not in self.tables:
            continue  # moto's own validation refuses it
        table = self.tables[operation["TableName"]]
        key = _item_key(table, operation.get("Item") or operation.get("Key") or {})
        if key is not None:
            snapshots.append((table, *key, copy.deepcopy(table.get_item(*key))))
    Table.__deepcopy__ = _no_table_copy  # type: ignore[attr-defined]
    try:
        _original_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, item in reversed(snapshots):
            _restore(table, hash_key, range_key, item)
        raise
    finally:
        del Table.__deepcopy__  # type: ignore[attr-defined]


def _no_table_copy(self: Table, memo: dict[int, Any]) -> Table:
    # Inside a transaction only: moto's whole-table backup becomes the table itself, and
    # its restore a no-op; the item snapshots above do the rollback.
    return self


def serialize_dynamodb_requests(
    priority_access_keys: frozenset[str] = frozenset(), *, item_snapshots: bool = True
) -> None:
    """Run every moto DynamoDB request in this process under one lock, and roll transactions
    back from item snapshots. Requests signed with one of ``priority_access_keys`` go first.
    Idempotent.

    Real DynamoDB isolates transactions and conditional writes; moto's request handlers share
    its tables with no lock (seen: 20 racing reservations, ``dictionary changed size during
    iteration``, oversold stock). One lock restores the isolation our code relies on; the races
    between requests, which conditions must guard, remain."""
    global _priority_access_keys
    check_version()
    _priority_access_keys = priority_access_keys
    DynamoHandler.call_action = _serialized_call_action  # type: ignore[method-assign]
    if item_snapshots:
        DynamoDBBackend.transact_write_items = _transact_with_item_snapshots  # type: ignore[method-assign]


WIRE_SHAPED = frozenset(
    {
        "BatchGetItem",
        "DeleteItem",
        "GetItem",
        "PutItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "UpdateItem",
    }
)
"""The DynamoDB operations whose results (``DynamoResult``) are items, keys and capacities."""


def _blob(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"not wire-shaped: {type(value).__name__}")


def _as_doubles(capacity: Any) -> Any:
    """``ConsumedCapacity``'s units are doubles in the model: the serializer writes ``1.0``
    where moto's result holds ``1`` (BatchGetItem counts its keys)."""
    if isinstance(capacity, list):
        return [_as_doubles(entry) for entry in capacity]
    if isinstance(capacity, dict):
        return {key: _as_doubles(value) for key, value in capacity.items()}
    return float(capacity) if isinstance(capacity, int) and not isinstance(capacity, bool) else capacity


def _result_as_json(self: DynamoResult, context: ActionContext) -> Any:
    operation = context.operation_model
    result = self.result
    if operation.name in WIRE_SHAPED and isinstance(result, dict) and operation.output_shape is not None:
        members = operation.output_shape.members
        kept = {k: v for k, v in result.items() if v is not None and k in members}
        if "ConsumedCapacity" in kept:
            kept["ConsumedCapacity"] = _as_doubles(kept["ConsumedCapacity"])
        try:
            body = json.dumps(kept, default=_blob)
        except TypeError:
            pass  # a timestamp or a model object: the full serializer knows its shape
        else:
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
    return PATCHED["ActionResult.execute_result"](self, context)


def serialize_items_as_json() -> None:
    """Lever ``item-json``: moto serializes every DynamoDB response by walking its output shape,
    asking six alias providers for each of the ten members of every attribute value (a GetItem
    of an order item: 2.6 against 0.9 ms, client included, in process). The results of the
    data-plane operations (``WIRE_SHAPED``) are ``dynamo_to_dict``'s: plain dicts already in
    the wire's shape, binary values as bytes; they go out through ``json.dumps``, bytes as
    base64 as the serializer writes them.

    Safe because the body is the same JSON value (its keys may come in another order, which
    JSON does not fix): top-level members outside the output shape and None values are
    dropped, as the serializer drops them, consumed capacities are written as the doubles they
    are, and anything but dicts, lists, strings, numbers, booleans and bytes (a timestamp)
    falls back to the serializer. No nested member of these results is outside the model or
    None (moto's item collection metrics, which could be, come only from the write batches and
    transactions, not served here). Errors never come here (they are raised, and serialized
    elsewhere). A test compares the two, number types included, on every operation."""
    check_version()
    DynamoResult.execute_result = _result_as_json  # type: ignore[method-assign,assignment]


# -- two regions: going dark, and global-table replication ---------------------------------------

log = logging.getLogger("sandbox.aws.regions")


class RegionLights:
    """Which regions of the embedded AWS are dark (a regional outage: nothing in or out).

    The server (``sandbox/aws/server.py``) refuses requests into a dark region and holds the
    interpreter's own calls and Lambda tasks there until the region comes back; replication
    neither leaves nor enters a dark region."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._dark: set[str] = set()

    def is_dark(self, region: str) -> bool:
        with self._condition:
            return region in self._dark

    def go_dark(self, region: str) -> None:
        with self._condition:
            self._dark.add(region)

    def come_back(self, region: str) -> None:
        with self._condition:
            self._dark.discard(region)
            self._condition.notify_all()

    def wait_lit(self, region: str) -> None:
        """Block while ``region`` is dark (a frozen execution)."""
        with self._condition:
            while region in self._dark:
                self._condition.wait()


lights = RegionLights()

_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


@dataclass(order=True)
class _Replicated:
    """One item as a write left it in its source region, on its way to one replica."""

    due: float
    serial: int
    written_at: float = field(compare=False)
    source: str = field(compare=False)
    target: str = field(compare=False)
    account: str = field(compare=False)
    table: str = field(compare=False)
    key: tuple[DynamoType, DynamoType | None] = field(compare=False)
    item: Any = field(compare=False)
    """A copy of moto's ``Item``, or None for a deletion."""


class Replication:
    """Global tables for the embedded AWS, which has none (DESIGN.md: ``UpdateTable`` creates
    no replica). Every write that succeeds in one region is replayed into the same table of the
    other replica regions after ``lag`` seconds, item by item, each item carrying its write time:
    a replica keeps the newest version of each item (last writer wins), and a write is checked
    against the local replica only, as in DynamoDB.

    Recorded at the point where DynamoDB requests are already serialized (``_dynamodb_lock``),
    so the item copied is exactly what the request left. What the emulation does *not* do that
    AWS may: it replays the items of one request together (DynamoDB replicates a transaction's
    items one by one), and its lag is constant (DynamoDB's varies, typically under a second)."""

    def __init__(self) -> None:
        self.enabled = False
        self.lag = 0.0
        self.replicas: dict[str, list[str]] = {}
        """Table name -> the regions that hold a replica."""
        self._versions: dict[tuple[str, str, Any], float] = {}
        self._queue: list[_Replicated] = []
        self._serial = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self.applied = 0
        self.discarded = 0
        """Replayed writes a newer write at the replica outvoted (last writer wins)."""

    def configure(self, replicas: dict[str, list[str]], lag_seconds: float) -> None:
        if lag_seconds < 0:
            raise ValueError("the replication lag must be >= 0")
        with self._wake:
            self.replicas = {table: list(regions) for table, regions in replicas.items()}
            self.lag = lag_seconds
            self.enabled = bool(self.replicas)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="replication", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    def pending(self) -> dict[str, int]:
        """Writes not yet replayed, by target region."""
        with self._wake:
            counts: dict[str, int] = {}
            for entry in self._queue:
                counts[entry.target] = counts.get(entry.target, 0) + 1
            return counts

    # -- recording, under the DynamoDB lock --------------------------------------------------

    def record(self, handler: DynamoHandler) -> None:
        action = handler._get_action()
        if action not in _WRITES:
            return
        body = handler.body
        region, account = handler.region, handler.current_account
        now = time.time()
        for table_name, attributes in _written_keys(action, body):
            regions = self.replicas.get(table_name)
            if not regions or region not in regions:
                continue
            table = dynamodb_backends[account][region].tables.get(table_name)
            if table is None:
                continue
            key = _item_key(table, attributes)
            if key is None:
                continue
            item = copy.deepcopy(table.get_item(*key))
            self._versions[(region, table_name, key)] = now
            with self._wake:
                for target in regions:
                    if target != region:
                        heapq.heappush(
                            self._queue,
                            _Replicated(
                                now + self.lag, next(self._serial), now, region, target, account, table_name, key, item
                            ),
                        )
                self._wake.notify_all()

    # -- replaying ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                wait = self._queue[0].due - time.time() if self._queue else None
                if wait is None or wait > 0:
                    self._wake.wait(timeout=None if wait is None else min(wait, 0.5))
                    continue
            self.replay(due_before=time.time())

    def replay(self, due_before: float, into: str | None = None) -> int:
        """Apply the writes due before ``due_before`` (all into ``into``, whatever their due time,
        when given) whose source and target are lit; returns how many."""
        with _dynamodb_lock.hold():
            with self._wake:
                ready, held = [], []
                while self._queue:
                    entry = heapq.heappop(self._queue)
                    due = entry.due <= due_before or entry.target == into
                    if due and not lights.is_dark(entry.source) and not lights.is_dark(entry.target):
                        ready.append(entry)
                    else:
                        held.append(entry)
                for entry in held:
                    heapq.heappush(self._queue, entry)
            for entry in ready:
                self._apply(entry)
        return len(ready)

    def _apply(self, entry: _Replicated) -> None:
        table = dynamodb_backends[entry.account][entry.target].tables.get(entry.table)
        if table is None:
            return
        version = (entry.target, entry.table, entry.key)
        if self._versions.get(version, 0.0) >= entry.written_at:
            self.discarded += 1  # a newer write landed here first: last writer wins
            return
        self._versions[version] = entry.written_at
        _restore(table, *entry.key, copy.deepcopy(entry.item))
        self.applied += 1


def _written_keys(action: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, key or item attributes) of every item a successful write request wrote."""
    if action == "PutItem":
        return [(body["TableName"], body["Item"])]
    if action in ("UpdateItem", "DeleteItem"):
        return [(body["TableName"], body["Key"])]
    written = []
    if action == "TransactWriteItems":
        for entry in body.get("TransactItems", []):
            for kind in ("Put", "Update", "Delete"):
                if kind in entry:
                    operation = entry[kind]
                    written.append((operation["TableName"], operation.get("Item") or operation.get("Key") or {}))
    elif action == "BatchWriteItem":
        for table, requests in body.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    written.append((table, request["PutRequest"]["Item"]))
                elif "DeleteRequest" in request:
                    written.append((table, request["DeleteRequest"]["Key"]))
    return written


replication = Replication()


def come_back(region: str) -> int:
    """End ``region``'s outage: first replay every write the other regions made meanwhile into
    it (the backlog), then let its requests and frozen executions go on. Returns the backlog
    size. (AWS promises no such order; README, "Disaster recovery", says what that window holds.)"""
    # Under the DynamoDB lock: no request reads the region's tables before the backlog is in.
    with _dynamodb_lock.hold():
        lights.come_back(region)
        return replication.replay(due_before=time.time(), into=region) if replication.enabled else 0


# -- Step Functions ------------------------------------------------------------------------------

_original_parse = AmazonStateLanguageParser.parse
_parse_trees: dict[str, Any] = {}
_programs: dict[str, tuple[Any, Any, bool]] = {}
"""Definition -> its program, its parse tree, and whether each execution gets a copy."""
_programs_lock = threading.Lock()
_shared_components: set[int] = set()
"""The ids of the shared programs' components (cached for good, so the ids stay theirs)."""


def _parse_with_cached_tree(definition: str) -> tuple[Any, Any]:
    """ANTLR parses each definition once; every execution still gets fresh components, built
    from the cached tree by moto's ``Preprocessor``.

    Safe because the parse tree is only read (the preprocessor builds new components from it)
    and a definition string always yields the same tree; syntax errors still raise on the first
    parse, which is not cached."""
    tree = _parse_trees.get(definition)
    if tree is None:
        program, tree = _original_parse(definition)
        _parse_trees[definition] = tree
        return program, tree
    return Preprocessor().visit(tree), tree


def _shared_program(definition: str) -> tuple[Any, Any]:
    """Each definition is parsed and built once, and every execution runs the same components.

    Safe because a component keeps no state of an execution once its heap key is drawn (the
    key of its slot in the execution's own heap, drawn lazily: two executions drawing it at
    once would each lose their slot), so every key is drawn before the program is shared, and
    the program is then frozen: a write to one of its components raises instead of racing
    (``_refuse_writes_to_shared``). A Map or Parallel state does keep run state (its run record, its
    worker pool): a definition with one gets a deep copy per execution. Syntax errors raise on
    the first parse, which is not cached."""
    with _programs_lock:  # one build per definition: a frozen program is never dropped
        if definition not in _programs:
            program, tree = _original_parse(definition)
            components = list(_components(program))
            if any(isinstance(component, (StateMap, StateParallel)) for component in components):
                _programs[definition] = (program, tree, True)
            else:
                for component in components:
                    if isinstance(component, EvalComponent):
                        component.heap_key  # noqa: B018  # drawn now, never during an execution
                _shared_components.update(id(component) for component in components)
                _programs[definition] = (program, tree, False)
        program, tree, copied = _programs[definition]
    return (copy.deepcopy(program) if copied else program), tree


def _components(value: Any) -> Iterator[Component]:
    """Every component reachable from ``value``, each once."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Component):
            yield item
            stack.extend(vars(item).values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


def _refuse_writes_to_shared(component: Component, name: str, value: Any) -> None:
    """``Component.__setattr__`` with lever ``program-cache``: a shared program's components are frozen."""
    if id(component) in _shared_components:
        raise AttributeError(
            f"{type(component).__name__}.{name}: the components of a shared program are frozen "
            "(sandbox.aws.moto_patches, lever program-cache)"
        )
    object.__setattr__(component, name, value)


def cache_asl_parse_trees(*, programs: bool = True) -> None:
    """Lever ``parse-cache``, and with ``programs`` lever ``program-cache``."""
    check_version()
    if programs:
        Component.__setattr__ = _refuse_writes_to_shared  # type: ignore[method-assign,assignment]
    parse = _shared_program if programs else _parse_with_cached_tree
    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]


_original_start_execution = StepFunctionsParserBackend.start_execution
_start_locks: dict[str, threading.Lock] = {}
"""One per state machine: starts of different state machines do not wait for each other."""


def _start_execution_once(self: StepFunctionsParserBackend, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
    with _start_locks.setdefault(state_machine_arn, threading.Lock()):  # setdefault: one lock, however many race
        return _original_start_execution(self, state_machine_arn, *args, **kwargs)


def one_execution_per_name() -> None:
    """``StartExecution`` from its name check to its record under a lock per state machine.
    moto checks that no execution has the name, builds the new one (a deep copy of the state
    machine) and only then records it: two concurrent starts of one order's saga (a duplicate
    delivery to the starter) both passed the check, and the order ran two sagas (seen once, in
    a launch-day audit). AWS keeps a name to one execution; the second start now gets the
    first's execution, or ``ExecutionAlreadyExists`` once it has ended, as in AWS.

    Safe because the lock holds only the check, the copy and the thread start: the execution
    itself runs on its own thread, outside it."""
    check_version()
    StepFunctionsParserBackend.start_execution = _start_execution_once  # type: ignore[method-assign]


_original_jsonpath_ext_parse = jsonpath_ng.ext.parse  # type: ignore[attr-defined]
_original_jsonpath_parse = jsonpath_ng.parse  # type: ignore[attr-defined]


def cache_jsonpath_parses() -> None:
    """Lever ``jsonpath-cache``: the interpreter parses a JSONPath (``$.order.orderId``) with
    jsonpath-ng on every evaluation, and EventBridge every input path of a target's input
    transformer on every event; jsonpath-ng builds a new PLY parser for each parse. Each path
    string is parsed once.

    Safe because a parsed path is only read: ``find`` and ``update_or_create`` build new
    results or change the data they are given, never the expression (jsonpath-ng 1.8)."""
    check_version()
    parse_ext = functools.lru_cache(maxsize=4096)(_original_jsonpath_ext_parse)
    json_path.parse = parse_ext  # type: ignore[attr-defined]
    jsonpath_ng.ext.parse = parse_ext  # type: ignore[attr-defined]  # EventTemplateParser.parse imports it per call
    result_path.parse = functools.lru_cache(maxsize=4096)(_original_jsonpath_parse)  # type: ignore[attr-defined]


# The modules of the task types our sagas use, each holding its own reference.
_CLIENT_USERS = (
    lambda_eval_utils,
    state_task_service_dynamodb,
    state_task_service_events,
    state_task_service_sqs,
)


def reuse_interpreter_clients(customize: Callable[[BaseClient], None] | None = None) -> Callable[[], None]:
    """Make the interpreter reuse one boto3 client per (region, service) instead of building one
    per task (tens of milliseconds of CPU each). Clients are thread-safe; they copy the
    session's event hooks when built, so route Lambda invokes first. ``customize`` sees each
    client once, when built. Returns the undo function."""
    check_version()
    original = boto_client.boto_client_for
    cache: dict[tuple[str, str], BaseClient] = {}
    lock = threading.Lock()

    def cached(region: str, service: str, state_credentials: Any = None) -> BaseClient:
        with lock:
            if (region, service) not in cache:
                client = original(region=region, service=service, state_credentials=state_credentials)
                if customize is not None:
                    customize(client)
                cache[(region, service)] = client
            return cache[(region, service)]

    for module in _CLIENT_USERS:
        module.boto_client_for = cached  # type: ignore[attr-defined]

    def undo() -> None:
        for module in _CLIENT_USERS:
            module.boto_client_for = original  # type: ignore[attr-defined]

    return undo


class CollectorPauses:
    """Seconds the garbage collector has stopped this process so far (a ``gc.callbacks`` entry).

    A full collection of a test session's heap (moto's state, cached parse trees) stops every
    thread for 0.1-0.4 s, measured; against a timeout scaled to 0.3 s that is a spurious
    ``States.Timeout``. At the scale the world runs at, such a pause would be tens of seconds
    that no real region spends."""

    def __init__(self) -> None:
        self._state: tuple[float, float | None] = (0.0, None)
        """Seconds of the collections that ended, and when the one running now began (one
        tuple, swapped whole: a waiter may read it between two threads' updates)."""

    @property
    def total(self) -> float:
        """Including the collection running now: a waiter can get the lock inside the "stop"
        callback, before the pause is counted."""
        done, since = self._state
        return done + (time.perf_counter() - since if since is not None else 0.0)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        done, since = self._state
        if phase == "start":
            self._state = (done, time.perf_counter())
        elif since is not None:  # a "stop" without its "start" (added mid-collection) is not counted
            self._state = (done + time.perf_counter() - since, None)


class _ScaledEvent(threading.Event):
    factor = 1.0
    pauses = CollectorPauses()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait ``timeout`` x ``factor`` seconds of time the collector did not stop."""
        if timeout is None:
            return super().wait()
        remaining = timeout * self.factor
        while True:
            paused_before = self.pauses.total
            if super().wait(remaining):
                return True
            remaining = self.pauses.total - paused_before  # give back what the collector took
            if remaining <= 0:
                return False


class _ScaledThreading:
    """The ``threading`` module as execute_state sees it, with task timeouts scaled."""

    def __init__(self, factor: float, pauses: CollectorPauses) -> None:
        self.Event = type("ScaledEvent", (_ScaledEvent,), {"factor": factor, "pauses": pauses})

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class _ScaledClock:
    """The ``time`` module as the retrier sees it: sleeps are recorded, then scaled."""

    def __init__(self, factor: float, requested: list[float]) -> None:
        self.factor = factor
        self.requested = requested

    def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        time.sleep(seconds * self.factor)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextmanager
def time_scale(factor: float, *, timeouts: bool = True) -> Iterator[list[float]]:
    """Run retry waits (and, with ``timeouts``, task timeouts) at ``factor`` x real time.

    Tests scale both, to reach a timeout without waiting for it; a scaled timeout does not
    count the time the garbage collector stopped the process (``CollectorPauses``). The
    sandbox scales only the waits: a timeout guards real work (a cold start, a slow partner)
    that runs in real time. Yields the list of retry waits the definition asked for, unscaled,
    in order.
    """
    if factor <= 0:
        raise ValueError("time scale must be > 0")
    check_version()
    requested: list[float] = []
    pauses = CollectorPauses()
    patches: list[tuple[Any, str, Any]] = [(retrier_decl, "time", _ScaledClock(factor, requested))]
    if timeouts:
        patches.append((execute_state, "threading", _ScaledThreading(factor, pauses)))
        gc.callbacks.append(pauses)
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, replacement in patches:
        setattr(module, name, replacement)
    try:
        yield requested
    finally:
        for module, name, original in originals:
            setattr(module, name, original)
        if pauses in gc.callbacks:
            gc.callbacks.remove(pauses)


# -- the server ----------------------------------------------------------------------------------


_original_list_of_moto_modules = backends.list_of_moto_modules


def cache_backend_lookup() -> None:
    """moto's server lists its own package directory on every request to route it to a backend
    (``list_of_moto_modules``: an ``os.listdir`` and an ``isdir`` per entry), and lists the
    methods of the service's response class to find the action's (``method_names_from_class``:
    ``inspect.getmembers``, ~3 % of the server under the bench). Neither the installed package
    nor a class's methods change while the server runs, so each is read once."""
    check_version()
    backends.list_of_moto_modules = functools.cache(lambda: tuple(_original_list_of_moto_modules()))
    names = PATCHED["method_names_from_class"]
    core_responses.method_names_from_class = functools.cache(lambda clazz: frozenset(names(clazz)))  # type: ignore[attr-defined,assignment]


def read_retention_from_the_queue() -> None:
    """Lever ``queue-attributes``: for every message it receives, moto checks the queue's
    retention period through ``get_queue_attributes``, which computes every attribute of the
    queue three times over, the three message counts each a pass over all its messages (~6 % of
    the server under the bench). The period is read from the queue instead.

    Safe because it is the same value: the attribute is the queue's ``message_retention_period``
    (an int), and the check is moto's own (a message is valid while its retention has not run
    out)."""
    check_version()

    def valid(self: SQSBackend, queue_name: str, message: Any) -> bool:
        period = self.get_queue(queue_name).message_retention_period  # type: ignore[attr-defined]
        retain_until = period + message.sent_timestamp / 1000
        return bool(retain_until > unix_time())

    SQSBackend.is_message_valid_based_on_retention_period = valid  # type: ignore[method-assign]
