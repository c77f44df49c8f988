"""What the demo and the bench read of the embedded AWS's process: its memory, its CPU time, its log."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from sandbox.up import Sandbox, SandboxSettings

# Holds 64 MB and burns 0.3 s of CPU, then says so and waits to be stopped.
BUSY = """
import sys, time
held = bytearray(64 * 1024 * 1024)
held[:: 4096] = b"x" * len(held[:: 4096])  # touched: resident, not only reserved
until = time.process_time() + 0.3
while time.process_time() < until:
    pass
print("done", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    process = subprocess.Popen([sys.executable, "-c", BUSY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "done\n"
    sandbox = Sandbox(SandboxSettings())
    sandbox._aws_process = process  # stands in for the embedded AWS's process
    yield sandbox
    process.kill()
    process.wait()


def test_the_embedded_aws_cpu_time_and_memory_are_read_from_its_process(sandbox: Sandbox) -> None:
    assert sandbox.aws_cpu_seconds() >= 0.3
    assert sandbox.aws_resident_mb() >= 64


def test_a_second_region_answers_for_the_process_it_shares(sandbox: Sandbox) -> None:
    standby = Sandbox(SandboxSettings())
    standby.shared = sandbox
    assert standby.aws_cpu_seconds() == pytest.approx(sandbox.aws_cpu_seconds(), abs=0.05)


def test_the_sandbox_stack_logs_to_aws_log_and_every_other_stack_to_its_own() -> None:
    assert SandboxSettings().aws_log_name == "aws.log"
    assert SandboxSettings(stack="ops-e2e").aws_log_name == "aws-ops-e2e.log"
