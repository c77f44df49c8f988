"""Two regions on one machine: the program's primary and warm-standby stacks in one embedded AWS.

    with SandboxPair(PairSettings(SandboxSettings())).start() as pair:
        pair.primary.api.url, pair.standby.api.url
        pair.primary.go_dark(); ...; pair.primary.come_back()

The two stacks are the same program, written from the primary's stack file into
``build/sandbox/<stack>-pair/``: the primary names its standby (``standbyRegion``,
``standbyStack``: global-table replicas there, every event forwarded to its bus), the standby
names its primary (``role: standby``, ``primaryStack``). One moto server serves both regions
(moto is multi-region; cross-region EventBridge forwarding works as in AWS); the global tables'
replication is the embedded AWS's own (``sandbox/aws/moto_patches.py``: asynchronous, a lag,
last writer wins). Each region has its own Lambda runtime, pollers, schedules and API; they
share the partners, the identity provider and Vault, which are outside both regions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.up import Sandbox, SandboxSettings
from synth.program import ROOT, read_config, stack_file

STANDBY_REGION = "us-west-2"


@dataclass
class PairSettings:
    primary: SandboxSettings
    """The primary region's sandbox (stack, ports, time scale, replication lag)."""
    standby_api_port: int = 8090
    standby_region: str = STANDBY_REGION

    @property
    def standby_stack(self) -> str:
        return f"{self.primary.stack}-standby"


def pair_root(settings: PairSettings) -> Path:
    """A copy of the primary's stack file that names its standby, and the standby's stack file."""
    primary = settings.primary
    text = stack_file(primary.stack, primary.root).read_text()
    config = read_config(primary.stack, primary.root)
    if config.get("order-saga:role") != "primary":
        raise ValueError(f"stack {primary.stack!r} is not a primary: it cannot have a standby")
    region = config.get("aws:region", "us-east-1")
    if region == settings.standby_region:
        raise ValueError(f"the standby region must differ from the primary's ({region})")
    root = ROOT / "build" / "sandbox" / f"{primary.stack}-pair"
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text((primary.root / "Pulumi.yaml").read_text())
    forwarding = (
        f"config:\n  order-saga:standbyRegion: {settings.standby_region}\n"
        f"  order-saga:standbyStack: {settings.standby_stack}\n"
    )
    (root / f"Pulumi.{primary.stack}.yaml").write_text(text.replace("config:\n", forwarding, 1))
    standby = text.replace(f"aws:region: {region}", f"aws:region: {settings.standby_region}", 1).replace(
        "order-saga:role: primary",
        f"order-saga:role: standby\n  order-saga:primaryStack: organization/order-saga/{primary.stack}",
        1,
    )
    (root / f"Pulumi.{settings.standby_stack}.yaml").write_text(standby)
    return root


class SandboxPair:
    """The primary and its warm standby, started together and stopped together."""

    def __init__(self, settings: PairSettings) -> None:
        self.settings = settings
        root = pair_root(settings)
        self.primary = Sandbox(dataclasses.replace(settings.primary, root=root))
        self.standby = Sandbox(
            dataclasses.replace(
                settings.primary,
                stack=settings.standby_stack,
                root=root,
                api_port=settings.standby_api_port,
                seed=False,  # the primary's seed replicates
            )
        )

    def start(self) -> SandboxPair:
        self.primary.start()
        try:
            self.standby.start(shared=self.primary)
        except BaseException:
            self.primary.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.standby.stop()
        finally:
            self.primary.stop()

    def __enter__(self) -> SandboxPair:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def replication(self) -> dict[str, Any]:
        """Writes waiting to replicate (by target region), applied, and outvoted (last writer wins)."""
        return self.primary.admin("replication")
