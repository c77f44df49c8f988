"""Cold start: each handler module's import time next to a bare ``import boto3``.

Every function imports boto3 anyway (the runtime ships it), so the ratio says what our own
code and its libraries add to a cold start. Each import runs in a fresh interpreter, timed
inside it so process start-up is excluded. The machine is shared, so the runs are
interleaved: every round imports boto3 and each module once, in turn, and a module's ratio
is the median of its per-round ratios to that round's boto3 (load moves both alike).

    python -m bench.cold_start                     # the handlers in this checkout
    python -m bench.cold_start --before DIR        # also DIR/handlers, in the same rounds

Exit 1 when a module of this checkout imports in more than ``--limit`` (1.5) x boto3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 9
LIMIT = 1.5
MODULES = [
    "handlers.starter",
    "handlers.intake",
    "handlers.authorizer",
    "handlers.inventory",
    "handlers.loyalty",
    "handlers.payment",
    "handlers.shipping",
    "handlers.returns",
    "handlers.sweeper",
]
PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str, root: Path) -> float:
    # Lambda sets the region; POWERTOOLS_TRACE_DISABLED as the sandbox sets it (it changes
    # nothing once the handlers build no Tracer; the "before" code built one regardless).
    environment = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": str(root),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=root,
    )
    return float(out.stdout)


def measure(roots: dict[str, Path], rounds: int) -> dict[tuple[str, str], tuple[float, float]]:
    """(label, module) -> (median import seconds, median ratio to the same round's boto3)."""
    seconds: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        baseline = import_seconds("boto3", ROOT)
        seconds.setdefault(("", "boto3"), []).append(baseline)
        for module in MODULES:
            for label, root in roots.items():
                taken = import_seconds(module, root)
                seconds.setdefault((label, module), []).append(taken)
                ratios.setdefault((label, module), []).append(taken / baseline)
    result = {
        key: (statistics.median(values), statistics.median(ratios.get(key, [1.0]))) for key, values in seconds.items()
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a directory holding an earlier handlers/ to compare")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--limit", type=float, default=LIMIT, help="highest ratio to boto3 allowed (1.5)")
    args = parser.parse_args(argv)
    if args.before is not None and not (args.before / "handlers" / "__init__.py").exists():
        print(f"cold start: {args.before} holds no handlers/ package", file=sys.stderr)
        return 2
    roots = {"after": ROOT} if args.before is None else {"before": args.before.resolve(), "after": ROOT}
    result = measure(roots, args.rounds)
    baseline, _ = result[("", "boto3")]
    header = "".join(f"{label + ' ms':>11}{'x boto3':>9}" for label in roots)
    print(f"{'module':<24}{header}")
    print(f"{'boto3 (baseline)':<24}" + f"{baseline * 1000:>11.0f}{1.0:>9.2f}" * len(roots))
    over = []
    for module in MODULES:
        cells = ""
        for label in roots:
            taken, ratio = result[(label, module)]
            cells += f"{taken * 1000:>11.0f}{ratio:>9.2f}"
            if label == "after" and ratio > args.limit:
                over.append(module)
        print(f"{module:<24}{cells}")
    if over:
        print(f"over {args.limit}x boto3: {', '.join(over)}")
        return 1
    print(f"every handler within {args.limit}x boto3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
