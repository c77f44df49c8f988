"""The two-region sandbox's stack files: the same program, the primary naming its standby and
the standby its primary (sandbox/pair.py)."""

from __future__ import annotations

import pytest

from sandbox.pair import PairSettings, pair_root
from sandbox.up import SandboxSettings
from synth.program import ROOT, read_config


def test_the_pair_is_the_sandbox_stack_twice_each_naming_the_other() -> None:
    settings = PairSettings(SandboxSettings(stack="sandbox"))
    root = pair_root(settings)
    primary, standby = read_config("sandbox", root), read_config("sandbox-standby", root)
    original = read_config("sandbox", ROOT)
    assert primary == original | {
        "order-saga:standbyRegion": "us-west-2",
        "order-saga:standbyStack": "sandbox-standby",
    }
    assert standby == original | {
        "aws:region": "us-west-2",
        "order-saga:role": "standby",
        "order-saga:primaryStack": "organization/order-saga/sandbox",
    }


def test_a_standby_region_equal_to_the_primary_is_refused() -> None:
    with pytest.raises(ValueError, match="must differ"):
        pair_root(PairSettings(SandboxSettings(stack="sandbox"), standby_region="us-east-1"))
