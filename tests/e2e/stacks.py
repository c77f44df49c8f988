"""What the end-to-end tests share: a copy of the sandbox stack on ports of its own, orders
placed over HTTP with a real token, and waiting for an item to settle."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from sandbox.seed import EXAMPLE_ORDER
from sandbox.up import Sandbox
from synth.program import ROOT
from tests.e2e.client import http

SETTLED = ("CONFIRMED", "CANCELLED_COMPENSATED")


def stack_on_own_ports(root: Path, stack: str, ports: dict[str, str]) -> Path:
    """Write ``Pulumi.<stack>.yaml`` into ``root``: the sandbox stack with the outside parts
    (issuer, partners, Vault) moved to ``ports`` (theirs -> ours), and its own Vault logins."""
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    config = (ROOT / "Pulumi.sandbox.yaml").read_text()
    for port, ours in ports.items():
        config = config.replace(f"127.0.0.1:{port}", f"127.0.0.1:{ours}")
    config = config.replace("build/sandbox/vault", f"build/sandbox/{stack}-vault")
    (root / f"Pulumi.{stack}.yaml").write_text(config)
    return root


def place(sandbox: Sandbox, customer: str, order: dict[str, Any] = EXAMPLE_ORDER) -> str:
    """An order through the API, as ``customer``; returns its orderId."""
    issuer = sandbox.config["order-saga:customerIssuer"]
    token = http("POST", f"{issuer}/token", {"sub": customer})[1]["access_token"]
    status, accepted = http(
        "POST",
        f"{sandbox.api.url}/orders",
        order,
        {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert status == 202, accepted
    return str(accepted["orderId"])


def table(sandbox: Sandbox, name: str) -> Any:
    return sandbox.session.resource("dynamodb", endpoint_url=sandbox.aws_endpoint).Table(name)


def wait_for_status(items: Any, order_id: str, wanted: tuple[str, ...], seconds: float = 90) -> dict[str, Any]:
    """The item once its status is one of ``wanted``."""
    deadline = time.monotonic() + seconds
    while True:
        item = items.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item") or {}
        if item.get("status") in wanted:
            return dict(item)
        assert time.monotonic() < deadline, f"{order_id} still {item.get('status')}, wanted {wanted}"
        time.sleep(0.25)
