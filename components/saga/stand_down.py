"""Stand down: a compiled saga that ends without effects where its region does not own the order.

For a pair of regions working one global table (a primary and a warm standby), an execution
that resumes in a region which lost the order (a failover, a failback) must neither act nor
compensate: the region that owns the order now drives it. ``with_stand_down`` rewrites a
compiled definition (``compile_saga``'s output, left untouched) so that:

- every Lambda task that fails with one of ``errors`` (the handlers' guard, raised before any
  effect) ends the execution at ``StoodDown``: no compensation, no status write, no event;
- every status write also requires the order to be owned by ``region`` (or by no region); when
  refused, the execution reads the owner and, if another region owns the order, ends at
  ``StoodDown``; otherwise it goes where the refusal went before (settled, or halted);
- an **adopted** order (``$.adopted`` in the input: this region took it over from one that was
  lost) that fails at any step runs *every* compensator, newest first: the lost region may
  have done later steps than this region's replica shows (its last writes had not replicated),
  and a compensator of a step that never ran is a fenced no-op.

Pure, like the compiler. Costs no state on the happy path: the owner is read only after a
refused status write.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from components.saga.model import SagaDefinition

STOOD_DOWN = "StoodDown"
CONDITION_FAILED = "DynamoDB.ConditionalCheckFailedException"
_OWNER_NAME = "#ownerRegion"
_OWNER_VALUE = ":ownerRegion"


@dataclass(frozen=True)
class StandDown:
    """Where a saga stands down: the order attribute that names the owner, this region, and the
    error class names the tasks raise when the region must not act."""

    region: str
    errors: tuple[str, ...]
    owner_attribute: str = "ownerRegion"
    steps: tuple[str, ...] = ()
    """The saga's forward steps (``for_saga`` fills them in)."""
    full_undo: str | None = None
    """The first state of the whole compensation chain (``for_saga``): where an adopted order
    that fails goes. None: adopted orders compensate like any other."""
    adopted_flag: str = "$.adopted"

    def for_saga(self, saga: SagaDefinition) -> StandDown:
        """This stand-down with ``saga``'s steps and the entry of its whole compensation chain."""
        entry = next((step.compensation for step in reversed(saga.steps) if step.compensation), None)
        return dataclasses.replace(self, steps=tuple(step.name for step in saga.steps), full_undo=entry)

    def problems(self) -> list[str]:
        found = [] if self.region else ["stand down: region is empty"]
        if not self.errors:
            found.append("stand down: no error names")
        return found


def with_stand_down(definition: dict[str, Any], stand_down: StandDown, orders_table: str) -> dict[str, Any]:
    """A copy of ``definition`` that stands down as the module says."""
    problems = stand_down.problems()
    if problems:
        raise ValueError("; ".join(problems))
    result = copy.deepcopy(definition)
    states: dict[str, Any] = result["States"]
    if STOOD_DOWN in states:
        raise ValueError(f"the definition already has a state named {STOOD_DOWN!r}")
    added: dict[str, Any] = {}
    for name, state in states.items():
        if _is_lambda_task(state):
            if name in stand_down.steps and stand_down.full_undo:
                added |= _adopted_undo_everything(name, state, stand_down)
            catch = {"ErrorEquals": list(stand_down.errors), "ResultPath": "$.standDown", "Next": STOOD_DOWN}
            state["Catch"] = [catch, *state.get("Catch", [])]
        elif _is_status_write(state):
            added |= _owned_status_write(name, state, stand_down, orders_table)
    states |= added
    states[STOOD_DOWN] = {
        "Type": "Succeed",
        "Comment": "Another region owns this order, or this region is passive: nothing was done here.",
    }
    return result


def _adopted_undo_everything(name: str, state: dict[str, Any], stand_down: StandDown) -> dict[str, Any]:
    """Route each of a forward step's compensating catchers through a choice: an adopted order
    runs the whole chain, any other the compensators it ran before. Parking is left alone."""
    assert stand_down.full_undo is not None
    added: dict[str, Any] = {}
    for catcher in state.get("Catch", []):
        target = str(catcher["Next"])
        if target.endswith("_NeedsReview") or target == stand_down.full_undo:
            continue
        choice = f"{name}_IfAdopted_{target}"
        added[choice] = {
            "Type": "Choice",
            "Choices": [{"Variable": stand_down.adopted_flag, "IsPresent": True, "Next": stand_down.full_undo}],
            "Default": target,
        }
        catcher["Next"] = choice
    return added


def _is_lambda_task(state: dict[str, Any]) -> bool:
    resource = str(state.get("Resource", ""))
    return state.get("Type") == "Task" and (":function:" in resource or resource.startswith("arn:aws:states:::lambda"))


def _is_status_write(state: dict[str, Any]) -> bool:
    parameters = state.get("Parameters") or {}
    return (
        state.get("Type") == "Task"
        and state.get("Resource") == "arn:aws:states:::dynamodb:updateItem"
        and "status" in (parameters.get("ExpressionAttributeNames") or {}).values()
    )


def _refusal_target(state: dict[str, Any]) -> str:
    """Where the state's catchers send a refused condition today."""
    for catcher in state.get("Catch", []):
        errors = catcher.get("ErrorEquals", [])
        if CONDITION_FAILED in errors or "States.ALL" in errors or "States.TaskFailed" in errors:
            return str(catcher["Next"])
    raise ValueError("a status write without a catcher for a refused condition")


def _owned_status_write(name: str, state: dict[str, Any], stand_down: StandDown, orders_table: str) -> dict[str, Any]:
    """Condition the write on ownership; route a refusal through an owner check. Returns the
    states to add."""
    parameters = state["Parameters"]
    owned = f"attribute_not_exists({_OWNER_NAME}) OR {_OWNER_NAME} = {_OWNER_VALUE}"
    parameters["ConditionExpression"] = f"({parameters['ConditionExpression']}) AND ({owned})"
    parameters["ExpressionAttributeNames"] = {
        **parameters["ExpressionAttributeNames"],
        _OWNER_NAME: stand_down.owner_attribute,
    }
    parameters["ExpressionAttributeValues"] = {
        **parameters["ExpressionAttributeValues"],
        _OWNER_VALUE: {"S": stand_down.region},
    }
    before = _refusal_target(state)
    check, decide = f"{name}_CheckOwner", f"{name}_IsOwner"
    state["Catch"] = [
        {"ErrorEquals": [CONDITION_FAILED], "ResultPath": "$.bookkeeping", "Next": check},
        *state.get("Catch", []),
    ]
    owner = f"$.owner.Item.{stand_down.owner_attribute}.S"
    return {
        check: {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:getItem",
            "Parameters": {
                "TableName": orders_table,
                "Key": {"orderId": {"S.$": "$.orderId"}},
                "ConsistentRead": True,
                "ProjectionExpression": _OWNER_NAME,
                "ExpressionAttributeNames": {_OWNER_NAME: stand_down.owner_attribute},
            },
            "ResultPath": "$.owner",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.bookkeeping", "Next": before}],
            "Next": decide,
        },
        decide: {
            "Type": "Choice",
            # Rules run in order and the first match wins, so the comparison never meets a
            # missing owner (which would fail the execution; moto's And does not short-circuit).
            "Choices": [
                {"Variable": owner, "IsPresent": False, "Next": before},
                {"Variable": owner, "StringEquals": stand_down.region, "Next": before},
            ],
            "Default": STOOD_DOWN,
        },
    }
