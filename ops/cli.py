"""``python -m ops``: the operator's console for one region of the order saga.

    python -m ops [--sandbox | --stack STACK | --outputs FILE] COMMAND ...

Exit codes: 0 done, 1 something needs a human, 2 bad input (unknown order, conflicting flags).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console as Terminal
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from handlers.ownership import RegionStandsDown
from handlers.reconcile import ADOPTED, NEEDS_A_HUMAN, RESTARTED, WOULD_ADOPT, WOULD_RESTART
from ops.console import ACTIONS, EXIT_BAD_INPUT, EXIT_HUMAN, Console, OpsError, age
from ops.region import RegionNotFound, find_region

DURATION = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
STATUS_STYLE = {
    "CONFIRMED": "green",
    "CANCELLED_COMPENSATED": "yellow",
    "NEEDS_REVIEW": "bold red",
    "PENDING": "cyan",
    "SUCCEEDED": "green",
    "RUNNING": "cyan",
    "FAILED": "bold red",
}

# Piped into a file or a ticket, tables keep whole order ids instead of folding at 80 columns.
out = Terminal(width=None if sys.stdout.isatty() else 200)
err = Terminal(stderr=True)


def parse_duration(text: str) -> timedelta:
    match = DURATION.match(text.strip())
    if match is None:
        raise click.BadParameter(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


def styled(status: Any) -> str:
    style = STATUS_STYLE.get(str(status))
    return f"[{style}]{status}[/]" if style else str(status)


def emit_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


class Context:
    def __init__(self, sandbox: bool, stack: str | None, outputs: Path | None) -> None:
        self.sandbox, self.stack, self.outputs = sandbox, stack, outputs

    def console(self) -> Console:
        region = find_region(sandbox=self.sandbox, stack=self.stack, outputs_file=self.outputs)
        return Console(region, self.flag())

    def flag(self) -> str:
        """How a suggested command names this region again."""
        parts = ["--sandbox"] if self.sandbox else []
        if self.stack:
            parts.append(f"--stack {self.stack}")
        if self.outputs:
            parts.append(f"--outputs {self.outputs}")
        return " ".join(parts) + " " if parts else ""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--sandbox", is_flag=True, help="The running sandbox (python -m sandbox up).")
@click.option("--stack", help="Pulumi stack (default: the current one); with --sandbox, the sandbox's stack.")
@click.option(
    "--outputs",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A file of `pulumi stack output --json`, instead of asking Pulumi.",
)
@click.pass_context
def main(context: click.Context, sandbox: bool, stack: str | None, outputs: Path | None) -> None:
    """The operator's console for the order saga: trace, parked, resolve, redrive, reconcile,
    and for the warm standby: region, promote, recount.

    Exit codes: 0 done, 1 something needs a human, 2 bad input.
    """
    context.obj = Context(sandbox, stack, outputs)


@main.command()
@click.argument("order_id")
@click.option("--json", "as_json", is_flag=True, help="Print the trace as JSON.")
@click.pass_obj
def trace(ctx: Context, order_id: str, as_json: bool) -> None:
    """What happened to ORDER_ID: the order, its saga, a parked message, what to do next."""
    found = ctx.console().trace(order_id)
    if as_json:
        emit_json(found)
        return
    order = found["order"]
    out.print(f"order    [bold]{order['orderId']}[/]  {styled(order.get('status'))}", highlight=False)
    out.print(
        f"customer {order.get('customerId')}  created {order.get('createdAt')} ({age(order.get('createdAt'))} ago)"
    )
    out.print(f"total    {order.get('total', 0) / 100:.2f} {order.get('currency', '')}  partners {_references(found)}")
    steps = Table(title="steps that ran (order item)", title_justify="left")
    steps.add_column("task")
    steps.add_column("completed at")
    for task, at in sorted(order.get("steps", {}).items(), key=lambda kv: kv[1]):
        steps.add_row(task, at)
    out.print(steps if order.get("steps") else "[dim]no step has completed[/]")
    for execution in found["executions"]:
        states = Table(
            title=f"execution {styled(execution['status'])}  started {execution['startDate']}"
            + (f"  stopped {execution['stopDate']}" if execution.get("stopDate") else ""),
            title_justify="left",
        )
        states.add_column("#", justify="right")
        states.add_column("state entered")
        states.add_column("at")
        for n, entered in enumerate(execution["statesEntered"], start=1):
            states.add_row(str(n), entered["state"], entered["at"])
        out.print(states)
        for error in execution["errors"]:
            out.print(f"  [red]{error['type']}[/] {error['error']}: {str(error['cause'])[:160]}")
        if execution.get("error"):
            out.print(f"  [bold red]execution failed[/] {execution['error']}: {execution.get('cause')}")
    if not found["executions"]:
        out.print("[bold yellow]no saga execution for this order[/]")
    for message in found["parked"]:
        out.print(
            f"[bold red]parked[/] at {message['step']} since {message['parkedAt']} "
            f"({age(message['parkedAt'])}): {message['error']}: {message['cause'][:160]}"
        )
    out.print(
        "[bold]next:[/] " + ("\n      ".join(found["next"]) if found["next"] else "nothing: the order is settled")
    )


def _references(found: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in found["partnerReferences"].items()) or "none"


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the parked orders as JSON.")
@click.pass_obj
def parked(ctx: Context, as_json: bool) -> None:
    """Every NEEDS_REVIEW order with its step, error, cause, age and the commands that answer it."""
    rows = ctx.console().parked()
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print("[green]no parked orders[/]")
        return
    table = Table(title=f"{len(rows)} parked order(s)", title_justify="left")
    for column in ("order", "step", "error", "cause", "age"):
        table.add_column(column, overflow="fold")
    for row in rows:
        step = row["step"] + (f" (undoing {row['compensates']})" if row.get("compensates") else "")
        table.add_row(
            row["orderId"], step, row["error"] or "[dim]no message visible[/]", (row["cause"] or "")[:80], row["age"]
        )
    out.print(table)
    out.print("answer each with one of:")
    for row in rows:
        for command in row["resolve"]:
            out.print(f"  {command}", highlight=False)


@main.command()
@click.argument("order_id")
@click.option("--retry", "retry", is_flag=True, help="Run the parked step (or compensator) again.")
@click.option("--compensate", "compensate", is_flag=True, help="Undo the step and every step before it.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def resolve(ctx: Context, order_id: str, retry: bool, compensate: bool, as_json: bool) -> None:
    """Answer ORDER_ID's parked task: --retry or --compensate (exactly one)."""
    if retry == compensate:
        raise click.UsageError("pass exactly one of --retry and --compensate")
    action = ACTIONS[0] if retry else ACTIONS[1]
    answer = ctx.console().resolve(order_id, action)
    if as_json:
        emit_json(answer)
        return
    out.print(
        f"[green]answered[/] {order_id} at {answer['step']} with [bold]{action}[/]; "
        f"its message is deleted. Follow it: python -m ops {ctx.flag()}trace {order_id}",
        highlight=False,
    )


@main.command()
@click.argument("order_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def redrive(ctx: Context, order_id: str, as_json: bool) -> None:
    """Resume ORDER_ID's halted execution (SagaHalted) from where it failed."""
    answer = ctx.console().redrive(order_id)
    if as_json:
        emit_json(answer)
        return
    out.print(f"[green]redriven[/] {answer['executionArn']}", highlight=False)


@main.command()
@click.option(
    "--older-than",
    "older_than",
    default="15m",
    show_default=True,
    help="Only PENDING orders created at least this long ago (30s, 15m, 2h, 1d); the start DLQ is read whole.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be started; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def reconcile(ctx: Context, older_than: str, dry_run: bool, as_json: bool) -> None:
    """Start a saga for every accepted order that is not settled and has none."""
    minimum_age = parse_duration(older_than)
    reconciler = ctx.console().region.reconciler()
    with Progress(
        TextColumn("reconciling"), BarColumn(), MofNCompleteColumn(), console=err, disable=as_json, transient=True
    ) as progress:
        task = progress.add_task("orders", total=None)
        try:
            result = reconciler.run(
                minimum_age,
                dry_run=dry_run,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except RegionStandsDown as passive:
            raise OpsError(f"{passive}: python -m ops {ctx.flag()}promote", EXIT_HUMAN) from passive
    if as_json:
        emit_json(result.as_dict())
    else:
        table = Table(
            title=f"{len(result.findings)} order(s) looked at" + (" (dry run)" if dry_run else ""), title_justify="left"
        )
        for column in ("order", "found in", "status", "execution", "done", "detail"):
            table.add_column(column, overflow="fold")
        for finding in result.findings:
            done = finding.action
            if done in (RESTARTED, WOULD_RESTART, ADOPTED, WOULD_ADOPT):
                done = f"[green]{done}[/]"
            elif done in NEEDS_A_HUMAN:
                done = f"[bold red]{done}[/]"
            table.add_row(
                finding.order_id,
                finding.source,
                styled(finding.status or "-"),
                styled(finding.execution_status or "none"),
                done,
                finding.detail,
            )
        out.print(table if result.findings else "[green]nothing to reconcile[/]")
        verb = "would start" if dry_run else "started"
        out.print(f"{verb} {len(result.fixed)}, need a human {len(result.needs_a_human)}")
    if result.needs_a_human:
        sys.exit(EXIT_HUMAN)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the region's state as JSON.")
@click.pass_obj
def region(ctx: Context, as_json: bool) -> None:
    """This region's role, and which region its replica of the orders table says is active."""
    state = ctx.console().region_state()
    if as_json:
        emit_json(state)
        return
    verdict = "[green]active[/]" if state["active"] else "[yellow]passive[/]"
    out.print(f"region   {state['region']} ({state['role']}): {verdict}", highlight=False)
    if state["activeRegion"]:
        out.print(
            f"control  active region {state['activeRegion']}, epoch {state['epoch']}, since {state['promotedAt']}"
        )
    else:
        out.print("control  never promoted: the primary is active, the standby passive")


@main.command()
@click.option("--expect-epoch", type=int, help="Refuse unless the control item is at this epoch (from `region`).")
@click.option("--json", "as_json", is_flag=True, help="Print the promotion as JSON.")
@click.pass_obj
def promote(ctx: Context, expect_epoch: int | None, as_json: bool) -> None:
    """Make THIS region the active one (failover, or failback). Run it against the surviving
    region only: it writes that region's replica and calls nothing in the other."""
    promoted = ctx.console().promote(expect_epoch)
    if as_json:
        emit_json(promoted)
        return
    out.print(
        f"[green]{promoted['region']} is the active region[/] (epoch {promoted['epoch']}, at {promoted['promotedAt']};"
        f" before: {promoted['previous'] or 'the primary, by role'})",
        highlight=False,
    )
    out.print(f"next: {promoted['next']}   (adopts and finishes the orders the other region left)")


@main.command()
@click.option("--dry-run", is_flag=True, help="Say what would be corrected; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the corrections as JSON.")
@click.pass_obj
def recount(ctx: Context, dry_run: bool, as_json: bool) -> None:
    """After a failover, once the returning region's backlog has replicated: release the
    reservations and restore the burns that landed on compensated orders, and recount every
    stock shard and loyalty balance from its baseline (README: Disaster recovery, step 7).
    Run it in the ACTIVE region; safe to run again at any time."""
    console = ctx.console()
    control = console.region.control()
    if control is not None and not control.active():
        raise OpsError(f"{console.region.name} is passive: recount in the active region", EXIT_HUMAN)
    result = console.region.recount().run(dry_run=dry_run)
    if as_json:
        emit_json(result.as_dict())
    else:
        if result.corrections:
            table = Table(
                title=f"{len(result.corrections)} correction(s)" + (" (dry run)" if dry_run else ""),
                title_justify="left",
            )
            for column in ("subject", "what", "change", "detail"):
                table.add_column(column, overflow="fold")
            for correction in result.corrections:
                table.add_row(correction.subject, correction.kind, f"{correction.change:+d}", correction.detail)
            out.print(table)
        else:
            out.print(f"[green]{result.checked} counter(s) checked: nothing to correct[/]")
        for key in result.busy:
            out.print(f"[bold red]busy[/] {key}: its reservations kept changing; run recount again")
        for key in result.no_baseline:
            out.print(f"[bold red]no baseline[/] {key}: no stocked/granted attribute to recount from")
    if result.needs_a_human:
        sys.exit(EXIT_HUMAN)


def run(argv: list[str] | None = None) -> int:
    """Run the console; returns the exit code (usage errors are 2, as click makes them)."""
    try:
        main.main(args=argv, prog_name="python -m ops", standalone_mode=False)
    except click.ClickException as error:
        error.show()
        return EXIT_BAD_INPUT if isinstance(error, click.UsageError | click.BadParameter) else error.exit_code
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.Abort:
        return EXIT_HUMAN
    except (OpsError, RegionNotFound) as error:
        code = error.exit_code if isinstance(error, OpsError) else EXIT_BAD_INPUT
        err.print(f"[bold red]ops:[/] {error}", highlight=False, soft_wrap=True)
        return code
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0
