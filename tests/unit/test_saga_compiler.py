"""The compiled definition's static guarantees; its behaviour is proven by execution in
tests/integration/test_saga_execution.py."""

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from components.order_saga import ORDER_SAGA
from components.saga import (
    DEFAULT_TRANSIENT_ERRORS,
    THROTTLE_ERRORS,
    RetryPolicy,
    SagaBindings,
    SagaDefinition,
    SagaDefinitionError,
    SagaStep,
    compile_saga,
)


def bindings_for(saga: SagaDefinition) -> SagaBindings:
    return SagaBindings(
        functions={task: f"arn:aws:lambda:us-east-1:1:function:{task}" for task in saga.task_names},
        dead_letter_queues={step.name: f"https://sqs/1/{step.name}-dlq" for step in saga.steps},
        orders_table="orders",
        event_bus="orders",
    )


def without(mapping: Mapping[str, str], key: str) -> dict[str, str]:
    return {name: value for name, value in mapping.items() if name != key}


def lambda_tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: state
        for name, state in definition["States"].items()
        if state["Type"] == "Task" and state["Resource"].startswith("arn:aws:lambda:")
    }


def successors(state: dict[str, Any]) -> set[str]:
    found = {state[key] for key in ("Next", "Default") if key in state}
    found |= {rule["Next"] for key in ("Catch", "Choices") for rule in state.get(key, [])}
    return found


def test_missing_function_binding_names_the_task() -> None:
    bindings = bindings_for(ORDER_SAGA)
    bindings = replace(bindings, functions=without(bindings.functions, "CancelShipment"))
    with pytest.raises(SagaDefinitionError, match="no function bound for 'CancelShipment'"):
        compile_saga(ORDER_SAGA, bindings)


def test_missing_dead_letter_queue_names_the_step() -> None:
    bindings = bindings_for(ORDER_SAGA)
    bindings = replace(bindings, dead_letter_queues=without(bindings.dead_letter_queues, "BookShipment"))
    with pytest.raises(SagaDefinitionError, match="no dead-letter queue bound for step 'BookShipment'"):
        compile_saga(ORDER_SAGA, bindings)


def test_binding_for_a_name_the_saga_lacks_is_refused() -> None:
    bindings = bindings_for(ORDER_SAGA)
    typo = {**bindings.functions, "AuthorisePayment": "arn:aws:lambda:us-east-1:1:function:typo"}
    bindings = replace(bindings, functions=typo)
    with pytest.raises(SagaDefinitionError, match="function bound for unknown name 'AuthorisePayment'"):
        compile_saga(ORDER_SAGA, bindings)


def test_empty_table_and_bus_are_refused() -> None:
    empty = replace(bindings_for(ORDER_SAGA), orders_table="", event_bus="")
    with pytest.raises(SagaDefinitionError, match="orders_table is empty; event_bus is empty"):
        compile_saga(ORDER_SAGA, empty)


def test_definition_is_deterministic_json() -> None:
    first = compile_saga(ORDER_SAGA, bindings_for(ORDER_SAGA))
    assert json.dumps(first, sort_keys=True) == json.dumps(
        compile_saga(ORDER_SAGA, bindings_for(ORDER_SAGA)), sort_keys=True
    )


def test_every_lambda_task_is_bound_retries_only_transient_errors_and_catches_everything() -> None:
    definition = compile_saga(ORDER_SAGA, bindings_for(ORDER_SAGA))
    tasks = lambda_tasks(definition)
    assert sorted(tasks) == sorted(ORDER_SAGA.task_names)
    for name, state in tasks.items():
        assert state["Resource"].endswith(f":function:{name}")
        retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert set(DEFAULT_TRANSIENT_ERRORS) <= retried, name
        assert "States.ALL" not in retried and "States.TaskFailed" not in retried, name
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name


def test_every_transition_names_an_existing_state_and_every_state_is_reachable() -> None:
    definition = compile_saga(ORDER_SAGA, bindings_for(ORDER_SAGA))
    states = definition["States"]
    reached, frontier = set(), [definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name in reached:
            continue
        assert name in states, f"transition to missing state {name!r}"
        reached.add(name)
        frontier.extend(successors(states[name]))
    assert reached == set(states)


def test_express_saga_never_waits_for_a_task_token() -> None:
    express = SagaDefinition(name="order", steps=ORDER_SAGA.steps, workflow="EXPRESS")
    text = json.dumps(compile_saga(express, bindings_for(express)))
    assert "waitForTaskToken" not in text and "$$.Task.Token" not in text
    assert "waitForTaskToken" in json.dumps(compile_saga(ORDER_SAGA, bindings_for(ORDER_SAGA)))


def test_step_without_retries_has_no_retrier() -> None:
    off = RetryPolicy(max_attempts=0)
    saga = SagaDefinition(name="order", steps=[SagaStep("Pay", retry=off, throttle_retry=off)])
    assert "Retry" not in compile_saga(saga, bindings_for(saga))["States"]["Pay"]


def test_throttles_retry_on_their_own_longer_bounded_backoff() -> None:
    # A throttled call never ran: waiting longer is safe, parking the order for a human is not.
    states = compile_saga(ORDER_SAGA, bindings_for(ORDER_SAGA))["States"]
    for name in ORDER_SAGA.task_names:
        throttle, other = states[name]["Retry"]
        assert throttle["ErrorEquals"] == list(THROTTLE_ERRORS), name
        assert not set(THROTTLE_ERRORS) & set(other["ErrorEquals"]), name

        def budget(retrier: dict[str, Any]) -> float:
            waits = [retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n for n in range(retrier["MaxAttempts"])]
            return float(sum(min(wait, retrier["MaxDelaySeconds"]) for wait in waits))

        assert budget(other) * 4 < budget(throttle) <= 600, name


def test_clean_errors_undo_the_steps_before_and_any_other_failure_undoes_the_step_too() -> None:
    states = compile_saga(ORDER_SAGA, bindings_for(ORDER_SAGA))["States"]
    previous: str | None = "MarkCompensated"
    for step in ORDER_SAGA.steps:
        clean, retried, anything = states[step.name]["Catch"]
        assert (clean["ErrorEquals"], clean["Next"]) == (list(step.clean_errors), previous), step.name
        assert retried["Next"] == f"{step.name}_NeedsReview", step.name
        assert (anything["ErrorEquals"], anything["Next"]) == (["States.ALL"], step.compensation), step.name
        previous = step.compensation


def test_every_status_write_refuses_to_overwrite_a_settled_status() -> None:
    states = compile_saga(ORDER_SAGA, bindings_for(ORDER_SAGA))["States"]
    writes = {name: state for name, state in states.items() if state.get("Resource", "").endswith("updateItem")}
    assert len(writes) == 2 + len(ORDER_SAGA.task_names)  # MarkConfirmed, MarkCompensated, one park per task
    for name, state in writes.items():
        parameters = state["Parameters"]
        assert parameters["ConditionExpression"].endswith("AND NOT #status IN (:settled0, :settled1)"), name
        assert {parameters["ExpressionAttributeValues"][f":settled{i}"]["S"] for i in range(2)} == {
            "CONFIRMED",
            "CANCELLED_COMPENSATED",
        }, name


def test_compiler_imports_neither_pulumi_nor_aws_clients() -> None:
    probe = "import sys, components.saga; print(sorted({'boto3', 'botocore', 'pulumi'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_task_state_catches_its_failure() -> None:
    # The policy pack's sfn-every-task-catches holds for every compiled saga, Express too.
    for saga in (ORDER_SAGA, SagaDefinition(name="order", steps=ORDER_SAGA.steps, workflow="EXPRESS")):
        states = compile_saga(saga, bindings_for(saga))["States"]
        uncaught = [name for name, state in states.items() if state["Type"] == "Task" and not state.get("Catch")]
        assert uncaught == [], saga.workflow
