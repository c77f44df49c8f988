"""API Gateway TOKEN authorizer: RS256 JWTs from Okta (customers) and Entra ID (staff).

Customers need scope ``orders:write`` to place and ``orders:read`` to read their orders;
staff need the app role ``OrderOps`` and may read any order. The issuer is chosen by the
token's ``iss`` and must be configured; its signing key comes from its JWKS, cached and
kept for ``JWKS_TTL_SECONDS`` and refetched on an unknown ``kid`` at most once per
``JWKS_REFETCH_SECONDS``. Only RS256 is
accepted, so ``alg: none`` and HS256-signed-with-the-public-key tokens fail. A refused token
raises ``Unauthorized`` (API Gateway answers 401); the reason is logged, never the token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
import urllib3
from aws_lambda_powertools import Logger

from handlers.config import setting
from handlers.usage_plans import usage_plan_key

logger = Logger()

ALGORITHMS = ["RS256"]
LEEWAY_SECONDS = 30
STAFF_ROLE = "OrderOps"


class Unauthorized(Exception):
    """API Gateway maps exactly this message to 401."""

    def __init__(self, reason: str) -> None:
        super().__init__("Unauthorized")
        self.reason = reason


@dataclass(frozen=True)
class Issuer:
    kind: str  # "customer" (Okta) or "staff" (Entra ID)
    issuer: str
    audience: str
    jwks_uri: str


class JwksCache:
    """Signing keys per JWKS URI, kept for ``ttl_seconds`` (a key the issuer removed stops
    being trusted then); an unknown kid refetches, at most once per ``refetch_seconds``."""

    def __init__(
        self,
        fetch: Callable[[str], dict[str, Any]],
        *,
        refetch_seconds: float = 60.0,
        ttl_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch = fetch
        self.refetch_seconds = refetch_seconds
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._keys: dict[str, dict[str, jwt.PyJWK]] = {}
        self._fetched_at: dict[str, float] = {}

    def key(self, jwks_uri: str, kid: str) -> jwt.PyJWK:
        keys = self._keys.get(jwks_uri)
        last = self._fetched_at.get(jwks_uri)
        age = float("inf") if last is None else self.clock() - last
        if (keys is not None and age >= self.ttl_seconds) or (
            (keys is None or kid not in keys) and age >= self.refetch_seconds
        ):
            keys = self._load(jwks_uri)
        if keys is None or kid not in keys:
            raise Unauthorized(f"unknown signing key {kid!r}")
        return keys[kid]

    def _load(self, jwks_uri: str) -> dict[str, jwt.PyJWK]:
        self._fetched_at[jwks_uri] = self.clock()
        keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(self.fetch(jwks_uri)).keys if key.key_id}
        self._keys[jwks_uri] = keys
        return keys


def fetch_jwks(http: urllib3.PoolManager) -> Callable[[str], dict[str, Any]]:
    def fetch(uri: str) -> dict[str, Any]:
        response = http.request("GET", uri, timeout=urllib3.Timeout(connect=1.0, read=2.0))
        if response.status != 200:
            raise Unauthorized(f"JWKS {uri} answered {response.status}")
        document: dict[str, Any] = json.loads(response.data)
        return document

    return fetch


class Authorizer:
    def __init__(self, issuers: list[Issuer], jwks: JwksCache) -> None:
        self.issuers = {issuer.issuer: issuer for issuer in issuers}
        self.jwks = jwks

    def authorize(self, token: str, method_arn: str) -> dict[str, Any]:
        issuer, claims = self._verify(token)
        if issuer.kind == "customer":
            scopes = claims.get("scp") or []
            scopes = scopes.split() if isinstance(scopes, str) else list(scopes)
            client_id = str(claims.get("cid", ""))
            allowed = {"orders:write": "POST/orders", "orders:read": "GET/orders/*"}
            routes = [route for scope, route in allowed.items() if scope in scopes]
            customer_id = str(claims["sub"])
        else:
            roles = list(claims.get("roles") or [])
            scopes = [STAFF_ROLE] if STAFF_ROLE in roles else []
            client_id = str(claims.get("azp") or claims.get("appid") or "")
            routes = ["GET/orders/*"] if scopes else []
            customer_id = ""
        if not routes:
            raise Unauthorized(f"{issuer.kind} token lacks the scope or role for any route")
        if not client_id:
            raise Unauthorized("token names no client")
        # Powertools' APIGatewayAuthorizerResponse would build this document, but importing it
        # loads botocore (~175 ms measured here), which this function's cold start never pays.
        stage = "/".join(method_arn.split("/")[:2])  # arn:...:api-id/stage
        return {
            "principalId": str(claims["sub"]),
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow",
                        "Resource": [f"{stage}/{route}" for route in routes],
                    }
                ],
            },
            "context": {
                "sub": str(claims["sub"]),
                "customerId": customer_id,
                "scopes": " ".join(scopes),
                "clientId": client_id,
                "role": issuer.kind,
            },
            "usageIdentifierKey": usage_plan_key(client_id),
        }

    def _verify(self, token: str) -> tuple[Issuer, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise Unauthorized(f"malformed token: {type(error).__name__}") from error
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized(f"algorithm {header.get('alg')!r} not accepted")
        issuer = self.issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise Unauthorized("unknown issuer")
        key = self.jwks.key(issuer.jwks_uri, str(header.get("kid")))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=issuer.audience,
                issuer=issuer.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(f"invalid token: {type(error).__name__}") from error
        return issuer, claims


def bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("no bearer token")
    return token.strip()


@lru_cache(maxsize=1)
def authorizer() -> Authorizer:
    issuers = [
        Issuer(kind, setting(f"{prefix}_ISSUER"), setting(f"{prefix}_AUDIENCE"), setting(f"{prefix}_JWKS_URI"))
        for kind, prefix in (("customer", "CUSTOMER"), ("staff", "STAFF"))
    ]
    refetch = float(setting("JWKS_REFETCH_SECONDS", "60"))
    ttl = float(setting("JWKS_TTL_SECONDS", "600"))
    fetch = fetch_jwks(urllib3.PoolManager(retries=False))
    return Authorizer(issuers, JwksCache(fetch, refetch_seconds=refetch, ttl_seconds=ttl))


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return authorizer().authorize(bearer_token(event.get("authorizationToken", "")), event["methodArn"])
    except Unauthorized as refused:
        logger.info("token refused", extra={"reason": refused.reason})
        raise
