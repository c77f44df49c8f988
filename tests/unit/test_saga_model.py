"""A saga declaration is checked when it is built: every problem is named, nothing compiles."""

import pytest

from components.order_saga import ORDER_SAGA
from components.saga import RetryPolicy, SagaDefinition, SagaDefinitionError, SagaStep, Status
from handlers.contract import CANCELLED_COMPENSATED


def problems_of(**kwargs: object) -> list[str]:
    with pytest.raises(SagaDefinitionError) as raised:
        SagaDefinition(**kwargs)  # type: ignore[arg-type]
    return raised.value.problems


def test_order_saga_declares_four_steps_and_their_compensators() -> None:
    assert ORDER_SAGA.task_names == [
        "AuthorizePayment",
        "ReserveInventory",
        "BurnLoyaltyPoints",
        "BookShipment",
        "RefundPayment",
        "ReleaseInventory",
        "RestoreLoyaltyPoints",
        "CancelShipment",
    ]


def test_saga_without_steps_is_refused() -> None:
    assert problems_of(name="order", steps=[]) == ["a saga needs at least one step"]


def test_duplicate_step_names_are_refused() -> None:
    found = problems_of(name="order", steps=[SagaStep("Pay"), SagaStep("Pay")])
    assert found == ["name 'Pay' is used twice (step and compensation names share one namespace)"]


def test_compensation_named_like_a_step_is_refused() -> None:
    found = problems_of(name="order", steps=[SagaStep("Pay"), SagaStep("Ship", compensation="Pay")])
    assert any("'Pay' is used twice" in problem for problem in found)


def test_two_steps_sharing_a_compensation_are_refused() -> None:
    steps = [SagaStep("Pay", compensation="Undo"), SagaStep("Ship", compensation="Undo")]
    assert any("'Undo' is used twice" in problem for problem in problems_of(name="order", steps=steps))


@pytest.mark.parametrize("bad", ["pay", "Pay_Now", "Pay Now", "", "P" * 61])
def test_step_names_must_be_pascal_case(bad: str) -> None:
    found = problems_of(name="order", steps=[SagaStep(bad)])
    assert found == [f"step name {bad!r} must be PascalCase letters and digits"]


def test_compiler_state_names_are_reserved() -> None:
    found = problems_of(name="order", steps=[SagaStep("Pay", compensation="MarkConfirmed")])
    assert found == ["compensation name 'MarkConfirmed' is reserved by the compiler"]


@pytest.mark.parametrize("bad", ["Order", "order_saga", "", "o" * 41])
def test_saga_name_must_be_kebab_case(bad: str) -> None:
    assert problems_of(name=bad, steps=[SagaStep("Pay")])[0].startswith(f"saga name {bad!r}")


def test_unknown_workflow_type_is_refused() -> None:
    found = problems_of(name="order", steps=[SagaStep("Pay")], workflow="FAST")
    assert found == ["workflow 'FAST' must be 'STANDARD' or 'EXPRESS'"]


@pytest.mark.parametrize("error", ["States.Timeout", "Sandbox.Timedout"])
def test_outcome_unknown_errors_cannot_be_declared_transient(error: str) -> None:
    found = problems_of(name="order", steps=[SagaStep("Pay", transient_errors=(error,))])
    assert "compensated, never retried" in found[0]


@pytest.mark.parametrize("error", ["States.ALL", "States.TaskFailed", "Bad Name", ""])
def test_transient_errors_must_be_plain_error_names(error: str) -> None:
    found = problems_of(name="order", steps=[SagaStep("Pay", transient_errors=(error,))])
    assert found == [f"step 'Pay': {error!r} is not a retryable error name"]


@pytest.mark.parametrize(
    "error", ["States.ALL", "States.Timeout", "Runtime.ExitError", "Lambda.ServiceException", "Bad Name"]
)
def test_clean_errors_are_the_steps_own_exception_names(error: str) -> None:
    # A crash, a timeout or Lambda's own failure never proves that nothing happened.
    found = problems_of(name="order", steps=[SagaStep("Pay", clean_errors=(error,))])
    assert len(found) == 1 and repr(error) in found[0], found


def test_an_error_cannot_be_both_retried_and_clean() -> None:
    found = problems_of(name="order", steps=[SagaStep("Pay", transient_errors=("Busy",), clean_errors=("Busy",))])
    assert found == ["step 'Pay': 'Busy' cannot be both retried and clean"]


def test_order_saga_declares_each_steps_refusal_and_its_fence_as_clean() -> None:
    assert [step.clean_errors for step in ORDER_SAGA.steps] == [
        ("PaymentDeclined", "AlreadyCompensated"),
        ("OutOfStock", "AlreadyCompensated"),
        ("InsufficientPoints", "AlreadyCompensated"),
        ("NoCourierCapacity", "AlreadyCompensated"),
    ]


def test_handlers_refuse_forward_steps_on_the_status_the_saga_writes_when_compensated() -> None:
    assert Status.CANCELLED_COMPENSATED.value == CANCELLED_COMPENSATED


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (RetryPolicy(interval_seconds=0), "interval_seconds"),
        (RetryPolicy(max_attempts=-1), "max_attempts"),
        (RetryPolicy(backoff_rate=0.5), "backoff_rate"),
        (RetryPolicy(interval_seconds=10, max_delay_seconds=5), "max_delay_seconds"),
    ],
)
def test_retry_policy_out_of_range_is_refused(policy: RetryPolicy, fragment: str) -> None:
    found = problems_of(name="order", steps=[SagaStep("Pay", retry=policy)])
    assert len(found) == 1
    assert found[0].startswith("step 'Pay': retry ") and fragment in found[0]


def test_timeout_out_of_range_is_refused() -> None:
    assert problems_of(name="order", steps=[SagaStep("Pay", timeout_seconds=0)]) == [
        "step 'Pay': timeout_seconds must be 1..86400"
    ]


def test_every_problem_is_reported_at_once() -> None:
    found = problems_of(name="Bad", steps=[SagaStep("x"), SagaStep("Pay", timeout_seconds=0)])
    assert len(found) == 3


def test_event_names_come_from_the_saga_name() -> None:
    returns = SagaDefinition(name="customer-returns", steps=[SagaStep("ReceiveReturn")])
    assert returns.event_source == "saga.customer-returns"
    assert returns.detail_type("Confirmed") == "CustomerReturnsConfirmed"
    assert ORDER_SAGA.detail_type("NeedsReview") == "OrderNeedsReview"
