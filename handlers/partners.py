"""HTTP clients for the partners: every call carries an idempotency key and a Vault-held key.

Timeouts, connection errors, 429 and 5xx are transient (the caller's ``unavailable`` error),
and so is a Vault that cannot hand out the key right now; 401 means the cached key went
stale, so it is refetched once; other 4xx are ``PartnerRejected``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import urllib3

from handlers.config import setting
from handlers.contract import Partner
from handlers.errors import PartnerRejected
from handlers.vault import SecretsUnavailable, store_from_environment

ApiKey = Callable[[bool], str]
"""``api_key(refresh) -> key``; ``refresh=True`` bypasses the cache."""


class PartnerResponse:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body


class PartnerClient:
    """JSON over HTTP to one partner."""

    def __init__(
        self,
        base_url: str,
        api_key: ApiKey,
        unavailable: type[Exception],
        *,
        timeout_seconds: float = 5.0,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.unavailable = unavailable
        self.timeout = urllib3.Timeout(connect=min(timeout_seconds, 2.0), read=timeout_seconds)
        self.http = http or urllib3.PoolManager(retries=False)

    def post(self, path: str, body: dict[str, Any], idempotency_key: str) -> PartnerResponse:
        """POST ``body``; 2xx and the 4xx the caller interprets come back, the rest raise."""
        response = self._send(path, body, idempotency_key, refresh_key=False)
        if response.status == 401:
            response = self._send(path, body, idempotency_key, refresh_key=True)
        if response.status == 429 or response.status >= 500:
            raise self.unavailable(f"{path}: HTTP {response.status}")
        if response.status in (400, 401, 403, 404, 422):
            raise PartnerRejected(f"{path}: HTTP {response.status} {response.body.get('error', '')}")
        return response

    def _send(self, path: str, body: dict[str, Any], idempotency_key: str, refresh_key: bool) -> PartnerResponse:
        try:
            api_key = self.api_key(refresh_key)
        except SecretsUnavailable as error:  # nothing was sent: retrying is safe
            raise self.unavailable(f"{path}: {error}") from error
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        }
        try:
            raw = self.http.request(
                "POST", self.base_url + path, body=json.dumps(body), headers=headers, timeout=self.timeout
            )
        except urllib3.exceptions.HTTPError as error:  # timeouts and connection failures
            raise self.unavailable(f"{path}: {type(error).__name__}") from error
        try:
            parsed = json.loads(raw.data or b"{}")
        except ValueError:
            parsed = {}
        return PartnerResponse(raw.status, parsed if isinstance(parsed, dict) else {})


def partner_from_environment(partner: Partner, unavailable: type[Exception]) -> PartnerClient:
    """The partner at ``<PREFIX>_URL``, its key read from Vault (``<PREFIX>_VAULT_PATH`` overrides)."""
    secrets = store_from_environment()
    api_key = secrets.field(setting(f"{partner.env_prefix}_VAULT_PATH", partner.vault_path), "api_key")
    return PartnerClient(setting(f"{partner.env_prefix}_URL"), api_key, unavailable)
