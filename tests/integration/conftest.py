"""Integration fixtures: one moto account per session, and the real local parts."""

import random
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from components.saga import SagaDefinition, SagaStep
from handlers.contract import COURIER, PAYMENT_GATEWAY
from handlers.errors import CourierUnavailable, PaymentGatewayUnavailable
from handlers.inventory import Inventory
from handlers.loyalty import Loyalty
from handlers.partners import PartnerClient
from handlers.payment import Payments
from handlers.shipping import Shipping
from handlers.vault import SecretStore, VaultClient, approle_login
from sandbox.aws.moto_patches import (
    cache_asl_parse_trees,
    cache_backend_lookup,
    cache_jsonpath_parses,
    one_execution_per_name,
    read_retention_from_the_queue,
    serialize_dynamodb_requests,
    serialize_items_as_json,
    time_scale,
)
from sandbox.aws.scripted_saga import Rig, ScriptedFunctions, new_order_id
from sandbox.aws.stepfunctions import route_lambda_invokes
from sandbox.outside.partners import Partners
from sandbox.outside.vault import Vault
from tests.integration.stores import Stores

# Retry waits and timeouts at 1/100 of real time: a 30 s state timeout takes 0.3 s, ample
# for an in-process scripted function on a loaded machine, short enough for the suite.
TIME_SCALE = 0.01

GATEWAY_SECRET = PAYMENT_GATEWAY.vault_path
COURIER_SECRET = COURIER.vault_path


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    serialize_dynamodb_requests()  # the sandbox's patches, so every test here runs with them on
    cache_asl_parse_trees()
    cache_jsonpath_parses()
    one_execution_per_name()
    cache_backend_lookup()
    read_retention_from_the_queue()
    serialize_items_as_json()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@pytest.fixture(scope="session")
def rig(aws: None) -> Iterator[Rig]:
    functions = ScriptedFunctions()
    # mock_aws replaces boto3's default session: route on the one the interpreter uses.
    unroute = route_lambda_invokes(boto3._get_default_session(), functions)
    with time_scale(TIME_SCALE) as retry_waits:
        rig = Rig(functions, retry_waits)
        # One execution first: it builds the interpreter's clients (reuse_interpreter_clients),
        # which on a loaded machine can take longer than a scaled state timeout (0.3 s).
        rig.deploy(SagaDefinition(name="warm-up", steps=[SagaStep("WarmUp")])).run(new_order_id("warm-up"))
        yield rig
    functions.release.set()
    unroute()


@pytest.fixture
def stores(aws: None) -> Stores:
    """Fresh orders, inventory and loyalty tables for one test."""
    return Stores.create()


@pytest.fixture(scope="session")
def vault() -> Iterator[Vault]:
    server = Vault().start()
    yield server
    server.stop()


@pytest.fixture
def partners(vault: Vault) -> Iterator[Partners]:
    """Fresh payment gateway and courier, their keys in Vault."""
    started = Partners.start("pk_test_gateway", "ck_test_courier")
    vault.put_secret(GATEWAY_SECRET, {"api_key": started.gateway.api_key})
    vault.put_secret(COURIER_SECRET, {"api_key": started.courier.api_key})
    yield started
    started.stop()


@pytest.fixture
def secret_store(vault: Vault, tmp_path: Path) -> SecretStore:
    """A function's view of Vault: an AppRole allowed to read the partners' keys only."""
    role_id, secret_file = vault.grant("saga-partners", [GATEWAY_SECRET, COURIER_SECRET], tmp_path)
    return SecretStore(VaultClient(vault.url), approle_login(role_id, str(secret_file)))


# -- the step services, each on fresh tables (and fresh partners) --------------------------------


@pytest.fixture
def payments(stores: Stores, partners: Partners, secret_store: SecretStore) -> Payments:
    gateway = PartnerClient(
        partners.gateway.url,
        secret_store.field(GATEWAY_SECRET, "api_key"),
        PaymentGatewayUnavailable,
        timeout_seconds=0.5,
    )
    return Payments(stores.orders_table, gateway)


@pytest.fixture
def shipping(stores: Stores, partners: Partners, secret_store: SecretStore) -> Shipping:
    courier = PartnerClient(
        partners.courier.url,
        secret_store.field(COURIER_SECRET, "api_key"),
        CourierUnavailable,
        timeout_seconds=0.5,
    )
    return Shipping(stores.orders_table, courier)


@pytest.fixture
def inventory(stores: Stores) -> Inventory:
    return Inventory(stores.orders_table, stores.inventory, rng=random.Random(7))


@pytest.fixture
def loyalty(stores: Stores) -> Loyalty:
    return Loyalty(stores.orders_table, stores.loyalty)
