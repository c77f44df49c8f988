"""The sandbox: the program's ``sandbox`` stack deployed into local parts, serving HTTP orders.

    with Sandbox(SandboxSettings()).start() as sandbox:
        ...  # sandbox.api.url, sandbox.gateway, sandbox.courier, sandbox.aws(...)

``start`` refuses a program with mandatory policy violations, and ports already in use.
Everything started is stopped by ``stop`` (or leaving the ``with``), newest first.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3

from handlers.contract import COURIER, PAYMENT_GATEWAY
from policies.check import as_text, evaluate, mandatory
from sandbox.apigateway import ApiServer, RestApi
from sandbox.aws.provision import Provisioned, Provisioner
from sandbox.aws.scheduler import Scheduler
from sandbox.aws.server import READY, levers_off
from sandbox.connection import connection_file, write_connection
from sandbox.outside.issuer import IdentityProvider
from sandbox.outside.partners import Courier, PaymentGateway
from sandbox.outside.vault import Vault
from sandbox.runtime.functions import FunctionSpec, LambdaRuntime, RuntimeServer
from sandbox.runtime.pollers import QueuePoller
from sandbox.seed import seed
from synth.graph import Graph
from synth.program import ROOT, read_config, run_synth

log = logging.getLogger("sandbox")

API_ACCESS_KEY = "sandbox-api"
"""The key the API's functions sign with: the embedded AWS serves their DynamoDB requests first."""

SAGA_NICENESS = 10
"""``os.nice`` of the workers of every function not behind the API (the saga steps, the starter,
the sweeper), lever ``saga-nice``: the request path's processes get the CPUs first."""


def behind_the_request_path(functions: list[FunctionSpec], request_path: set[str], off: frozenset[str]) -> list[str]:
    """Lever ``saga-nice``: the functions whose workers run at ``SAGA_NICENESS`` (every one the
    API does not invoke), none when the lever is off."""
    if "saga-nice" in off:
        return []
    return [spec.name for spec in functions if spec.arn not in request_path and spec.name not in request_path]


def provisioned_request_path(request_path: set[str], api_concurrency: int, off: frozenset[str]) -> dict[str, int]:
    """Lever ``api-warm``: when the sandbox warms its functions, the request path's start all
    ``api_concurrency`` workers (provisioned concurrency for launch day), not the default count,
    so a spike meets no cold start. Empty when the lever is off."""
    return {} if "api-warm" in off else dict.fromkeys(request_path, api_concurrency)


class SandboxError(Exception):
    """The sandbox cannot start; the message says why and what to do."""


@dataclass
class SandboxSettings:
    stack: str = "sandbox"
    root: Path = ROOT
    """Where ``Pulumi.yaml`` and the stack file are (tests point it at a copy with other ports)."""
    program: Path | None = None
    """Another program to deploy with the stack's config (default: the project's)."""
    also: tuple[Path, ...] = ()
    """More programs deployed beside it, with the same config, each as its own project's stack
    (``examples/returns_saga.py`` beside the order saga); their outputs are in ``also_outputs``."""
    aws_port: int = 4566
    api_port: int = 8080
    time_scale: float = 0.05
    """Retry waits run at this fraction of real time (timeouts do not: they guard real work)."""
    seed: bool = True
    courier_capacity: int | None = None
    function_concurrency: int = 2
    """Workers per function without reserved concurrency (a 2-core machine)."""
    api_concurrency: int = 6
    """Workers for the functions behind the API (authorizer, intake), started as demand needs
    them: in AWS these scale out with requests, so intake must not queue behind two workers."""
    warm_workers: int = 0
    """Workers started per function before serving (0: each starts on its first call)."""
    provision_request_path: bool = False
    """When warming, start all ``api_concurrency`` workers of the request path's functions
    (lever ``api-warm``: provisioned concurrency for a launch day), not ``warm_workers``."""
    replication_lag_ms: int = 500
    """Global tables (a stack with replicas): each write reaches the other regions this late."""

    @property
    def aws_log_name(self) -> str:
        """The embedded AWS's log in ``build/sandbox/logs``: ``aws.log`` for the sandbox stack, and
        one per stack for the others (the tests' and the drill's), which may run at the same time."""
        return "aws.log" if self.stack == "sandbox" else f"aws-{self.stack}.log"


class Sandbox:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.config = read_config(settings.stack, settings.root)
        self.region = self.config.get("aws:region", "us-east-1")
        self._stack = ExitStack()
        self.crashed: str | None = None
        self.graph = Graph([])
        self.also_outputs: dict[str, dict[str, Any]] = {}
        """By program name (``SandboxSettings.also``): its stack outputs."""
        self.provisioned = Provisioned()
        self._aws_process: subprocess.Popen[str] | None = None
        self.shared: Sandbox | None = None
        self.idp: IdentityProvider
        self.gateway: PaymentGateway
        self.courier: Courier
        self.vault: Vault
        """The sandbox whose embedded AWS and outside parts this one uses (a standby region)."""
        self.pollers: list[QueuePoller] = []
        self.schedulers: list[Scheduler] = []

    # -- what a caller uses -------------------------------------------------------------------

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.settings.aws_port}"

    def aws(self, service: Any) -> Any:
        """A boto3 client of the embedded AWS."""
        return self.session.client(service, endpoint_url=self.aws_endpoint)

    @property
    def outputs(self) -> dict[str, Any]:
        return self.graph.outputs

    # -- lifecycle ----------------------------------------------------------------------------

    def ports(self) -> dict[str, int]:
        def port(key: str) -> int:
            return int(urlparse(self.config[f"order-saga:{key}"]).port or 80)

        return {
            "AWS (moto)": self.settings.aws_port,
            "API": self.settings.api_port,
            "identity provider": port("customerIssuer"),
            "payment gateway": port("paymentGatewayUrl"),
            "courier": port("courierUrl"),
            "Vault (OpenBao)": port("vaultAddr"),
        }

    def start(self, shared: Sandbox | None = None) -> Sandbox:
        """Start every part; with ``shared``, a second region in ``shared``'s embedded AWS, with
        its own functions, pollers and API, and ``shared``'s partners, issuer and Vault."""
        self.shared = shared
        log.info("synthesizing stack %s and checking policies", self.settings.stack)
        self.graph = run_synth(
            self.settings.stack,
            root=self.settings.root,
            program=self.settings.program or ROOT / "__main__.py",
            out=ROOT / "build" / "sandbox" / f"{self.settings.stack}.resources.json",
        )
        refused = mandatory(evaluate(self.graph))
        if refused:
            raise SandboxError("the program violates mandatory policies:\n" + as_text(refused, self.settings.stack))
        for program in self.settings.also:
            log.info("synthesizing %s beside it and checking policies", program)
            beside = run_synth(
                self.settings.stack,
                root=self.settings.root,
                program=program,
                out=ROOT / "build" / "sandbox" / f"{self.settings.stack}.{program.stem}.resources.json",
            )
            refused = mandatory(evaluate(beside))
            if refused:
                raise SandboxError(f"{program} violates mandatory policies:\n" + as_text(refused, self.settings.stack))
            self.graph = self.graph.beside(beside, project=program.stem)
            self.also_outputs[program.stem] = beside.outputs
        ports = {"API": self.settings.api_port} if shared else self.ports()
        for part, port in ports.items():
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise SandboxError(f"port {port} ({part}) is in use: is a sandbox already running?")
        try:
            self._start_parts()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def aws_resident_mb(self) -> float:
        """The embedded AWS process's resident memory (Linux: /proc), in MB; a second region's
        sandbox answers for the process it shares."""
        if self._aws_process is None:
            return self.shared.aws_resident_mb() if self.shared is not None else 0.0
        status = Path(f"/proc/{self._aws_process.pid}/status").read_text()
        kilobytes = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        return round(kilobytes / 1024, 1)

    def aws_cpu_seconds(self) -> float:
        """The CPU time (user and system) the embedded AWS process has used so far (Linux: /proc);
        a second region's sandbox answers for the process it shares."""
        if self._aws_process is None:
            return self.shared.aws_cpu_seconds() if self.shared is not None else 0.0
        stat = Path(f"/proc/{self._aws_process.pid}/stat").read_text()
        user, system = stat.rsplit(")", 1)[1].split()[11:13]  # utime, stime: fields 14 and 15
        return (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")

    def _on_stop(self, action: Callable[[], Any]) -> None:
        self._stack.callback(action)

    # -- a regional outage (two regions) --------------------------------------------------------

    def admin(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A two-region control of the embedded AWS (``sandbox/aws/server.py``)."""
        request = urllib.request.Request(
            f"{self.aws_endpoint}/_sandbox/{path}",
            data=json.dumps(body or {}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return dict(json.loads(response.read() or b"{}"))

    def go_dark(self) -> None:
        """This region's outage: its API answers nothing, its functions, pollers and schedules
        take no new work, its executions freeze, its AWS refuses requests, replication stops."""
        self.admin(f"regions/{self.region}/dark")
        self.api.dark = True
        self._runtime_server.lit.clear()
        for lit in self._lights():
            lit.clear()

    def _lights(self) -> list[threading.Event]:
        return [poller.lit for poller in self.pollers] + [scheduler.lit for scheduler in self.schedulers]

    def come_back(self) -> int:
        """End the outage: the other regions' writes replicate in first, then everything resumes
        where it froze. Returns how many replicated writes were waiting."""
        backlog = int(self.admin(f"regions/{self.region}/lit").get("backlog", 0))
        for lit in self._lights():
            lit.set()
        self._runtime_server.lit.set()
        self.api.dark = False
        return backlog

    def _start_parts(self) -> None:
        settings = self.settings
        self.session = boto3.Session(
            aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name=self.region
        )
        logs = ROOT / "build" / "sandbox" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.runtime = LambdaRuntime(
            self._lambda_environment(), default_concurrency=settings.function_concurrency, log_dir=str(logs)
        )
        self._on_stop(self.runtime.stop)
        runtime_server = self._runtime_server = RuntimeServer(self.runtime).start()
        self._on_stop(runtime_server.stop)
        if self.shared is not None:  # a second region: the first one's AWS and outside world
            shared = self.shared
            self.idp = shared.idp
            self.gateway = shared.gateway
            self.courier = shared.courier
            self.vault = shared.vault
            self.admin("runtimes", {"region": self.region, "url": runtime_server.url})
        else:
            log.info("starting the embedded AWS on %s", self.aws_endpoint)
            process = self._aws_process = _start_aws(settings, runtime_server.url, logs / settings.aws_log_name)
            self._on_stop(lambda: _stop(process))
            self._start_outside(logs)

        log.info("provisioning %d resources", len(self.graph.resources))
        self.provisioned = Provisioner(self.session, self.aws_endpoint).provision(self.graph)
        if self.provisioned.replicas:  # before anything is written: the seed replicates too
            self.admin("replication", {"replicas": self.provisioned.replicas, "lagMs": settings.replication_lag_ms})
        for spec in self.provisioned.functions:
            self.runtime.deploy(spec)
        rest_api = RestApi(self.graph, self.runtime, self.region)
        request_path = rest_api.functions()
        for function in request_path:  # the request path: scaled out, and first in line
            self.runtime.allow_workers(function, settings.api_concurrency)
            self.runtime.set_environment(function, {"AWS_ACCESS_KEY_ID": API_ACCESS_KEY})
        off = levers_off()
        for name in behind_the_request_path(self.provisioned.functions, request_path, off):
            self.runtime.lower_priority(name, SAGA_NICENESS)
        if settings.warm_workers:
            log.info("starting %d worker(s) per function", settings.warm_workers)
            provisioned = settings.api_concurrency if settings.provision_request_path else settings.warm_workers
            self.runtime.warm(settings.warm_workers, more=provisioned_request_path(request_path, provisioned, off))
        for mapping in self.provisioned.mappings:
            poller = QueuePoller(mapping, self.aws("sqs"), self.runtime, self.region).start()
            self._on_stop(poller.stop)
            self.pollers.append(poller)
        for schedule in self.provisioned.schedules:
            scheduler = Scheduler(schedule, self.runtime, self.region, settings.time_scale).start()
            self._on_stop(scheduler.stop)
            self.schedulers.append(scheduler)
        self.api = ApiServer(rest_api, port=settings.api_port).start()
        self._on_stop(self.api.stop)
        if settings.seed:
            outputs = self.outputs
            seed(
                self.session.resource("dynamodb", endpoint_url=self.aws_endpoint),
                outputs["inventoryTableName"],
                outputs["loyaltyTableName"],
            )
        # Last: `python -m ops --sandbox` finds a sandbox only once it serves.
        write_connection(settings.stack, self.aws_endpoint, self.region, self.outputs)
        self._on_stop(lambda: connection_file(settings.stack).unlink(missing_ok=True))
        watcher = threading.Thread(target=self._watch, name="watch", daemon=True)
        self._watching = threading.Event()
        self._on_stop(self._watching.set)
        watcher.start()

    def _start_outside(self, logs: Path) -> None:
        """The outside world: the identity provider, the partners, and Vault with their keys."""
        ports, config, settings = self.ports(), self.config, self.settings
        self.idp = IdentityProvider(port=ports["identity provider"]).start()
        self._on_stop(self.idp.stop)
        self.gateway = PaymentGateway("pk_" + secrets.token_hex(12), port=ports["payment gateway"]).start()
        self._on_stop(self.gateway.stop)
        self.courier = Courier(
            "ck_" + secrets.token_hex(12), port=ports["courier"], capacity=settings.courier_capacity
        ).start()
        self._on_stop(self.courier.stop)
        log.info("starting OpenBao")
        self.vault = Vault(port=ports["Vault (OpenBao)"]).start()
        self._on_stop(self.vault.stop)
        logins = ROOT / config["order-saga:vaultLoginDir"]
        for partner, service in ((PAYMENT_GATEWAY, self.gateway), (COURIER, self.courier)):
            self.vault.put_secret(partner.vault_path, {"api_key": service.api_key})
            self.vault.grant(partner.vault_role, [partner.vault_path], logins, role_id=partner.vault_role)

    def _lambda_environment(self) -> dict[str, str]:
        """What Lambda sets for every function, pointed at the embedded AWS."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon on this machine
        }

    def _watch(self) -> None:
        """Report a part that died instead of hiding it."""
        while not self._watching.wait(1.0):
            if self.shared is not None:
                return  # the first region watches the parts they share
            for name, process in (("OpenBao", self.vault.process), ("the embedded AWS", self._aws_process)):
                if process is not None and process.poll() is not None:
                    self.crashed = f"{name} exited with code {process.returncode}"
                    return


def _start_aws(settings: SandboxSettings, runtime_url: str, log_path: Path) -> subprocess.Popen[str]:
    """The embedded AWS process; returns once it serves (its errors go to ``log_path``)."""
    command = [
        sys.executable,
        "-m",
        "sandbox.aws.server",
        "--port",
        str(settings.aws_port),
        "--runtime-url",
        runtime_url,
        "--time-scale",
        str(settings.time_scale),
        "--priority-access-key",
        API_ACCESS_KEY,
    ]
    with open(log_path, "a") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log_file, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # READY, or "" if it died first
    if line.strip() != READY:
        _stop(process)
        raise SandboxError(f"the embedded AWS did not start: see {log_path}")
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
