"""The compiled order saga, executed by moto's ASL interpreter with scripted Lambda outcomes.

Expected call sequences are written out from the saga's contract here, independently of the
compiler: steps run in order; a declared clean error at step k undoes k-1..1; an unknown
outcome (a timeout, a crash, any undeclared error, or an operator choosing to compensate a
parked step) undoes k..1; a settled order's status is never rewritten.
"""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from components.order_saga import ORDER_SAGA
from components.saga import DEFAULT_TRANSIENT_ERRORS, SagaDefinition, SagaStep
from sandbox.aws.scripted_saga import HANG, DeployedSaga, Rig, SagaRun, fails, new_order_id

STEPS = [step.name for step in ORDER_SAGA.steps]
UNDO = {step.name: step.compensation for step in ORDER_SAGA.steps}
TRANSIENT = {step.name: step.transient_errors[0] for step in ORDER_SAGA.steps}
DOMAIN = {
    "AuthorizePayment": "PaymentDeclined",
    "ReserveInventory": "OutOfStock",
    "BurnLoyaltyPoints": "InsufficientPoints",
    "BookShipment": "NoCourierCapacity",
}
RETRIES = ORDER_SAGA.steps[0].retry.max_attempts


@pytest.fixture(scope="module")
def order_saga(rig: Rig) -> DeployedSaga:
    return rig.deploy(ORDER_SAGA)


def undo(steps: list[str]) -> list[str]:
    return [UNDO[step] for step in reversed(steps)]  # type: ignore[misc]


def assert_confirmed(run: SagaRun) -> None:
    assert (run.execution_status, run.order_status) == ("SUCCEEDED", "CONFIRMED"), run
    assert run.event_types == ["OrderConfirmed"], run.events


def assert_compensated(run: SagaRun, failed_step: str, error: str) -> None:
    assert (run.execution_status, run.order_status) == ("SUCCEEDED", "CANCELLED_COMPENSATED"), run
    assert run.event_types[-1] == "OrderFailed", run.events
    assert run.events[-1]["detail"]["failures"][failed_step]["Error"] == error


# -- every step k x {success, domain error, transient then success, exhausted, timeout} --------


def test_all_steps_succeed_confirms_the_order_and_publishes_once(order_saga: DeployedSaga) -> None:
    run = order_saga.run(new_order_id("happy"))
    assert run.calls == STEPS
    assert_confirmed(run)
    assert run.events[0]["detail"] == {"orderId": run.order_id, "status": "CONFIRMED"}
    assert run.states_entered == [*STEPS, "MarkConfirmed", "PublishConfirmed"]


@pytest.mark.parametrize("k", range(4))
def test_domain_error_compensates_only_the_completed_steps_in_reverse(
    rig: Rig, order_saga: DeployedSaga, k: int
) -> None:
    # GIVEN step k refuses the order
    order, step = new_order_id("domain"), STEPS[k]
    rig.functions.plan(order, step, fails(DOMAIN[step]))
    # WHEN the saga runs
    run = order_saga.run(order)
    # THEN step k ran once, nothing after it, and exactly steps k-1..1 were undone
    assert run.calls == [*STEPS[: k + 1], *undo(STEPS[:k])]
    assert_compensated(run, step, DOMAIN[step])
    # and entered no state beyond those (README: states per order)
    assert run.states_entered == [*run.calls, "MarkCompensated", "PublishFailed"]


@pytest.mark.parametrize("k", range(4))
def test_transient_error_is_retried_and_the_order_confirms(rig: Rig, order_saga: DeployedSaga, k: int) -> None:
    order, step = new_order_id("transient"), STEPS[k]
    rig.functions.plan(order, step, fails(TRANSIENT[step]), fails("Lambda.TooManyRequestsException"))
    run = order_saga.run(order)
    assert run.calls == [*STEPS[:k], step, step, step, *STEPS[k + 1 :]]
    assert_confirmed(run)


def test_throttled_calls_are_retried_past_the_transient_budget_before_parking(
    rig: Rig, order_saga: DeployedSaga
) -> None:
    # A throttle means the call never ran: more retries than other transient errors get.
    order, throttles = new_order_id("throttled"), RETRIES + 3
    rig.functions.plan(order, "ReserveInventory", *[fails("Lambda.TooManyRequestsException")] * throttles)
    run = order_saga.run(order)
    assert run.calls == ["AuthorizePayment", *["ReserveInventory"] * (throttles + 1), *STEPS[2:]]
    assert_confirmed(run)


@pytest.mark.parametrize("k", range(4))
def test_transient_errors_exhausted_park_the_order_for_an_operator(rig: Rig, order_saga: DeployedSaga, k: int) -> None:
    order, step = new_order_id("exhausted"), STEPS[k]
    rig.functions.plan(order, step, *[fails(TRANSIENT[step])] * (RETRIES + 1))
    run = order_saga.run(order)  # no operator answer scripted: it stays parked
    assert run.calls == [*STEPS[:k], *[step] * (RETRIES + 1)]
    assert (run.execution_status, run.order_status) == ("RUNNING", "NEEDS_REVIEW")
    assert run.event_types == ["OrderNeedsReview"]
    [message] = run.parked
    assert {key: message[key] for key in ("orderId", "step", "error")} == {
        "orderId": order,
        "step": step,
        "error": TRANSIENT[step],
    }
    assert message["taskToken"] and TRANSIENT[step] in message["cause"]
    assert rig.order_item(order)["parkedStep"] == {"S": step}


@pytest.mark.parametrize("k", range(4))
def test_timeout_compensates_the_timed_out_step_too(rig: Rig, order_saga: DeployedSaga, k: int) -> None:
    order, step = new_order_id("timeout"), STEPS[k]
    rig.functions.plan(order, step, HANG)
    run = order_saga.run(order)
    assert run.calls == [*STEPS[: k + 1], *undo(STEPS[: k + 1])]
    assert_compensated(run, step, "States.Timeout")


def test_backoff_waits_grow_and_are_jittered(rig: Rig, order_saga: DeployedSaga) -> None:
    order, step = new_order_id("backoff"), "AuthorizePayment"
    rig.functions.plan(order, step, *[fails("PaymentGatewayUnavailable")] * RETRIES)
    already = len(rig.retry_waits)
    assert_confirmed(order_saga.run(order))
    waits = rig.retry_waits[already:]
    policy = ORDER_SAGA.steps[0].retry
    ceilings = [min(policy.interval_seconds * policy.backoff_rate**n, policy.max_delay_seconds) for n in range(RETRIES)]
    assert len(waits) == RETRIES
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True)), (waits, ceilings)


@pytest.mark.parametrize("k", range(4))
@pytest.mark.parametrize("error", ["Runtime.ExitError", "KeyError", "ClientError"])
def test_an_undeclared_error_after_the_effect_undoes_the_step_too(
    rig: Rig, order_saga: DeployedSaga, k: int, error: str
) -> None:
    # GIVEN step k fails after its effect may have landed: a crash, an odd reply, a refused write
    order, step = new_order_id("unknown-error"), STEPS[k]
    rig.functions.plan(order, step, fails(error))
    # WHEN the saga runs
    run = order_saga.run(order)
    # THEN it is not retried, and step k's own compensator runs before the earlier ones
    assert run.calls == [*STEPS[: k + 1], *undo(STEPS[: k + 1])]
    assert_compensated(run, step, error)
    assert run.states_entered == [*run.calls, "MarkCompensated", "PublishFailed"]


# -- compensators that fail, and the operator's answers ---------------------------------------


def test_failing_compensator_parks_instead_of_being_skipped(rig: Rig, order_saga: DeployedSaga) -> None:
    order = new_order_id("undo-fails")
    rig.functions.plan(order, "BookShipment", fails("NoCourierCapacity"))
    rig.functions.plan(order, "ReleaseInventory", fails("InventoryCorrupted"))
    run = order_saga.run(order)
    assert run.calls == [*STEPS, "RestoreLoyaltyPoints", "ReleaseInventory"]
    assert (run.execution_status, run.order_status) == ("RUNNING", "NEEDS_REVIEW")
    [message] = run.parked
    assert (message["step"], message["compensates"], message["error"]) == (
        "ReleaseInventory",
        "ReserveInventory",
        "InventoryCorrupted",
    )


def test_operator_retry_of_a_parked_compensator_finishes_the_compensation(rig: Rig, order_saga: DeployedSaga) -> None:
    order = new_order_id("undo-retry")
    rig.functions.plan(order, "BookShipment", fails("NoCourierCapacity"))
    rig.functions.plan(order, "RefundPayment", *[fails("PaymentGatewayUnavailable")] * (RETRIES + 1))
    run = order_saga.run(order, answers={"RefundPayment": ["retry"]})
    undos = ["RestoreLoyaltyPoints", "ReleaseInventory"]
    assert run.calls == [*STEPS, *undos, *["RefundPayment"] * (RETRIES + 2)]
    assert_compensated(run, "BookShipment", "NoCourierCapacity")
    assert run.event_types == ["OrderNeedsReview", "OrderFailed"]


def test_operator_compensate_on_a_parked_compensator_carries_on_with_the_rest(
    rig: Rig, order_saga: DeployedSaga
) -> None:
    # The operator undid ReleaseInventory by hand; RefundPayment must still run.
    order = new_order_id("undo-manual")
    rig.functions.plan(order, "BookShipment", fails("NoCourierCapacity"))
    rig.functions.plan(order, "ReleaseInventory", fails("InventoryCorrupted"))
    run = order_saga.run(order, answers={"ReleaseInventory": ["compensate"]})
    assert run.calls == [*STEPS, "RestoreLoyaltyPoints", "ReleaseInventory", "RefundPayment"]
    assert_compensated(run, "BookShipment", "NoCourierCapacity")


def test_operator_retry_of_a_parked_step_resumes_the_saga(rig: Rig, order_saga: DeployedSaga) -> None:
    order = new_order_id("park-retry")
    rig.functions.plan(order, "BookShipment", *[fails("CourierUnavailable")] * (RETRIES + 1))
    run = order_saga.run(order, answers={"BookShipment": ["retry"]})
    assert run.calls == [*STEPS, *["BookShipment"] * (RETRIES + 1)]
    assert_confirmed_after_review(run)


def assert_confirmed_after_review(run: SagaRun) -> None:
    assert (run.execution_status, run.order_status) == ("SUCCEEDED", "CONFIRMED"), run
    assert run.event_types == ["OrderNeedsReview", "OrderConfirmed"]


def test_operator_compensate_of_a_parked_step_undoes_it_and_everything_before(
    rig: Rig, order_saga: DeployedSaga
) -> None:
    order = new_order_id("park-compensate")
    rig.functions.plan(order, "BurnLoyaltyPoints", *[fails("LoyaltyLedgerUnavailable")] * (RETRIES + 1))
    run = order_saga.run(order, answers={"BurnLoyaltyPoints": ["compensate"]})
    done = STEPS[:3]
    assert run.calls == [*STEPS[:2], *["BurnLoyaltyPoints"] * (RETRIES + 1), *undo(done)]
    assert_compensated(run, "BurnLoyaltyPoints", "LoyaltyLedgerUnavailable")


@pytest.mark.parametrize("malformed", [{}, {"action": "refund"}, {"action": 7}, "retry-please"])
def test_malformed_operator_answer_parks_again_and_loses_nothing(
    rig: Rig, order_saga: DeployedSaga, malformed: object
) -> None:
    order = new_order_id("park-malformed")
    rig.functions.plan(order, "ReserveInventory", *[fails("InventoryUnavailable")] * (RETRIES + 1))
    answer = malformed if isinstance(malformed, dict) else {"action": malformed}
    run = order_saga.run(order, answers={"ReserveInventory": [answer, "retry"]})
    assert [message["step"] for message in run.parked] == ["ReserveInventory", "ReserveInventory"]
    assert_confirmed_after_review(run)


# -- duplicates --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second_saga(rig: Rig) -> DeployedSaga:
    """The same saga deployed again: a standby region's state machine, or a manual restart."""
    return rig.deploy(ORDER_SAGA)


def assert_left_alone(run: SagaRun, status: str) -> None:
    assert (run.execution_status, run.order_status) == ("SUCCEEDED", status), run
    assert run.event_types == [], run.events  # no second OrderConfirmed / OrderFailed
    assert run.states_entered[-3:] == ["ReadSettledStatus", "IsSettled", "AlreadySettled"]
    assert run.output == {"orderId": run.order_id, "alreadySettled": status, "unchanged": True}


def test_a_second_saga_that_fails_cannot_flip_a_confirmed_order(
    rig: Rig, order_saga: DeployedSaga, second_saga: DeployedSaga
) -> None:
    # GIVEN a confirmed order
    order = new_order_id("settled-confirmed")
    assert_confirmed(order_saga.run(order))
    # WHEN a second saga for it fails and compensates
    rig.functions.plan(order, "BookShipment", fails("NoCourierCapacity"))
    run = second_saga.run(order, existing=True)
    # THEN the order stays CONFIRMED, quietly: no event, no SagaHalted
    assert "MarkCompensated" in run.states_entered
    assert_left_alone(run, "CONFIRMED")


def test_a_second_saga_that_succeeds_cannot_confirm_a_compensated_order(
    rig: Rig, order_saga: DeployedSaga, second_saga: DeployedSaga
) -> None:
    order = new_order_id("settled-compensated")
    rig.functions.plan(order, "ReserveInventory", fails("OutOfStock"))
    assert order_saga.run(order).order_status == "CANCELLED_COMPENSATED"
    run = second_saga.run(order, existing=True)  # every step answers ok this time
    assert "MarkConfirmed" in run.states_entered
    assert_left_alone(run, "CANCELLED_COMPENSATED")


def test_a_parked_second_saga_does_not_mark_a_settled_order_for_review(
    rig: Rig, order_saga: DeployedSaga, second_saga: DeployedSaga
) -> None:
    order = new_order_id("settled-parked")
    assert_confirmed(order_saga.run(order))
    rig.functions.plan(order, "AuthorizePayment", *[fails("PaymentGatewayUnavailable")] * (RETRIES + 1))
    run = second_saga.run(order, existing=True)  # parks, no operator answer scripted
    assert [message["step"] for message in run.parked] == ["AuthorizePayment"]
    assert run.order_status == "CONFIRMED"


def test_duplicate_start_of_an_order_does_not_run_the_saga_twice(rig: Rig, order_saga: DeployedSaga) -> None:
    order = new_order_id("duplicate")
    assert_confirmed(order_saga.run(order))
    with pytest.raises(ClientError) as raised:
        order_saga.start_execution(order)
    assert raised.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    assert rig.functions.calls_for(order) == STEPS


# -- other shapes ------------------------------------------------------------------------------


def saga_of(*steps: SagaStep, workflow: str = "STANDARD") -> SagaDefinition:
    return SagaDefinition(name="shape", steps=steps, workflow=workflow)  # type: ignore[arg-type]


REFUSED = ("Refused",)
"""The shapes' declared "nothing happened" error."""


def numbered(count: int) -> list[SagaStep]:
    return [SagaStep(f"Step{i}", compensation=f"Undo{i}", clean_errors=REFUSED) for i in range(1, count + 1)]


@pytest.fixture(scope="module")
def shapes(rig: Rig) -> Iterator[dict[str, DeployedSaga]]:
    yield {
        "one": rig.deploy(saga_of(*numbered(1))),
        "two": rig.deploy(saga_of(*numbered(2))),
        "six": rig.deploy(saga_of(*numbered(6))),
        "gap": rig.deploy(
            saga_of(
                SagaStep("Quote", compensation="Unquote"),
                SagaStep("Notify", clean_errors=REFUSED),
                SagaStep("Ship", clean_errors=REFUSED),
            )
        ),
        "express": rig.deploy(saga_of(*numbered(3), workflow="EXPRESS")),
    }


@pytest.mark.parametrize(("shape", "length"), [("one", 1), ("two", 2), ("six", 6)])
def test_sagas_of_other_lengths_confirm_and_compensate(
    rig: Rig, shapes: dict[str, DeployedSaga], shape: str, length: int
) -> None:
    happy = shapes[shape].run(new_order_id(shape))
    assert happy.calls == [f"Step{i}" for i in range(1, length + 1)]
    assert (happy.order_status, happy.event_types) == ("CONFIRMED", ["ShapeConfirmed"])

    order = new_order_id(shape)
    rig.functions.plan(order, f"Step{length}", fails("Refused"))
    failed = shapes[shape].run(order)
    forward = [f"Step{i}" for i in range(1, length + 1)]
    assert failed.calls == forward + [f"Undo{i}" for i in range(length - 1, 0, -1)]
    assert (failed.order_status, failed.event_types) == ("CANCELLED_COMPENSATED", ["ShapeFailed"])


def test_step_without_compensation_is_skipped_when_undoing(rig: Rig, shapes: dict[str, DeployedSaga]) -> None:
    order = new_order_id("gap")
    rig.functions.plan(order, "Ship", fails("Refused"))
    run = shapes["gap"].run(order)
    assert run.calls == ["Quote", "Notify", "Ship", "Unquote"]
    assert run.order_status == "CANCELLED_COMPENSATED"


def test_step_without_compensation_that_times_out_undoes_only_its_predecessors(
    rig: Rig, shapes: dict[str, DeployedSaga]
) -> None:
    order = new_order_id("gap")
    rig.functions.plan(order, "Notify", HANG)
    run = shapes["gap"].run(order)
    assert run.calls == ["Quote", "Notify", "Unquote"]


def test_express_saga_confirms_and_compensates(rig: Rig, shapes: dict[str, DeployedSaga]) -> None:
    assert shapes["express"].run(new_order_id("express")).order_status == "CONFIRMED"
    order = new_order_id("express")
    rig.functions.plan(order, "Step3", fails("Refused"))
    run = shapes["express"].run(order)
    assert run.calls == ["Step1", "Step2", "Step3", "Undo2", "Undo1"]
    assert run.order_status == "CANCELLED_COMPENSATED"


def test_express_saga_parks_by_message_and_ends_failed(rig: Rig, shapes: dict[str, DeployedSaga]) -> None:
    order = new_order_id("express")
    rig.functions.plan(order, "Step2", *[fails(DEFAULT_TRANSIENT_ERRORS[0])] * (RETRIES + 1))
    run = shapes["express"].run(order)
    assert (run.execution_status, run.order_status) == ("FAILED", "NEEDS_REVIEW")
    [message] = run.parked
    assert message["step"] == "Step2" and "taskToken" not in message
    assert run.event_types == ["ShapeNeedsReview"]


def test_failed_status_write_halts_the_saga_visibly(rig: Rig, order_saga: DeployedSaga) -> None:
    # GIVEN an execution for an order the table does not hold (the status write must refuse)
    order = new_order_id("no-item")
    execution = order_saga.start_execution(order)
    # WHEN it runs to the end
    deadline = time.monotonic() + 20
    while (status := rig.sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "still running"
        time.sleep(0.02)
    # THEN it fails as SagaHalted, naming the bookkeeping failure; no item was invented
    assert (status["status"], status.get("error")) == ("FAILED", "SagaHalted")
    assert rig.functions.calls_for(order) == STEPS
    assert rig.order_status(order) == "MISSING"


def test_concurrent_executions_of_the_shared_program_each_count_their_own_retries(
    rig: Rig, order_saga: DeployedSaga
) -> None:
    # Executions share one build of the definition (lever program-cache): each retrier's attempt
    # count lives in its execution's heap, under a key drawn before the program was shared.
    step = STEPS[1]
    orders = [new_order_id(f"shared-{n}") for n in range(6)]
    for order in orders:
        rig.functions.plan(order, step, *[fails(TRANSIENT[step])] * (RETRIES + 1))
    with ThreadPoolExecutor(len(orders)) as pool:
        runs = list(pool.map(order_saga.run, orders))
    for run in runs:
        assert run.calls == [STEPS[0], *[step] * (RETRIES + 1)]
        assert run.order_status == "NEEDS_REVIEW"
