"""Partner API keys from Vault (KV v2), never from the environment or the logs.

In AWS a function logs in with the Vault ``aws`` auth method, proving its IAM role by a
signed ``sts:GetCallerIdentity``. OpenBao (the sandbox's Vault) ships no ``aws`` auth plugin,
so the sandbox logs in with AppRole; both are selected by ``VAULT_AUTH``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hvac
import requests

from handlers.config import setting

Login = Callable[[hvac.Client], int]
"""Authenticate ``client`` (sets its token); returns the token's lease in seconds."""

# Renew before the lease ends, not at the last second.
LEASE_MARGIN = 0.8

# Vault unreachable, sealed, overloaded or restarting: the key exists, try again later.
# (Forbidden, InvalidPath: a grant or a path is wrong, which no retry fixes.)
_TRANSIENT_VAULT_ERRORS: tuple[type[Exception], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    hvac.exceptions.VaultDown,
    hvac.exceptions.InternalServerError,
    hvac.exceptions.BadGateway,
    hvac.exceptions.RateLimitExceeded,
)


class SecretsUnavailable(Exception):
    """Vault could not be reached or answered 5xx/429; the caller's own *Unavailable wraps it."""


def iam_login(role: str, region: str, credentials: Callable[[], Any] | None = None) -> Login:
    """Vault ``aws`` auth, IAM type: the function's own role credentials sign the login."""

    def login(client: hvac.Client) -> int:
        if credentials is None:
            import boto3  # only on this path: the Lambda's role credentials

            found = boto3.Session().get_credentials()
            if found is None:
                raise RuntimeError("no AWS credentials for the Vault aws login")
            frozen = found.get_frozen_credentials()
        else:
            frozen = credentials()
        response = client.auth.aws.iam_login(
            frozen.access_key, frozen.secret_key, frozen.token, role=role, region=region
        )
        return int(response["auth"]["lease_duration"])

    return login


def approle_login(role_id: str, secret_id_file: str) -> Login:
    """Vault AppRole auth; the secret id is read from a file, never the environment."""

    def login(client: hvac.Client) -> int:
        secret_id = Path(secret_id_file).read_text().strip()
        response = client.auth.approle.login(role_id=role_id, secret_id=secret_id)
        return int(response["auth"]["lease_duration"])

    return login


class SecretStore:
    """Reads KV v2 secrets, logging in when needed; caches them for the token's lease."""

    def __init__(
        self,
        client: hvac.Client,
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
        except _TRANSIENT_VAULT_ERRORS as error:
            raise SecretsUnavailable(f"vault: {type(error).__name__}") from error

    def _read(self, path: str, refresh: bool) -> dict[str, str]:
        if self.clock() >= self._valid_until:
            lease = self.login(self.client)
            self.logins += 1
            self._valid_until = self.clock() + lease * LEASE_MARGIN
            self._cache.clear()
        if refresh or path not in self._cache:
            response = self.client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.mount_point, raise_on_deleted_version=True
            )
            self._cache[path] = dict(response["data"]["data"])
        return self._cache[path]

    def field(self, path: str, name: str) -> Callable[[bool], str]:
        """A provider of one secret field, as partner clients take it."""
        return lambda refresh: self.read(path, refresh=refresh)[name]


def store_from_environment() -> SecretStore:
    """``VAULT_ADDR``, ``VAULT_AUTH`` (aws | approle), ``VAULT_ROLE``; approle also reads
    ``VAULT_LOGIN_FILE``."""
    client = hvac.Client(url=setting("VAULT_ADDR"), timeout=5)
    method = setting("VAULT_AUTH", "aws")
    if method == "aws":
        login = iam_login(setting("VAULT_ROLE"), setting("AWS_REGION"))
    elif method == "approle":
        login = approle_login(setting("VAULT_ROLE"), setting("VAULT_LOGIN_FILE"))
    else:
        raise ValueError(f"VAULT_AUTH must be 'aws' or 'approle', not {method!r}")
    return SecretStore(client, login)
