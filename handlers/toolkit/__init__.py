"""The handler toolkit: what a saga task needs besides its business call.

- ``Effect`` (``effects.py``): a step's forward effect and its undo, idempotent and fenced;
  its ``forward`` and ``undo`` decorators make the Lambda entry points;
- ``saga_task`` (``entry.py``): the entry point itself: input, the region guard, logs, metrics;
- ``WorkItems`` (``work_items.py``): the saga's table, where results and fences are recorded;
- ``transact`` / ``Cancelled`` (``transactions.py``): DynamoDB transactions whose refusals
  say which item refused and whose load is transient.

The error-class contract with the state machine: raise an exception whose class name the
step declares in ``transient_errors`` (retried) or ``clean_errors`` (failed before any
effect: compensate the earlier steps only); anything else compensates this step too.
Cheap to import: no validation library, no tracer (it runs on every cold start).
"""

from handlers.toolkit.effects import Effect, Forward, Undo
from handlers.toolkit.entry import LambdaEntry, TaskResult, saga_task
from handlers.toolkit.transactions import Cancelled, transact
from handlers.toolkit.work_items import Item, WorkItems, now

__all__ = [
    "Cancelled",
    "Effect",
    "Forward",
    "Item",
    "LambdaEntry",
    "TaskResult",
    "Undo",
    "WorkItems",
    "now",
    "saga_task",
    "transact",
]
