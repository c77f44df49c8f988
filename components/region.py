"""One region of the order saga, primary or warm standby: what ``__main__.py`` builds.

Order-specific wiring lives here and only here: which handler runs each task, which tables
and partners it touches, and so which permissions and environment it gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.api import OrderApi, OrderApiArgs
from components.bootstrap import ApiGatewayLogging, GithubDeployRoles, GithubDeployRolesArgs
from components.config import ConfigError, RegionConfig, stack_prefix
from components.events import OrderEvents, OrderEventsArgs, SagaStarter, SagaStarterArgs, bus_name
from components.failover_domain import FailoverDomain, FailoverDomainArgs
from components.function import Function, FunctionArgs, FunctionSettings
from components.observability import AlarmTopic, SagaDashboard, SagaDashboardArgs, task_service
from components.operations import OperatorsRole, SagaResources, Sweeper, SweeperArgs, claim_owner
from components.order_saga import ORDER_SAGA
from components.preflight import check_concurrency_quota
from components.saga.stand_down import StandDown
from components.saga_machine import Saga, SagaArgs
from components.step import SagaStepComponent, SagaStepComponentArgs, TaskArgs
from components.tables import OrderTables, OrderTablesArgs, TableRefs, standby_tables
from handlers.contract import PARTNERS, PAYMENT_GATEWAY
from handlers.ownership import CONTROL_KEY, OWNER_ATTRIBUTE, RegionStandsDown

ROOT = Path(__file__).resolve().parent.parent
DEPENDENCIES_LAYER = ROOT / "build" / "lambda-deps"
"""``make lambda-deps``: hvac and PyJWT for the functions (Powertools comes from its layer)."""

READ_ORDER = ["dynamodb:GetItem"]
STAMP_ORDER = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
TRANSACT = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]


@dataclass(frozen=True)
class TaskWiring:
    handler: str
    table: str | None = None
    """The table besides ``orders`` that the task writes in transactions."""
    partner: str | None = None
    """A key of ``handlers.contract.PARTNERS``: reached over HTTP with a key from Vault."""


ORDER_TASKS: dict[str, TaskWiring] = {
    "AuthorizePayment": TaskWiring("handlers.payment.authorize_handler", partner="payment"),
    "RefundPayment": TaskWiring("handlers.payment.refund_handler", partner="payment"),
    "ReserveInventory": TaskWiring("handlers.inventory.reserve_handler", table="inventory"),
    "ReleaseInventory": TaskWiring("handlers.inventory.release_handler", table="inventory"),
    "BurnLoyaltyPoints": TaskWiring("handlers.loyalty.burn_handler", table="loyalty"),
    "RestoreLoyaltyPoints": TaskWiring("handlers.loyalty.restore_handler", table="loyalty"),
    "BookShipment": TaskWiring("handlers.shipping.book_handler", partner="courier"),
    "CancelShipment": TaskWiring("handlers.shipping.cancel_handler", partner="courier"),
}


def powertools_layer_parameter(config: RegionConfig) -> str:
    """Powertools publishes each release's layer ARN as a public SSM parameter: the release
    comes from constraints.txt (``config.powertools_version``), so the layer is the code
    the tests ran, not a layer number guessed apart from it."""
    return f"/aws/service/powertools/python/{config.architecture}/python3.11/{config.powertools_version}"


def reserved_concurrency(config: RegionConfig) -> dict[str, int]:
    """Reserved executions by saga task: the partner steps' caps."""
    caps = {"payment": config.payment_concurrency, "courier": config.courier_concurrency}
    return {task: cap for task, wiring in ORDER_TASKS.items() if wiring.partner and (cap := caps[wiring.partner])}


def build_region(config: RegionConfig) -> dict[str, Any]:
    """Create the region's resources; returns the stack outputs."""
    prefix = config.prefix
    tags = config.tags
    check_concurrency_quota(reserved_concurrency(config), config.region)  # before anything is created
    account_id = aws.get_caller_identity_output().account_id
    api_logging = ApiGatewayLogging(
        "api-gateway-logging", region=config.region, manage=config.api_gateway_account == "manage", tags=tags
    )
    if config.github_repository:
        GithubDeployRoles(
            "github",
            GithubDeployRolesArgs(
                repository=config.github_repository,
                stacks=config.github_stacks,
                regions=config.github_regions,
                region=config.region,
                account_id=account_id,
                deploy_policy_arns=config.github_deploy_policy_arns,
                tags=tags,
            ),
        )

    alarms = AlarmTopic(
        "alarms",
        name_prefix=prefix,
        account_id=account_id,
        email=config.alarm_email,
        servicenow_url=config.servicenow_url,
        datadog_url=config.datadog_url,
        tags=tags,
    )
    tables = _tables(config, account_id)
    events = OrderEvents(
        "events",
        OrderEventsArgs(
            name_prefix=prefix,
            region=config.region,
            archive_retention_days=config.archive_retention_days,
            forward_to_bus_arn=_standby_bus_arn(config, account_id),
            alarm_topic_arn=alarms.topic_arn,
            tags=tags,
        ),
    )

    deps = aws.lambda_.LayerVersion(
        "lambda-deps",
        layer_name=f"{prefix}-deps",
        code=pulumi.FileArchive(str(DEPENDENCIES_LAYER)),
        compatible_runtimes=["python3.11"],
        compatible_architectures=[config.architecture],
    )
    powertools = aws.ssm.get_parameter_output(name=powertools_layer_parameter(config)).value
    function = FunctionSettings(
        code=pulumi.AssetArchive({"handlers": pulumi.FileArchive(str(ROOT / "handlers"))}),
        layers=[powertools, deps.arn],
        architecture=config.architecture,
        log_retention_days=config.log_retention_days,
        tags=tags,
    )

    steps = {
        step.name: SagaStepComponent(
            f"step-{step.name}",
            SagaStepComponentArgs(
                step=step,
                forward=_task(step.name, config, tables),
                compensation=_task(step.compensation, config, tables) if step.compensation else None,
                function=function,
                alarm_topic_arn=alarms.topic_arn,
                name_prefix=prefix,
                region=config.region,
            ),
        )
        for step in ORDER_SAGA.steps
    }
    saga = Saga(
        "order-saga",
        SagaArgs(
            definition=ORDER_SAGA,
            steps=steps,
            table_name=tables.names["orders"],
            table_arn=tables.arns["orders"],
            event_bus_name=events.bus_name,
            event_bus_arn=events.bus_arn,
            name_prefix=prefix,
            region=config.region,
            log_retention_days=config.log_retention_days,
            tags=tags,
            # A resumed execution in a region that lost the order ends without effects.
            stand_down=StandDown(
                region=config.region, errors=(RegionStandsDown.__name__,), owner_attribute=OWNER_ATTRIBUTE
            ),
        ),
    )
    starter = SagaStarter(
        "saga-start",
        SagaStarterArgs(
            bus_name=events.bus_name,
            state_machine_arn=saga.state_machine_arn,
            function=function,
            alarm_topic_arn=alarms.topic_arn,
            name_prefix=prefix,
            region=config.region,
            tags=tags,
            region_role=config.role,
            orders_table_name=tables.names["orders"],
            # Is the region active (the control item), and who owns the order (its item).
            control_statement=iam.allow(["dynamodb:GetItem"], [tables.arns["orders"]]),
        ),
    )
    api = _api(config, function, tables, events, api_logging.account)
    domain_outputs: dict[str, Any] = {}
    if config.custom_domain is not None:
        domain = FailoverDomain(
            "custom-domain",
            FailoverDomainArgs(
                domain=config.custom_domain,
                failover="PRIMARY" if config.role == "primary" else "SECONDARY",
                rest_api_id=api.rest_api_id,
                stage_name=api.stage_name,
                region=config.region,
                name_prefix=prefix,
                tags=tags,
            ),
        )
        domain_outputs = {"customDomainUrl": domain.url, "healthCheckId": domain.health_check_id}
    operations = _operations(config, function, alarms, tables, events, saga, steps, starter, account_id)
    SagaDashboard(
        "saga-dashboard",
        SagaDashboardArgs(
            state_machine_arn=saga.state_machine_arn,
            step_names=[step.name for step in ORDER_SAGA.steps],
            dead_letter_queue_names={name: step.dead_letter_queue_name for name, step in steps.items()},
            topic_arn=alarms.topic_arn,
            name_prefix=prefix,
            region=config.region,
            tags=tags,
        ),
    )
    return {
        "role": config.role,
        "apiUrl": api.url,
        **domain_outputs,
        "stateMachineArn": saga.state_machine_arn,
        "eventBusName": events.bus_name,
        "eventBusArn": events.bus_arn,
        "sagaStartQueueUrl": starter.queue_url,
        "sagaStartDeadLetterQueueUrl": starter.dead_letter_queue_url,
        **(
            {"forwardDeadLetterQueueUrl": events.forward_dead_letter_queue_url}
            if events.forward_dead_letter_queue_url
            else {}
        ),
        "deadLetterQueueUrls": {name: step.dead_letter_queue_url for name, step in steps.items()},
        "alarmTopicArn": alarms.topic_arn,
        "vaultAwsAuthPrincipals": _vault_principals(steps),
        **operations,
        "powertoolsLayerParameter": powertools_layer_parameter(config),
        **{f"{table}TableName": name for table, name in tables.names.items()},
    }


def _operations(
    config: RegionConfig,
    function: FunctionSettings,
    alarms: AlarmTopic,
    tables: TableRefs,
    events: OrderEvents,
    saga: Saga,
    steps: dict[str, SagaStepComponent],
    starter: SagaStarter,
    account_id: pulumi.Output[str],
) -> dict[str, Any]:
    """The sweeper and the operators' role (components/operations.py); returns their outputs."""
    resources = SagaResources(
        orders_table_name=tables.names["orders"],
        orders_table_arn=tables.arns["orders"],
        state_machine_arn=saga.state_machine_arn,
        event_bus_name=events.bus_name,
        event_bus_arn=events.bus_arn,
        start_dead_letter_queue_url=starter.dead_letter_queue_url,
        start_dead_letter_queue_arn=starter.dead_letter_queue_arn,
        step_dead_letter_queue_arns=[step.dead_letter_queue_arn for step in steps.values()],
        inventory_table_arn=tables.arns["inventory"],
        loyalty_table_arn=tables.arns["loyalty"],
    )
    outputs: dict[str, Any] = {}
    # In both regions: a passive region's sweeper sweeps nothing (handlers/ownership.py), so a
    # promoted standby sweeps at once, and adopts what the lost region left unsettled.
    sweeper = Sweeper(
        "sweeper",
        SweeperArgs(
            saga=resources,
            function=function,
            alarm_topic_arn=alarms.topic_arn,
            name_prefix=config.prefix,
            region=config.region,
            interval_minutes=config.sweeper_interval_minutes,
            tags=config.tags,
            region_role=config.role,
        ),
    )
    outputs["sweeperFunctionName"] = sweeper.function_name
    provider = config.operators_identity_provider
    operators = OperatorsRole(
        "operators",
        saga=resources,
        identity_provider_arn=provider
        if provider.startswith("arn:")
        else pulumi.Output.concat("arn:aws:iam::", account_id, ":saml-provider/", provider),
        name_prefix=config.prefix,
        region=config.region,
        tags=config.tags,
    )
    return outputs | {"operatorsRoleArn": operators.role_arn}


def _vault_principals(steps: dict[str, SagaStepComponent]) -> dict[str, list[pulumi.Output[str]]]:
    """By Vault role: the function roles that read that partner's key. Vault's ``aws`` auth role
    binds these (``bound_iam_principal_arn``) for *both* regions' stacks: union the outputs of
    the primary and the standby, or the standby's steps cannot reach the partners after a failover."""
    principals: dict[str, list[pulumi.Output[str]]] = {}
    for step in steps.values():
        for task, role_arn in step.role_arns.items():
            wiring = ORDER_TASKS[task]
            if wiring.partner:
                principals.setdefault(PARTNERS[wiring.partner].vault_role, []).append(role_arn)
    return principals


def _tables(config: RegionConfig, account_id: pulumi.Output[str]) -> TableRefs:
    if config.role == "primary":
        return OrderTables(
            "tables",
            OrderTablesArgs(
                name_prefix=config.prefix,
                replica_region=config.standby_region,
                strong_consistency_witness=config.witness_region if config.replica_consistency == "strong" else None,
                tags=config.tags,
            ),
        ).refs
    assert config.primary_stack is not None  # load() guarantees it for a standby
    return standby_tables(pulumi.StackReference(config.primary_stack), config.region, account_id)


def _standby_bus_arn(config: RegionConfig, account_id: pulumi.Output[str]) -> pulumi.Output[str] | None:
    if config.role != "primary" or not (config.standby_region and config.standby_stack):
        return None
    bus = bus_name(stack_prefix(config.standby_stack))
    return pulumi.Output.concat("arn:aws:events:", config.standby_region, ":", account_id, ":event-bus/", bus)


def _task(task: str, config: RegionConfig, tables: TableRefs) -> TaskArgs:
    """A saga task's handler, environment and exact permissions, from its wiring."""
    wiring = ORDER_TASKS.get(task)
    if wiring is None:
        raise ConfigError(f"saga task {task!r} has no handler: wire it in components.region.ORDER_TASKS")
    environment: dict[str, pulumi.Input[str]] = {
        "ORDERS_TABLE": tables.names["orders"],
        "REGION_ROLE": config.role,  # the guard before every effect (handlers/ownership.py)
        "POWERTOOLS_SERVICE_NAME": task_service(task),
    }
    statements = [iam.allow(STAMP_ORDER, [tables.arns["orders"]])]
    if wiring.table:
        environment[f"{wiring.table.upper()}_TABLE"] = tables.names[wiring.table]
        statements.append(iam.allow(TRANSACT, [tables.arns[wiring.table]]))
    concurrency = None
    if wiring.partner:
        partner = PARTNERS[wiring.partner]
        url = config.payment_gateway_url if partner is PAYMENT_GATEWAY else config.courier_url
        environment |= {
            f"{partner.env_prefix}_URL": url,
            "VAULT_ADDR": config.vault_addr,
            "VAULT_AUTH": config.vault_auth,
            "VAULT_ROLE": partner.vault_role,
        }
        if config.vault_login_dir:  # approle (the sandbox): the role's secret id is in this file
            environment["VAULT_LOGIN_FILE"] = f"{config.vault_login_dir}/{partner.vault_role}.secret-id"
        concurrency = config.payment_concurrency if wiring.partner == "payment" else config.courier_concurrency
    return TaskArgs(wiring.handler, statements, environment, concurrency)


def _api(
    config: RegionConfig,
    function: FunctionSettings,
    tables: TableRefs,
    events: OrderEvents,
    account_settings: aws.apigateway.Account,
) -> OrderApi:
    prefix = config.prefix
    intake = Function(
        f"{prefix}-intake",
        FunctionArgs(
            handler="handlers.intake.lambda_handler",
            role_name=f"{prefix}-intake-{config.region}",
            settings=function,
            environment={
                "ORDERS_TABLE": tables.names["orders"],
                "INVENTORY_TABLE": tables.names["inventory"],
                "EVENT_BUS": events.bus_name,
                "REGION_ROLE": config.role,  # a passive region takes no order
                "POWERTOOLS_SERVICE_NAME": "order-saga-intake",
            },
            statements=[
                iam.allow(["dynamodb:PutItem", "dynamodb:GetItem"], [tables.arns["orders"]]),
                claim_owner(tables.arns["orders"]),  # a failed-over client's order, replicated here
                # The catalog only: intake reads SKU# items of the inventory table, never stock.
                iam.allow(
                    ["dynamodb:BatchGetItem"],
                    [tables.arns["inventory"]],
                    **{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SKU#*"]}},
                ),
                iam.allow(["events:PutEvents"], [events.bus_arn]),
            ],
        ),
    )
    health = None
    if config.custom_domain is not None:  # the failover records' health checks ask it
        health = Function(
            f"{prefix}-health",
            FunctionArgs(
                handler="handlers.health.lambda_handler",
                role_name=f"{prefix}-health-{config.region}",
                settings=function,
                environment={
                    "ORDERS_TABLE": tables.names["orders"],
                    "REGION_ROLE": config.role,
                    "POWERTOOLS_SERVICE_NAME": "order-saga-health",
                },
                # The control item, and nothing else.
                statements=[
                    iam.allow(
                        ["dynamodb:GetItem"],
                        [tables.arns["orders"]],
                        **{"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [CONTROL_KEY]}},
                    )
                ],
            ),
        )
    issuers = config.issuers
    authorizer = Function(
        f"{prefix}-authorizer",
        FunctionArgs(
            handler="handlers.authorizer.lambda_handler",
            role_name=f"{prefix}-authorizer-{config.region}",
            settings=function,
            environment={
                "CUSTOMER_ISSUER": issuers.customer_issuer,
                "CUSTOMER_AUDIENCE": issuers.customer_audience,
                "CUSTOMER_JWKS_URI": issuers.customer_jwks_uri,
                "STAFF_ISSUER": issuers.staff_issuer,
                "STAFF_AUDIENCE": issuers.staff_audience,
                "STAFF_JWKS_URI": issuers.staff_jwks_uri,
                "POWERTOOLS_SERVICE_NAME": "order-saga-authorizer",
            },
            statements=[],
        ),
    )
    return OrderApi(
        "api",
        OrderApiArgs(
            intake_function_name=intake.function_name,
            intake_invoke_arn=intake.invoke_arn,
            authorizer_function_name=authorizer.function_name,
            authorizer_invoke_arn=authorizer.invoke_arn,
            clients=config.api_clients,
            name_prefix=prefix,
            rate_limit=config.stage_rate_limit,
            burst_limit=config.stage_burst_limit,
            log_retention_days=config.log_retention_days,
            account_settings=account_settings,
            tags=config.tags,
            health_function_name=health.function_name if health else None,
            health_invoke_arn=health.invoke_arn if health else None,
        ),
    )
