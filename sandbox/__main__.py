"""``python -m sandbox up`` runs the sandbox until Ctrl-C; ``python -m sandbox token`` prints a
token from its identity provider."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.connection import python_command
from synth.program import SynthError, read_config

if TYPE_CHECKING:
    from sandbox.up import Sandbox


def up(args: argparse.Namespace) -> int:
    # Here, not at the top: `token` needs none of the sandbox (nor Pulumi, nor the policy pack).
    from sandbox.up import Sandbox, SandboxError, SandboxSettings

    settings = SandboxSettings(
        stack=args.stack,
        aws_port=args.aws_port,
        api_port=args.api_port,
        time_scale=args.time_scale,
        seed=not args.no_seed,
        program=Path(args.program) if args.program else None,
        also=tuple(Path(program) for program in args.also),
        replication_lag_ms=args.lag_ms,
    )
    if args.standby:
        from sandbox.pair import PairSettings, SandboxPair

        pair = SandboxPair(PairSettings(settings, standby_api_port=args.standby_api_port))
        running: Any = pair
        sandbox = pair.primary
    else:
        running = sandbox = Sandbox(settings)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        running.start()
    except SandboxError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 2
    try:
        print(banner(sandbox), flush=True)
        if args.standby:
            print(standby_banner(pair), flush=True)
        while sandbox.crashed is None:
            time.sleep(0.5)
        print(f"sandbox: {sandbox.crashed}; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping", flush=True)
        return 0
    finally:
        running.stop()


def banner(sandbox: Sandbox) -> str:
    from sandbox.seed import EXAMPLE_ORDER

    unmodeled = ", ".join(f"{typ} x{count}" for typ, count in sorted(sandbox.provisioned.unmodeled.items()))
    order = json.dumps(EXAMPLE_ORDER)
    python = python_command()
    stack = "" if sandbox.settings.stack == "sandbox" else f" --stack {shlex.quote(sandbox.settings.stack)}"
    settings = sandbox.settings
    return f"""order-saga sandbox is up: stack {settings.stack}, time scale {settings.time_scale}
  API        {sandbox.api.url}
  AWS        {sandbox.aws_endpoint}  (moto: aws --endpoint-url {sandbox.aws_endpoint} ...)
  partners   payment {sandbox.gateway.url}, courier {sandbox.courier.url}  (GET /_admin/ledger)
  Vault      {sandbox.vault.url}   issuer {sandbox.idp.url}
  logs       build/sandbox/logs/<function>.log
  not modeled here: {unmodeled or "nothing"}

Get a token (from the project root):
  TOKEN=$({python} -m sandbox token{stack} --customer cust-1)
Place an order:
  curl -s -X POST {sandbox.api.url}/orders -H "Authorization: Bearer $TOKEN" \\
    -H "Idempotency-Key: $({python} -c 'import uuid; print(uuid.uuid4())')" \\
    -H 'Content-Type: application/json' -d '{order}'
Ctrl-C stops everything."""


def standby_banner(pair: Any) -> str:
    python = python_command()
    standby = pair.standby
    return f"""
Warm standby: stack {standby.settings.stack} in {standby.region} (passive until promoted)
  API        {standby.api.url}   (answers 503 region_passive until promoted)
  replicas   global tables replicated both ways, {pair.settings.primary.replication_lag_ms} ms behind, last writer wins
Fail over (from the standby alone), then finish what the primary left:
  {python} -m ops --sandbox --stack {standby.settings.stack} promote
  {python} -m ops --sandbox --stack {standby.settings.stack} reconcile --older-than 0s"""


def token(args: argparse.Namespace) -> int:
    try:
        config = read_config(args.stack)
    except SynthError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 2
    issuer = config["order-saga:staffIssuer" if args.staff else "order-saga:customerIssuer"]
    request: dict[str, Any] = {"sub": args.staff or args.customer}
    if args.client:
        request["clientId"] = args.client
    if args.scopes is not None:
        request["scopes"] = args.scopes.split(",") if args.scopes else []
    try:
        http = urllib.request.Request(
            f"{issuer}/token",
            data=json.dumps(request).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(http, timeout=5) as response:
            print(json.loads(response.read())["access_token"])
    except (urllib.error.URLError, OSError) as error:
        print(
            f"sandbox: no identity provider at {issuer} ({error}): is `python -m sandbox up` running?",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="deploy the sandbox stack locally and serve it until Ctrl-C")
    start.add_argument("--stack", default="sandbox")
    start.add_argument("--aws-port", type=int, default=4566)
    start.add_argument("--api-port", type=int, default=8080)
    start.add_argument(
        "--time-scale", type=float, default=0.05, help="retry waits x this (default 0.05); timeouts stay real"
    )
    start.add_argument("--no-seed", action="store_true", help="leave the catalog and loyalty accounts empty")
    start.add_argument("--program", help="deploy another Pulumi program with the stack's config")
    start.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="PROGRAM",
        help="and this program beside it, same config (repeatable): e.g. examples/returns_saga.py",
    )
    start.add_argument(
        "--standby", action="store_true", help="and a warm standby in us-west-2 (stack <stack>-standby), same program"
    )
    start.add_argument("--standby-api-port", type=int, default=8090)
    start.add_argument("--lag-ms", type=int, default=500, help="global-table replication lag (default 500 ms)")
    start.set_defaults(run=up)
    mint = commands.add_parser("token", help="print an access token from the running sandbox's issuer")
    who = mint.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="customer id (Okta-style token, scopes orders:write orders:read)")
    who.add_argument("--staff", help="staff user (Entra-style token, app role OrderOps)")
    mint.add_argument("--client", help="client id (usage plan), default web-shop / ops-console")
    mint.add_argument("--scopes", help="comma-separated scopes instead of the defaults")
    mint.add_argument("--stack", default="sandbox")
    mint.set_defaults(run=token)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
