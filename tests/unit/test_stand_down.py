"""``with_stand_down``: a compiled saga that ends without effects where its region lost the order."""

from __future__ import annotations

from typing import Any

import pytest

from components.order_saga import ORDER_SAGA
from components.saga import SagaBindings, compile_saga
from components.saga.stand_down import STOOD_DOWN, StandDown, with_stand_down

TABLE = "orders"
BINDINGS = SagaBindings(
    functions={task: f"arn:aws:lambda:us-east-1:123456789012:function:{task}" for task in ORDER_SAGA.task_names},
    dead_letter_queues={step.name: f"https://sqs/{step.name}-dlq" for step in ORDER_SAGA.steps},
    orders_table=TABLE,
    event_bus="orders",
)
STAND_DOWN = StandDown(region="us-east-1", errors=("RegionStandsDown",))


@pytest.fixture(scope="module")
def compiled() -> dict[str, Any]:
    return compile_saga(ORDER_SAGA, BINDINGS)


@pytest.fixture(scope="module")
def standing(compiled: dict[str, Any]) -> dict[str, Any]:
    return with_stand_down(compiled, STAND_DOWN, TABLE)


def lambda_tasks(definition: dict[str, Any]) -> dict[str, Any]:
    return {n: s for n, s in definition["States"].items() if ":function:" in str(s.get("Resource", ""))}


def status_writes(definition: dict[str, Any]) -> dict[str, Any]:
    return {
        n: s
        for n, s in definition["States"].items()
        if s.get("Resource") == "arn:aws:states:::dynamodb:updateItem"
        and "status" in s["Parameters"]["ExpressionAttributeNames"].values()
    }


def test_every_step_and_compensator_stands_down_before_anything_else(standing: dict[str, Any]) -> None:
    tasks = lambda_tasks(standing)
    assert set(tasks) == set(ORDER_SAGA.task_names)
    for name, state in tasks.items():
        first = state["Catch"][0]
        assert (first["ErrorEquals"], first["Next"]) == (["RegionStandsDown"], STOOD_DOWN), name
        # Retriers do not swallow it: it is no transient error.
        assert all("RegionStandsDown" not in r["ErrorEquals"] for r in state.get("Retry", [])), name
    assert standing["States"][STOOD_DOWN]["Type"] == "Succeed"


def test_every_status_write_requires_this_region_to_own_the_order(standing: dict[str, Any]) -> None:
    writes = status_writes(standing)
    assert {"MarkConfirmed", "MarkCompensated"} <= set(writes)
    assert any(name.endswith("_NeedsReview") for name in writes)
    for name, state in writes.items():
        parameters = state["Parameters"]
        assert parameters["ConditionExpression"].endswith(
            "AND (attribute_not_exists(#ownerRegion) OR #ownerRegion = :ownerRegion)"
        ), name
        assert parameters["ExpressionAttributeValues"][":ownerRegion"] == {"S": "us-east-1"}
        assert state["Catch"][0]["Next"] == f"{name}_CheckOwner"


def test_a_refused_status_write_stands_down_only_when_another_region_owns_the_order(
    compiled: dict[str, Any], standing: dict[str, Any]
) -> None:
    states = standing["States"]
    for name in status_writes(standing):
        before = next(c["Next"] for c in compiled["States"][name]["Catch"])
        check, decide = states[f"{name}_CheckOwner"], states[f"{name}_IsOwner"]
        assert check["Resource"] == "arn:aws:states:::dynamodb:getItem" and check["Next"] == f"{name}_IsOwner"
        assert check["Catch"][0]["Next"] == before  # cannot read it: as before
        owner = "$.owner.Item.ownerRegion.S"
        # Owned by no one, or here: the refusal goes where it went; owned elsewhere: stand down.
        assert decide["Choices"] == [
            {"Variable": owner, "IsPresent": False, "Next": before},
            {"Variable": owner, "StringEquals": "us-east-1", "Next": before},
        ]
        assert decide["Default"] == STOOD_DOWN


def test_the_happy_path_is_unchanged(compiled: dict[str, Any], standing: dict[str, Any]) -> None:
    # Same states entered by a confirmed order: the owner is read only after a refused write.
    name = compiled["StartAt"]
    assert standing["StartAt"] == name
    while "Next" in compiled["States"][name]:
        assert standing["States"][name]["Next"] == compiled["States"][name]["Next"]
        name = compiled["States"][name]["Next"]
    assert set(compiled["States"]) < set(standing["States"])


def test_the_compiled_definition_is_left_untouched(compiled: dict[str, Any]) -> None:
    again = compile_saga(ORDER_SAGA, BINDINGS)
    with_stand_down(compiled, STAND_DOWN, TABLE)
    assert compiled == again


@pytest.mark.parametrize(
    ("stand_down", "message"),
    [(StandDown(region="", errors=("X",)), "region is empty"), (StandDown(region="r", errors=()), "no error names")],
)
def test_a_bad_stand_down_is_refused(compiled: dict[str, Any], stand_down: StandDown, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        with_stand_down(compiled, stand_down, TABLE)


def test_an_adopted_order_that_fails_anywhere_runs_every_compensator(compiled: dict[str, Any]) -> None:
    # The lost region may have done later steps than the replica showed (its last writes had
    # not replicated): an adopted order's failure undoes them all, newest first.
    stand_down = STAND_DOWN.for_saga(ORDER_SAGA)
    assert stand_down.full_undo == "CancelShipment"
    states = with_stand_down(compiled, stand_down, TABLE)["States"]
    for step in ORDER_SAGA.steps:
        for catcher in states[step.name]["Catch"][1:]:
            original = next(
                c["Next"] for c in compiled["States"][step.name]["Catch"] if c["ErrorEquals"] == catcher["ErrorEquals"]
            )
            if original.endswith("_NeedsReview") or original == "CancelShipment":
                assert catcher["Next"] == original, step.name  # parking, or the whole chain already
                continue
            choice = states[catcher["Next"]]
            assert choice["Choices"] == [{"Variable": "$.adopted", "IsPresent": True, "Next": "CancelShipment"}]
            assert choice["Default"] == original, step.name
    # Compensators are not rerouted: a failing compensator parks, as before.
    assert all("IfAdopted" not in c["Next"] for c in states["RefundPayment"]["Catch"])
