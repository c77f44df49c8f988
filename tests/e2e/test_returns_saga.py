"""The paved road, end to end: the returns saga (``examples/returns_saga.py`` and
``handlers/returns.py``) deployed beside the order saga in one sandbox, on ports of its own
(AWS 25566, API 25080, issuer 25180, gateway 25181, courier 25182, Vault 25200: below
the ephemeral range, apart from the other end-to-end tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from handlers.inventory import stock_key
from handlers.toolkit import WorkItems, now
from sandbox.seed import EXAMPLE_ORDER
from sandbox.up import Sandbox, SandboxSettings
from synth.program import ROOT
from tests.e2e.client import http
from tests.e2e.stacks import SETTLED, place, stack_on_own_ports, table, wait_for_status

STACK = "returns-e2e"
PORTS = {"8180": "25180", "8181": "25181", "8182": "25182", "8200": "25200"}
LINE: dict[str, Any] = EXAMPLE_ORDER["items"][0]  # type: ignore[index]
SKU, QUANTITY = str(LINE["sku"]), int(LINE["quantity"])


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = stack_on_own_ports(tmp_path_factory.mktemp("stack"), STACK, PORTS)
    settings = SandboxSettings(
        stack=STACK,
        root=root,
        aws_port=25566,
        api_port=25080,
        time_scale=0.05,
        also=(ROOT / "examples" / "returns_saga.py",),
    )
    with Sandbox(settings).start() as running:
        yield running


def confirmed_order(sandbox: Sandbox, customer: str, token: str = "tok_visa") -> dict[str, Any]:
    order_id = place(sandbox, customer, {**EXAMPLE_ORDER, "paymentToken": token})
    return wait_for_status(table(sandbox, sandbox.outputs["ordersTableName"]), order_id, SETTLED)


def request_return(sandbox: Sandbox, order: dict[str, Any]) -> dict[str, Any]:
    """What the returns desk does: the return's item, then ``ReturnRequested`` on the returns
    bus; returns the item once its saga settled it."""
    outputs = sandbox.also_outputs["returns_saga"]
    returns = table(sandbox, outputs["sagaTableName"])
    item = {"orderId": order["orderId"], "customerId": order["customerId"], "status": "PENDING", "createdAt": now()}
    assert WorkItems(returns).create(item)  # createdAt: the sweeper restarts a PENDING one left behind
    event = {
        "EventBusName": outputs["eventBusName"],
        "Source": "returns-desk",
        "DetailType": "ReturnRequested",
        "Detail": json.dumps({"orderId": order["orderId"], "customerId": order["customerId"]}),
    }
    assert sandbox.aws("events").put_events(Entries=[event])["FailedEntryCount"] == 0
    return wait_for_status(returns, order["orderId"], SETTLED)


def stock(sandbox: Sandbox) -> int:
    inventory = table(sandbox, sandbox.outputs["inventoryTableName"])
    shards = int(inventory.get_item(Key={"pk": f"SKU#{SKU}"})["Item"]["shards"])
    return sum(int(inventory.get_item(Key={"pk": stock_key(SKU, s)})["Item"]["available"]) for s in range(shards))


def refunds(sandbox: Sandbox, charge_id: str) -> list[dict[str, Any]]:
    entries = http("GET", f"{sandbox.gateway.url}/_admin/ledger")[1]["entries"]
    return [entry for entry in entries if entry["type"] == "refund" and entry.get("chargeId") == charge_id]


def test_a_return_of_a_confirmed_order_is_refunded_and_restocked(sandbox: Sandbox) -> None:
    order = confirmed_order(sandbox, "cust-return-1")
    assert order["status"] == "CONFIRMED"
    before = stock(sandbox)

    returned = request_return(sandbox, order)

    assert returned["status"] == "CONFIRMED"
    assert set(returned["steps"]) == {"ReceiveReturn", "RefundReturn", "RestockReturn"}
    [refund] = refunds(sandbox, order["chargeId"])
    assert (refund["refundId"], refund["amount"]) == (returned["refundId"], int(order["total"]))
    assert stock(sandbox) == before + QUANTITY


def test_a_return_the_gateway_refuses_is_compensated_and_changes_nothing(sandbox: Sandbox) -> None:
    order = confirmed_order(sandbox, "cust-return-2")
    sandbox.gateway.disputed.add(order["chargeId"])  # the cardholder disputed it with the bank
    before = stock(sandbox)

    returned = request_return(sandbox, order)

    assert returned["status"] == "CANCELLED_COMPENSATED"
    assert set(returned["steps"]) == {"ReceiveReturn", "RejectReturn"}
    assert "rejectedAt" in returned and "refundId" not in returned
    assert refunds(sandbox, order["chargeId"]) == []
    assert stock(sandbox) == before


def test_a_return_of_an_order_that_was_never_confirmed_is_refused_before_any_effect(sandbox: Sandbox) -> None:
    order = confirmed_order(sandbox, "cust-return-3", token="tok_declined")
    assert order["status"] == "CANCELLED_COMPENSATED"
    before = stock(sandbox)

    returned = request_return(sandbox, order)

    assert returned["status"] == "CANCELLED_COMPENSATED"
    assert returned["steps"] == {}  # ReturnNotAllowed is clean: nothing to undo, nothing recorded
    assert stock(sandbox) == before
