"""The REST API: ``POST /orders`` and ``GET /orders/{orderId}`` behind the Lambda authorizer,
and, with a custom domain, the public ``GET /health`` its failover records are checked against.

Every method needs the authorizer and an API key, which the authorizer supplies
(``api_key_source = AUTHORIZER``), so each client is metered and throttled by its usage
plan. The body of ``POST /orders`` is validated against the intake's own request model;
the stage throttles and writes JSON access logs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import ApiClient
from handlers import order_request
from handlers.usage_plans import usage_plan_key

STAGE = "prod"
HEALTH_PATH = "/health"
"""Public (no authorizer, no API key): the policy pack's ``exemptRoutes`` must list ``GET /health``."""
AUTHORIZER_CACHE_SECONDS = 300
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "principal": "$context.authorizer.principalId",
        "client": "$context.authorizer.clientId",
        "method": "$context.httpMethod",
        "path": "$context.resourcePath",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "error": "$context.error.message",
    }
)


def request_schema() -> dict[str, Any]:
    """The intake's request model as JSON Schema draft 4, ``$ref``s inlined (API Gateway
    models cannot reference their own definitions). The gateway checks the shape (400);
    unknown fields, such as a smuggled price, are left to the intake's stable 422."""
    schema = order_request.json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            dropped = ("title", "default", "additionalProperties")
            return {key: inline(value) for key, value in node.items() if key not in dropped}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {"$schema": "http://json-schema.org/draft-04/schema#", **inline(schema)}


@dataclass
class OrderApiArgs:
    intake_function_name: pulumi.Input[str]
    intake_invoke_arn: pulumi.Input[str]
    authorizer_function_name: pulumi.Input[str]
    authorizer_invoke_arn: pulumi.Input[str]
    clients: Sequence[ApiClient]
    name_prefix: str
    rate_limit: float = 500.0
    burst_limit: int = 1000
    log_retention_days: int = 30
    account_settings: pulumi.Resource | None = None
    """The region's API Gateway account setting with its CloudWatch role
    (``components.bootstrap.ApiGatewayLogging``): the stage's logs are refused without it."""
    tags: Mapping[str, str] = field(default_factory=dict)
    health_function_name: pulumi.Input[str] | None = None
    health_invoke_arn: pulumi.Input[str] | None = None
    """With both: ``GET /health`` (handlers/health.py), public, for Route 53's health checks."""

    def problems(self) -> list[str]:
        ids = [client.client_id for client in self.clients]
        found = ["the API needs at least one client"] if not ids else []
        found += [f"API client {client!r} is listed twice" for client in sorted(set(ids)) if ids.count(client) > 1]
        found += [
            f"API client {client.client_id!r}: its limits exceed the stage's"
            for client in self.clients
            if client.rate_limit > self.rate_limit or client.burst_limit > self.burst_limit
        ]
        if (self.health_function_name is None) != (self.health_invoke_arn is None):
            found.append("the health route needs both its function's name and its invoke ARN")
        return found


def deployment_hash(deployed: Sequence[tuple[pulumi.CustomResource, Mapping[str, Any]]]) -> pulumi.Output[str]:
    """sha256 over each resource's id and its arguments, in order."""
    document = pulumi.Output.json_dumps([{"id": resource.id, **arguments} for resource, arguments in deployed])
    return document.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())


class OrderApi(pulumi.ComponentResource):
    url: pulumi.Output[str]
    rest_api_id: pulumi.Output[str]
    stage_name: pulumi.Output[str]

    def __init__(self, name: str, args: OrderApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__("order-saga:index:OrderApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        api = aws.apigateway.RestApi(
            f"{name}-api",
            name=f"{args.name_prefix}-orders",
            api_key_source="AUTHORIZER",
            endpoint_configuration={"types": "REGIONAL"},
            tags=tags,
            opts=child,
        )
        authorizer = aws.apigateway.Authorizer(
            f"{name}-authorizer",
            rest_api=api.id,
            name="jwt",
            type="TOKEN",
            authorizer_uri=args.authorizer_invoke_arn,
            identity_source="method.request.header.Authorization",
            authorizer_result_ttl_in_seconds=AUTHORIZER_CACHE_SECONDS,
            opts=child,
        )
        invoked = [("authorizer", args.authorizer_function_name), ("intake", args.intake_function_name)]
        if args.health_function_name is not None:
            invoked.append(("health", args.health_function_name))
        for label, function in invoked:
            aws.lambda_.Permission(
                f"{name}-{label}-invoke",
                action="lambda:InvokeFunction",
                function=function,
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(api.execution_arn, "/*"),
                opts=child,
            )
        validator = aws.apigateway.RequestValidator(
            f"{name}-validator",
            rest_api=api.id,
            name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
            opts=child,
        )
        # Everything a deployment snapshots, with the arguments that can change in place: the
        # deployment's trigger hashes all of it (see below).
        deployed: list[tuple[pulumi.CustomResource, dict[str, Any]]] = [
            (
                authorizer,
                {
                    "uri": args.authorizer_invoke_arn,
                    "identitySource": "method.request.header.Authorization",
                    "ttl": AUTHORIZER_CACHE_SECONDS,
                },
            ),
            (validator, {"body": True, "parameters": True}),
        ]
        model = aws.apigateway.Model(
            f"{name}-order-model",
            rest_api=api.id,
            name="OrderRequest",
            content_type="application/json",
            schema=json.dumps(request_schema()),
            opts=child,
        )
        deployed.append((model, {"schema": request_schema()}))
        orders = aws.apigateway.Resource(
            f"{name}-orders", rest_api=api.id, parent_id=api.root_resource_id, path_part="orders", opts=child
        )
        order = aws.apigateway.Resource(
            f"{name}-order", rest_api=api.id, parent_id=orders.id, path_part="{orderId}", opts=child
        )
        deployed += [(orders, {"path": "/orders"}), (order, {"path": "/orders/{orderId}"})]
        routes = [
            (
                "post-orders",
                orders,
                "POST",
                {"method.request.header.Idempotency-Key": True},
                {"application/json": model.name},
            ),
            ("get-order", order, "GET", {"method.request.path.orderId": True}, None),
        ]
        integrations = []
        for label, resource, verb, parameters, models in routes:
            method = aws.apigateway.Method(
                f"{name}-{label}",
                rest_api=api.id,
                resource_id=resource.id,
                http_method=verb,
                authorization="CUSTOM",
                authorizer_id=authorizer.id,
                api_key_required=True,
                request_validator_id=validator.id,
                request_parameters=parameters,
                request_models=models,
                opts=child,
            )
            integration = _proxy_integration(f"{name}-{label}", api, resource, method, args.intake_invoke_arn, child)
            integrations.append(integration)
            deployed += [
                (method, {"verb": verb, "auth": "CUSTOM", "apiKey": True, "parameters": parameters, "models": models}),
                (integration, {"type": "AWS_PROXY", "uri": args.intake_invoke_arn}),
            ]
        if args.health_invoke_arn is not None:
            # Route 53's checkers carry no token: public, and answering nothing but "active or not".
            health = aws.apigateway.Resource(
                f"{name}-health", rest_api=api.id, parent_id=api.root_resource_id, path_part="health", opts=child
            )
            health_method = aws.apigateway.Method(
                f"{name}-get-health",
                rest_api=api.id,
                resource_id=health.id,
                http_method="GET",
                authorization="NONE",
                api_key_required=False,
                opts=child,
            )
            health_integration = _proxy_integration(
                f"{name}-get-health", api, health, health_method, args.health_invoke_arn, child
            )
            integrations.append(health_integration)
            deployed += [
                (health, {"path": HEALTH_PATH}),
                (health_method, {"verb": "GET", "auth": "NONE", "apiKey": False}),
                (health_integration, {"type": "AWS_PROXY", "uri": args.health_invoke_arn}),
            ]
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=api.id,
            # A deployment is a snapshot: it changes only when its triggers do. Hash every
            # method, integration, authorizer, validator, model and resource, by id (a
            # replacement) and by the arguments that change in place.
            triggers={"api": deployment_hash(deployed)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=integrations),
        )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{args.name_prefix}-orders",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=child,
        )
        # Logging needs the region's CloudWatch role set first (else BadRequestException).
        logged = pulumi.ResourceOptions(
            parent=self, depends_on=[args.account_settings] if args.account_settings else []
        )
        stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=api.id,
            deployment=deployment.id,
            stage_name=STAGE,
            xray_tracing_enabled=True,
            access_log_settings={"destination_arn": access_logs.arn, "format": ACCESS_LOG_FORMAT},
            tags=tags,
            opts=logged,
        )
        aws.apigateway.MethodSettings(
            f"{name}-throttling",
            rest_api=api.id,
            stage_name=stage.stage_name,
            method_path="*/*",
            settings={
                "throttling_rate_limit": args.rate_limit,
                "throttling_burst_limit": args.burst_limit,
                "metrics_enabled": True,
                "logging_level": "ERROR",
            },
            opts=logged,
        )
        for client in args.clients:
            plan = aws.apigateway.UsagePlan(
                f"{name}-plan-{client.client_id}",
                name=f"{args.name_prefix}-{client.client_id}",
                api_stages=[{"api_id": api.id, "stage": stage.stage_name}],
                throttle_settings={"rate_limit": client.rate_limit, "burst_limit": client.burst_limit},
                quota_settings={"limit": client.quota_per_day, "period": "DAY"},
                tags=tags,
                opts=child,
            )
            key = aws.apigateway.ApiKey(
                f"{name}-key-{client.client_id}",
                name=f"{args.name_prefix}-{client.client_id}",
                value=usage_plan_key(client.client_id),
                tags=tags,
                opts=child,
            )
            aws.apigateway.UsagePlanKey(
                f"{name}-plan-key-{client.client_id}",
                key_id=key.id,
                key_type="API_KEY",
                usage_plan_id=plan.id,
                opts=child,
            )
        self.url = stage.invoke_url
        self.rest_api_id = api.id
        self.stage_name = stage.stage_name
        self.register_outputs({"url": stage.invoke_url})


def _proxy_integration(
    name: str,
    api: aws.apigateway.RestApi,
    resource: aws.apigateway.Resource,
    method: aws.apigateway.Method,
    invoke_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> aws.apigateway.Integration:
    """A Lambda proxy integration (API Gateway calls the function with POST, whatever the verb)."""
    return aws.apigateway.Integration(
        f"{name}-integration",
        rest_api=api.id,
        resource_id=resource.id,
        http_method=method.http_method,
        type="AWS_PROXY",
        integration_http_method="POST",
        uri=invoke_arn,
        opts=opts,
    )
