"""Declare a saga as data and compile it to an Amazon States Language definition.

Pure code: no Pulumi engine state, no AWS client. See ``model`` for the declaration and
``compiler`` for the state machine it becomes.
"""

from components.saga.compiler import ACTION_COMPENSATE, ACTION_RETRY, compile_saga
from components.saga.model import (
    DEFAULT_TRANSIENT_ERRORS,
    OUTCOME_UNKNOWN_ERRORS,
    SETTLED,
    THROTTLE_ERRORS,
    RetryPolicy,
    SagaBindings,
    SagaDefinition,
    SagaDefinitionError,
    SagaStep,
    Status,
)

__all__ = [
    "ACTION_COMPENSATE",
    "ACTION_RETRY",
    "DEFAULT_TRANSIENT_ERRORS",
    "OUTCOME_UNKNOWN_ERRORS",
    "SETTLED",
    "THROTTLE_ERRORS",
    "RetryPolicy",
    "SagaBindings",
    "SagaDefinition",
    "SagaDefinitionError",
    "SagaStep",
    "Status",
    "compile_saga",
]
