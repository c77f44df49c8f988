"""``make demo``: launch day in the sandbox. A 50x spike and a courier outage, then an audit
that proves no customer was charged for what did not ship. Exit 1 when an invariant fails.

    python -m demo [--orders 200] [--spike 50] [--outage 10] [--seed 7] [--time-scale 0.05] [--json]
                   [--port-offset N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from demo.audit import audit
from demo.drill import drill_root
from demo.driver import Driver, LaunchDayRun, Sample
from demo.html_report import as_html
from demo.report import as_text, summary
from demo.scenario import CUSTOMERS, DEMO_CATALOG, POINTS_PER_CUSTOMER, Knobs, make_plan
from sandbox.seed import seed
from sandbox.up import Sandbox, SandboxError, SandboxSettings
from synth.program import ROOT

REPORT = ROOT / "build" / "demo-report.html"


def run_demo(
    knobs: Knobs,
    *,
    progress: bool = True,
    after: Callable[[dict[str, Any]], None] = lambda _: None,
    port_offset: int = 0,
    provisioned: bool = True,
) -> tuple[dict[str, Any], LaunchDayRun]:
    """Start the sandbox, play the scenario, audit it; returns the summary and the run.
    ``after`` sees the summary while the sandbox still runs (``--keep`` waits there);
    ``port_offset`` moves every port the sandbox opens (0: the standard ones); ``provisioned``
    starts all of the request path's workers before the spike (lever ``api-warm``)."""
    plan = make_plan(knobs)
    settings = offset_settings(
        SandboxSettings(time_scale=knobs.time_scale, seed=False, warm_workers=2, provision_request_path=provisioned),
        port_offset,
        "demo",
    )
    with Sandbox(settings).start() as sandbox:
        outputs = sandbox.outputs
        seed(
            sandbox.session.resource("dynamodb", endpoint_url=sandbox.aws_endpoint),
            outputs["inventoryTableName"],
            outputs["loyaltyTableName"],
            catalog=DEMO_CATALOG,
            customers=CUSTOMERS,
            points=POINTS_PER_CUSTOMER,
        )
        driver = Driver(sandbox, plan, knobs, _print_progress if progress else lambda _: None)
        run = driver.play()
        report = summary(knobs, run, audit(sandbox, run))
        report["aws_resident_mb"] = sandbox.aws_resident_mb()
        REPORT.parent.mkdir(exist_ok=True)
        REPORT.write_text(as_html(report, run, plan))
        after(report)
    return report, run


def offset_settings(settings: SandboxSettings, offset: int, name: str) -> SandboxSettings:
    """``settings`` with every port moved by ``offset`` (a copy of the stack: the project's is
    untouched), so a run never meets another sandbox on this machine."""
    if offset == 0:
        return settings
    stack = f"{name}{offset}"
    return replace(
        settings,
        stack=stack,
        root=drill_root(offset, stack),
        aws_port=settings.aws_port + offset,
        api_port=settings.api_port + offset,
    )


def _print_progress(sample: Sample) -> None:
    by = sample.by_status
    print(
        f"[{sample.at:6.1f}s] submitted {sample.submitted:4d}  accepted {sample.accepted:4d}"
        f"  in flight {sample.in_flight:4d}"
        f"  confirmed {by.get('CONFIRMED', 0):4d}  compensated {by.get('CANCELLED_COMPENSATED', 0):4d}"
        f"  parked {by.get('NEEDS_REVIEW', 0):3d}  start queue {sample.start_queue_depth:3d}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    defaults = Knobs()
    parser.add_argument("--orders", type=int, default=defaults.orders)
    parser.add_argument("--spike", type=float, default=defaults.spike, help="spike rate as a multiple of the baseline")
    parser.add_argument("--outage", type=float, default=defaults.outage, help="seconds the courier is down")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--time-scale", type=float, default=defaults.time_scale)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the sandbox running after the audit (answer parked orders), until Ctrl-C",
    )
    parser.add_argument(
        "--port-offset", type=int, default=0, help="move every port the sandbox opens by this much (default: 0)"
    )
    args = parser.parse_args(argv)
    if args.orders < 10 or args.spike < 1 or args.outage < 0 or args.time_scale <= 0:
        parser.error("--orders >= 10, --spike >= 1, --outage >= 0, --time-scale > 0")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    knobs = Knobs(orders=args.orders, spike=args.spike, outage=args.outage, seed=args.seed, time_scale=args.time_scale)

    def show(report: dict[str, Any]) -> None:
        print(json.dumps(report, indent=2) if args.json else as_text(report), flush=True)
        if not args.json:
            print(f"report: {Path(REPORT).relative_to(ROOT)}", flush=True)
        if args.keep:
            print("the sandbox keeps running (make token, python -m ops --sandbox ...); Ctrl-C stops it", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()

    try:
        report, _ = run_demo(knobs, progress=not args.json, after=show, port_offset=args.port_offset)
    except SandboxError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    return 1 if report["invariants_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
