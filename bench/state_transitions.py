"""States entered per order by the compiled order saga, on every path, run in moto.

Step Functions Standard bills each state transition and its quota counts them, so this is
the saga's cost and headroom figure. Prints a table and the ratio of states entered to the
Lambda work done; `make bench` runs it.
"""

import logging

import boto3
from moto import mock_aws

from components.order_saga import ORDER_SAGA
from sandbox.aws.moto_patches import time_scale
from sandbox.aws.scripted_saga import HANG, Rig, SagaRun, ScriptedFunctions, fails, new_order_id
from sandbox.aws.stepfunctions import route_lambda_invokes

PRICE_PER_TRANSITION_USD = 0.000025  # Standard workflows, us-east-1


def main() -> None:
    # moto logs every caught task failure at ERROR; for a saga those are routine.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    functions = ScriptedFunctions()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        route_lambda_invokes(boto3._get_default_session(), functions)
        with time_scale(0.01):
            rig = Rig(functions, [])
            saga, second = rig.deploy(ORDER_SAGA), rig.deploy(ORDER_SAGA)
            steps = [step.name for step in ORDER_SAGA.steps]
            paths: list[tuple[str, dict[str, list[str]]]] = [("happy path", {})]
            paths += [(f"clean error at {s.name}", {s.name: [fails(s.clean_errors[0])]}) for s in ORDER_SAGA.steps]
            paths += [(f"crash (unknown outcome) at {step}", {step: [fails("Runtime.ExitError")]}) for step in steps]
            paths += [(f"timeout at {steps[-1]}", {steps[-1]: [HANG]})]
            paths += [(f"2 transient errors at {steps[0]}", {steps[0]: [fails("Lambda.ServiceException")] * 2})]
            print(f"{'path':<46}{'states':>7}{'lambda calls':>14}{'states/call':>13}{'USD per 1M orders':>19}")

            def show(label: str, run: SagaRun) -> None:
                states, calls = len(run.states_entered), len(run.calls)
                cost = states * PRICE_PER_TRANSITION_USD * 1_000_000
                print(f"{label:<46}{states:>7}{calls:>14}{states / max(calls, 1):>13.2f}{cost:>19,.0f}")

            for label, script in paths:
                order = new_order_id("bench")
                for task, outcomes in script.items():
                    functions.plan(order, task, *outcomes)
                show(label, saga.run(order))
            # A second saga for an order another one settled (a standby region, a manual restart).
            order = new_order_id("bench")
            saga.run(order)
            show("second saga, order already CONFIRMED", second.run(order, existing=True))
            functions.release.set()
    print("\nRetries are not states entered in moto's history; AWS bills each retry as a transition.")


if __name__ == "__main__":
    main()
