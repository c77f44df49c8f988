"""End to end: ``python -m ops --sandbox ...`` as an operator runs it, against a running sandbox.

The sandbox runs on ports of its own (AWS 24566, API 28080, issuer 28180, gateway 28181,
courier 28182, Vault 28200) from a copy of the sandbox stack, so it never meets another run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.intake import ApiError, Intake
from handlers.toolkit import WorkItems
from sandbox.seed import EXAMPLE_ORDER
from sandbox.up import Sandbox, SandboxSettings
from synth.program import ROOT
from tests.e2e.client import http
from tests.e2e.stacks import SETTLED, place, stack_on_own_ports, wait_for_status

STACK = "ops-e2e"
PORTS = {"8180": "28180", "8181": "28181", "8182": "28182", "8200": "28200"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = stack_on_own_ports(tmp_path_factory.mktemp("stack"), STACK, PORTS)
    settings = SandboxSettings(stack=STACK, root=root, aws_port=24566, api_port=28080, time_scale=0.05)
    with Sandbox(settings).start() as running:
        yield running


def ops(*args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "ops", "--sandbox", "--stack", STACK, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def orders(sandbox: Sandbox) -> Any:
    dynamodb = sandbox.session.resource("dynamodb", endpoint_url=sandbox.aws_endpoint)
    return dynamodb.Table(sandbox.outputs["ordersTableName"])


def status_of(sandbox: Sandbox, order_id: str, wanted: tuple[str, ...], seconds: float = 90) -> dict[str, Any]:
    return wait_for_status(orders(sandbox), order_id, wanted, seconds)


def money(sandbox: Sandbox, order_id: str) -> list[str]:
    entries = http("GET", f"{sandbox.gateway.url}/_admin/ledger")[1]["entries"]
    return [e["type"] for e in entries if e.get("reference") == order_id]


def parked_at_shipment(sandbox: Sandbox, customer: str) -> str:
    """An order that exhausted BookShipment's retries: the courier fails every call."""
    sandbox.courier.faults.fail_rate = 1.0
    try:
        order_id = place(sandbox, customer)
        item = status_of(sandbox, order_id, ("NEEDS_REVIEW", *SETTLED))
    finally:
        sandbox.courier.faults.fail_rate = 0.0
    assert (item["status"], item.get("parkedStep")) == ("NEEDS_REVIEW", "BookShipment")
    return order_id


def pending_without_saga(sandbox: Sandbox, customer: str, age: timedelta = timedelta(0)) -> str:
    """The real intake writes the order, then its PutEvents fails (a bus that is not there):
    the client got a 503 and gave up. The order is PENDING and nothing will start it."""
    dynamodb = sandbox.session.resource("dynamodb", endpoint_url=sandbox.aws_endpoint)
    intake = Intake(
        WorkItems(orders(sandbox)),
        dynamodb.Table(sandbox.outputs["inventoryTableName"]),
        sandbox.aws("events"),
        "no-such-bus",
    )
    with pytest.raises(ApiError) as refused:
        intake.submit(customer, str(uuid.uuid4()), json.dumps(EXAMPLE_ORDER))
    assert refused.value.status == 503
    [item] = [i for i in orders(sandbox).scan()["Items"] if i["customerId"] == customer and i["status"] == "PENDING"]
    if age:
        created = (datetime.now(UTC) - age).isoformat(timespec="milliseconds")
        orders(sandbox).update_item(
            Key={"orderId": item["orderId"]},
            UpdateExpression="SET createdAt = :created",
            ExpressionAttributeValues={":created": created},
        )
    return str(item["orderId"])


def test_parked_order_is_listed_and_compensated_with_a_refund(sandbox: Sandbox) -> None:
    # GIVEN an order parked at BookShipment
    order_id = parked_at_shipment(sandbox, "cust-ops-1")
    # WHEN the operator lists parked orders
    code, stdout, stderr = ops("parked", "--json")
    assert code == 0, stderr
    [row] = [r for r in json.loads(stdout) if r["orderId"] == order_id]
    assert (row["step"], row["error"], row["answerable"]) == ("BookShipment", "CourierUnavailable", True)
    assert f"resolve {order_id} --compensate" in row["resolve"][1]
    # AND answers it with compensate
    code, _, stderr = ops("resolve", order_id, "--compensate")
    assert code == 0, stderr
    # THEN the order is compensated and the card refunded
    status_of(sandbox, order_id, ("CANCELLED_COMPENSATED",))
    assert money(sandbox, order_id) == ["charge", "refund"]
    # AND resolving it again is refused and changes nothing
    code, _, stderr = ops("resolve", order_id, "--compensate")
    assert code == 1 and "is not parked (status CANCELLED_COMPENSATED)" in stderr, stderr
    assert money(sandbox, order_id) == ["charge", "refund"]


def test_retry_after_the_courier_recovers_confirms_and_trace_shows_four_steps(sandbox: Sandbox) -> None:
    order_id = parked_at_shipment(sandbox, "cust-ops-2")  # the courier is back afterwards
    code, _, stderr = ops("resolve", order_id, "--retry")
    assert code == 0, stderr
    status_of(sandbox, order_id, ("CONFIRMED",))
    code, stdout, stderr = ops("trace", order_id, "--json")
    assert code == 0, stderr
    trace = json.loads(stdout)
    steps = ["AuthorizePayment", "ReserveInventory", "BurnLoyaltyPoints", "BookShipment"]
    assert sorted(trace["order"]["steps"]) == sorted(steps)
    [execution] = trace["executions"]
    assert execution["status"] == "SUCCEEDED"
    entered = [state["state"] for state in execution["statesEntered"]]
    before_and_after_the_park = [*steps[:3], "BookShipment", "BookShipment"]
    assert [s for s in entered if s in steps] == before_and_after_the_park
    assert "BookShipment_Park" in entered and trace["parked"] == [] and trace["next"] == []
    assert "paymentToken" not in trace["order"]
    code, stdout, _ = ops("trace", order_id)  # the human view
    assert code == 0 and order_id in stdout and "CONFIRMED" in stdout


def test_bad_input_exits_non_zero_with_a_message_and_changes_nothing(sandbox: Sandbox) -> None:
    order_id = parked_at_shipment(sandbox, "cust-ops-3")
    for args, code, message in [
        (("resolve", "no-such-order", "--retry"), 2, "no order no-such-order"),
        (("trace", "no-such-order"), 2, "no order no-such-order"),
        (("resolve", order_id, "--retry", "--compensate"), 2, "exactly one of --retry and --compensate"),
        (("resolve", order_id), 2, "exactly one of --retry and --compensate"),
        (("reconcile", "--older-than", "soon"), 2, "not a duration"),
        (("redrive", order_id), 1, "not halted"),
    ]:
        got, _, stderr = ops(*args)
        assert (got, message in stderr) == (code, True), (args, stderr)
    # THEN the order still waits, answerable
    assert status_of(sandbox, order_id, ("NEEDS_REVIEW",))["parkedStep"] == "BookShipment"
    code, stdout, _ = ops("parked", "--json")
    assert [r["answerable"] for r in json.loads(stdout) if r["orderId"] == order_id] == [True]
    assert ops("resolve", order_id, "--compensate")[0] == 0  # leave nothing parked for the next test


def test_reconcile_settles_an_accepted_order_that_has_no_saga(sandbox: Sandbox) -> None:
    order_id = pending_without_saga(sandbox, "cust-ops-4")
    # a dry run says what it would do and changes nothing
    code, stdout, stderr = ops("reconcile", "--older-than", "0s", "--dry-run", "--json")
    assert code == 0, stderr
    [finding] = [f for f in json.loads(stdout)["findings"] if f["order_id"] == order_id]
    assert (finding["action"], finding["execution_status"]) == ("would restart", None)
    time.sleep(2)
    assert status_of(sandbox, order_id, ("PENDING",))
    # the real run starts it through the bus, and the saga settles it
    code, stdout, stderr = ops("reconcile", "--older-than", "0s")
    assert code == 0, stderr
    assert order_id in stdout and "restarted" in stdout
    status_of(sandbox, order_id, ("CONFIRMED",))
    assert money(sandbox, order_id) == ["charge"]


def test_the_scheduled_sweeper_settles_an_old_pending_order(sandbox: Sandbox) -> None:
    # GIVEN an order left PENDING an hour ago (older than the sweeper's 15 minutes)
    order_id = pending_without_saga(sandbox, "cust-ops-5", age=timedelta(hours=1))
    # THEN the sweeper, every 15 s at this time scale, starts its saga
    status_of(sandbox, order_id, ("CONFIRMED",), seconds=120)
    log = (ROOT / "build" / "sandbox" / "logs" / f"{sandbox.outputs['sweeperFunctionName']}.log").read_text()
    assert order_id in log and "OrdersReconciled" in log


def test_recount_gives_back_a_unit_no_reservation_holds_and_then_finds_nothing(sandbox: Sandbox) -> None:
    # GIVEN a CAP shard one unit short, as a lost region's late decrement leaves it
    dynamodb = sandbox.session.resource("dynamodb", endpoint_url=sandbox.aws_endpoint)
    inventory = dynamodb.Table(sandbox.outputs["inventoryTableName"])
    inventory.update_item(
        Key={"pk": "STOCK#CAP#0"},
        UpdateExpression="SET available = available - :one",
        ExpressionAttributeValues={":one": 1},
    )
    # WHEN the on-call runs the runbook's recount (a dry run first: it changes nothing)
    code, stdout, stderr = ops("recount", "--dry-run", "--json")
    assert code == 0, stderr
    assert [(c["subject"], c["change"]) for c in json.loads(stdout)["corrections"]] == [("STOCK#CAP#0", 1)]
    code, stdout, stderr = ops("recount")
    # THEN the unit is back, and a second run finds nothing to correct
    assert code == 0, stderr
    assert "STOCK#CAP#0" in stdout and "+1" in stdout
    code, stdout, stderr = ops("recount", "--json")
    assert code == 0 and json.loads(stdout)["corrections"] == [], stderr
