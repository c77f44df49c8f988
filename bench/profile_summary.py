"""Summarize a ``py-spy record --format raw --subprocesses`` profile: each process's share of the
samples and, per process, the functions where its time goes (self time, and the hot spots
we have levers for, inclusive). ``make profile`` writes the profile and prints this.

    python -m bench.profile_summary build/profile-demo.txt
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

WATCHED = {
    "ASL parse (ANTLR)": "AmazonStateLanguageParser.parse",
    "ASL components built (Preprocessor)": "Preprocessor.visit",
    "JSONPath parses (jsonpath-ng)": "parse (jsonpath_ng/",
    "DynamoDB transactions": "transact_write_items",
    "DynamoDB update expressions": "UpdateExpressionParser",
    "deepcopy": "deepcopy (copy.py",
    "werkzeug request handling": "WSGIRequestHandler.handle",
    "DynamoDB requests (under the lock)": "_serialized_call_action",
    "moto's response serializer": "ResponseSerializer.serialize (",
    "SQS queue attributes computed": "Queue.attributes (",
    "response class methods listed": "method_names_from_class (",
}
"""Inclusive shares worth watching: the levers of the sandbox's speed (README)."""


def _process(frames: list[str]) -> str:
    """Which of the sandbox's processes a stack was sampled in (py-spy nests ``process N:"cmd"``
    frames, outermost first)."""
    commands = [frame.split(":", 1)[-1].strip('"') for frame in frames if frame.startswith("process ")]
    command = commands[-1] if commands else ""
    for marker, name in (
        ("sandbox.runtime.worker", "Lambda workers"),
        ("sandbox.aws.server", "embedded AWS"),
        ("bao", "OpenBao"),
    ):
        if marker in command:
            return name
    return command[:60] or "demo process: driver, API, runtime, pollers, partners"  # py-spy's own child


def summarize(lines: list[str], top: int = 12) -> str:
    self_time: dict[str, Counter[str]] = defaultdict(Counter)
    watched: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        process = _process(frames)
        samples = int(count)
        totals[process] += samples
        self_time[process][
            re.sub(r":\d+\)$", ")", frames[-1]) if not frames[-1].startswith("process ") else "(idle)"
        ] += samples
        for name, marker in WATCHED.items():
            if any(marker in frame for frame in frames):
                watched[process][name] += samples
    grand = sum(totals.values()) or 1
    out = [f"{grand} samples"]
    for process, samples in totals.most_common():
        out.append(f"\n{process}: {100 * samples / grand:.1f} % of all samples")
        for name, n in watched[process].most_common():
            out.append(f"  {100 * n / samples:5.1f} %  {name} (inclusive)")
        out.append("  self time:")
        out += [f"  {100 * n / samples:5.1f} %  {frame}" for frame, n in self_time[process].most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary", description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    args = parser.parse_args(argv)
    try:
        lines = args.profile.read_text().splitlines()
    except OSError as error:
        print(f"profile_summary: {error}", file=sys.stderr)
        return 2
    print(summarize(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
