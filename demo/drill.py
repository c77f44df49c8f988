"""``make dr-drill``: lose the primary region mid-spike, fail over to the warm standby, bring the
primary back, and prove nothing was lost or done twice. Exit 1 when an invariant fails.

    python -m demo.drill [--seed 1] [--orders 40] [--kill-at S] [--lag-ms 500] [--json]

1. ``python -m sandbox up --standby``'s two regions (same program, one embedded AWS, global
   tables replicated ``--lag-ms`` behind, last writer wins); launch-day traffic at the primary.
2. At ``--kill-at`` the primary goes dark: API, functions, pollers, schedules and executions
   frozen, its AWS refusing requests, nothing replicated in or out.
3. Clients retry, then fail over to the standby's URL with the same ``Idempotency-Key`` (it
   answers 503 ``region_passive`` until promoted). The on-call runs the README's runbook
   against the standby: ``promote``, then ``reconcile --older-than 0s`` (the same commands, as
   subprocesses). Clients holding a 202 from the primary look their order up at the standby
   and send it again with the same key when it is not there (README: what clients do).
4. Once every accepted order is settled, the primary comes back: its frozen executions resume
   and must stand down; the runbook's reconcile runs once more for what its backlog brought,
   and once the backlog has replicated, its ``recount`` (stock and points, handlers/recount.py).
5. The audit (``demo.audit.check``) over the active region's tables and the partners' ledgers,
   plus the drill's own: no order charged, booked, reserved or burned twice; both replicas
   agree; RTO and RPO measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from demo.audit import INVARIANTS, Evidence, check, scan
from demo.driver import PARKED, TERMINAL, LaunchDayRun, Sample, SentRequest, send_plan, sleep_until
from demo.html_report import as_html
from demo.report import summary
from demo.scenario import CUSTOMERS, DEMO_CATALOG, POINTS_PER_CUSTOMER, Knobs, Plan, PlannedOrder, make_plan
from handlers.ownership import CONTROL_KEY
from sandbox.connection import python_command
from sandbox.pair import PairSettings, SandboxPair
from sandbox.seed import seed
from sandbox.up import Sandbox, SandboxError, SandboxSettings
from synth.program import ROOT

REPORT = ROOT / "build" / "dr-drill-report.html"
SENDERS = 32
PRIMARY_RETRIES = 3
"""Tries at the primary (and its retries' backoff) before a client fails over."""
FAILOVER_DEADLINE_S = 240.0
SETTLED = (*TERMINAL, PARKED)
REPLICAS_AGREE = "both regions' replicas agree (orders, stock, points)"
DOUBLE_EFFECTS = "no order charged, booked, reserved or burned twice"
DRILL_INVARIANTS = (*INVARIANTS, REPLICAS_AGREE, DOUBLE_EFFECTS)
PORTS = ("8180", "8181", "8182", "8200")


@dataclass(frozen=True)
class DrillKnobs:
    seed: int = 1
    orders: int = 40
    spike: float = 5.0
    kill_at: float | None = None
    """Seconds after the start; default: the middle of the spike."""
    lag_ms: int = 500
    time_scale: float = 0.05
    detect_seconds: float = 3.0
    """From the outage to the on-call's first command (an alarm, a page): part of the RTO."""
    port_offset: int = 0
    """Added to every port the drill starts (0: the standard ones; tests use their own)."""


@dataclass
class Timeline:
    started: float = 0.0
    killed: float | None = None
    promoted: float | None = None
    reconciled: float | None = None
    first_standby_accept: float | None = None
    all_settled: float | None = None
    back: float | None = None
    done: float | None = None

    def since_start(self) -> dict[str, float | None]:
        return {
            key: (None if value is None else round(value - self.started, 2))
            for key, value in asdict(self).items()
            if key != "started"
        }


@dataclass
class DrillRun(LaunchDayRun):
    region_of: dict[str, str] = field(default_factory=dict)
    """orderId -> the region whose 202 the client holds (the last one)."""
    accepted_by_primary: set[str] = field(default_factory=set)
    resubmitted: list[str] = field(default_factory=list)
    timeline: Timeline = field(default_factory=Timeline)
    runbook: list[dict[str, Any]] = field(default_factory=list)
    rpo_orders: list[str] = field(default_factory=list)
    backlog: int = 0
    primary_executions: dict[str, int] = field(default_factory=dict)


class Drill:
    def __init__(self, pair: SandboxPair, plan: Plan, knobs: DrillKnobs, kill_at: float, quiet: bool) -> None:
        self.pair, self.plan, self.knobs, self.kill_at, self.quiet = pair, plan, knobs, kill_at, quiet
        self.primary, self.standby = pair.primary, pair.standby
        self.run = DrillRun()
        self.lock = threading.Lock()
        self.tokens: dict[str, str] = {}
        self.sent: dict[str, PlannedOrder] = {}
        self.submitted = 0
        self.killed = threading.Event()

    # -- the whole drill -----------------------------------------------------------------------

    def play(self) -> DrillRun:
        timeline = self.run.timeline
        timeline.started = time.monotonic()
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop,), daemon=True)
        watcher.start()
        operator = threading.Thread(target=self._operate, daemon=True)
        operator.start()
        send_plan(self.plan, timeline.started, self._send, SENDERS)
        operator.join()
        # Clients holding a 202 from the lost region look their order up where it is active now.
        self._verify_primary_orders()
        timeline.all_settled = self._wait_settled(deadline_s=300)
        self._log(f"every accepted order settled: {self.run.drained}")
        # The primary comes back: its frozen executions resume and must stand down.
        self.run.backlog = self.primary.come_back()
        timeline.back = time.monotonic()
        self._log(f"primary back; {self.run.backlog} replicated writes applied to it first")
        self._runbook("reconcile", "--older-than", "0s")  # what the primary's backlog brought
        self._wait_replicated(deadline_s=60)
        self._wait_primary_quiet(deadline_s=90)
        self._wait_settled(deadline_s=120)
        self._wait_replicated(deadline_s=60)
        # Its backlog is in: stock and points recounted from their baselines (README, step 7).
        self._runbook("recount")
        self._wait_replicated(deadline_s=60)
        timeline.done = time.monotonic()
        stop.set()
        watcher.join()
        self.run.duration_s = timeline.done - timeline.started
        return self.run

    def _operate(self) -> None:
        """The outage at ``kill_at``, then the on-call's runbook against the standby alone."""
        timeline = self.run.timeline
        sleep_until(self.run.timeline.started, self.kill_at)
        self.primary.go_dark()
        timeline.killed = time.monotonic()
        self.killed.set()
        self._log("primary region is dark")
        time.sleep(self.knobs.detect_seconds)
        self._runbook("promote")
        timeline.promoted = time.monotonic()
        self.run.rpo_orders = sorted(self._missing_in_standby(self.run.accepted_by_primary))
        self._runbook("reconcile", "--older-than", "0s")
        timeline.reconciled = time.monotonic()

    def _runbook(self, *command: str) -> None:
        """One runbook step, exactly as the README writes it, against the standby's stack."""
        argv = [sys.executable, "-m", "ops", "--sandbox", "--stack", self.standby.settings.stack, *command, "--json"]
        started = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
        shown = f"{python_command()} -m ops --sandbox --stack {self.standby.settings.stack} {' '.join(command)}"
        step: dict[str, Any] = {
            "command": shown,
            "at": round(started - self.run.timeline.started, 2),
            "seconds": round(time.monotonic() - started, 2),
            "exit": done.returncode,
        }
        try:
            output = json.loads(done.stdout)
            step["result"] = (
                {k: output[k] for k in ("fixed", "needsAHuman") if k in output} if "findings" in output else output
            )
        except ValueError:
            step["stderr"] = done.stderr.strip()[-500:]
        self.run.runbook.append(step)
        self._log(f"$ {shown}  -> exit {done.returncode} in {step['seconds']} s")

    # -- clients ---------------------------------------------------------------------------------

    def _send(self, order: PlannedOrder) -> None:
        with self.lock:
            self.submitted += 1
            self.sent[order.key] = order
        self._place(order)
        if order.retried:
            self._place(order)

    def _place(self, order: PlannedOrder) -> None:
        """The primary first, with retries; then the standby's URL, same key, until it accepts."""
        for attempt in range(PRIMARY_RETRIES + 1):
            status, body = self._post(self.primary, order)
            if status == 202:
                self._accepted(body["orderId"], order, self.primary)
                return
            if status != 429 and status < 500:
                return  # a 4xx: the client's own mistake, not an outage
            time.sleep(0.2 * (attempt + 1))
        deadline = time.monotonic() + FAILOVER_DEADLINE_S
        jitter, backoff = random.Random(order.key), 0.5
        while time.monotonic() < deadline:
            status, body = self._post(self.standby, order)
            if status == 202:
                self._accepted(body["orderId"], order, self.standby)
                return
            if status != 429 and status < 500:
                return
            # region_passive until promoted: back off, exponentially with full jitter
            time.sleep(jitter.uniform(0, backoff))
            backoff = min(backoff * 2, 4.0)

    def _post(self, region: Sandbox, order: PlannedOrder) -> tuple[int, dict[str, Any]]:
        headers = {
            "Authorization": f"Bearer {self._token(order.customer)}",
            "Idempotency-Key": order.key,
            "Content-Type": "application/json",
        }
        sent = time.monotonic()
        status, body = _http("POST", f"{region.api.url}/orders", order.body, headers)
        answered = time.monotonic()
        order_id = body.get("orderId") if status == 202 else None
        with self.lock:
            self.run.requests.append(
                SentRequest(answered - self.run.timeline.started, (answered - sent) * 1000, status, order.key, order_id)
            )
        return status, body

    def _accepted(self, order_id: str, order: PlannedOrder, region: Sandbox) -> None:
        with self.lock:
            self.run.accepted[order_id] = order.key
            self.run.region_of[order_id] = region.region
            if region is self.primary:
                self.run.accepted_by_primary.add(order_id)
            elif self.run.timeline.first_standby_accept is None:
                self.run.timeline.first_standby_accept = time.monotonic()

    def _verify_primary_orders(self) -> None:
        """README, "What clients do": a 202 from the lost region, and the active region does not
        know the order: send it again there with the same key (the same orderId)."""
        by_key = {order.key: order for order in self.sent.values()}
        for order_id in sorted(self._missing_in_standby(self.run.accepted_by_primary)):
            order = by_key[self.run.accepted[order_id]]
            status, body = self._post(self.standby, order)
            if status == 202:
                self.run.resubmitted.append(order_id)
                self._accepted(body["orderId"], order, self.standby)

    def _token(self, customer: str) -> str:
        with self.lock:
            if customer not in self.tokens:
                self.tokens[customer] = self.primary.idp.customers.token(customer)
            return self.tokens[customer]

    # -- watching --------------------------------------------------------------------------------

    def _missing_in_standby(self, order_ids: set[str]) -> set[str]:
        table = self.standby.session.resource("dynamodb", endpoint_url=self.standby.aws_endpoint).Table(
            self.standby.outputs["ordersTableName"]
        )
        return {o for o in order_ids if "Item" not in table.get_item(Key={"orderId": o}, ConsistentRead=True)}

    def _statuses(self, region: Sandbox) -> dict[str, str]:
        client = region.aws("dynamodb")
        found: dict[str, str] = {}
        for page in client.get_paginator("scan").paginate(
            TableName=region.outputs["ordersTableName"],
            ProjectionExpression="orderId, #s",
            ExpressionAttributeNames={"#s": "status"},
        ):
            for item in page["Items"]:
                if item["orderId"]["S"] != CONTROL_KEY and "status" in item:
                    found[item["orderId"]["S"]] = item["status"]["S"]
        return found

    def _sample(self) -> Sample:
        statuses = self._statuses(self.standby)  # the replica that survives: it sees both regions' work
        with self.lock:
            submitted, accepted = self.submitted, dict(self.run.accepted)
        counts = Counter(statuses.get(o, "PENDING") for o in accepted)
        depth = self.standby.aws("sqs").get_queue_attributes(
            QueueUrl=self.standby.outputs["sagaStartQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
        )
        return Sample(
            time.monotonic() - self.run.timeline.started,
            submitted,
            len(accepted),
            dict(counts),
            int(depth["Attributes"]["ApproximateNumberOfMessages"]),
        )

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            try:
                sample = self._sample()
            except Exception as error:  # a sample is only a picture; the audit decides
                logging.getLogger("drill").debug("sample failed: %s", error)
                continue
            self.run.samples.append(sample)
            if not self.quiet:
                by = sample.by_status
                print(
                    f"[{sample.at:6.1f}s] submitted {sample.submitted:4d}  accepted {sample.accepted:4d}"
                    f"  in flight {sample.in_flight:4d}  confirmed {by.get('CONFIRMED', 0):4d}"
                    f"  compensated {by.get('CANCELLED_COMPENSATED', 0):4d}  parked {by.get(PARKED, 0):3d}"
                    f"  {'PRIMARY DARK' if self.killed.is_set() and self.run.timeline.back is None else ''}",
                    flush=True,
                )

    def _wait_settled(self, deadline_s: float) -> float | None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            statuses = self._statuses(self.standby)
            with self.lock:
                accepted = list(self.run.accepted)
            if all(statuses.get(o) in SETTLED for o in accepted):
                self.run.drained = True
                return time.monotonic()
            time.sleep(0.5)
        self.run.drained = False
        return None

    def _wait_replicated(self, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and any(dict(self.pair.replication().get("pending") or {}).values()):
            time.sleep(0.25)

    def _wait_primary_quiet(self, deadline_s: float) -> None:
        """Until the primary's resumed executions have ended (or only wait for a task token)."""
        sfn = self.primary.aws("stepfunctions")
        machine = self.primary.outputs["stateMachineArn"]
        deadline, last, steady = time.monotonic() + deadline_s, -1, 0
        while time.monotonic() < deadline:
            running = len(sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"])
            steady = steady + 1 if running == last else 0
            last = running
            if running == 0 or steady >= 10:
                break
            time.sleep(0.5)

    def _log(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.run.timeline.started:6.1f}s] {message}", flush=True)


# -- the audit ---------------------------------------------------------------------------------


def _executions(region: Sandbox) -> dict[str, str]:
    sfn = region.aws("stepfunctions")
    found: dict[str, str] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=region.outputs["stateMachineArn"]):
        found |= {e["name"]: e["status"] for e in page["executions"]}
    return found


def double_effects(evidence: Evidence, replicas: list[list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Orders with more than one charge or booking at the partners, or more than one reservation
    of a SKU or burn across the two regions' tables (which must hold the same one)."""
    found: dict[str, list[str]] = {}

    def note(order_id: str, what: str) -> None:
        found.setdefault(order_id, []).append(what)

    charges = Counter(e["reference"] for e in evidence.gateway_ledger if e["type"] == "charge")
    bookings = Counter(e["reference"] for e in evidence.courier_ledger if e["type"] == "booking")
    for order_id, count in charges.items():
        if count > 1:
            note(order_id, f"{count} charges")
    for order_id, count in bookings.items():
        if count > 1:
            note(order_id, f"{count} courier bookings")
    reservations: dict[str, set[int]] = {}
    burns: dict[str, set[int]] = {}
    for items in replicas:
        for item in items:
            if item["pk"].startswith("RES#"):
                reservations.setdefault(f"{item['orderId']}#{item['sku']}", set()).add(int(item["shard"]))
            elif item["pk"].startswith("LEDGER#") and item["pk"].endswith("#BURN"):
                burns.setdefault(item["pk"].split("#")[1], set()).add(int(item["points"]))
    for key, shards in reservations.items():
        if len(shards) > 1:
            note(key.rsplit("#", 1)[0], f"{key.rsplit('#', 1)[1]} reserved on shards {sorted(shards)}")
    for order_id, amounts in burns.items():
        if len(amounts) > 1:
            note(order_id, f"burns of {sorted(amounts)} points")
    return found


def audit_drill(pair: SandboxPair, run: DrillRun, knobs: DrillKnobs) -> dict[str, Any]:
    primary, standby = pair.primary, pair.standby
    outputs = standby.outputs
    executions = {**_executions(primary), **_executions(standby)}
    run.primary_executions = dict(Counter(_executions(primary).values()))
    tables = {name: outputs[f"{name}TableName"] for name in ("orders", "inventory", "loyalty")}
    active = {name: scan(standby, table) for name, table in tables.items()}
    other = {name: scan(primary, table) for name, table in tables.items()}
    evidence = Evidence(
        accepted=list(run.accepted),
        orders={item["orderId"]: item for item in active["orders"]},
        gateway_ledger=primary.gateway.ledger(),
        courier_ledger=primary.courier.ledger(),
        inventory=active["inventory"],
        loyalty=active["loyalty"],
        executions=Counter({name: 1 for name in executions}),  # one per order per region at most
    )
    result = check(evidence)
    verdicts = {v.invariant: [str(b) for b in v.breaches] for v in result.verdicts()}
    # The two replicas, once replication has drained, hold the same items.
    disagree = []
    for name in tables:
        key = "orderId" if name == "orders" else "pk"
        mine = {item[key]: item for item in active[name]}
        theirs = {item[key]: item for item in other[name]}
        for item_key in sorted(set(mine) | set(theirs)):
            if mine.get(item_key) != theirs.get(item_key):
                disagree.append(f"{name}:{item_key}")
    verdicts[REPLICAS_AGREE] = disagree
    doubles = double_effects(evidence, [active["inventory"], other["inventory"], active["loyalty"], other["loyalty"]])
    verdicts[DOUBLE_EFFECTS] = [f"{order}: {', '.join(what)}" for order, what in sorted(doubles.items())]
    report = summary(
        Knobs(orders=knobs.orders, spike=knobs.spike, outage=0.0, seed=knobs.seed, time_scale=knobs.time_scale),
        run,
        result,
    )
    timeline = run.timeline
    killed = timeline.killed or timeline.started

    def since_kill(moment: float | None) -> float | None:
        return None if moment is None else round(moment - killed, 2)

    failed = [name for name in DRILL_INVARIANTS if verdicts.get(name)]
    report |= {
        "drill": {
            "knobs": asdict(knobs),
            "timeline_s": timeline.since_start(),
            "runbook": run.runbook,
            "accepted_by_primary": len(run.accepted_by_primary),
            "accepted_by_standby": len(run.accepted) - len(run.accepted_by_primary & set(run.accepted)),
            "resubmitted_by_clients": run.resubmitted,
            "rpo_order_ids": run.rpo_orders,
            "backlog_applied_to_primary": run.backlog,
            "replication": pair.replication(),
            "primary_executions_by_status": run.primary_executions,
            "parked": {
                o: {"step": evidence.orders[o].get("parkedStep"), "owner": evidence.orders[o].get("ownerRegion")}
                for o in run.accepted
                if evidence.orders.get(o, {}).get("status") == PARKED
            },
            "verdicts": [
                {"invariant": name, "passed": not verdicts.get(name), "breaches": verdicts.get(name, [])}
                for name in DRILL_INVARIANTS
            ],
        },
        "double_effects": len(doubles),
        "rto_seconds": {
            "first_accepted_by_standby": since_kill(timeline.first_standby_accept),
            "all_settled": since_kill(timeline.all_settled),
        },
        "rpo_orders": len(run.rpo_orders),
        "invariants_failed": failed,
        "problems": [f"{name}: {breach}" for name in failed for breach in verdicts[name][:10]],
    }
    report["audit"] += [
        {
            "invariant": name,
            "passed": not verdicts[name],
            "breaches": [
                {"subject": b.split(":", 1)[0], "problem": b.split(":", 1)[-1].strip(), "status": None, "holds": None}
                for b in verdicts[name]
            ],
        }
        for name in (REPLICAS_AGREE, DOUBLE_EFFECTS)
    ]
    return report


# -- entry point ---------------------------------------------------------------------------------


def drill_root(offset: int, stack: str) -> Path:
    """The sandbox stack with every port moved by ``offset`` (a copy: the project's is untouched)."""
    root = ROOT / "build" / "sandbox" / f"{stack}-root"
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    text = (ROOT / "Pulumi.sandbox.yaml").read_text()
    for port in PORTS:
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{int(port) + offset}")
    text = text.replace("build/sandbox/vault", f"build/sandbox/{stack}-vault")
    (root / f"Pulumi.{stack}.yaml").write_text(text)
    return root


def run_drill(knobs: DrillKnobs, *, quiet: bool = False) -> dict[str, Any]:
    plan = make_plan(Knobs(orders=knobs.orders, spike=knobs.spike, outage=0.0, seed=knobs.seed))
    kill_at = knobs.kill_at if knobs.kill_at is not None else (plan.spike_start + plan.spike_end) / 2
    stack = "sandbox" if knobs.port_offset == 0 else f"drill{knobs.port_offset}"
    settings = SandboxSettings(
        stack=stack,
        root=ROOT if knobs.port_offset == 0 else drill_root(knobs.port_offset, stack),
        aws_port=4566 + knobs.port_offset,
        api_port=8080 + knobs.port_offset,
        time_scale=knobs.time_scale,
        seed=False,
        warm_workers=1,
        replication_lag_ms=knobs.lag_ms,
    )
    pair = SandboxPair(PairSettings(settings, standby_api_port=8090 + knobs.port_offset))
    with pair.start():
        primary = pair.primary
        seed(
            primary.session.resource("dynamodb", endpoint_url=primary.aws_endpoint),
            primary.outputs["inventoryTableName"],
            primary.outputs["loyaltyTableName"],
            catalog=DEMO_CATALOG,
            customers=CUSTOMERS,
            points=POINTS_PER_CUSTOMER,
        )
        drill = Drill(pair, plan, knobs, kill_at, quiet)
        drill._wait_replicated(deadline_s=30)  # the catalog is in both regions before the first order
        run = drill.play()
        report = audit_drill(pair, run, knobs)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(as_html(report, run, plan, drill=report["drill"]))
    REPORT.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str))
    return report


def as_text(report: dict[str, Any]) -> str:
    drill = report["drill"]
    rto = report["rto_seconds"]
    lines = [
        f"accepted {report['accepted']} ({drill['accepted_by_primary']} by the primary, "
        f"{drill['accepted_by_standby']} by the standby; {len(drill['resubmitted_by_clients'])} re-sent by clients)",
        f"  CONFIRMED {report['confirmed']}   CANCELLED_COMPENSATED {report['cancelled_compensated']}   "
        f"NEEDS_REVIEW {report['needs_review']}   lost {report['lost']}",
        f"  charged but not confirmed {report['charged_not_confirmed']}   oversold units {report['oversold_units']}"
        f"   double effects {report['double_effects']}",
        f"  RTO: first order accepted by the standby {rto['first_accepted_by_standby']} s after the kill, "
        f"every accepted order settled {rto['all_settled']} s after it",
        f"  RPO: {report['rpo_orders']} order(s) accepted by the primary were missing in the standby at promotion",
        f"  primary's executions after it came back: {drill['primary_executions_by_status']}; "
        f"backlog replicated into it first: {drill['backlog_applied_to_primary']}",
        f"  timeline (s): {drill['timeline_s']}",
        "runbook, as run:",
        *(f"  $ {step['command']}   (exit {step['exit']}, {step['seconds']} s)" for step in drill["runbook"]),
    ]
    if report["invariants_failed"]:
        lines.append("DRILL FAILED: " + "; ".join(report["invariants_failed"]))
        lines += [f"  {problem}" for problem in report["problems"][:30]]
    else:
        lines.append("drill: every invariant holds")
    lines.append(f"report: {REPORT.relative_to(ROOT)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.drill", description=__doc__.splitlines()[0])
    defaults = DrillKnobs()
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--orders", type=int, default=defaults.orders)
    parser.add_argument("--spike", type=float, default=defaults.spike, help="spike rate as a multiple of the baseline")
    parser.add_argument("--kill-at", type=float, help="seconds after the start (default: mid-spike)")
    parser.add_argument("--lag-ms", type=int, default=defaults.lag_ms, help="global-table replication lag")
    parser.add_argument("--time-scale", type=float, default=defaults.time_scale)
    parser.add_argument("--port-offset", type=int, default=0, help="move every port the drill starts by this much")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if args.orders < 10 or args.spike < 1 or args.lag_ms < 0 or args.time_scale <= 0:
        parser.error("--orders >= 10, --spike >= 1, --lag-ms >= 0, --time-scale > 0")
    if args.kill_at is not None and args.kill_at < 0:
        parser.error("--kill-at >= 0")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    # Stopped by a signal, it still stops both regions' processes (the ``with`` in run_drill).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    knobs = DrillKnobs(
        seed=args.seed,
        orders=args.orders,
        spike=args.spike,
        kill_at=args.kill_at,
        lag_ms=args.lag_ms,
        time_scale=args.time_scale,
        port_offset=args.port_offset,
    )
    try:
        report = run_drill(knobs, quiet=args.json)
    except SandboxError as error:
        print(f"drill: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, default=str) if args.json else as_text(report))
    return 1 if report["invariants_failed"] else 0


def _http(method: str, url: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError):
        return 599, {}  # no answer (a dark region drops the connection): retry, then fail over


if __name__ == "__main__":
    sys.exit(main())
