"""The embedded AWS in a process of its own: moto's server and its ASL interpreter.

Lambda tasks are forwarded over HTTP to the sandbox's runtime (``RuntimeServer``), so moto,
the interpreter and the API each get a core instead of sharing one interpreter lock.

    python -m sandbox.aws.server --port 4566 --runtime-url http://127.0.0.1:PORT --time-scale 0.05
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from sandbox.aws.dynamodb import serialize_dynamodb_requests
from sandbox.aws.stepfunctions import Invoke, reuse_interpreter_clients, route_lambda_invokes, time_scale
from sandbox.runtime.errors import FunctionError

READY = "aws ready"


def forward_to(runtime_url: str) -> Invoke:
    """Invoke functions through the runtime's HTTP endpoint."""

    def invoke(function: str, payload: Any) -> Any:
        url = f"{runtime_url}/functions/{urllib.parse.quote(function, safe='')}"
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=960) as response:  # Lambda's limit, and then some
                answer = json.loads(response.read())
        except (urllib.error.URLError, OSError) as error:
            raise FunctionError("Lambda.ServiceException", f"the sandbox runtime did not answer: {error}") from error
        if "errorType" in answer:
            raise FunctionError(answer["errorType"], answer.get("errorMessage", ""))
        return answer["result"]

    return invoke


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.aws.server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--runtime-url", required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    serialize_dynamodb_requests()
    os.environ["MOTO_PORT"] = str(args.port)  # where the interpreter sends its AWS calls
    route_lambda_invokes(boto3._get_default_session(), forward_to(args.runtime_url))
    reuse_interpreter_clients()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with time_scale(args.time_scale, timeouts=False):
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
        server.start()
        request = urllib.request.Request(
            f"http://127.0.0.1:{args.port}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        print(READY, flush=True)
        stopping.wait()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
