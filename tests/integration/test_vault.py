"""Reading partner keys from Vault: AppRole against a real OpenBao, and the production ``aws``
IAM login as far as it can go without AWS (OpenBao ships no ``aws`` auth plugin)."""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hvac
import pytest

from handlers.vault import (
    LEASE_MARGIN,
    SecretStore,
    SecretsUnavailable,
    VaultClient,
    VaultError,
    approle_login,
    iam_login,
    store_from_environment,
)
from sandbox.http import LoopbackServer, Reply, Request, json_reply
from sandbox.outside.vault import Vault
from tests.integration.conftest import COURIER_SECRET, GATEWAY_SECRET


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gateway_only(vault: Vault, tmp_path: Path) -> tuple[str, Path]:
    vault.put_secret(GATEWAY_SECRET, {"api_key": "pk_vault_test"})
    vault.put_secret(COURIER_SECRET, {"api_key": "ck_vault_test"})
    return vault.grant("gateway-only", [GATEWAY_SECRET], tmp_path, token_ttl="10m")


def test_secret_is_read_once_and_cached_for_the_token_lease(vault: Vault, gateway_only: tuple[str, Path]) -> None:
    role_id, secret_file = gateway_only
    clock = Clock()
    store = SecretStore(VaultClient(vault.url), approle_login(role_id, str(secret_file)), clock=clock)
    assert store.read(GATEWAY_SECRET) == {"api_key": "pk_vault_test"}
    clock.now += 600 * LEASE_MARGIN - 1
    store.read(GATEWAY_SECRET)
    assert store.logins == 1
    clock.now += 1  # the lease is nearly over: log in again, read afresh
    store.read(GATEWAY_SECRET)
    assert store.logins == 2


def test_role_reads_only_the_paths_it_was_granted(vault: Vault, gateway_only: tuple[str, Path]) -> None:
    role_id, secret_file = gateway_only
    store = SecretStore(VaultClient(vault.url), approle_login(role_id, str(secret_file)))
    with pytest.raises(VaultError) as refused:
        store.read(COURIER_SECRET)
    assert refused.value.status == 403  # not transient: no retry fixes a grant


def test_store_is_configured_from_the_environment_with_no_secret_in_it(
    vault: Vault, gateway_only: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    role_id, secret_file = gateway_only
    monkeypatch.setenv("VAULT_ADDR", vault.url)
    monkeypatch.setenv("VAULT_AUTH", "approle")
    monkeypatch.setenv("VAULT_ROLE", role_id)
    monkeypatch.setenv("VAULT_LOGIN_FILE", str(secret_file))
    assert store_from_environment().read(GATEWAY_SECRET)["api_key"] == "pk_vault_test"


def test_unknown_auth_method_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:1")
    monkeypatch.setenv("VAULT_AUTH", "token")
    with pytest.raises(ValueError, match="VAULT_AUTH must be 'aws' or 'approle'"):
        store_from_environment()


def test_openbao_has_no_aws_auth_method(vault: Vault) -> None:
    # Why the sandbox uses AppRole: if this starts passing, switch the sandbox to iam_login.
    with pytest.raises(hvac.exceptions.InvalidRequest, match="plugin not found"):
        vault.admin.sys.enable_auth_method("aws", path="aws-probe")


@pytest.fixture
def login_recorder() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A Vault that records each login's body and grants a token."""
    received: list[dict[str, Any]] = []

    def respond(request: Request) -> Reply:
        received.append({"path": request.path, **json.loads(request.body)})
        return json_reply(200, {"auth": {"client_token": "s.recorded", "lease_duration": 900}})

    server = LoopbackServer(respond, name="vault-login-recorder").start()
    yield server.url, received
    server.stop()


def test_iam_login_sends_a_signed_get_caller_identity_for_the_role(
    login_recorder: tuple[str, list[dict[str, Any]]],
) -> None:
    # GIVEN the function's role credentials
    url, received = login_recorder
    credentials = SimpleNamespace(access_key="AKIDEXAMPLE", secret_key="secret", token="session-token")
    client = VaultClient(url)
    # WHEN it logs in to Vault
    lease = iam_login("payment-step", "us-east-1", credentials=lambda: credentials)(client)
    # THEN Vault received a SigV4-signed sts:GetCallerIdentity it can forward to STS
    [login] = received
    assert login["path"] == "/v1/auth/aws/login" and login["role"] == "payment-step"
    assert login["iam_http_request_method"] == "POST"
    assert base64.b64decode(login["iam_request_body"]).decode() == "Action=GetCallerIdentity&Version=2011-06-15"
    assert "sts" in base64.b64decode(login["iam_request_url"]).decode()
    headers = json.loads(base64.b64decode(login["iam_request_headers"]))
    authorization = headers["Authorization"]
    authorization = authorization[0] if isinstance(authorization, list) else authorization
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert (lease, client.token) == (900, "s.recorded")


@dataclass
class StubVault:
    """Answers every request with ``status`` (and Vault's error body); a 307 points at ``target``."""

    url: str = ""
    status: int = 200
    target: str = ""

    def respond(self, request: Request) -> Reply:
        location = {"Location": self.target + request.path} if self.status == 307 else {}
        return json_reply(self.status, {"errors": [f"stub says {self.status}"]}, location)


@pytest.fixture
def stub_vault() -> Iterator[tuple[str, StubVault]]:
    stub = StubVault()
    server = LoopbackServer(stub.respond, name="vault-stub").start()
    yield server.url, stub
    server.stop()


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_a_vault_that_is_sealed_overloaded_or_failing_is_transient(
    stub_vault: tuple[str, StubVault], status: int
) -> None:
    url, answers = stub_vault
    answers.status = status
    store = SecretStore(VaultClient(url), lambda client: 600)
    with pytest.raises(SecretsUnavailable, match=f"HTTP {status}"):
        store.read(GATEWAY_SECRET)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_refusal_no_retry_fixes_is_not_transient(stub_vault: tuple[str, StubVault], status: int) -> None:
    url, answers = stub_vault
    answers.status = status
    store = SecretStore(VaultClient(url), lambda client: 600)
    with pytest.raises(VaultError) as refused:
        store.read(GATEWAY_SECRET)
    assert (refused.value.status, refused.value.errors) == (status, [f"stub says {status}"])


def test_a_standby_nodes_redirect_to_the_active_node_is_followed(
    stub_vault: tuple[str, StubVault], vault: Vault, gateway_only: tuple[str, Path]
) -> None:
    # GIVEN a Vault node that redirects every request to the active node (the real OpenBao)
    url, answers = stub_vault
    answers.status, answers.target = 307, vault.url
    role_id, secret_file = gateway_only
    store = SecretStore(VaultClient(url), approle_login(role_id, str(secret_file)))
    # THEN the login (a POST) and the read both reach it
    assert store.read(GATEWAY_SECRET) == {"api_key": "pk_vault_test"}


def test_a_deleted_latest_version_is_not_served(vault: Vault, gateway_only: tuple[str, Path]) -> None:
    role_id, secret_file = gateway_only
    store = SecretStore(VaultClient(vault.url), approle_login(role_id, str(secret_file)))
    vault.admin.secrets.kv.v2.delete_latest_version_of_secret(path=GATEWAY_SECRET)
    with pytest.raises(VaultError) as refused:
        store.read(GATEWAY_SECRET)
    assert refused.value.status == 404
