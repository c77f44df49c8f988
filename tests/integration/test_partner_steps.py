"""AuthorizePayment / RefundPayment and BookShipment / CancelShipment against the real local
payment gateway and courier, with their API keys read from a real OpenBao."""

import socket
from pathlib import Path

import pytest

from handlers.errors import (
    AlreadyCompensated,
    CourierUnavailable,
    NoCourierCapacity,
    OrderNotFound,
    PaymentDeclined,
    PaymentGatewayUnavailable,
)
from handlers.partners import PartnerClient
from handlers.payment import Payments
from handlers.shipping import Shipping
from handlers.vault import SecretStore, VaultClient, approle_login
from sandbox.outside.partners import Partners
from sandbox.outside.vault import Vault
from tests.integration.conftest import GATEWAY_SECRET
from tests.integration.stores import Stores


def kinds(ledger: list[dict[str, object]]) -> list[object]:
    return [entry["type"] for entry in ledger]


# -- payment ------------------------------------------------------------------------------------


def test_authorize_charges_the_order_total_once_and_records_the_charge(
    stores: Stores, partners: Partners, payments: Payments
) -> None:
    stores.add_order("o-1", lines=[("TEE", 2)])
    result = payments.authorize("o-1")
    [charge] = partners.gateway.ledger()
    assert (charge["type"], charge["amount"], charge["key"]) == ("charge", 5000, "o-1:AuthorizePayment")
    order = stores.order("o-1")
    assert order["chargeId"] == result["chargeId"] == charge["chargeId"]
    assert "AuthorizePayment" in order["steps"]


def test_authorize_invoked_twice_charges_once(stores: Stores, partners: Partners, payments: Payments) -> None:
    stores.add_order("o-1")
    assert payments.authorize("o-1") == payments.authorize("o-1")
    assert kinds(partners.gateway.ledger()) == ["charge"]


def test_declined_card_is_a_domain_error_and_records_nothing(
    stores: Stores, partners: Partners, payments: Payments
) -> None:
    stores.add_order("o-1", token="tok_declined")
    with pytest.raises(PaymentDeclined):
        payments.authorize("o-1")
    assert kinds(partners.gateway.ledger()) == ["decline"]
    assert "chargeId" not in stores.order("o-1") and stores.order("o-1")["steps"] == {}


def test_gateway_5xx_is_transient_and_the_retry_charges_once(
    stores: Stores, partners: Partners, payments: Payments
) -> None:
    stores.add_order("o-1")
    partners.gateway.faults.fail_next = 1
    with pytest.raises(PaymentGatewayUnavailable):
        payments.authorize("o-1")
    payments.authorize("o-1")
    assert kinds(partners.gateway.ledger()) == ["charge"]


def test_gateway_timeout_is_transient_and_the_retry_does_not_charge_again(
    stores: Stores, partners: Partners, payments: Payments
) -> None:
    # GIVEN the gateway charges but answers after our 0.5 s timeout
    stores.add_order("o-1")
    partners.gateway.faults.late_next, partners.gateway.faults.late_seconds = 1, 1.0
    # WHEN the step times out, then runs again with the same key
    with pytest.raises(PaymentGatewayUnavailable):
        payments.authorize("o-1")
    payments.authorize("o-1")
    # THEN the customer was charged exactly once
    assert kinds(partners.gateway.ledger()) == ["charge"]


def test_refund_gives_back_the_charge_once(stores: Stores, partners: Partners, payments: Payments) -> None:
    stores.add_order("o-1")
    payments.authorize("o-1")
    assert payments.refund("o-1") == payments.refund("o-1")
    charge, refund = partners.gateway.ledger()
    assert (charge["type"], refund["type"], refund["amount"]) == ("charge", "refund", charge["amount"])
    assert "RefundPayment" in stores.order("o-1")["steps"]


def test_refund_of_a_charge_that_never_landed_voids_it_and_a_later_authorization_is_refused(
    stores: Stores, partners: Partners, payments: Payments
) -> None:
    stores.add_order("o-1")
    payments.refund("o-1")
    with pytest.raises(AlreadyCompensated):
        payments.authorize("o-1")
    assert kinds(partners.gateway.ledger()) == ["void"]


def test_rotated_api_key_is_refetched_from_vault(
    stores: Stores, partners: Partners, payments: Payments, vault: Vault
) -> None:
    stores.add_order("o-1")
    payments.authorize("o-1")  # caches the current key
    partners.gateway.api_key = "pk_rotated"
    vault.put_secret(GATEWAY_SECRET, {"api_key": "pk_rotated"})
    stores.add_order("o-2")
    payments.authorize("o-2")
    assert kinds(partners.gateway.ledger()) == ["charge", "charge"]


def test_vault_outage_is_transient_and_calls_nobody(
    stores: Stores, partners: Partners, vault: Vault, tmp_path: Path
) -> None:
    # GIVEN a function whose Vault does not answer (a port nothing listens on)
    role_id, secret_file = vault.grant("saga-partners-down", [GATEWAY_SECRET], tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    down = SecretStore(VaultClient(dead, timeout=1), approle_login(role_id, str(secret_file)))
    gateway = PartnerClient(
        partners.gateway.url, down.field(GATEWAY_SECRET, "api_key"), PaymentGatewayUnavailable, timeout_seconds=0.5
    )
    stores.add_order("o-1")
    # WHEN the step runs, THEN it is retried later (not compensated), and nothing was sent
    with pytest.raises(PaymentGatewayUnavailable):
        Payments(stores.orders_table, gateway).authorize("o-1")
    assert partners.gateway.ledger() == []


def test_step_for_an_unknown_order_fails_without_calling_the_partner(partners: Partners, payments: Payments) -> None:
    with pytest.raises(OrderNotFound):
        payments.authorize("o-missing")
    assert partners.gateway.ledger() == []


# -- shipping -----------------------------------------------------------------------------------


def test_book_takes_one_courier_slot_even_when_invoked_twice(
    stores: Stores, partners: Partners, shipping: Shipping
) -> None:
    stores.add_order("o-1")
    assert shipping.book("o-1")["bookingId"] == shipping.book("o-1")["bookingId"]
    assert kinds(partners.courier.ledger()) == ["booking"]
    assert stores.order("o-1")["bookingId"]


def test_courier_without_capacity_is_a_domain_error(stores: Stores, partners: Partners, shipping: Shipping) -> None:
    partners.courier.faults.capacity = 0
    stores.add_order("o-1")
    with pytest.raises(NoCourierCapacity):
        shipping.book("o-1")
    assert partners.courier.ledger() == []


@pytest.mark.parametrize("fault", ["fail_next", "late_next"])
def test_courier_5xx_or_timeout_is_transient(
    stores: Stores, partners: Partners, shipping: Shipping, fault: str
) -> None:
    stores.add_order("o-1")
    setattr(partners.courier.faults, fault, 1)
    partners.courier.faults.late_seconds = 1.0
    with pytest.raises(CourierUnavailable):
        shipping.book("o-1")
    shipping.book("o-1")
    assert kinds(partners.courier.ledger()) == ["booking"]


def test_cancel_twice_equals_cancel_once(stores: Stores, partners: Partners, shipping: Shipping) -> None:
    stores.add_order("o-1")
    shipping.book("o-1")
    assert shipping.cancel("o-1") == shipping.cancel("o-1")
    assert kinds(partners.courier.ledger()) == ["booking", "cancellation"]


def test_cancelling_a_booking_that_never_landed_refuses_a_later_booking(
    stores: Stores, partners: Partners, shipping: Shipping
) -> None:
    stores.add_order("o-1")
    shipping.cancel("o-1")
    with pytest.raises(AlreadyCompensated):
        shipping.book("o-1")
    [cancellation] = partners.courier.ledger()
    assert cancellation["bookingId"] is None
