"""The Vault ``aws`` login body, built with botocore's SigV4 signer, is byte for byte the one
hvac built (hvac stays installed for the sandbox's Vault administration): same request, same
headers, same signature, for a fixed clock. No network."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

import hvac.aws_utils
import pytest
from hvac.api.auth_methods.aws import Aws

from handlers.vault import signed_caller_identity

FIXED = datetime.datetime(2026, 11, 29, 12, 0, 0)


class _FixedClock(datetime.datetime):
    @classmethod
    def utcnow(cls) -> datetime.datetime:  # type: ignore[override]
        return FIXED


class _Recorder:
    def __init__(self) -> None:
        self.sent: dict[str, Any] = {}

    def login(self, url: str, use_token: bool, json: dict[str, Any]) -> dict[str, Any]:
        self.sent = json
        return {}


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2"])
@pytest.mark.parametrize("token", ["session-token", None])
def test_aws_login_body_is_the_one_hvac_built(monkeypatch: pytest.MonkeyPatch, region: str, token: str | None) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: FIXED)
    monkeypatch.setattr(hvac.aws_utils, "datetime", _FixedClock)
    credentials = SimpleNamespace(access_key="AKIDEXAMPLE", secret_key="secret", token=token)
    hvac_sent = _Recorder()
    Aws(hvac_sent).iam_login("AKIDEXAMPLE", "secret", token, role="payment-step", region=region)
    assert signed_caller_identity("payment-step", region, credentials) == hvac_sent.sent
