"""A second saga composed from the same components: a customer return.

    ReceiveReturn -> RefundPayment -> RestockInventory
    (undo: RejectReturn)  (undo: ChargeBack)  (nothing to undo)

The declaration is data; ``SagaStepComponent`` gives each task its function, role, dead-letter
queue and alarm; ``Saga`` compiles the state machine. The handlers (``handlers.returns``)
are the returns team's to write: this program shows the infrastructure, and the tests
synthesize it (``python -m synth.program --stack sandbox --program examples/returns_saga.py``).
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import iam
from components.function import FunctionSettings
from components.observability import AlarmTopic
from components.saga import SagaDefinition, SagaStep
from components.saga_machine import Saga, SagaArgs
from components.step import SagaStepComponent, SagaStepComponentArgs, TaskArgs

RETURNS_SAGA = SagaDefinition(
    name="returns",
    steps=[
        SagaStep("ReceiveReturn", compensation="RejectReturn"),
        SagaStep("RefundPayment", compensation="ChargeBack", transient_errors=("PaymentGatewayUnavailable",)),
        SagaStep("RestockInventory", transient_errors=("InventoryUnavailable",)),
    ],
)
prefix = f"returns-{pulumi.get_stack()}"
region = pulumi.Config("aws").require("region")

returns = aws.dynamodb.Table(
    "returns",
    name=f"{prefix}-returns",
    hash_key="orderId",
    attributes=[{"name": "orderId", "type": "S"}],
    billing_mode="PAY_PER_REQUEST",
    point_in_time_recovery={"enabled": True},
    server_side_encryption={"enabled": True},
    deletion_protection_enabled=True,
)
bus = aws.cloudwatch.EventBus("returns-bus", name=f"{prefix}-events")
aws.cloudwatch.EventArchive("returns-archive", name=f"{prefix}-events", event_source_arn=bus.arn, retention_days=30)
alarms = AlarmTopic("returns-alarms", name_prefix=prefix)
settings = FunctionSettings(
    code=pulumi.AssetArchive(
        {"handlers": pulumi.FileArchive(str(Path(__file__).resolve().parent.parent / "handlers"))}
    ),
    tags={"project": "returns", "owner": "returns-team", "cost-center": "after-sales"},
)


def task(handler: str) -> TaskArgs:
    """Each returns task reads and stamps the return item, nothing else."""
    return TaskArgs(
        handler,
        [iam.allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [returns.arn])],
        {"ORDERS_TABLE": returns.name},
    )


steps = {
    step.name: SagaStepComponent(
        f"returns-{step.name}",
        SagaStepComponentArgs(
            step=step,
            forward=task(f"handlers.returns.{step.name.lower()}_handler"),
            compensation=task(f"handlers.returns.{step.compensation.lower()}_handler") if step.compensation else None,
            function=settings,
            alarm_topic_arn=alarms.topic_arn,
            name_prefix=prefix,
            region=region,
        ),
    )
    for step in RETURNS_SAGA.steps
}
saga = Saga(
    "returns-saga",
    SagaArgs(
        definition=RETURNS_SAGA,
        steps=steps,
        table_name=returns.name,
        table_arn=returns.arn,
        event_bus_name=bus.name,
        event_bus_arn=bus.arn,
        name_prefix=prefix,
        region=region,
    ),
)
pulumi.export("stateMachineArn", saga.state_machine_arn)
