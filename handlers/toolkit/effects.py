"""``Effect``: a saga step's forward effect and its undo, made idempotent and fenced here.

A team writes the business call and its undo; ``Effect`` runs them in the order that keeps
the saga's promises (README, "The fencing contract"):

forward
    read the saga item, refuse if the step was undone or the saga is settled as cancelled,
    return the recorded result if the step ran before, call the business, then record its
    result on the condition that the undo has not started since;
compensation
    return the recorded undo if it ran before, set the step's fence on the item first (from
    then on no forward result is recorded), call the business undo with the item as of the
    fence, record the undo.

The business calls get the idempotency keys to give a partner (``call.key``), and for a table
of their own, ``transact`` that adds the table's fence to the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, wraps
from typing import Any, TypeVar

from handlers.contract import step_key, undo_key
from handlers.errors import AlreadyCompensated
from handlers.toolkit.entry import LambdaEntry, TaskResult, saga_task
from handlers.toolkit.transactions import Cancelled, fence_absent, fence_put, transact, undo_fenced
from handlers.toolkit.work_items import Item, WorkItems

T = TypeVar("T")
Writes = list[dict[str, Any]]


@dataclass(frozen=True)
class Forward:
    """What a forward effect's business call is given."""

    step: str
    order_id: str
    item: Item
    """The saga's item as read before the effect."""
    fenced: bool
    """The step has a compensation: its table writes must carry the fence check."""

    @property
    def key(self) -> str:
        """The idempotency key to give a partner: the same on every run of this step."""
        return step_key(self.order_id, self.step)

    def compensated(self, why: str) -> AlreadyCompensated:
        """The error to raise when the partner says our undo came first (it voided the key)."""
        return AlreadyCompensated(f"{self.step} of {self.order_id}: {why}")

    def transact(self, table: Any, writes: Writes, unavailable: type[Exception]) -> None:
        """Write ``writes`` to ``table`` atomically, on the condition that the undo has not run.
        Raises ``AlreadyCompensated`` when it has, ``Cancelled`` (indexes as in ``writes``)
        when one of them refused, ``unavailable`` on load or contention."""
        if not self.fenced:
            transact(table.meta.client, writes, unavailable)
            return
        try:
            transact(table.meta.client, [fence_absent(table.name, self.order_id, self.step), *writes], unavailable)
        except Cancelled as cancelled:
            if cancelled.refused(0):
                raise AlreadyCompensated(f"{self.step} of {self.order_id} was undone") from None
            raise Cancelled(cancelled.codes[1:]) from None

    def transact_once(self, table: Any, writes: Writes, unavailable: type[Exception]) -> bool:
        """``transact`` with this step's record item (``DONE#<key>``, written once) in the same
        transaction: False, and nothing written, when an earlier run of the step wrote it."""
        record = {
            "Put": {
                "TableName": table.name,
                "Item": {"pk": f"DONE#{self.key}", "orderId": self.order_id},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            self.transact(table, [record, *writes], unavailable)
        except Cancelled as cancelled:
            if cancelled.refused(0):
                return False
            raise Cancelled(cancelled.codes[1:]) from None
        return True


@dataclass(frozen=True)
class Undo:
    """What a compensation's business call is given."""

    step: str
    """The forward step it undoes."""
    order_id: str
    item: Item
    """The saga's item as of the fence: no forward result is recorded after it."""

    @property
    def key(self) -> str:
        """The idempotency key of the undo, to give a partner."""
        return undo_key(self.order_id, self.step)

    @property
    def forward_key(self) -> str:
        """The forward step's key: what to void at a partner when no result was recorded."""
        return step_key(self.order_id, self.step)

    def transact(self, table: Any, attempt: Callable[[], tuple[Writes, T]], unavailable: type[Exception]) -> T:
        """Write the undo to ``table`` with the table's fence, in one transaction. ``attempt()``
        reads what is there and returns the writes (with conditions that what it read still
        holds) and the result; a refusal means a late effect changed it, so it reads again."""

        def fenced() -> tuple[Writes, T]:
            writes, result = attempt()
            return [fence_put(table.name, self.order_id, self.step), *writes], result

        return undo_fenced(table.meta.client, fenced, unavailable)


@cache
def work_items(setting_name: str) -> WorkItems:
    """The saga's table named by environment variable ``setting_name``, made once per process."""
    import boto3  # here: building the entry points loads nothing

    from handlers.config import setting

    return WorkItems(boto3.resource("dynamodb").Table(setting(setting_name)))


@dataclass(frozen=True)
class Effect:
    """One saga step: its forward effect, and its compensation when it has one."""

    step: str
    compensation: str | None = None
    records: str | None = None
    """The saga item's attribute that keeps the forward result (``result[records]``): a second
    run returns it without calling the business again. None: the business is idempotent itself
    (a table write conditioned on its own record)."""
    undo_records: str | None = None
    """The same for the compensation."""
    table_setting: str = "SAGA_TABLE"
    """The environment variable that names the saga's table (``components.saga_service``)."""

    def run(self, items: WorkItems, order_id: str, business: Callable[[Forward], TaskResult]) -> TaskResult:
        item = items.forward(order_id, self.step)
        if self.records and self.records in item:
            return {self.records: item[self.records]}
        result = business(Forward(self.step, order_id, item, fenced=self.compensation is not None))
        items.stamp(order_id, self.step, fenced_by=self.step, **self._kept(self.records, result))
        return result

    def run_undo(self, items: WorkItems, order_id: str, business: Callable[[Undo], TaskResult]) -> TaskResult:
        if self.compensation is None:
            raise TypeError(f"{self.step} declares no compensation")
        if self.undo_records and self.undo_records in (item := items.get(order_id)):
            return {self.undo_records: item[self.undo_records]}
        # The fence first: from here on the forward step's result is never recorded as done.
        item = items.fence(order_id, self.step)
        result = business(Undo(self.step, order_id, item))
        items.stamp(order_id, self.compensation, **self._kept(self.undo_records, result))
        return result

    # -- Lambda entry points ------------------------------------------------------------------

    def forward(self, business: Callable[[Forward], TaskResult]) -> LambdaEntry:
        """Decorator: ``business`` becomes the Lambda entry point of the forward step."""

        @wraps(business)
        def work(order_id: str) -> TaskResult:
            return self.run(work_items(self.table_setting), order_id, business)

        return saga_task(self.step)(work)

    def undo(self, business: Callable[[Undo], TaskResult]) -> LambdaEntry:
        """Decorator: ``business`` becomes the Lambda entry point of the compensation."""
        if self.compensation is None:
            raise TypeError(f"{self.step} declares no compensation")

        @wraps(business)
        def work(order_id: str) -> TaskResult:
            return self.run_undo(work_items(self.table_setting), order_id, business)

        return saga_task(self.compensation, compensation=True)(work)

    @staticmethod
    def _kept(attribute: str | None, result: TaskResult) -> dict[str, str]:
        if attribute is None:
            return {}
        if not isinstance(result.get(attribute), str):
            raise TypeError(f"the result must hold {attribute!r} as a string to record it: {result!r}")
        return {attribute: result[attribute]}
