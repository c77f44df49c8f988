"""``SagaService`` (type ``order-saga:index:SagaService``): everything one saga needs, from its
declaration, where each task's code lives and which tables it may touch.

It builds, per step, the functions, their least-privilege roles, the dead-letter queue and
its alarm (``SagaStepComponent``); the state machine (``Saga``); the start path, a bus rule
to a queue to the starter (``SagaStarter``); the sweeper that restarts items left without a
saga (``Sweeper``); and the dashboard. The region-wide parts it uses (the tables, the bus,
the alarm topic, the function settings) are given in ``SagaRegion``: the order program builds
them in ``components/region.py``; a team's program gets them from ``SagaRegion.standalone``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components import iam
from components.config import ConfigError, RegionConfig, load
from components.events import SagaStarter, SagaStarterArgs, StartEvent
from components.function import FunctionSettings
from components.observability import AlarmTopic, SagaDashboard, SagaDashboardArgs, task_service
from components.operations import SagaResources, Sweeper, SweeperArgs
from components.saga import SagaDefinition, SagaStep
from components.saga.stand_down import StandDown
from components.saga_machine import Saga, SagaArgs
from components.step import SagaStepComponent, SagaStepComponentArgs, TaskArgs
from components.tables import TableRefs, order_tables
from handlers.contract import PARTNERS

# What a team's program imports, all from here (examples/returns_saga.py).
__all__ = ["SagaDefinition", "SagaRegion", "SagaService", "SagaServiceArgs", "SagaStep", "StartEvent", "Task", "load"]

ROOT = Path(__file__).resolve().parent.parent

Access = Literal["read", "write"]
ACTIONS: dict[Access, list[str]] = {
    "read": ["dynamodb:GetItem"],
    # A write is a transaction's: its puts, updates and condition checks, and the reads before.
    "write": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"],
}
WORK_ITEM_ACTIONS = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
"""Every task reads its saga's item and stamps its result (``handlers.toolkit.WorkItems``)."""


@dataclass(frozen=True)
class Task:
    """Where a saga task's code lives and what, besides its saga's item, it may touch."""

    handler: str
    """``module.function``, under ``handlers/``."""
    tables: Mapping[str, Access] = field(default_factory=dict)
    """By table key (``SagaRegion.tables``): ``read`` or ``write``; ``<KEY>_TABLE`` names it."""
    partner: str | None = None
    """A key of ``handlers.contract.PARTNERS``: its URL and Vault role come in the environment."""


@dataclass
class SagaRegion:
    """The region-wide parts a saga is built on."""

    config: RegionConfig
    name_prefix: str
    tables: TableRefs
    """Every table a task may name, by key; the saga's own is ``saga_table``."""
    saga_table: str
    bus_name: pulumi.Input[str]
    bus_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    function: FunctionSettings
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Given to every task (the order program's region guard: ``REGION_ROLE``)."""
    statements: Sequence[dict[str, Any]] = ()
    """Granted to every task besides its own."""

    @property
    def guarded(self) -> bool:
        """Whether the region guard runs (``handlers/ownership.py``): the order program gives
        its tasks ``REGION_ROLE``; a saga without it is active wherever it is deployed."""
        return "REGION_ROLE" in self.environment

    @classmethod
    def beside_order_saga(cls, name: str, config: RegionConfig, tags: Mapping[str, str] | None = None) -> SagaRegion:
        """A team's saga in the order program's region: ``standalone``, and its tasks may be
        granted the order program's tables (``orders``, ``inventory``, ``loyalty``)."""
        account_id = aws.get_caller_identity_output().account_id
        return cls.standalone(name, config, order_tables(config.prefix, config.region, account_id), tags)

    @classmethod
    def standalone(
        cls, name: str, config: RegionConfig, tables: TableRefs, tags: Mapping[str, str] | None = None
    ) -> SagaRegion:
        """A saga's own table (``name``, keyed by orderId), bus with an archive, alarm topic and
        function settings, tagged with the stack's tags and ``tags``; ``tables`` adds the tables
        of other programs its tasks may touch."""
        tags = {**config.tags, **(tags or {})}
        prefix = f"{config.prefix}-{name}"
        table = aws.dynamodb.Table(
            name,
            name=prefix,
            hash_key="orderId",
            attributes=[{"name": "orderId", "type": "S"}],
            billing_mode="PAY_PER_REQUEST",
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True},
            deletion_protection_enabled=True,
            tags=dict(tags),
        )
        bus = aws.cloudwatch.EventBus(f"{name}-bus", name=f"{prefix}-events", tags=dict(tags))
        aws.cloudwatch.EventArchive(
            f"{name}-archive",
            name=f"{prefix}-events"[:48],  # archive names are at most 48 characters
            event_source_arn=bus.arn,
            retention_days=config.archive_retention_days,
        )
        account_id = aws.get_caller_identity_output().account_id
        alarms = AlarmTopic(
            f"{name}-alarms", name_prefix=prefix, account_id=account_id, email=config.alarm_email, tags=tags
        )
        code = pulumi.AssetArchive({"handlers": pulumi.FileArchive(str(ROOT / "handlers"))})
        return cls(
            config=config,
            name_prefix=prefix,
            tables=TableRefs({**tables.names, name: table.name}, {**tables.arns, name: table.arn}),
            saga_table=name,
            bus_name=bus.name,
            bus_arn=bus.arn,
            alarm_topic_arn=alarms.topic_arn,
            function=FunctionSettings(code=code, log_retention_days=config.log_retention_days, tags=tags),
        )


@dataclass
class SagaServiceArgs:
    definition: SagaDefinition
    tasks: Mapping[str, Task]
    """Every task of the definition, forward and compensation, by name."""
    region: SagaRegion
    started_by: StartEvent
    """The event on the region's bus that starts a saga (its detail holds ``orderId``)."""
    stand_down: StandDown | None = None
    """Rewrites the state machine so a region that lost an item ends its execution quietly."""
    starter_statement: dict[str, Any] | None = None
    """With the region guard: what the starter and sweeper read to decide (the control item)."""

    def problems(self) -> list[str]:
        declared = {step.name for step in self.definition.steps} | {
            step.compensation for step in self.definition.steps if step.compensation
        }
        found = [
            f"saga task {task!r} has no handler: give it a Task in SagaServiceArgs.tasks"
            for task in sorted(declared - set(self.tasks))
        ]
        found += [
            f"Task {task!r} is not a task of saga {self.definition.name!r}" for task in self.tasks.keys() - declared
        ]
        tables = self.region.tables.names
        for name, task in self.tasks.items():
            found += [
                f"task {name!r} names table {t!r}, not one of {sorted(tables)}" for t in task.tables if t not in tables
            ]
            if task.partner is not None and task.partner not in PARTNERS:
                found.append(f"task {name!r} names partner {task.partner!r}, not one of {sorted(PARTNERS)}")
        if self.region.saga_table not in tables:
            found.append(f"the saga's table {self.region.saga_table!r} is not one of {sorted(tables)}")
        return found


class SagaService(pulumi.ComponentResource):
    """One saga: steps, state machine, start path, sweeper, dashboard."""

    state_machine_arn: pulumi.Output[str]
    steps: dict[str, SagaStepComponent]
    starter: SagaStarter
    sweeper_function_name: pulumi.Output[str]
    resources: SagaResources
    """What the operators' role and the ops command line work on."""

    def __init__(self, name: str, args: SagaServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            raise ConfigError(f"saga {args.definition.name!r}: " + "; ".join(problems))
        super().__init__("order-saga:index:SagaService", name, None, opts)
        # The parts were top-level before this component existed: the aliases keep their URNs,
        # so a stack deployed before it updates in place instead of replacing them.
        moved = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])
        region = args.region
        config = region.config
        table_name = region.tables.names[region.saga_table]
        table_arn = region.tables.arns[region.saga_table]
        self.steps = {
            step.name: SagaStepComponent(
                f"step-{step.name}",
                SagaStepComponentArgs(
                    step=step,
                    forward=self._task_args(step.name, args),
                    compensation=self._task_args(step.compensation, args) if step.compensation else None,
                    function=region.function,
                    alarm_topic_arn=region.alarm_topic_arn,
                    name_prefix=region.name_prefix,
                    region=config.region,
                ),
                opts=moved,
            )
            for step in args.definition.steps
        }
        saga = Saga(
            f"{args.definition.name}-saga",
            SagaArgs(
                definition=args.definition,
                steps=self.steps,
                table_name=table_name,
                table_arn=table_arn,
                event_bus_name=region.bus_name,
                event_bus_arn=region.bus_arn,
                name_prefix=region.name_prefix,
                region=config.region,
                log_retention_days=config.log_retention_days,
                tags=region.function.tags,
                stand_down=args.stand_down,
            ),
            opts=moved,
        )
        guarded = region.guarded
        self.starter = SagaStarter(
            "saga-start",
            SagaStarterArgs(
                bus_name=region.bus_name,
                state_machine_arn=saga.state_machine_arn,
                function=region.function,
                alarm_topic_arn=region.alarm_topic_arn,
                name_prefix=region.name_prefix,
                region=config.region,
                started_by=args.started_by,
                saga_name=args.definition.name,
                tags=region.function.tags,
                region_role=config.role if guarded else None,
                orders_table_name=table_name if guarded else None,
                control_statement=args.starter_statement,
            ),
            opts=moved,
        )
        self.resources = SagaResources(
            orders_table_name=table_name,
            orders_table_arn=table_arn,
            state_machine_arn=saga.state_machine_arn,
            event_bus_name=region.bus_name,
            event_bus_arn=region.bus_arn,
            start_dead_letter_queue_url=self.starter.dead_letter_queue_url,
            start_dead_letter_queue_arn=self.starter.dead_letter_queue_arn,
            step_dead_letter_queue_arns=[step.dead_letter_queue_arn for step in self.steps.values()],
        )
        # In both regions: a passive region's sweeper sweeps nothing (handlers/ownership.py), so a
        # promoted standby sweeps at once, and adopts what the lost region left unsettled.
        sweeper = Sweeper(
            "sweeper",
            SweeperArgs(
                saga=self.resources,
                function=region.function,
                alarm_topic_arn=region.alarm_topic_arn,
                name_prefix=region.name_prefix,
                region=config.region,
                started_by=args.started_by,
                saga_name=args.definition.name,
                interval_minutes=config.sweeper_interval_minutes,
                tags=region.function.tags,
                region_role=config.role if guarded else None,
            ),
            opts=moved,
        )
        SagaDashboard(
            "saga-dashboard",
            SagaDashboardArgs(
                state_machine_arn=saga.state_machine_arn,
                step_names=[step.name for step in args.definition.steps],
                dead_letter_queue_names={name: step.dead_letter_queue_name for name, step in self.steps.items()},
                topic_arn=region.alarm_topic_arn,
                name_prefix=region.name_prefix,
                region=config.region,
                tags=region.function.tags,
            ),
            opts=moved,
        )
        self.state_machine_arn = saga.state_machine_arn
        self.sweeper_function_name = sweeper.function_name
        self.started_by = args.started_by
        self.tasks = args.tasks
        self.register_outputs({"stateMachineArn": saga.state_machine_arn})

    def export(self) -> None:
        """Export ``outputs()`` as the stack's outputs."""
        for key, value in self.outputs().items():
            pulumi.export(key, value)

    def outputs(self) -> dict[str, Any]:
        """The stack outputs the ops command line reads (``ops/region.py``)."""
        return {
            "stateMachineArn": self.state_machine_arn,
            "sagaStartQueueUrl": self.starter.queue_url,
            "sagaStartDeadLetterQueueUrl": self.starter.dead_letter_queue_url,
            "deadLetterQueueUrls": {name: step.dead_letter_queue_url for name, step in self.steps.items()},
            "sweeperFunctionName": self.sweeper_function_name,
            "sagaTableName": self.resources.orders_table_name,
            "eventBusName": self.resources.event_bus_name,
            # What reconcile publishes to start a saga again (ops/region.py).
            "startSource": self.started_by.source,
            "startDetailType": self.started_by.detail_type,
            "vaultAwsAuthPrincipals": self.vault_principals(),
        }

    def vault_principals(self) -> dict[str, list[pulumi.Output[str]]]:
        """By Vault role: the function roles that read that partner's key. Vault's ``aws`` auth
        role binds these (``bound_iam_principal_arn``): union the outputs of every stack whose
        tasks call the partner (both regions', every saga's), or some cannot reach it."""
        principals: dict[str, list[pulumi.Output[str]]] = {}
        for step in self.steps.values():
            for task, role_arn in step.role_arns.items():
                partner = self.tasks[task].partner
                if partner:
                    principals.setdefault(PARTNERS[partner].vault_role, []).append(role_arn)
        return principals

    @staticmethod
    def _task_args(task: str, args: SagaServiceArgs) -> TaskArgs:
        """A task's handler, environment and exact permissions."""
        region = args.region
        config = region.config
        code = args.tasks[task]
        environment: dict[str, pulumi.Input[str]] = {
            "SAGA_TABLE": region.tables.names[region.saga_table],
            "POWERTOOLS_SERVICE_NAME": task_service(task),
            **region.environment,
        }
        statements = [iam.allow(WORK_ITEM_ACTIONS, [region.tables.arns[region.saga_table]]), *region.statements]
        for table, access in code.tables.items():
            environment[f"{table.upper()}_TABLE"] = region.tables.names[table]
            statements.append(iam.allow(ACTIONS[access], [region.tables.arns[table]]))
        concurrency = None
        if code.partner:
            partner = PARTNERS[code.partner]
            environment |= {
                f"{partner.env_prefix}_URL": config.partner_url(code.partner),
                "VAULT_ADDR": config.vault_addr,
                "VAULT_AUTH": config.vault_auth,
                "VAULT_ROLE": partner.vault_role,
            }
            if config.vault_login_dir:  # approle (the sandbox): the role's secret id is in this file
                environment["VAULT_LOGIN_FILE"] = f"{config.vault_login_dir}/{partner.vault_role}.secret-id"
            concurrency = config.partner_concurrency(code.partner)
        return TaskArgs(code.handler, statements, environment, concurrency)
