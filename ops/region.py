"""Which region's saga the console works on, found from the stack's outputs.

Three sources, one shape: ``pulumi stack output --json`` (the default), a file of those
outputs (``--outputs FILE``), or the running sandbox (``--sandbox``). AWS credentials come
the usual way (environment, profile, SSO: the operators' role); the region is the state
machine's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from handlers.contract import ORDER_SUBMITTED, ORDER_SUBMITTED_SOURCE
from handlers.ownership import ROLES, RegionControl
from handlers.reconcile import Reconciler
from handlers.recount import Recount
from sandbox.connection import CREDENTIALS, connection_file, read_connection

SAGA_TABLE_OUTPUTS = ("sagaTableName", "ordersTableName")
"""The saga's table: ``SagaService`` outputs the first; stacks built before it, the second."""
REQUIRED_OUTPUTS = (
    "stateMachineArn",
    "eventBusName",
    "deadLetterQueueUrls",
    "sagaStartDeadLetterQueueUrl",
)


class RegionNotFound(Exception):
    """The console cannot tell which region's resources to use; the message says what to pass."""


@dataclass
class Region:
    outputs: dict[str, Any]
    session: boto3.Session
    endpoint: str | None = None
    """The sandbox's embedded AWS; None for AWS itself."""
    label: str = ""

    @property
    def name(self) -> str:
        return str(self.outputs["stateMachineArn"]).split(":")[3]

    @property
    def state_machine_arn(self) -> str:
        return str(self.outputs["stateMachineArn"])

    @property
    def dead_letter_queue_urls(self) -> dict[str, str]:
        """By saga step: where its parked tasks wait."""
        return {step: str(url) for step, url in self.outputs["deadLetterQueueUrls"].items()}

    def client(self, service: Any) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)

    def orders_table(self) -> Any:
        dynamodb = self.session.resource("dynamodb", endpoint_url=self.endpoint)
        return dynamodb.Table(next(self.outputs[key] for key in SAGA_TABLE_OUTPUTS if key in self.outputs))

    def control(self) -> RegionControl | None:
        """This region's view of the active region and of order ownership (None: a stack deployed
        before the warm standby had a switch)."""
        role = self.outputs.get("role")
        if role not in ROLES:
            return None
        return RegionControl(self.orders_table(), self.name, str(role), cache_seconds=0)

    def reconciler(self) -> Reconciler:
        """The sweeper's reconcile logic (handlers/reconcile.py) with the operator's credentials."""
        return Reconciler(
            region=self.control(),
            orders_table=self.orders_table(),
            stepfunctions=self.client("stepfunctions"),
            events=self.client("events"),
            sqs=self.client("sqs"),
            state_machine_arn=self.state_machine_arn,
            event_bus=str(self.outputs["eventBusName"]),
            start_dead_letter_queue_url=str(self.outputs["sagaStartDeadLetterQueueUrl"]),
            # SagaService's stacks name their start event; older stacks are the order saga's.
            start_event=(
                str(self.outputs.get("startSource", ORDER_SUBMITTED_SOURCE)),
                str(self.outputs.get("startDetailType", ORDER_SUBMITTED)),
            ),
        )

    def recount(self) -> Recount:
        """The stock and points recount (handlers/recount.py) with the operator's credentials."""
        missing = [key for key in ("inventoryTableName", "loyaltyTableName") if key not in self.outputs]
        if missing:
            raise RegionNotFound(f"{self.label}: stack outputs lack {', '.join(missing)} (deploy this version first)")
        dynamodb = self.session.resource("dynamodb", endpoint_url=self.endpoint)
        return Recount(
            self.orders_table(),
            dynamodb.Table(self.outputs["inventoryTableName"]),
            dynamodb.Table(self.outputs["loyaltyTableName"]),
        )


def find_region(*, sandbox: bool, stack: str | None, outputs_file: Path | None) -> Region:
    if sandbox and outputs_file:
        raise RegionNotFound("--sandbox and --outputs name two places: pass one")
    if sandbox:
        name = stack or "sandbox"
        connection = read_connection(name)
        if connection is None:
            raise RegionNotFound(
                f"no running sandbox for stack {name!r} ({connection_file(name)} is absent): "
                "start one with `python -m sandbox up`"
            )
        session = boto3.Session(
            aws_access_key_id=CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
            region_name=connection["region"],
        )
        return _checked(Region(connection["outputs"], session, connection["endpoint"], f"sandbox {name}"))
    if outputs_file:
        try:
            outputs = json.loads(outputs_file.read_text())
        except (OSError, ValueError) as error:
            raise RegionNotFound(f"cannot read stack outputs from {outputs_file}: {error}") from error
        return _checked(_aws_region(outputs, str(outputs_file)))
    return _checked(_aws_region(_pulumi_outputs(stack), f"stack {stack or '(current)'}"))


def _aws_region(outputs: Any, label: str) -> Region:
    if not isinstance(outputs, dict) or not isinstance(outputs.get("stateMachineArn"), str):
        raise RegionNotFound(f"{label}: not the order saga's stack outputs (no stateMachineArn)")
    return Region(outputs, boto3.Session(region_name=outputs["stateMachineArn"].split(":")[3]), None, label)


def _pulumi_outputs(stack: str | None) -> Any:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise RegionNotFound("the pulumi CLI is not installed: pass --outputs FILE (pulumi stack output --json)")
    command = [pulumi, "stack", "output", "--json", *(["--stack", stack] if stack else [])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RegionNotFound(f"`{' '.join(command[1:])}` failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def _checked(region: Region) -> Region:
    missing = [key for key in REQUIRED_OUTPUTS if key not in region.outputs]
    if not any(key in region.outputs for key in SAGA_TABLE_OUTPUTS):
        missing.insert(0, SAGA_TABLE_OUTPUTS[0])
    if missing:
        raise RegionNotFound(f"{region.label}: stack outputs lack {', '.join(missing)} (deploy this version first)")
    return region
