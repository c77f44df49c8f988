"""The Lambda authorizer against a real local issuer: what it lets in, and every forgery it refuses."""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from cryptography.hazmat.primitives import serialization

from handlers.authorizer import Authorizer, Issuer, JwksCache, Unauthorized, bearer_token, fetch_jwks
from handlers.usage_plans import usage_plan_key
from sandbox.outside.issuer import IdentityProvider, new_rsa_key

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:api1234/prod/POST/orders"
STAGE = "arn:aws:execute-api:us-east-1:123456789012:api1234/prod"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def authorizer(idp: IdentityProvider, clock: Clock) -> Authorizer:
    issuers = [
        Issuer("customer", idp.customers.issuer, idp.customers.audience, idp.customers.jwks_uri),
        Issuer("staff", idp.staff.issuer, idp.staff.audience, idp.staff.jwks_uri),
    ]
    return Authorizer(
        issuers, JwksCache(fetch_jwks(urllib3.PoolManager()), refetch_seconds=60, ttl_seconds=600, clock=clock)
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None = None) -> str:
    """A token built by hand: ``alg: none`` or HMAC with whatever secret an attacker has."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()) if secret else ""
    return f"{signing_input}.{signature}"


def test_customer_with_both_scopes_may_place_and_read_orders(idp: IdentityProvider, authorizer: Authorizer) -> None:
    result = authorizer.authorize(idp.customers.token("cust-42"), METHOD_ARN)
    assert result["principalId"] == "cust-42"
    assert result["policyDocument"]["Statement"][0]["Resource"] == [
        f"{STAGE}/POST/orders",
        f"{STAGE}/GET/orders/*",
    ]
    assert result["context"] == {
        "sub": "cust-42",
        "customerId": "cust-42",
        "scopes": "orders:write orders:read",
        "clientId": "web-shop",
        "role": "customer",
    }
    assert result["usageIdentifierKey"] == usage_plan_key("web-shop")


def test_customer_with_read_scope_only_may_not_place_orders(idp: IdentityProvider, authorizer: Authorizer) -> None:
    result = authorizer.authorize(idp.customers.token("cust-42", scopes=["orders:read"]), METHOD_ARN)
    assert result["policyDocument"]["Statement"][0]["Resource"] == [f"{STAGE}/GET/orders/*"]


def test_staff_with_order_ops_may_read_any_order(idp: IdentityProvider, authorizer: Authorizer) -> None:
    result = authorizer.authorize(idp.staff.token("ops@example.com"), METHOD_ARN)
    assert result["policyDocument"]["Statement"][0]["Resource"] == [f"{STAGE}/GET/orders/*"]
    assert result["context"]["role"] == "staff" and result["context"]["customerId"] == ""


def forged_tokens(idp: IdentityProvider) -> dict[str, str]:
    customers = idp.customers
    good = customers.claims("cust-42", scp=["orders:write"], cid="web-shop")
    kid = customers.keys[0][0]
    public_pem = (
        customers.keys[0][1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    return {
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": kid}, good),
        "HS256 signed with the public key": unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, good, public_pem),
        "signed by another key": customers.sign(good, key=new_rsa_key()),
        "wrong issuer": customers.sign({**good, "iss": "https://evil.example/customers"}),
        "wrong audience": customers.sign({**good, "aud": "api://someone-else"}),
        "expired": customers.sign({**good, "iat": now - 7200, "exp": now - 3600}),
        "not yet valid": customers.sign({**good, "nbf": now + 3600}),
        "no expiry": customers.sign({key: value for key, value in good.items() if key != "exp"}),
        "no scope": customers.token("cust-42", scopes=["profile"]),
        "staff without OrderOps": idp.staff.token("ops@example.com", roles=["Reader"]),
        "staff token presented as customer issuer": customers.sign({**good, "iss": idp.staff.issuer}),
        "unknown kid": customers.sign(good, kid="no-such-kid"),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize(
    "attack",
    [
        "alg none",
        "HS256 signed with the public key",
        "signed by another key",
        "wrong issuer",
        "wrong audience",
        "expired",
        "not yet valid",
        "no expiry",
        "no scope",
        "staff without OrderOps",
        "staff token presented as customer issuer",
        "unknown kid",
        "garbage",
    ],
)
def test_attack_is_refused(idp: IdentityProvider, authorizer: Authorizer, attack: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        authorizer.authorize(forged_tokens(idp)[attack], METHOD_ARN)
    assert str(refused.value) == "Unauthorized"  # API Gateway's 401 contract


@pytest.mark.parametrize("header", ["", "Basic abc", "Bearer ", "token-without-scheme"])
def test_authorization_header_without_a_bearer_token_is_refused(header: str) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_rotated_key_is_picked_up_by_refetching_the_jwks(
    idp: IdentityProvider, authorizer: Authorizer, clock: Clock
) -> None:
    authorizer.authorize(idp.customers.token("cust-1"), METHOD_ARN)
    idp.customers.rotate()
    clock.now += 60  # a refetch is allowed once per interval
    assert authorizer.authorize(idp.customers.token("cust-1"), METHOD_ARN)["principalId"] == "cust-1"


def test_a_key_the_issuer_removed_stops_being_trusted_once_the_cache_expires(
    idp: IdentityProvider, authorizer: Authorizer, clock: Clock
) -> None:
    # GIVEN a token signed with the current key, trusted and cached
    customers = idp.customers
    old_kid, old_key = customers.keys[0]
    claims = customers.claims("cust-1", scp=["orders:write"], cid="web-shop")
    authorizer.authorize(customers.sign(claims), METHOD_ARN)
    # WHEN the issuer rotates and withdraws that key (compromised), and the cache's time runs out
    customers.rotate()
    customers.keys.remove((old_kid, old_key))
    clock.now += 600
    # THEN a token signed with the withdrawn key is refused, though its kid was cached
    with pytest.raises(Unauthorized) as refused:
        authorizer.authorize(customers.sign(claims, key=old_key, kid=old_kid), METHOD_ARN)
    assert refused.value.reason == f"unknown signing key {old_kid!r}"
    assert authorizer.authorize(customers.sign(claims), METHOD_ARN)["principalId"] == "cust-1"


def test_unknown_kids_refetch_the_jwks_at_most_once_per_interval(
    idp: IdentityProvider, authorizer: Authorizer, clock: Clock
) -> None:
    customers = idp.customers
    authorizer.authorize(customers.token("cust-1"), METHOD_ARN)
    before = customers.jwks_requests
    claims = customers.claims("cust-1", scp=["orders:write"], cid="web-shop")
    for attempt in range(20):
        with pytest.raises(Unauthorized):
            authorizer.authorize(customers.sign(claims, kid=f"random-{attempt}"), METHOD_ARN)
    assert customers.jwks_requests - before == 0  # first fetch was just now: within the interval
    clock.now += 61
    with pytest.raises(Unauthorized):
        authorizer.authorize(customers.sign(claims, kid="random-late"), METHOD_ARN)
    assert customers.jwks_requests - before == 1
