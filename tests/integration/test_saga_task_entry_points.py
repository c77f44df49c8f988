"""The eight saga task Lambdas through their deployed entry points, configured only by their
environment: Vault login, partner URLs, tables. Also what they log and measure."""

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers import inventory, loyalty, payment, shipping
from handlers.toolkit import entry as saga_task
from sandbox.outside.partners import Partners
from sandbox.outside.vault import Vault
from tests.integration.conftest import COURIER_SECRET, GATEWAY_SECRET
from tests.integration.lambda_events import LambdaContext
from tests.integration.stores import Stores

Entry = Callable[[dict[str, Any], Any], dict[str, Any]]

ENTRY_POINTS: dict[str, Entry] = {
    "AuthorizePayment": payment.authorize_handler,
    "RefundPayment": payment.refund_handler,
    "ReserveInventory": inventory.reserve_handler,
    "ReleaseInventory": inventory.release_handler,
    "BurnLoyaltyPoints": loyalty.burn_handler,
    "RestoreLoyaltyPoints": loyalty.restore_handler,
    "BookShipment": shipping.book_handler,
    "CancelShipment": shipping.cancel_handler,
}
CACHED_SERVICES = [payment.payments, inventory.inventory, loyalty.loyalty, shipping.shipping]


@pytest.fixture
def deployed(
    stores: Stores, partners: Partners, vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stores]:
    """The environment the program gives the functions (secrets by Vault path, never value)."""
    role_id, secret_file = vault.grant("saga-tasks", [GATEWAY_SECRET, COURIER_SECRET], tmp_path)
    environment = {
        "ORDERS_TABLE": stores.orders.name,
        "INVENTORY_TABLE": stores.inventory.name,
        "LOYALTY_TABLE": stores.loyalty.name,
        "PAYMENT_GATEWAY_URL": partners.gateway.url,
        "COURIER_URL": partners.courier.url,
        "VAULT_ADDR": vault.url,
        "VAULT_AUTH": "approle",
        "VAULT_ROLE": role_id,
        "VAULT_LOGIN_FILE": str(secret_file),
        "POWERTOOLS_SERVICE_NAME": "order-saga-test",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for service in CACHED_SERVICES:
        service.cache_clear()
    stores.add_sku("TEE", stock=[5])
    stores.add_account("cust-1", 1000)
    yield stores
    for service in CACHED_SERVICES:
        service.cache_clear()


def saga_document(order_id: str) -> dict[str, Any]:
    """What Step Functions passes: the order, earlier results, failures."""
    return {"orderId": order_id, "customerId": "cust-1", "results": {}, "failures": {}}


@pytest.mark.parametrize("task", list(ENTRY_POINTS))
def test_entry_point_completes_its_task_and_stamps_the_order(deployed: Stores, task: str) -> None:
    deployed.add_order("o-1", lines=[("TEE", 1)], points=10)
    result = ENTRY_POINTS[task](saga_document("o-1"), LambdaContext())
    assert isinstance(result, dict)
    assert task in deployed.order("o-1")["steps"]


def test_domain_error_leaves_with_its_class_name_for_the_state_machine(deployed: Stores) -> None:
    deployed.add_order("o-1", token="tok_declined")
    with pytest.raises(Exception) as raised:
        ENTRY_POINTS["AuthorizePayment"](saga_document("o-1"), LambdaContext())
    assert type(raised.value).__name__ == "PaymentDeclined"


def test_payload_without_order_id_is_refused(deployed: Stores) -> None:
    with pytest.raises(Exception, match="orderId"):
        ENTRY_POINTS["ReserveInventory"]({"results": {}}, LambdaContext())


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines]


def test_logs_carry_the_order_as_correlation_id_and_never_the_card_token(
    deployed: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = io.StringIO()
    monkeypatch.setattr(saga_task.logger.registered_handler, "stream", written)
    deployed.add_order("o-1", token="tok_secret_card_token")
    ENTRY_POINTS["AuthorizePayment"](saga_document("o-1"), LambdaContext())
    logs = [json.loads(line) for line in written.getvalue().splitlines()]
    assert logs and all(record["correlation_id"] == "o-1" for record in logs)
    assert all(record["task"] == "AuthorizePayment" for record in logs)
    assert "tok_secret_card_token" not in written.getvalue()
    assert "pk_test_gateway" not in written.getvalue()  # nor the partner's API key


def test_metrics_count_outcomes_and_latency_per_task_in_the_order_saga_namespace(
    deployed: Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.add_order("o-1", lines=[("TEE", 1)])
    capsys.readouterr()
    ENTRY_POINTS["ReleaseInventory"](saga_document("o-1"), LambdaContext())
    [metrics] = [record for record in emitted(capsys) if "_aws" in record]
    directive = metrics["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "OrderSaga"
    assert ["Task"] in [sorted(set(d) - {"service"}) for d in directive["Dimensions"]]
    assert metrics["Task"] == "ReleaseInventory"
    assert {m["Name"] for m in directive["Metrics"]} == {"Succeeded", "Latency", "Compensations"}


@pytest.fixture
def guarded(deployed: Stores, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The region guard on, as the program deploys it; yields every GetItem the tasks make."""
    import boto3

    from handlers import ownership

    monkeypatch.setenv("REGION_ROLE", "primary")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    ownership.from_environment.cache_clear()
    reads: list[dict[str, Any]] = []
    session = boto3._get_default_session()

    def record(params: dict[str, Any], **_: Any) -> None:
        reads.append(params)

    session.events.register("provide-client-params.dynamodb.GetItem", record)
    yield reads
    session.events.unregister("provide-client-params.dynamodb.GetItem", record)
    ownership.from_environment.cache_clear()


@pytest.mark.parametrize("task", list(ENTRY_POINTS))
def test_a_guarded_task_reads_the_order_once_for_the_guard_and_itself(
    guarded: list[dict[str, Any]], deployed: Stores, task: str
) -> None:
    deployed.add_order("o-1", lines=[("TEE", 1)], points=10)
    if task in ("RefundPayment", "CancelShipment"):  # their undo: first the forward result to undo
        ENTRY_POINTS[{"RefundPayment": "AuthorizePayment", "CancelShipment": "BookShipment"}[task]](
            saga_document("o-1"), LambdaContext()
        )
    guarded.clear()
    ENTRY_POINTS[task](saga_document("o-1"), LambdaContext())
    order_reads = [read for read in guarded if read["Key"] == {"orderId": "o-1"}]  # not the control item's
    assert order_reads == [{"TableName": deployed.orders.name, "Key": {"orderId": "o-1"}, "ConsistentRead": True}]
    assert task in deployed.order("o-1")["steps"]


def test_a_guarded_task_on_an_order_another_region_owns_stands_down_before_any_effect(
    guarded: list[dict[str, Any]], deployed: Stores
) -> None:
    deployed.add_order("o-1", lines=[("TEE", 1)])
    deployed.orders.update_item(
        Key={"orderId": "o-1"}, UpdateExpression="SET ownerRegion = :r", ExpressionAttributeValues={":r": "us-west-2"}
    )
    with pytest.raises(Exception) as raised:
        ENTRY_POINTS["ReserveInventory"](saga_document("o-1"), LambdaContext())
    assert type(raised.value).__name__ == "RegionStandsDown"
    assert deployed.order("o-1")["steps"] == {}


# The compensator runs inside the step's invocation here, so Powertools sees the Task dimension twice.
@pytest.mark.filterwarnings("ignore:Dimension 'Task' has already been added")
def test_a_compensator_that_overtakes_the_guards_read_still_fences_the_late_step(
    guarded: list[dict[str, Any]], deployed: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers.ownership import RegionControl

    # GIVEN the step's first read is the guard's, and its compensator runs right after it
    deployed.add_order("o-1", lines=[("TEE", 1)])
    before = deployed.stock("TEE")
    read = RegionControl.check_task

    def overtaken(guard: RegionControl, order_id: str) -> dict[str, Any] | None:
        item = read(guard, order_id)
        monkeypatch.setattr(RegionControl, "check_task", read)  # once: the compensator's own guard reads afresh
        ENTRY_POINTS["ReleaseInventory"](saga_document(order_id), LambdaContext())
        return item  # read before the fence

    monkeypatch.setattr(RegionControl, "check_task", overtaken)
    # WHEN the late step goes on with that read
    with pytest.raises(Exception) as raised:
        ENTRY_POINTS["ReserveInventory"](saga_document("o-1"), LambdaContext())
    # THEN its effect meets the fence: no stock held, nothing recorded as done
    assert type(raised.value).__name__ == "AlreadyCompensated"
    assert deployed.stock("TEE") == before
    assert "ReserveInventory" not in deployed.order("o-1")["steps"]
