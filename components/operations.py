"""What the people who run a region need from the program: the sweeper and their role.

``Sweeper``: ``handlers.sweeper`` on an EventBridge schedule, with its own role (read and
scan the orders table, look up executions, publish OrderSubmitted, drain the start DLQ) and
an alarm when it had to start any saga. ``OperatorsRole``: federated staff (Entra ID over
SAML) get exactly the actions ``python -m ops`` calls, on exactly this region's resources.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.events import StartEvent
from components.function import Function, FunctionArgs, FunctionSettings
from handlers.ownership import CONTROL_KEY, OWNER_ATTRIBUTE

SWEEPER_TIMEOUT_SECONDS = 120
"""A scan of the orders table and one DescribeExecution per candidate."""
SAML_AUDIENCE = "https://signin.aws.amazon.com/saml"

# One list per command family, so the role and the docs say the same thing (README: ops).
READ_ORDERS = ["dynamodb:GetItem", "dynamodb:Scan"]
READ_EXECUTIONS = ["states:DescribeExecution", "states:GetExecutionHistory"]
DRAIN_QUEUE = ["sqs:ReceiveMessage", "sqs:DeleteMessage"]


def execution_arns(state_machine_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Every execution of one state machine: ``...:execution:<machine name>:*``."""
    return pulumi.Output.from_input(state_machine_arn).apply(
        lambda arn: arn.replace(":stateMachine:", ":execution:", 1) + ":*"
    )


@dataclass
class SagaResources:
    """The region's resources the sweeper and operators work on."""

    orders_table_name: pulumi.Input[str]
    orders_table_arn: pulumi.Input[str]
    state_machine_arn: pulumi.Input[str]
    event_bus_name: pulumi.Input[str]
    event_bus_arn: pulumi.Input[str]
    start_dead_letter_queue_url: pulumi.Input[str]
    start_dead_letter_queue_arn: pulumi.Input[str]
    step_dead_letter_queue_arns: Sequence[pulumi.Input[str]]
    """One per saga step: where parked tasks wait with their task token."""
    inventory_table_arn: pulumi.Input[str] | None = None
    loyalty_table_arn: pulumi.Input[str] | None = None
    """With both: the operators may run ``recount`` (handlers/recount.py)."""


def sweeper_statements(saga: SagaResources) -> list[dict[str, Any]]:
    return [
        iam.allow(READ_ORDERS, [saga.orders_table_arn]),
        iam.allow(["states:DescribeExecution"], [execution_arns(saga.state_machine_arn)]),
        iam.allow(["events:PutEvents"], [saga.event_bus_arn]),
        iam.allow(DRAIN_QUEUE, [saga.start_dead_letter_queue_arn]),
    ]


# The attributes handlers/ownership.py writes (and, for a claim, reads in its condition).
OWNER_ATTRIBUTES = ["orderId", OWNER_ATTRIBUTE, "ownerClaimedAt", "status"]
CONTROL_ATTRIBUTES = ["orderId", "activeRegion", "epoch", "promotedAt", "promotedBy"]


def claim_owner(orders_table_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Claim an unsettled order for this region (a failover): an update of the owner only."""
    return iam.allow(
        ["dynamodb:UpdateItem"],
        [orders_table_arn],
        **{"ForAllValues:StringEquals": {"dynamodb:Attributes": OWNER_ATTRIBUTES}},
    )


def write_control(orders_table_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Write the region control item (``python -m ops promote``), and no order."""
    return iam.allow(
        ["dynamodb:PutItem"],
        [orders_table_arn],
        **{
            "ForAllValues:StringEquals": {
                "dynamodb:LeadingKeys": [CONTROL_KEY],
                "dynamodb:Attributes": CONTROL_ATTRIBUTES,
            }
        },
    )


def recount_statements(
    orders_table_arn: pulumi.Input[str], inventory_table_arn: pulumi.Input[str], loyalty_table_arn: pulumi.Input[str]
) -> list[dict[str, Any]]:
    """``python -m ops recount``: read the inventory and loyalty tables; write a stock shard, a
    reservation's release, a balance and a restore entry (``dynamodb:LeadingKeys``), in
    transactions that check the order's status and a burn's entry."""
    return [
        iam.allow(["dynamodb:GetItem", "dynamodb:Scan"], [inventory_table_arn, loyalty_table_arn]),
        iam.allow(
            ["dynamodb:UpdateItem"],
            [inventory_table_arn],
            **{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["STOCK#*", "RES#*"]}},
        ),
        iam.allow(
            ["dynamodb:UpdateItem"],
            [loyalty_table_arn],
            **{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ACCOUNT#*"]}},
        ),
        iam.allow(
            ["dynamodb:PutItem"],
            [loyalty_table_arn],
            **{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LEDGER#*#RESTORE"]}},
        ),
        iam.allow(["dynamodb:ConditionCheckItem"], [orders_table_arn, loyalty_table_arn]),
    ]


def operator_statements(saga: SagaResources) -> list[dict[str, Any]]:
    """trace, parked, resolve, redrive, reconcile, region, promote, recount: and nothing else."""
    recount = (
        recount_statements(saga.orders_table_arn, saga.inventory_table_arn, saga.loyalty_table_arn)
        if saga.inventory_table_arn is not None and saga.loyalty_table_arn is not None
        else []
    )
    return [
        claim_owner(saga.orders_table_arn),
        write_control(saga.orders_table_arn),
        iam.allow(READ_ORDERS, [saga.orders_table_arn]),
        iam.allow([*READ_EXECUTIONS, "states:RedriveExecution"], [execution_arns(saga.state_machine_arn)]),
        iam.allow(["states:SendTaskSuccess"], [saga.state_machine_arn]),
        # Peeking a step's queue holds its messages; they are made visible again at once.
        iam.allow([*DRAIN_QUEUE, "sqs:ChangeMessageVisibility"], list(saga.step_dead_letter_queue_arns)),
        iam.allow(DRAIN_QUEUE, [saga.start_dead_letter_queue_arn]),
        iam.allow(["events:PutEvents"], [saga.event_bus_arn]),
        *recount,
    ]


def saml_trust_policy(provider_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Only users signed in through this SAML identity provider, for the AWS console/CLI audience."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:aud": SAML_AUDIENCE}},
            }
        ],
    }


@dataclass
class SweeperArgs:
    saga: SagaResources
    function: FunctionSettings
    alarm_topic_arn: pulumi.Input[str]
    name_prefix: str
    region: str
    started_by: StartEvent
    """The event the sweeper publishes to start a saga again (the start rule's)."""
    saga_name: str
    """The ``SagaDefinition``'s name: the sweeper's service (its metrics' dimension, which its
    alarm watches) is ``<saga>-saga-sweeper``, so two sagas' sweepers never share an alarm."""
    interval_minutes: int = 5
    min_age_seconds: int = 900
    """PENDING orders younger than this may still be in the start queue: left alone."""
    tags: Mapping[str, str] = field(default_factory=dict)
    region_role: str | None = None
    """``primary`` or ``standby``: sweep only while the region is active, and adopt the orders
    the other region left (handlers/ownership.py)."""

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.interval_minutes <= 1440:
            found.append(f"sweeper interval_minutes must be 1..1440, not {self.interval_minutes}")
        if self.min_age_seconds < 60:
            found.append(f"sweeper min_age_seconds must be at least 60, not {self.min_age_seconds}")
        return found


class Sweeper(pulumi.ComponentResource):
    """``handlers.sweeper`` every ``interval_minutes``, alarmed when it fixed anything."""

    function_name: pulumi.Output[str]

    def __init__(self, name: str, args: SweeperArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__("order-saga:index:Sweeper", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        service = f"{args.saga_name}-saga-sweeper"
        function = Function(
            f"{args.name_prefix}-sweeper",
            FunctionArgs(
                handler="handlers.sweeper.lambda_handler",
                role_name=f"{args.name_prefix}-sweeper-{args.region}",
                settings=dataclasses.replace(args.function, timeout_seconds=SWEEPER_TIMEOUT_SECONDS),
                environment={
                    "ORDERS_TABLE": args.saga.orders_table_name,
                    "STATE_MACHINE_ARN": args.saga.state_machine_arn,
                    "EVENT_BUS": args.saga.event_bus_name,
                    "START_DLQ_URL": args.saga.start_dead_letter_queue_url,
                    "MIN_AGE_SECONDS": str(args.min_age_seconds),
                    "POWERTOOLS_SERVICE_NAME": service,
                    **args.started_by.environment(),
                    **({"REGION_ROLE": args.region_role} if args.region_role else {}),
                },
                statements=sweeper_statements(args.saga)
                + ([claim_owner(args.saga.orders_table_arn)] if args.region_role else []),
                reserved_concurrency=1,  # one sweep at a time: two would publish every event twice
            ),
            opts=child,
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            name=f"{args.name_prefix}-sweeper",
            description="Start a saga for accepted orders that have none",
            schedule_expression=f"rate({args.interval_minutes} minute{'s' if args.interval_minutes > 1 else ''})",
            tags=tags,
            opts=child,
        )
        aws.cloudwatch.EventTarget(f"{name}-target", rule=rule.name, arn=function.function_arn, opts=child)
        aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=function.function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-fixed",
            name=f"{args.name_prefix}-sweeper-fixed-orders",
            alarm_description="The sweeper started sagas for accepted orders that had none: find the upstream fault",
            namespace="OrderSaga",
            metric_name="OrdersReconciled",
            dimensions={"service": service},
            statistic="Sum",
            period=60 * args.interval_minutes,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[args.alarm_topic_arn],
            tags=tags,
            opts=child,
        )
        self.function_name = function.function_name
        self.register_outputs({"functionName": function.function_name})


class OperatorsRole(pulumi.ComponentResource):
    """The role on-call assumes to run ``python -m ops`` against this region."""

    role_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        saga: SagaResources,
        identity_provider_arn: pulumi.Input[str],
        name_prefix: str,
        region: str,
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("order-saga:index:OperatorsRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            name=f"{name_prefix}-operators-{region}",
            assume_role_policy=pulumi.Output.json_dumps(saml_trust_policy(identity_provider_arn)),
            max_session_duration=3600,
            tags=dict(tags or {}),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(iam.policy(operator_statements(saga))),
            opts=child,
        )
        self.role_arn = role.arn
        self.register_outputs({"roleArn": role.arn})
