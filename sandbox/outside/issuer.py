"""A local OpenID issuer for the two identity providers: customers (Okta) and staff (Entra ID).

One HTTP server on loopback serves, per issuer ``<url>/<name>``, an OpenID configuration and
a JWKS at ``<url>/<name>/keys``, and mints RS256 access tokens shaped like each provider's:
Okta's carry ``scp`` and ``cid``, Entra's ``roles`` and ``azp``.

    idp = IdentityProvider().start()
    token = idp.customers.token("cust-42", scopes=["orders:write"])
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from sandbox.http import LoopbackServer, Reply, Request, json_reply

AUDIENCE = "api://order-saga"
CUSTOMER_CLIENT = "web-shop"
STAFF_CLIENT = "ops-console"


def new_rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class SigningIssuer:
    """One issuer: its signing keys (newest first) and the tokens it mints."""

    _kids = itertools.count(1)

    def __init__(self, url: str, name: str, audience: str) -> None:
        self.name = name
        self.issuer = f"{url}/{name}"
        self.jwks_uri = f"{self.issuer}/keys"
        self.audience = audience
        self.keys: list[tuple[str, RSAPrivateKey]] = []
        self.jwks_requests = 0
        self.rotate()

    def rotate(self) -> str:
        """Add a new signing key and sign with it from now on; returns its kid."""
        kid = f"{self.name}-{next(self._kids)}"
        self.keys.insert(0, (kid, new_rsa_key()))
        return kid

    def jwks(self) -> dict[str, Any]:
        self.jwks_requests += 1
        keys = []
        for kid, private in self.keys:
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
            keys.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def sign(self, claims: dict[str, Any], *, key: RSAPrivateKey | None = None, kid: str | None = None) -> str:
        current_kid, current_key = self.keys[0]
        return jwt.encode(claims, key or current_key, algorithm="RS256", headers={"kid": kid or current_kid})

    def claims(self, subject: str, *, lifetime: int = 3600, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + lifetime,
            **extra,
        }


class CustomerIssuer(SigningIssuer):
    def token(self, customer_id: str, *, scopes: list[str] | None = None, client_id: str = CUSTOMER_CLIENT) -> str:
        scopes = ["orders:write", "orders:read"] if scopes is None else scopes
        return self.sign(self.claims(customer_id, scp=scopes, cid=client_id))


class StaffIssuer(SigningIssuer):
    def token(self, user: str, *, roles: list[str] | None = None, client_id: str = STAFF_CLIENT) -> str:
        roles = ["OrderOps"] if roles is None else roles
        return self.sign(self.claims(user, roles=roles, azp=client_id))


class IdentityProvider:
    """Both issuers behind one HTTP server."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, audience: str = AUDIENCE) -> None:
        self._server = LoopbackServer(self._respond, name="idp", host=host, port=port)
        self.url = self._server.url
        self.customers = CustomerIssuer(self.url, "customers", audience)
        self.staff = StaffIssuer(self.url, "staff", audience)
        self._issuers: dict[str, SigningIssuer] = {"customers": self.customers, "staff": self.staff}

    def start(self) -> IdentityProvider:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _document(self, path: str) -> dict[str, Any] | None:
        name, _, rest = path.strip("/").partition("/")
        issuer = self._issuers.get(name)
        if issuer is None:
            return None
        if rest == "keys":
            return issuer.jwks()
        if rest == ".well-known/openid-configuration":
            return {
                "issuer": issuer.issuer,
                "jwks_uri": issuer.jwks_uri,
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        return None

    def _mint(self, path: str, request: dict[str, Any]) -> dict[str, Any] | None:
        """``POST /customers/token {"sub", "scopes"?, "clientId"?}`` or ``/staff/token {"sub", "roles"?}``."""
        subject = request.get("sub")
        if not isinstance(subject, str) or not subject:
            return None
        client = request.get("clientId")
        if path == "/customers/token":
            token = self.customers.token(subject, scopes=request.get("scopes"), client_id=client or CUSTOMER_CLIENT)
        elif path == "/staff/token":
            token = self.staff.token(subject, roles=request.get("roles"), client_id=client or STAFF_CLIENT)
        else:
            return None
        return {"access_token": token, "token_type": "Bearer"}

    def _respond(self, request: Request) -> Reply:
        if request.method == "GET":
            document = self._document(request.path)
        else:  # a development issuer: anyone on loopback may ask it for a token
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                body = None
            document = self._mint(request.path, body) if isinstance(body, dict) else None
        return json_reply(200, document) if document is not None else json_reply(404, {"error": "not_found"})
