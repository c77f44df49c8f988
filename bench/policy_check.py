"""The offline policy check of both prod stacks: synthesizing the program under mocks next to
evaluating every policy over the graph, side by side. ``make bench``."""

from __future__ import annotations

import statistics

from policies.check import timed_check

RUNS = 5
STACKS = ["prod-use1", "prod-usw2"]


def main() -> None:
    print(f"{'stack':<12}{'synth s':>9}{'policies s':>12}{'synth / policies':>18}")
    for stack in STACKS:
        runs = [timed_check(stack) for _ in range(RUNS)]
        synth = statistics.median(run[0] for run in runs)
        policies = statistics.median(run[1] for run in runs)
        print(f"{stack:<12}{synth:>9.2f}{policies:>12.3f}{synth / policies:>18.0f}")
    print("\nprod-usw2's synth includes synthesizing prod-use1 for its StackReference.")


if __name__ == "__main__":
    main()
