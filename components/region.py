"""One region of the order saga, primary or warm standby: what ``__main__.py`` builds.

Order-specific wiring lives here and only here: which handler runs each task, which tables
and partners it touches, and so which permissions and environment it gets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.api import OrderApi, OrderApiArgs
from components.bootstrap import ApiGatewayLogging, GithubDeployRoles, GithubDeployRolesArgs
from components.config import RegionConfig, stack_prefix
from components.events import ORDER_SUBMITTED_EVENT, OrderEvents, OrderEventsArgs, bus_name
from components.failover_domain import FailoverDomain, FailoverDomainArgs
from components.function import Function, FunctionArgs, FunctionSettings
from components.observability import AlarmTopic
from components.operations import OperatorsRole, claim_owner
from components.order_saga import ORDER_SAGA
from components.preflight import check_concurrency_quota
from components.saga.stand_down import StandDown
from components.saga_service import SagaRegion, SagaService, SagaServiceArgs, Task
from components.tables import OrderTables, OrderTablesArgs, TableRefs, standby_tables
from handlers.ownership import CONTROL_KEY, OWNER_ATTRIBUTE, RegionStandsDown

ROOT = Path(__file__).resolve().parent.parent
DEPENDENCIES_LAYER = ROOT / "build" / "lambda-deps"
"""``make lambda-deps``: msgspec and PyJWT for the functions (Powertools comes from its layer)."""

ORDER_TASKS: dict[str, Task] = {
    "AuthorizePayment": Task("handlers.payment.authorize_handler", partner="payment"),
    "RefundPayment": Task("handlers.payment.refund_handler", partner="payment"),
    "ReserveInventory": Task("handlers.inventory.reserve_handler", {"inventory": "write"}),
    "ReleaseInventory": Task("handlers.inventory.release_handler", {"inventory": "write"}),
    "BurnLoyaltyPoints": Task("handlers.loyalty.burn_handler", {"loyalty": "write"}),
    "RestoreLoyaltyPoints": Task("handlers.loyalty.restore_handler", {"loyalty": "write"}),
    "BookShipment": Task("handlers.shipping.book_handler", partner="courier"),
    "CancelShipment": Task("handlers.shipping.cancel_handler", partner="courier"),
}


def powertools_layer_parameter(config: RegionConfig) -> str:
    """Powertools publishes each release's layer ARN as a public SSM parameter: the release
    comes from constraints.txt (``config.powertools_version``), so the layer is the code
    the tests ran, not a layer number guessed apart from it."""
    return f"/aws/service/powertools/python/{config.architecture}/python3.11/{config.powertools_version}"


def reserved_concurrency(config: RegionConfig) -> dict[str, int]:
    """Reserved executions by saga task: the partner steps' caps."""
    return {
        task: cap
        for task, code in ORDER_TASKS.items()
        if code.partner and (cap := config.partner_concurrency(code.partner))
    }


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

    saga = SagaService(
        "order-saga",
        SagaServiceArgs(
            definition=ORDER_SAGA,
            tasks=ORDER_TASKS,
            region=SagaRegion(
                config=config,
                name_prefix=prefix,
                tables=tables,
                saga_table="orders",
                bus_name=events.bus_name,
                bus_arn=events.bus_arn,
                alarm_topic_arn=alarms.topic_arn,
                function=function,
                # The guard before every effect (handlers/ownership.py) reads the orders table.
                environment={"REGION_ROLE": config.role, "ORDERS_TABLE": tables.names["orders"]},
            ),
            started_by=ORDER_SUBMITTED_EVENT,
            # A resumed execution in a region that lost the order ends without effects.
            stand_down=StandDown(
                region=config.region, errors=(RegionStandsDown.__name__,), owner_attribute=OWNER_ATTRIBUTE
            ),
            # Is the region active (the control item), and who owns the order (its item).
            starter_statement=iam.allow(["dynamodb:GetItem"], [tables.arns["orders"]]),
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
    operators = _operators(config, saga, tables, account_id)
    return {
        "role": config.role,
        "apiUrl": api.url,
        **domain_outputs,
        "eventBusName": events.bus_name,
        "eventBusArn": events.bus_arn,
        **saga.outputs(),
        **(
            {"forwardDeadLetterQueueUrl": events.forward_dead_letter_queue_url}
            if events.forward_dead_letter_queue_url
            else {}
        ),
        "alarmTopicArn": alarms.topic_arn,
        "operatorsRoleArn": operators.role_arn,
        "powertoolsLayerParameter": powertools_layer_parameter(config),
        **{f"{table}TableName": name for table, name in tables.names.items()},
    }


def _operators(
    config: RegionConfig, saga: SagaService, tables: TableRefs, account_id: pulumi.Output[str]
) -> OperatorsRole:
    """The operators' role (components/operations.py): exactly the ops console's actions, and
    ``recount`` on the stock and points tables (handlers/recount.py)."""
    provider = config.operators_identity_provider
    return OperatorsRole(
        "operators",
        saga=dataclasses.replace(
            saga.resources, inventory_table_arn=tables.arns["inventory"], loyalty_table_arn=tables.arns["loyalty"]
        ),
        identity_provider_arn=provider
        if provider.startswith("arn:")
        else pulumi.Output.concat("arn:aws:iam::", account_id, ":saml-provider/", provider),
        name_prefix=config.prefix,
        region=config.region,
        tags=config.tags,
    )


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
