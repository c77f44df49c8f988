"""Partner API keys from Vault (KV v2), never from the environment or the logs.

In AWS a function logs in with the Vault ``aws`` auth method, proving its IAM role by a
signed ``sts:GetCallerIdentity``. OpenBao (the sandbox's Vault) ships no ``aws`` auth plugin,
so the sandbox logs in with AppRole; both are selected by ``VAULT_AUTH``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from handlers.config import setting

# Renew before the lease ends, not at the last second.
LEASE_MARGIN = 0.8

STS_URL = "https://sts.amazonaws.com/"
GET_CALLER_IDENTITY = "Action=GetCallerIdentity&Version=2011-06-15"


class SecretsUnavailable(Exception):
    """Vault could not be reached or answered 5xx/429; the caller's own *Unavailable wraps it."""


class VaultError(Exception):
    """Vault answered an error status: ``status`` and Vault's ``errors``."""

    def __init__(self, status: int, errors: list[str]) -> None:
        super().__init__(f"HTTP {status}: {'; '.join(errors) or 'no detail'}")
        self.status = status
        self.errors = errors

    @property
    def transient(self) -> bool:
        """Sealed, overloaded, restarting or rate limiting: the key exists, try again later.
        (403, 404: a grant or a path is wrong, which no retry fixes.)"""
        return self.status == 429 or self.status >= 500


class VaultClient:
    """The three calls of Vault's HTTP API a function makes (a login, the token it returns, a
    KV v2 read), JSON over urllib3, which botocore loads anyway.

    Not hvac: hvac brings in ``requests`` and cost about a quarter of a bare boto3 import on
    the partner steps' cold start, for three calls (README, Cold start)."""

    def __init__(self, url: str, *, timeout: float = 5.0, http: urllib3.PoolManager | None = None) -> None:
        self.url = url.rstrip("/")
        self.token: str | None = None
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        # No retries (the state machine retries the step), but a standby node's redirect to
        # the active one is followed, as hvac (requests) did.
        self.http = http or urllib3.PoolManager(
            retries=urllib3.Retry(total=None, connect=0, read=0, other=0, status=0, redirect=3)
        )

    def login(self, method: str, body: dict[str, Any]) -> int:
        """``POST /v1/auth/<method>/login``; keeps the token, returns its lease in seconds."""
        auth = self._call("POST", f"/v1/auth/{quote(method)}/login", body)["auth"]
        self.token = str(auth["client_token"])
        return int(auth["lease_duration"])

    def read_kv2(self, path: str, *, mount_point: str = "secret") -> dict[str, Any]:
        """The latest version's data; a deleted or destroyed latest version is a 404 ``VaultError``."""
        return dict(self._call("GET", f"/v1/{quote(mount_point)}/data/{quote(path)}")["data"]["data"])

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"X-Vault-Request": "true"}
        if self.token:
            headers["X-Vault-Token"] = self.token
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self.http.request(
            method,
            self.url + path,
            body=None if body is None else json.dumps(body),
            headers=headers,
            timeout=self.timeout,
        )
        try:
            parsed = json.loads(response.data or b"{}")
        except ValueError:
            parsed = None
        if response.status >= 300:
            errors = parsed.get("errors") if isinstance(parsed, dict) else None
            raise VaultError(response.status, [str(error) for error in errors or []])
        if not isinstance(parsed, dict):
            raise VaultError(response.status, ["the answer is not a JSON object"])
        return parsed


Login = Callable[[VaultClient], int]
"""Authenticate ``client`` (sets its token); returns the token's lease in seconds."""


def iam_login(role: str, region: str, credentials: Callable[[], Any] | None = None) -> Login:
    """Vault ``aws`` auth, IAM type: the function's own role credentials sign an
    ``sts:GetCallerIdentity`` that Vault forwards to STS (botocore's SigV4 signer; the request
    hvac built: the global STS URL, signed for ``region``)."""

    def login(client: VaultClient) -> int:
        if credentials is None:
            import boto3  # loaded by every function already; here only for the role's credentials

            found = boto3.Session().get_credentials()
            if found is None:
                raise RuntimeError("no AWS credentials for the Vault aws login")
            frozen = found.get_frozen_credentials()
        else:
            frozen = credentials()
        return client.login("aws", signed_caller_identity(role, region, frozen))

    return login


def signed_caller_identity(role: str, region: str, credentials: Any) -> dict[str, str]:
    """The ``aws`` login body: a SigV4-signed ``GetCallerIdentity``, each part base64 encoded,
    headers as lists (Go's ``http.Header``), as Vault's own CLI sends it."""
    request = AWSRequest(
        method="POST",
        url=STS_URL,
        data=GET_CALLER_IDENTITY,
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Host": "sts.amazonaws.com",
            "Content-Length": str(len(GET_CALLER_IDENTITY)),
        },
    )
    SigV4Auth(credentials, "sts", region).add_auth(request)
    headers = {name: [value] for name, value in request.headers.items()}

    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "role": role,
        "iam_http_request_method": "POST",
        "iam_request_url": encoded(STS_URL),
        "iam_request_body": encoded(GET_CALLER_IDENTITY),
        "iam_request_headers": encoded(json.dumps(headers)),
    }


def approle_login(role_id: str, secret_id_file: str) -> Login:
    """Vault AppRole auth; the secret id is read from a file, never the environment."""

    def login(client: VaultClient) -> int:
        secret_id = Path(secret_id_file).read_text().strip()
        return client.login("approle", {"role_id": role_id, "secret_id": secret_id})

    return login


class SecretStore:
    """Reads KV v2 secrets, logging in when needed; caches them for the token's lease."""

    def __init__(
        self,
        client: VaultClient,
        login: Login,
        *,
        mount_point: str = "secret",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.login = login
        self.mount_point = mount_point
        self.clock = clock
        self._valid_until = 0.0
        self._cache: dict[str, dict[str, str]] = {}
        self.logins = 0  # observable: how often we authenticated

    def read(self, path: str, *, refresh: bool = False) -> dict[str, str]:
        """The secret at ``path``; ``SecretsUnavailable`` when Vault is down or overloaded."""
        try:
            return self._read(path, refresh)
        except urllib3.exceptions.HTTPError as error:  # unreachable, timed out
            raise SecretsUnavailable(f"vault: {type(error).__name__}") from error
        except VaultError as error:
            if not error.transient:
                raise
            raise SecretsUnavailable(f"vault: HTTP {error.status}") from error

    def _read(self, path: str, refresh: bool) -> dict[str, str]:
        if self.clock() >= self._valid_until:
            lease = self.login(self.client)
            self.logins += 1
            self._valid_until = self.clock() + lease * LEASE_MARGIN
            self._cache.clear()
        if refresh or path not in self._cache:
            self._cache[path] = self.client.read_kv2(path, mount_point=self.mount_point)
        return self._cache[path]

    def field(self, path: str, name: str) -> Callable[[bool], str]:
        """A provider of one secret field, as partner clients take it."""
        return lambda refresh: self.read(path, refresh=refresh)[name]


def store_from_environment() -> SecretStore:
    """``VAULT_ADDR``, ``VAULT_AUTH`` (aws | approle), ``VAULT_ROLE``; approle also reads
    ``VAULT_LOGIN_FILE``."""
    client = VaultClient(setting("VAULT_ADDR"), timeout=5)
    method = setting("VAULT_AUTH", "aws")
    if method == "aws":
        login = iam_login(setting("VAULT_ROLE"), setting("AWS_REGION"))
    elif method == "approle":
        login = approle_login(setting("VAULT_ROLE"), setting("VAULT_LOGIN_FILE"))
    else:
        raise ValueError(f"VAULT_AUTH must be 'aws' or 'approle', not {method!r}")
    return SecretStore(client, login)
