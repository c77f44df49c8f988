"""One Lambda worker: ``python -m sandbox.runtime.worker FD``, started by ``functions._Worker``.

A fresh interpreter that imports only this module and the function's handler, as Lambda's
runtime does. (A ``multiprocessing`` spawn would first re-import the parent's ``__main__``: under
the demo that is moto and the whole sandbox, seconds of CPU and ~200 MB for every worker.)

It speaks over the connection on descriptor FD: first its setup (the function's name, ARN,
memory, timeout, handler, environment and nice value), then it answers ``("ready"|"init-error",
...)`` and one ``(status, body, message)`` per invocation until it reads ``None`` or its parent
is gone.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any


class _Context:
    """The Lambda context object, as much of it as handlers read."""

    def __init__(self, function: dict[str, Any], deadline: float) -> None:
        self.function_name = function["name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = function["arn"]
        self.memory_limit_in_mb = function["memory_mb"]
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function['name']}"
        self.log_stream_name = "sandbox"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def serve(connection: Connection) -> None:
    """Import the handler once, then answer invocations until told to stop."""
    function, environment, niceness = connection.recv()
    os.environ.clear()  # exactly the function's: the interpreter may have coerced the locale (PEP 538)
    os.environ.update(environment)
    module_name, _, function_name = function["handler"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:  # an init error fails every invocation, as in Lambda
        connection.send(("init-error", type(error).__name__, str(error)))
        return
    if niceness:  # after the init: a lower CPU priority for the invocations (``FunctionPool.niceness``)
        os.nice(niceness)
    connection.send(("ready", None, None))
    while True:
        message = connection.recv()
        if message is None:
            return
        invocation = json.loads(message)
        answer: tuple[str, str, str | None]
        try:
            deadline = time.monotonic() + function["timeout_seconds"]
            answer = ("ok", json.dumps(handler(invocation["payload"], _Context(function, deadline))), None)
        except Exception as error:
            answer = ("error", type(error).__name__, str(error) or traceback.format_exc(limit=1))
        if invocation["crashAfter"]:
            os._exit(137)  # killed after the work, before the answer: the caller never learns
        connection.send(answer)


if __name__ == "__main__":
    with suppress(EOFError, OSError):  # the runtime is gone: so is the function
        serve(Connection(int(sys.argv[1])))
