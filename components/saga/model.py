"""The saga as data: ordered steps, each with its compensator, and what they bind to.

A declaration is validated when it is built, so a bad saga fails at ``SagaDefinition(...)``
with every problem named, long before a deploy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

# Errors Step Functions raises when invoking Lambda fails for reasons of its own: always retried.
DEFAULT_TRANSIENT_ERRORS: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)

# Lambda refused the call for concurrency: it never ran, so retrying longer is safe, and
# parking an order for a human over a burst of load is not. Its own, longer backoff.
THROTTLE_ERRORS: tuple[str, ...] = ("Lambda.TooManyRequestsException",)

# Timeouts: the task may or may not have had its effect. Like every failure a step does not
# declare in ``clean_errors``, a step's timeout compensates the step too; a compensator's is
# retried. States.Timeout is the state's TimeoutSeconds; Sandbox.Timedout is Lambda's own.
OUTCOME_UNKNOWN_ERRORS: tuple[str, ...] = ("States.Timeout", "Sandbox.Timedout")

# States the compiler always creates; a step may not take their names.
RESERVED_STATE_NAMES = frozenset(
    {
        "MarkConfirmed",
        "PublishConfirmed",
        "MarkCompensated",
        "PublishFailed",
        "Halted",
        "ReadSettledStatus",
        "IsSettled",
        "AlreadySettled",
    }
)

_SAGA_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
# PascalCase, no underscore: the compiler's derived state names all contain one.
_TASK_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,59}$")
_ERROR_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,127}$")

Workflow = Literal["STANDARD", "EXPRESS"]


class SagaDefinitionError(ValueError):
    """A saga declaration or its bindings cannot be compiled; the message names each problem."""

    def __init__(self, subject: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{subject}: " + "; ".join(self.problems))


class Status(StrEnum):
    """Terminal and parked values of the order item's ``status`` written by the saga."""

    CONFIRMED = "CONFIRMED"
    CANCELLED_COMPENSATED = "CANCELLED_COMPENSATED"
    NEEDS_REVIEW = "NEEDS_REVIEW"


SETTLED: tuple[Status, ...] = (Status.CONFIRMED, Status.CANCELLED_COMPENSATED)
"""Final statuses: the saga's status writes never overwrite them."""


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient errors: ``interval * rate**n`` capped at ``max_delay``, full jitter."""

    interval_seconds: int = 2
    """Wait before the first retry."""
    max_attempts: int = 3
    """Retries after the first try; 0 disables retrying."""
    backoff_rate: float = 2.0
    """Multiplier applied to the wait after each retry."""
    max_delay_seconds: int = 30
    """Upper bound on any single wait."""

    def problems(self, where: str) -> list[str]:
        found = []
        if not 1 <= self.interval_seconds <= 3600:
            found.append(f"{where}: retry interval_seconds must be 1..3600")
        if not 0 <= self.max_attempts <= 99:
            found.append(f"{where}: retry max_attempts must be 0..99")
        if not 1.0 <= self.backoff_rate <= 10.0:
            found.append(f"{where}: retry backoff_rate must be 1.0..10.0")
        if not self.interval_seconds <= self.max_delay_seconds <= 31_622_400:
            found.append(f"{where}: retry max_delay_seconds must be >= interval_seconds")
        return found


@dataclass(frozen=True)
class SagaStep:
    """One local transaction and the compensator that undoes it."""

    name: str
    """PascalCase; the state name, the error contract's subject, the idempotency-key suffix."""
    compensation: str | None = None
    """Name of the compensating task; None for a step with nothing to undo."""
    transient_errors: tuple[str, ...] = ()
    """Error class names of this step (and its compensator) worth retrying, beyond Lambda's."""
    clean_errors: tuple[str, ...] = ()
    """Error class names that mean "nothing happened" (a declined card, no stock): only the
    steps before this one are compensated. Any other failure (a crash, a timeout, an unknown
    exception, a non-retryable AWS error) leaves the outcome unknown and compensates this
    step too; its compensator is fenced, so undoing what never happened is a no-op."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Backoff for transient errors, used by the step and its compensator."""
    throttle_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(interval_seconds=2, max_attempts=8, backoff_rate=2.0, max_delay_seconds=60)
    )
    """Backoff for ``THROTTLE_ERRORS`` (the call never ran): longer, still bounded (~4 min)."""
    timeout_seconds: int = 30
    """State timeout; on expiry the outcome is unknown and the step itself is compensated."""

    @property
    def retryable_errors(self) -> tuple[str, ...]:
        """Every error retried (then parked): Lambda's own, throttles, this step's transient."""
        return DEFAULT_TRANSIENT_ERRORS + tuple(self.transient_errors)

    def problems(self) -> list[str]:
        found = []
        for label, task in (("step", self.name), ("compensation", self.compensation)):
            if task is None:
                continue
            if not _TASK_NAME.match(task):
                found.append(f"{label} name {task!r} must be PascalCase letters and digits")
            elif task in RESERVED_STATE_NAMES:
                found.append(f"{label} name {task!r} is reserved by the compiler")
        for error in self.transient_errors:
            if error in OUTCOME_UNKNOWN_ERRORS:
                found.append(
                    f"step {self.name!r}: {error!r} leaves the outcome unknown and is compensated, never retried"
                )
            elif not _ERROR_NAME.match(error) or error.startswith("States."):
                found.append(f"step {self.name!r}: {error!r} is not a retryable error name")
        for error in self.clean_errors:
            if error in self.retryable_errors:
                found.append(f"step {self.name!r}: {error!r} cannot be both retried and clean")
            elif not _ERROR_NAME.match(error) or error.startswith(("States.", "Lambda.", "Runtime.", "Sandbox.")):
                found.append(
                    f"step {self.name!r}: {error!r} is not a clean error name: only the step's own "
                    "exception classes can say that nothing happened"
                )
        if not 1 <= self.timeout_seconds <= 86_400:
            found.append(f"step {self.name!r}: timeout_seconds must be 1..86400")
        return (
            found
            + self.retry.problems(f"step {self.name!r}")
            + self.throttle_retry.problems(f"step {self.name!r} throttle")
        )


@dataclass(frozen=True)
class SagaDefinition:
    """An ordered list of steps; on failure the completed ones are compensated in reverse."""

    name: str
    """Lowercase kebab-case; names the events' source and detail types."""
    steps: Sequence[SagaStep]
    workflow: Workflow = "STANDARD"
    """STANDARD parks on a task token; EXPRESS (no task tokens) parks and ends failed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        found = []
        if not _SAGA_NAME.match(self.name):
            found.append(f"saga name {self.name!r} must be lowercase kebab-case, <= 40 chars")
        if self.workflow not in ("STANDARD", "EXPRESS"):
            found.append(f"workflow {self.workflow!r} must be 'STANDARD' or 'EXPRESS'")
        if not self.steps:
            found.append("a saga needs at least one step")
        for step in self.steps:
            found.extend(step.problems())
        seen: set[str] = set()
        for task in self.task_names:
            if task in seen:
                found.append(f"name {task!r} is used twice (step and compensation names share one namespace)")
            seen.add(task)
        if found:
            raise SagaDefinitionError(f"saga {self.name!r}", found)

    @property
    def task_names(self) -> list[str]:
        """Every step and compensation name: each is one Lambda function."""
        names = [step.name for step in self.steps]
        return names + [step.compensation for step in self.steps if step.compensation]

    @property
    def event_source(self) -> str:
        return f"saga.{self.name}"

    def detail_type(self, outcome: str) -> str:
        """``order`` + ``Confirmed`` -> ``OrderConfirmed``."""
        return "".join(part.capitalize() for part in self.name.split("-")) + outcome


@dataclass(frozen=True)
class SagaBindings:
    """Where a compiled saga sends its work: resolved ARNs, URLs and names."""

    functions: Mapping[str, str]
    """Lambda ARN for every step and compensation name."""
    dead_letter_queues: Mapping[str, str]
    """SQS queue URL for every step name; a compensator parks in its step's queue."""
    orders_table: str
    """DynamoDB table keyed by ``orderId`` whose item carries ``status``."""
    event_bus: str
    """EventBridge bus name or ARN for the outcome events."""

    def problems(self, saga: SagaDefinition) -> list[str]:
        found = []
        tasks = saga.task_names
        steps = [step.name for step in saga.steps]
        found += [f"no function bound for {name!r}" for name in tasks if not self.functions.get(name)]
        found += [f"function bound for unknown name {name!r}" for name in self.functions if name not in tasks]
        found += [
            f"no dead-letter queue bound for step {name!r}" for name in steps if not self.dead_letter_queues.get(name)
        ]
        found += [
            f"dead-letter queue bound for unknown step {name!r}"
            for name in self.dead_letter_queues
            if name not in steps
        ]
        if not self.orders_table:
            found.append("orders_table is empty")
        if not self.event_bus:
            found.append("event_bus is empty")
        return found
