"""Cold start: each handler module's import time next to a bare ``import boto3``.

Every function imports boto3 anyway (the runtime ships it), so the ratio says what our own
code and its libraries add to a cold start. Each figure is the median of fresh interpreter
runs, measured inside the interpreter so process start-up is excluded. ``make bench``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

RUNS = 7
MODULES = [
    "handlers.starter",
    "handlers.intake",
    "handlers.authorizer",
    "handlers.inventory",
    "handlers.loyalty",
    "handlers.payment",
    "handlers.shipping",
]
PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str) -> float:
    # Lambda sets the region; tracing off as in the sandbox (the X-Ray SDK is the layer's).
    environment = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module)],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        )
        samples.append(float(out.stdout))
    return statistics.median(samples)


def main() -> None:
    baseline = import_seconds("boto3")
    print(f"{'module':<24}{'import ms':>10}{'x boto3':>9}")
    print(f"{'boto3 (baseline)':<24}{baseline * 1000:>10.0f}{1.0:>9.2f}")
    for module in MODULES:
        seconds = import_seconds(module)
        print(f"{module:<24}{seconds * 1000:>10.0f}{seconds / baseline:>9.2f}")


if __name__ == "__main__":
    main()
