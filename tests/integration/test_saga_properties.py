"""Property: for any saga shape and any mix of step outcomes, the execution matches a
ten-line reference model of the saga contract: one terminal status, and the compensators that
ran are exactly the reverse of the steps that completed (or may have)."""

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.saga import SagaDefinition, SagaStep
from sandbox.aws.scripted_saga import HANG, OK, DeployedSaga, Rig, fails, new_order_id

RETRIES = SagaStep("Any").retry.max_attempts

STEP_OUTCOMES = [
    "ok",
    "domain",
    "unknown",
    "transient_then_ok",
    "timeout",
    "parked_then_retry",
    "parked_then_compensate",
]
UNDO_OUTCOMES = ["ok", "transient_then_ok", "parked_then_retry"]
# Outcomes after which the step's effect may exist and must be undone if the saga fails:
# all but a declared clean error ("domain").
MAY_HAVE_EFFECT = {"ok", "transient_then_ok", "parked_then_retry", "timeout", "unknown", "parked_then_compensate"}


@dataclass(frozen=True)
class Case:
    compensable: tuple[bool, ...]  # one entry per step: has a compensator?
    step_outcomes: tuple[str, ...]
    undo_outcomes: tuple[str, ...]

    def steps(self) -> list[str]:
        return [f"S{i}" for i in range(len(self.compensable))]

    def saga(self) -> SagaDefinition:
        steps = [
            SagaStep(name, compensation=f"U{i}" if has_undo else None, clean_errors=("Refused",))
            for i, (name, has_undo) in enumerate(zip(self.steps(), self.compensable, strict=True))
        ]
        return SagaDefinition(name="property", steps=steps)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    compensable = tuple(draw(st.lists(st.booleans(), min_size=1, max_size=5)))
    n = len(compensable)
    return Case(
        compensable,
        tuple(draw(st.lists(st.sampled_from(STEP_OUTCOMES), min_size=n, max_size=n))),
        tuple(draw(st.lists(st.sampled_from(UNDO_OUTCOMES), min_size=n, max_size=n))),
    )


def script(outcome: str) -> list[str]:
    """The invocation outcomes that produce ``outcome`` for one task."""
    exhausted = [fails("Lambda.ServiceException")] * (RETRIES + 1)
    return {
        "ok": [OK],
        "domain": [fails("Refused")],
        "unknown": [fails("Runtime.ExitError")],
        "transient_then_ok": [fails("Lambda.ServiceException"), OK],
        "timeout": [HANG],
        "parked_then_retry": [*exhausted, OK],
        "parked_then_compensate": exhausted,
    }[outcome]


def answer(outcome: str) -> list[str]:
    return {"parked_then_retry": ["retry"], "parked_then_compensate": ["compensate"]}.get(outcome, [])


def reference(case: Case) -> tuple[list[str], list[str], str]:
    """(calls, compensators that ran, status) as the saga contract says."""
    calls: list[str] = []
    may_have_effect: list[int] = []
    failed = False
    for i, (step, outcome) in enumerate(zip(case.steps(), case.step_outcomes, strict=True)):
        calls += [step] * len(script(outcome))
        if outcome in MAY_HAVE_EFFECT:
            may_have_effect.append(i)
        if outcome not in {"ok", "transient_then_ok", "parked_then_retry"}:
            failed = True
            break
    undos = [f"U{i}" for i in reversed(may_have_effect) if failed and case.compensable[i]]
    for undo in undos:
        calls += [undo] * len(script(case.undo_outcomes[int(undo[1:])]))
    return calls, undos, "CANCELLED_COMPENSATED" if failed else "CONFIRMED"


deployed: dict[tuple[bool, ...], DeployedSaga] = {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_any_outcome_mix_ends_in_one_status_with_exactly_the_completed_steps_undone(rig: Rig, case: Case) -> None:
    # GIVEN a saga of this shape and a script of outcomes for its steps and compensators
    if case.compensable not in deployed:
        deployed[case.compensable] = rig.deploy(case.saga())
    saga = deployed[case.compensable]
    order = new_order_id("property")
    answers: dict[str, list[str]] = {}
    for i, step in enumerate(case.steps()):
        rig.functions.plan(order, step, *script(case.step_outcomes[i]))
        rig.functions.plan(order, f"U{i}", *script(case.undo_outcomes[i]))
        answers[step] = answer(case.step_outcomes[i])
        answers[f"U{i}"] = answer(case.undo_outcomes[i])
    # WHEN the order runs, the operator answering each park as scripted
    run = saga.run(order, answers=answers)
    # THEN it matches the contract
    calls, undos, status = reference(case)
    assert run.execution_status == "SUCCEEDED", run
    assert run.order_status == status
    terminal = [kind for kind in run.event_types if kind != "PropertyNeedsReview"]
    assert terminal == ["PropertyConfirmed" if status == "CONFIRMED" else "PropertyFailed"]
    assert list(dict.fromkeys(call for call in run.calls if call.startswith("U"))) == undos
    assert run.calls == calls
