"""A local Lambda runtime: each function runs in worker processes of its own.

A worker (``sandbox.runtime.worker``, a fresh interpreter) imports the function's handler from
its deployed handler string, with exactly the function's environment plus what Lambda itself
sets (region, credentials, function name) and the sandbox's AWS endpoint. An invocation that
runs past the function's timeout kills its worker and fails as Lambda's does
(``Sandbox.Timedout``); reserved concurrency caps the workers, and an invocation beyond it is
refused (``Lambda.TooManyRequestsException``), as Lambda refuses a synchronous invoke.
Unreserved functions share the machine: at most ``default_concurrency`` workers each, and
callers wait for one.

Faults per function (``Function.faults``) make the races of a loaded Lambda happen on purpose:
an invocation that runs late (after the state that called it timed out, so after its
compensator), one that answers late (after doing its work), and a worker that dies after the
work and before the answer (``Runtime.ExitError``, as an out-of-memory kill would).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from sandbox.http import LoopbackServer, Reply, Request, json_reply
from sandbox.runtime.errors import FunctionError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class FunctionSpec:
    """A deployed function, as the resource graph describes it."""

    name: str
    arn: str
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 3.0
    memory_mb: int = 128
    reserved_concurrency: int | None = None


@dataclass
class InvocationFaults:
    """What goes wrong with a function's invocation for given orders (the ``orderId`` of the
    saga document it receives); each applies once per order."""

    late_start: set[str] = field(default_factory=set)
    """Orders whose invocation waits ``late_seconds`` before it runs: the caller may have timed
    out and compensated by then, and the effect lands after its undo."""
    late_answer: set[str] = field(default_factory=set)
    """Orders whose invocation runs at once and answers ``late_seconds`` after its work."""
    crash_after: set[str] = field(default_factory=set)
    """Orders whose invocation does its work, then the worker exits before answering."""
    late_seconds: float = 35.0

    def take(self, kind: str, order_id: object) -> bool:
        """True (once) when fault ``kind`` is set for ``order_id``."""
        targets: set[str] = getattr(self, kind)
        if isinstance(order_id, str) and order_id in targets:
            targets.discard(order_id)
            return True
        return False


class _Worker:
    """A worker process (``sandbox.runtime.worker``) and the connection to it."""

    def __init__(
        self, spec: FunctionSpec, environment: dict[str, str], log_path: str | None, niceness: int = 0
    ) -> None:
        ours, theirs = socket.socketpair()
        try:
            with open(log_path, "ab") if log_path else nullcontext() as log:  # as CloudWatch would hold them
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "sandbox.runtime.worker", str(theirs.fileno())],
                    cwd=ROOT,  # the function's files (its deployment) are relative to the project
                    env=environment,
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT if log else None,
                    start_new_session=True,  # a Ctrl-C is the runtime's to handle: it stops its workers
                )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker's end is the worker's alone
        self.connection = Connection(ours.detach())
        # Lambda's init phase: the import, bounded separately from the invocation's timeout.
        try:
            self.connection.send((_setup(spec), environment, niceness))
            if not self.connection.poll(30):
                self.kill()
                raise FunctionError("Runtime.InitTimeout", f"{spec.name} did not initialize within 30 s")
            status, error_type, message = self.connection.recv()
        except (EOFError, OSError) as error:  # it died before it was ready
            self.kill()
            raise FunctionError("Runtime.ExitError", f"{spec.name} exited during its init") from error
        if status != "ready":
            self.kill()
            raise FunctionError("Runtime.ImportModuleError", f"{error_type}: {message}")

    def kill(self) -> None:
        self.process.kill()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.connection.close()

    def ask_to_stop(self) -> None:
        with suppress(BrokenPipeError, OSError):  # already gone
            self.connection.send(None)

    def stop(self) -> None:
        self.ask_to_stop()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()


def _setup(spec: FunctionSpec) -> dict[str, Any]:
    """What the worker needs of the spec (plain data: it does not import this module)."""
    fields = ("name", "arn", "handler", "memory_mb", "timeout_seconds")
    return {name: getattr(spec, name) for name in fields}


class FunctionPool:
    """One function's workers."""

    def __init__(
        self,
        spec: FunctionSpec,
        base_environment: dict[str, str],
        default_concurrency: int,
        log_dir: str | None,
    ) -> None:
        self.spec = spec
        self.log_path = os.path.join(log_dir, f"{spec.name}.log") if log_dir else None
        self.environment = {
            **base_environment,
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "_HANDLER": spec.handler,
        }
        # Reserved concurrency above what this machine runs well waits instead of refusing.
        self.limit = min(spec.reserved_concurrency or default_concurrency, default_concurrency)
        self.refuses = spec.reserved_concurrency is not None and spec.reserved_concurrency <= default_concurrency
        self._idle: list[_Worker] = []
        self._busy = 0
        self._condition = threading.Condition()
        self.faults = InvocationFaults()
        self._faults_lock = threading.Lock()
        self.niceness = 0
        """Added to the nice value of the workers started from now on (``LambdaRuntime.lower_priority``)."""

    def invoke(self, payload: Any) -> Any:
        order_id = payload.get("orderId") if isinstance(payload, dict) else None
        with self._faults_lock:
            start_late = self.faults.take("late_start", order_id)
            answer_late = self.faults.take("late_answer", order_id)
            crash_after = self.faults.take("crash_after", order_id)
            late = self.faults.late_seconds
        if start_late:
            time.sleep(late)  # before taking a worker: as a call queued behind busy workers
        result = self._run(payload, crash_after)
        if answer_late:
            time.sleep(late)
        return result

    def inject(self, kind: str, order_id: str) -> None:
        """Set fault ``kind`` (an ``InvocationFaults`` set) for the order's next invocation."""
        with self._faults_lock:
            getattr(self.faults, kind).add(order_id)

    def _run(self, payload: Any, crash_after: bool) -> Any:
        worker = self._acquire()
        healthy = False
        try:
            try:
                worker.connection.send(json.dumps({"payload": payload, "crashAfter": crash_after}))
                if not worker.connection.poll(self.spec.timeout_seconds):
                    timeout = self.spec.timeout_seconds
                    raise FunctionError("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds")
                status, body, message = worker.connection.recv()
            except (EOFError, OSError) as error:  # it died: before the invocation, or during it
                raise FunctionError("Runtime.ExitError", f"{self.spec.name} exited during the invocation") from error
            healthy = True
            if status == "error":
                raise FunctionError(body, message)
            return json.loads(body)
        finally:
            self._release(worker, healthy)

    def _acquire(self) -> _Worker:
        with self._condition:
            while not self._idle and self._busy >= self.limit:
                if self.refuses:
                    raise FunctionError(
                        "Lambda.TooManyRequestsException",
                        f"{self.spec.name}: reserved concurrency {self.limit} in use",
                    )
                self._condition.wait()
            self._busy += 1
            if self._idle:
                return self._idle.pop()
        try:
            return _Worker(self.spec, self.environment, self.log_path, self.niceness)  # a cold start, outside the lock
        except BaseException:
            with self._condition:
                self._busy -= 1
                self._condition.notify()
            raise

    def _release(self, worker: _Worker, healthy: bool) -> None:
        if not healthy:
            worker.kill()  # a timed-out or crashed worker never serves again
        with self._condition:
            self._busy -= 1
            if healthy:
                self._idle.append(worker)
            self._condition.notify()

    def warm(self, count: int) -> None:
        """Start up to ``count`` idle workers now, as provisioned concurrency would."""
        workers = [
            _Worker(self.spec, self.environment, self.log_path, self.niceness) for _ in range(min(count, self.limit))
        ]
        with self._condition:
            self._idle.extend(workers)
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            idle, self._idle = self._idle, []
        for worker in idle:  # all at once: each exits in its own time (slowly, at a lower priority)
            worker.ask_to_stop()
        for worker in idle:
            worker.stop()


class LambdaRuntime:
    """Every deployed function, by name and by ARN."""

    def __init__(
        self, base_environment: dict[str, str], *, default_concurrency: int = 2, log_dir: str | None = None
    ) -> None:
        self.base_environment = base_environment
        self.default_concurrency = default_concurrency
        self.log_dir = log_dir
        self.functions: dict[str, FunctionPool] = {}

    def deploy(self, spec: FunctionSpec) -> None:
        function = FunctionPool(spec, self.base_environment, self.default_concurrency, self.log_dir)
        self.functions[spec.name] = function
        self.functions[spec.arn] = function

    def warm(self, workers: int, *, more: dict[str, int] | None = None, at_once: int | None = None) -> None:
        """Start ``workers`` idle workers for every function (``more``: a count of its own for
        some, by name or ARN), ``at_once`` initializing at a time (default: one per CPU). Cold
        starts take seconds on two cores, and a demo should not measure them; all at once, each
        would take as long as all of them and could run past its init bound on a loaded machine."""
        counts = {function: workers for function in set(self.functions.values())}
        for name, count in (more or {}).items():
            counts[self._function(name)] = count
        slots = threading.BoundedSemaphore(at_once or os.cpu_count() or 2)

        def start(function: FunctionPool) -> None:
            with slots:
                function.warm(1)

        threads = [
            threading.Thread(target=start, args=(function,))
            for function, count in counts.items()
            for _ in range(min(count, function.limit))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def ending(self, suffix: str) -> FunctionPool:
        """The one function whose name ends with ``-<suffix>`` (a saga task's function)."""
        [function] = {f for name, f in self.functions.items() if name.endswith(f"-{suffix}") and ":" not in name}
        return function

    def invoke(self, name_or_arn: str, payload: Any) -> Any:
        """Raises ``FunctionError`` when the function fails, as Lambda reports it."""
        return self._function(name_or_arn).invoke(payload)

    def allow_workers(self, name_or_arn: str, workers: int) -> None:
        """Let a function without reserved concurrency grow to ``workers``, each started on demand."""
        function = self._function(name_or_arn)
        if function.spec.reserved_concurrency is None:
            function.limit = max(function.limit, workers)

    def lower_priority(self, name_or_arn: str, niceness: int) -> None:
        """Run a function's workers started from now on at a lower CPU priority (``os.nice``)."""
        self._function(name_or_arn).niceness = niceness

    def set_environment(self, name_or_arn: str, variables: dict[str, str]) -> None:
        """Add to a function's environment, for the workers it starts from now on."""
        self._function(name_or_arn).environment.update(variables)

    def _function(self, name_or_arn: str) -> FunctionPool:
        function = self.functions.get(name_or_arn) or self.functions.get(name_or_arn.split(":function:")[-1])
        if function is None:
            raise FunctionError("Lambda.ResourceNotFoundException", f"Function not found: {name_or_arn}")
        return function

    def stop(self) -> None:
        """Stop every function's idle workers, all told at once, then each waited for."""
        threads = [threading.Thread(target=function.stop) for function in set(self.functions.values())]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


class RuntimeServer:
    """The runtime's invoke endpoint, for the embedded AWS process: ``POST /functions/<name>``
    with the payload; answers ``{"result": ...}`` or ``{"errorType": ..., "errorMessage": ...}``."""

    def __init__(self, runtime: LambdaRuntime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runtime = runtime
        self._server = LoopbackServer(self._respond, name="runtime", host=host, port=port)
        self.lit = threading.Event()
        """Cleared while the region is dark: new invocations wait (those running finish)."""
        self.lit.set()

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> RuntimeServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _respond(self, request: Request) -> Reply:
        self.lit.wait()
        function = urllib.parse.unquote(request.path.removeprefix("/functions/"))
        try:
            answer: dict[str, Any] = {"result": self.runtime.invoke(function, json.loads(request.body or b"null"))}
        except FunctionError as error:
            answer = {"errorType": error.error_type, "errorMessage": error.message}
        return json_reply(200, answer)
