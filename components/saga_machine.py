"""``Saga`` component: the state machine compiled from a ``SagaDefinition`` and its steps.

Generic: it knows steps, a table keyed by ``orderId`` and a bus, nothing about orders. Its
role may invoke exactly the steps' functions, send to exactly their dead-letter queues,
update exactly the table (and read an order's status there, when a write finds it settled)
and put events on exactly the bus.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.saga import SagaBindings, SagaDefinition, compile_saga
from components.saga.stand_down import StandDown, with_stand_down
from components.step import SagaStepComponent


@dataclass
class SagaArgs:
    definition: SagaDefinition
    steps: Mapping[str, SagaStepComponent]
    """The ``SagaStepComponent`` of every declared step, by step name."""
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    event_bus_name: pulumi.Input[str]
    event_bus_arn: pulumi.Input[str]
    name_prefix: str
    region: str
    log_retention_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)
    stand_down: StandDown | None = None
    """One of a pair of regions on a global table: end an execution without effects where this
    region does not own the order (``components.saga.stand_down``)."""

    def problems(self) -> list[str]:
        declared = [step.name for step in self.definition.steps]
        found = [
            f"saga {self.definition.name!r}: no SagaStepComponent for step {name!r}"
            for name in declared
            if name not in self.steps
        ]
        found += [
            f"saga {self.definition.name!r}: SagaStepComponent {name!r} is not in the declaration"
            for name in self.steps
            if name not in declared
        ]
        return found


class Saga(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]
    state_machine_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SagaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__("order-saga:index:Saga", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        functions = {task: arn for step in args.steps.values() for task, arn in step.function_arns.items()}
        queues = {step_name: step.dead_letter_queue_url for step_name, step in args.steps.items()}

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/vendedlogs/states/{args.name_prefix}-{args.definition.name}",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=child,
        )
        statements = [
            iam.allow(["lambda:InvokeFunction"], list(functions.values())),
            iam.allow(["sqs:SendMessage"], [step.dead_letter_queue_arn for step in args.steps.values()]),
            # GetItem: after a refused status write, the saga reads the order (settled? owned elsewhere?).
            iam.allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [args.table_arn]),
            iam.allow(["events:PutEvents"], [args.event_bus_arn]),
            iam.allow_without_resource(iam.LOG_DELIVERY_ACTIONS),
            iam.tracing(sampling=True),
        ]
        role = aws.iam.Role(
            f"{name}-role",
            name=f"{args.name_prefix}-{args.definition.name}-saga-{args.region}",
            assume_role_policy=pulumi.Output.json_dumps(iam.assume_role_policy("states.amazonaws.com")),
            tags=tags,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(iam.policy(statements)),
            opts=child,
        )
        definition = pulumi.Output.all(
            functions=pulumi.Output.all(**functions),
            queues=pulumi.Output.all(**queues),
            table=args.table_name,
            bus=args.event_bus_name,
        ).apply(lambda bound: json.dumps(_definition(args, bound), indent=2))
        machine = aws.sfn.StateMachine(
            name,
            name=f"{args.name_prefix}-{args.definition.name}",
            type=args.definition.workflow,
            role_arn=role.arn,
            definition=definition,
            logging_configuration={
                "log_destination": pulumi.Output.concat(log_group.arn, ":*"),
                "include_execution_data": False,  # orders carry addresses and card tokens
                "level": "ERROR",
            },
            tracing_configuration={"enabled": True},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.state_machine_arn = machine.arn
        self.state_machine_name = machine.name
        self.role_arn = role.arn
        self.register_outputs({"stateMachineArn": machine.arn})


def _definition(args: SagaArgs, bound: dict[str, Any]) -> dict[str, Any]:
    definition = compile_saga(args.definition, _bindings(bound))
    if args.stand_down is not None:
        definition = with_stand_down(definition, args.stand_down.for_saga(args.definition), bound["table"])
    return definition


def _bindings(bound: dict[str, Any]) -> SagaBindings:
    return SagaBindings(
        functions=bound["functions"],
        dead_letter_queues=bound["queues"],
        orders_table=bound["table"],
        event_bus=bound["bus"],
    )
