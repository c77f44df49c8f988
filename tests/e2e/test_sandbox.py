"""End to end: ``python -m sandbox up`` as a user runs it, and real HTTP orders with real tokens."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.seed import EXAMPLE_ORDER
from sandbox.up import Sandbox, SandboxError, SandboxSettings
from tests.e2e.client import http

ROOT = Path(__file__).resolve().parents[2]
API = "http://127.0.0.1:18080/prod"
GATEWAY = "http://127.0.0.1:8181"
COURIER = "http://127.0.0.1:8182"
UP = [
    sys.executable,
    "-m",
    "sandbox",
    "up",
    "--aws-port",
    "14566",
    "--api-port",
    "18080",
    "--time-scale",
    "0.05",
]
ORDER = {**EXAMPLE_ORDER, "loyaltyPoints": 100}


class Running:
    """The ``up`` process, with its output collected as it comes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(UP, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if "Ctrl-C stops everything" in line:
                self.ready.set()

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.ready.wait(0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("sandbox did not come up:\n" + "\n".join(self.lines[-40:]))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Running]:
    running = Running()
    try:
        running.wait_ready(240)
        yield running
    finally:
        running.process.send_signal(signal.SIGINT)
        try:
            running.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            running.process.kill()
            raise


def token(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "sandbox", "token", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def place(bearer: str, order: dict[str, Any] = ORDER) -> tuple[int, Any]:
    return http(
        "POST",
        f"{API}/orders",
        order,
        {"Authorization": f"Bearer {bearer}", "Idempotency-Key": str(uuid.uuid4())},
    )


def settled(bearer: str, order_id: str, seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status, order = http("GET", f"{API}/orders/{order_id}", headers={"Authorization": f"Bearer {bearer}"})
        assert status == 200, order
        if order["status"] in ("CONFIRMED", "CANCELLED_COMPENSATED", "NEEDS_REVIEW"):
            return dict(order)
        assert time.monotonic() < deadline, f"order {order_id} still {order['status']}"
        time.sleep(0.25)


def ledger(partner: str) -> list[dict[str, Any]]:
    return list(http("GET", f"{partner}/_admin/ledger")[1]["entries"])


def test_order_over_http_reaches_confirmed(sandbox: Running) -> None:
    bearer = token("--customer", "cust-7")
    status, accepted = place(bearer)
    assert status == 202, accepted
    order = settled(bearer, accepted["orderId"])
    assert order["status"] == "CONFIRMED"
    assert set(order["steps"]) == {
        "AuthorizePayment",
        "ReserveInventory",
        "BurnLoyaltyPoints",
        "BookShipment",
    }
    charges = [e for e in ledger(GATEWAY) if e["reference"] == accepted["orderId"]]
    assert [e["type"] for e in charges] == ["charge"]


def test_courier_failing_compensates_and_refunds(sandbox: Running) -> None:
    # GIVEN the courier has no slot left
    http("POST", f"{COURIER}/_admin/faults", {"capacity": 0})
    bearer = token("--customer", "cust-8")
    try:
        # WHEN an order arrives
        status, accepted = place(bearer)
        assert status == 202
        order = settled(bearer, accepted["orderId"])
    finally:
        http("POST", f"{COURIER}/_admin/faults", {"capacity": None})
    # THEN every completed step was undone and the card was refunded
    assert order["status"] == "CANCELLED_COMPENSATED", order
    assert {"RefundPayment", "ReleaseInventory", "RestoreLoyaltyPoints"} <= set(order["steps"])
    money = [e["type"] for e in ledger(GATEWAY) if e.get("reference") == accepted["orderId"]]
    assert money == ["charge", "refund"]


def test_courier_outage_parks_the_order_for_an_operator(sandbox: Running) -> None:
    # GIVEN the courier answers 503 to everything: retries run out
    http("POST", f"{COURIER}/_admin/faults", {"fail_rate": 1.0})
    bearer = token("--customer", "cust-12")
    try:
        status, accepted = place(bearer)
        assert status == 202
        order = settled(bearer, accepted["orderId"])
    finally:
        http("POST", f"{COURIER}/_admin/faults", {"fail_rate": 0.0})
    # THEN it waits for an operator at BookShipment, charged and held, not lost
    assert (order["status"], order["parkedStep"]) == ("NEEDS_REVIEW", "BookShipment")


def test_forged_token_gets_401(sandbox: Running) -> None:
    genuine = token("--customer", "cust-9")
    header, payload, signature = genuine.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert place(forged)[0] == 401
    assert place("not-a-token")[0] == 401


def test_throttled_client_gets_429(sandbox: Running) -> None:
    bearer = token("--customer", "cust-10", "--client", "throttled-partner")  # 1 request/s, burst 1
    statuses = [place(bearer)[0] for _ in range(4)]
    assert 429 in statuses and 202 in statuses, statuses


def test_price_field_gets_422_and_a_malformed_body_400(sandbox: Running) -> None:
    bearer = token("--customer", "cust-11")
    status, answer = place(bearer, {**ORDER, "items": [{"sku": "TEE-M", "quantity": 1, "price": 1}]})
    assert (status, answer["error"]["code"]) == (422, "invalid_order")
    assert place(bearer, {"items": "not a list"})[0] == 400  # the gateway's request model


def test_commands_the_banner_prints_run_verbatim_in_a_plain_shell(sandbox: Running) -> None:
    # GIVEN the banner's "Get a token" and "Place an order" commands, exactly as printed
    start = next(n for n, line in enumerate(sandbox.lines) if line.startswith("Get a token"))
    end = next(n for n, line in enumerate(sandbox.lines) if line.startswith("Ctrl-C stops everything"))
    script = "\n".join(line for line in sandbox.lines[start + 1 : end] if line.startswith(" "))
    assert "TOKEN=$(" in script and "curl " in script, script
    # WHEN a new user pastes them into a shell at the project root, with no virtual environment
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if ".venv" not in p and "venv" not in p)
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")} | {"PATH": path}
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True)
    # THEN the order is accepted
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "PENDING", result.stdout


def test_pathological_json_gets_a_4xx_and_the_api_keeps_serving(sandbox: Running) -> None:
    bearer = token("--customer", "cust-13")
    headers = {"Authorization": f"Bearer {bearer}", "Idempotency-Key": str(uuid.uuid4())}
    deep = '{"items": ' + "[" * 5000 + "]" * 5000 + "}"
    assert http("POST", f"{API}/orders", deep, headers)[0] == 400
    huge = json.dumps({**ORDER, "pad": "x" * (11 * 1024 * 1024)})
    assert http("POST", f"{API}/orders", huge, headers)[0] == 413
    status, accepted = place(bearer)
    assert status == 202, accepted


def test_starting_twice_is_a_clear_error(sandbox: Running) -> None:
    second = subprocess.run(UP, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2
    assert "is in use: is a sandbox already running?" in second.stderr


def test_sandbox_refuses_a_program_with_mandatory_violations(tmp_path: Path) -> None:
    # An untagged table: required-tags is mandatory.
    program = tmp_path / "untagged.py"
    program.write_text(
        "import pulumi_aws as aws\n"
        'aws.dynamodb.Table("t", hash_key="id", attributes=[{"name": "id", "type": "S"}],'
        ' billing_mode="PAY_PER_REQUEST")\n'
    )
    settings = SandboxSettings(program=program, aws_port=free_port(), api_port=free_port())
    with pytest.raises(SandboxError, match="violates mandatory policies") as refused:
        Sandbox(settings).start()
    assert "required-tags" in str(refused.value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
