"""Sandbox throughput: sagas completed per second and intake latency over real HTTP, next to
the floor, the bare moto calls one order needs made directly, as ratios; and for each, the
embedded AWS's CPU time per order and how busy it was (one interpreter lock: at most about
one core), the process every request goes through. ``make bench``.

Needs the sandbox's ports free (stop any ``python -m sandbox up`` first), or ``--port-offset N``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from demo.__main__ import offset_settings
from sandbox.aws.server import LEVERS
from sandbox.seed import EXAMPLE_ORDER
from sandbox.up import Sandbox, SandboxSettings

ORDERS = 40
CLIENTS = 8
ORDER = {**EXAMPLE_ORDER, "loyaltyPoints": 10}
TERMINAL = {"CONFIRMED", "CANCELLED_COMPENSATED", "NEEDS_REVIEW"}


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Run:
    orders_per_second: float
    aws_cpu_ms_per_order: float
    """The embedded AWS's CPU time per order: the process every request goes through."""
    aws_cores: float
    """Its CPU time over the run's wall time (one interpreter lock: at most about 1)."""


def measured(sandbox: Sandbox, orders: int, started: float, cpu_at_start: float) -> Run:
    wall, cpu = time.perf_counter() - started, sandbox.aws_cpu_seconds() - cpu_at_start
    return Run(orders / wall, cpu * 1000 / orders, cpu / wall)


def through_the_sandbox(sandbox: Sandbox, orders: int = ORDERS) -> tuple[Run, list[float]]:
    """(the run, intake latencies in ms) for ``orders`` orders from CLIENTS clients."""
    token = sandbox.idp.customers.token("cust-1")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    db = sandbox.aws("dynamodb")
    table = sandbox.outputs["ordersTableName"]

    def submit(_: int) -> tuple[float, str]:
        started = time.perf_counter()
        status, body = post(f"{sandbox.api.url}/orders", ORDER, {**headers, "Idempotency-Key": str(uuid.uuid4())})
        assert status == 202, (status, body)
        return (time.perf_counter() - started) * 1000, str(body["orderId"])

    def settle(order_ids: set[str]) -> None:
        """Until every order is settled: a request per 100 orders (BatchGetItem's most) per look,
        since the watching must not load what it measures."""
        waiting, deadline = set(order_ids), time.monotonic() + 600
        while waiting:
            assert time.monotonic() < deadline, f"{len(waiting)} orders never settled"
            keys = [{"orderId": {"S": order_id}} for order_id in waiting]
            for first in range(0, len(keys), 100):
                request = {
                    "Keys": keys[first : first + 100],
                    "ProjectionExpression": "orderId, #s",
                    "ExpressionAttributeNames": {"#s": "status"},
                }
                for item in db.batch_get_item(RequestItems={table: request})["Responses"][table]:
                    if item["status"]["S"] in TERMINAL:
                        waiting.discard(item["orderId"]["S"])
            time.sleep(0.2)

    with ThreadPoolExecutor(CLIENTS) as pool:
        # Warm every worker, the sagas' too, and let those sagas finish: cold starts are not throughput.
        settle({order_id for _, order_id in pool.map(submit, range(CLIENTS))})
        started, cpu_at_start = time.perf_counter(), sandbox.aws_cpu_seconds()
        results = list(pool.map(submit, range(orders)))
    settle({order_id for _, order_id in results})
    return measured(sandbox, orders, started, cpu_at_start), [latency for latency, _ in results]


def the_floor(sandbox: Sandbox, orders: int = ORDERS) -> tuple[Run, float]:
    """(the run, intake ms) doing only the AWS calls an order needs, directly."""
    db, events, sqs, sfn = (
        sandbox.aws("dynamodb"),
        sandbox.aws("events"),
        sandbox.aws("sqs"),
        sandbox.aws("stepfunctions"),
    )
    outputs = sandbox.outputs
    orders_table, inventory, loyalty = (
        outputs["ordersTableName"],
        outputs["inventoryTableName"],
        outputs["loyaltyTableName"],
    )
    floor_queue = sqs.create_queue(QueueName="bench-floor")["QueueUrl"]
    machine = sfn.create_state_machine(
        name="bench-floor",
        roleArn="arn:aws:iam::123456789012:role/bench",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    intake_ms: list[float] = []
    started, cpu_at_start = time.perf_counter(), sandbox.aws_cpu_seconds()
    for n in range(orders):
        order_id = f"floor-{n}"
        key = {"orderId": {"S": order_id}}
        t = time.perf_counter()
        db.batch_get_item(RequestItems={inventory: {"Keys": [{"pk": {"S": "SKU#TEE-M"}}]}})
        db.put_item(TableName=orders_table, Item={**key, "status": {"S": "PENDING"}})
        events.put_events(
            Entries=[
                {
                    "EventBusName": outputs["eventBusName"],
                    "Source": "bench",
                    "DetailType": "X",
                    "Detail": "{}",
                }
            ]
        )
        intake_ms.append((time.perf_counter() - t) * 1000)
        sqs.send_message(QueueUrl=floor_queue, MessageBody=order_id)
        for message in sqs.receive_message(QueueUrl=floor_queue).get("Messages", []):
            sqs.delete_message(QueueUrl=floor_queue, ReceiptHandle=message["ReceiptHandle"])
        sfn.start_execution(stateMachineArn=machine, name=order_id, input="{}")
        for _ in range(4):  # each step reads the order, writes its effect, stamps the order
            db.get_item(TableName=orders_table, Key=key)
            db.update_item(
                TableName=orders_table,
                Key=key,
                UpdateExpression="SET s = :s",
                ExpressionAttributeValues={":s": {"S": "x"}},
            )
        db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": loyalty,
                        "Key": {"pk": {"S": "ACCOUNT#cust-2"}},
                        "UpdateExpression": "SET balance = balance - :p",
                        "ExpressionAttributeValues": {":p": {"N": "1"}},
                    }
                }
            ]
        )
        db.update_item(
            TableName=orders_table,
            Key=key,
            UpdateExpression="SET #s = :c",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":c": {"S": "CONFIRMED"}},
        )
        events.put_events(
            Entries=[
                {
                    "EventBusName": outputs["eventBusName"],
                    "Source": "bench",
                    "DetailType": "Y",
                    "Detail": "{}",
                }
            ]
        )
    return measured(sandbox, orders, started, cpu_at_start), statistics.median(intake_ms)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--levers-off",
        default="",
        help=f"comma list of speed levers to turn off, to measure them: {', '.join((*LEVERS, 'api-scale'))}",
    )
    parser.add_argument(
        "--port-offset", type=int, default=0, help="move every port the sandbox opens by this much (default: 0)"
    )
    parser.add_argument(
        "--orders",
        type=int,
        default=ORDERS,
        help=f"orders through each (default: {ORDERS}); more weighs the pipeline's fill and drain less",
    )
    args = parser.parse_args(argv)
    if args.orders < 1:
        parser.error("--orders must be at least 1")
    off = set(filter(None, args.levers_off.split(",")))
    if off - {*LEVERS, "api-scale"}:
        parser.error(f"unknown lever(s): {sorted(off - {*LEVERS, 'api-scale'})}")
    os.environ["SANDBOX_LEVERS_OFF"] = ",".join(sorted(off & set(LEVERS)))  # read by the embedded AWS
    settings = offset_settings(
        SandboxSettings(time_scale=0.05, api_concurrency=2 if "api-scale" in off else 6), args.port_offset, "bench"
    )
    with Sandbox(settings).start() as sandbox:
        run, latencies = through_the_sandbox(sandbox, args.orders)
        floor, floor_intake_ms = the_floor(sandbox, args.orders)
    figures = {
        "levers_off": sorted(off),
        "orders": args.orders,
        "clients": CLIENTS,
        "orders_per_second": round(run.orders_per_second, 2),
        "floor_orders_per_second": round(floor.orders_per_second, 2),
        "sandbox_over_floor": round(run.orders_per_second / floor.orders_per_second, 3),
        "aws_cpu_ms_per_order": round(run.aws_cpu_ms_per_order, 1),
        "floor_aws_cpu_ms_per_order": round(floor.aws_cpu_ms_per_order, 1),
        "aws_cores": round(run.aws_cores, 2),
        "floor_aws_cores": round(floor.aws_cores, 2),
        "intake_p50_ms": round(percentile(latencies, 0.5), 1),
        "intake_p99_ms": round(percentile(latencies, 0.99), 1),
        "floor_intake_p50_ms": round(floor_intake_ms, 1),
    }
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"{args.orders} orders from {CLIENTS} concurrent HTTP clients, time scale 0.05")
    print(f"{'':<28}{'sandbox':>10}{'floor':>10}{'sandbox/floor':>15}")
    print(
        f"{'orders per second':<28}{figures['orders_per_second']:>10.2f}"
        f"{figures['floor_orders_per_second']:>10.2f}{figures['sandbox_over_floor']:>15.2f}"
    )
    print(f"{'intake p50 ms':<28}{figures['intake_p50_ms']:>10.0f}{figures['floor_intake_p50_ms']:>10.1f}")
    print(f"{'intake p99 ms':<28}{figures['intake_p99_ms']:>10.0f}")
    print(
        f"{'embedded AWS: CPU ms/order':<28}{figures['aws_cpu_ms_per_order']:>10.1f}"
        f"{figures['floor_aws_cpu_ms_per_order']:>10.1f}"
    )
    print(f"{'embedded AWS: cores busy':<28}{figures['aws_cores']:>10.2f}{figures['floor_aws_cores']:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
