"""The deployed REST API on localhost, as API Gateway would serve it.

Everything comes from the resource graph: routes (Resource paths and Methods), the Lambda
authorizer (TOKEN, with its result cache), API keys from the authorizer and usage plans
(throttling and quotas: 429), stage throttling, request validation against the deployed
model and required headers (400), and the AWS_PROXY integration, invoked with API Gateway's
proxy event.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from sandbox.http import DropConnection, LoopbackServer, Reply, Request
from sandbox.runtime.errors import FunctionError
from sandbox.runtime.functions import LambdaRuntime
from synth.graph import Graph, Resource

ACCOUNT = "123456789012"


class TokenBucket:
    """``rate`` requests per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, max(1, burst)
        self.tokens = float(self.capacity)
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


@dataclass
class UsagePlan:
    bucket: TokenBucket
    quota: int | None
    used: int = 0

    def admit(self) -> bool:
        if self.quota is not None and self.used >= self.quota:
            return False
        if not self.bucket.take():
            return False
        self.used += 1
        return True


@dataclass
class DeployedRoute:
    method: str
    template: str  # /orders/{orderId}
    pattern: re.Pattern[str]
    function: str  # the integration's function ARN
    authorizer: str | None
    api_key_required: bool
    required_headers: list[str]
    schema: dict[str, Any] | None


@dataclass
class RouteAuthorizer:
    function: str
    header: str
    ttl_seconds: int
    cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)


class GatewayError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _by_type(graph: Graph, typ: str) -> list[Resource]:
    return graph.of_type(f"aws:apigateway/{typ}")


class RestApi:
    """One deployed REST API and stage, read from the graph."""

    def __init__(self, graph: Graph, runtime: LambdaRuntime, region: str, *, integration_timeout: float = 29.0) -> None:
        self.runtime = runtime
        # API Gateway stops waiting for an integration after 29 s (504); the Lambda runs on.
        self.integration_timeout = integration_timeout
        self._integrations = ThreadPoolExecutor(max_workers=64, thread_name_prefix="integration")
        [stage] = _by_type(graph, "stage:Stage")  # one API and stage per region: the program's shape
        self.api_id = str(stage.inputs["restApi"])
        self.stage = str(stage.inputs["stageName"])
        self.region = region
        paths = {r.name + "-id": r.outputs["path"] for r in _by_type(graph, "resource:Resource")}
        models = {m.inputs["name"]: json.loads(m.inputs["schema"]) for m in _by_type(graph, "model:Model")}
        integrations = {
            (i.inputs["resourceId"], i.inputs["httpMethod"]): re.sub(
                r".*/functions/(.+)/invocations$", r"\1", i.inputs["uri"]
            )
            for i in _by_type(graph, "integration:Integration")
        }
        self.authorizers = {
            a.name + "-id": RouteAuthorizer(
                function=re.sub(r".*/functions/(.+)/invocations$", r"\1", a.inputs["authorizerUri"]),
                header=a.inputs["identitySource"].removeprefix("method.request.header."),
                ttl_seconds=int(a.inputs.get("authorizerResultTtlInSeconds", 300)),
            )
            for a in _by_type(graph, "authorizer:Authorizer")
        }
        self.routes: list[DeployedRoute] = []
        for method in _by_type(graph, "method:Method"):
            inputs = method.inputs
            template = paths[inputs["resourceId"]]
            parameters = inputs.get("requestParameters") or {}
            model = (inputs.get("requestModels") or {}).get("application/json")
            self.routes.append(
                DeployedRoute(
                    method=inputs["httpMethod"],
                    template=template,
                    pattern=re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"),
                    function=integrations[(inputs["resourceId"], inputs["httpMethod"])],
                    authorizer=inputs.get("authorizerId") if inputs.get("authorization") == "CUSTOM" else None,
                    api_key_required=bool(inputs.get("apiKeyRequired")),
                    required_headers=[
                        key.removeprefix("method.request.header.")
                        for key, required in parameters.items()
                        if required and key.startswith("method.request.header.")
                    ],
                    schema=models.get(model) if model else None,
                )
            )
        keys = {k.name + "-id": k.inputs["value"] for k in _by_type(graph, "apiKey:ApiKey")}
        plans = {p.name + "-id": p.inputs for p in _by_type(graph, "usagePlan:UsagePlan")}
        self.plans: dict[str, UsagePlan] = {}
        for link in _by_type(graph, "usagePlanKey:UsagePlanKey"):
            plan = plans[link.inputs["usagePlanId"]]
            throttle = plan.get("throttleSettings") or {}
            quota = plan.get("quotaSettings") or {}
            self.plans[keys[link.inputs["keyId"]]] = UsagePlan(
                TokenBucket(float(throttle.get("rateLimit", 10_000)), int(throttle.get("burstLimit", 5_000))),
                int(quota["limit"]) if quota.get("limit") else None,
            )
        settings = [s.inputs["settings"] for s in _by_type(graph, "methodSettings:MethodSettings")]
        stage_limits = settings[0] if settings else {}
        self.stage_bucket = TokenBucket(
            float(stage_limits.get("throttlingRateLimit", 10_000)),
            int(stage_limits.get("throttlingBurstLimit", 5_000)),
        )

    def functions(self) -> set[str]:
        """Every function the API invokes: its integrations and its authorizers."""
        return {route.function for route in self.routes} | {a.function for a in self.authorizers.values()}

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: str | None
    ) -> tuple[int, dict[str, str], str]:
        try:
            return self._handle(method, path, headers, body)
        except GatewayError as error:
            return error.status, {"Content-Type": "application/json"}, json.dumps({"message": error.message})

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: str | None
    ) -> tuple[int, dict[str, str], str]:
        prefix = f"/{self.stage}"
        if not path.startswith(prefix + "/"):
            raise GatewayError(403, "Missing Authentication Token")
        resource_path = path[len(prefix) :].split("?", 1)[0]
        route, parameters = self._route(method, resource_path)
        if not self.stage_bucket.take():
            raise GatewayError(429, "Too Many Requests")
        context: dict[str, Any] = {}
        if route.authorizer:
            context = self._authorize(route, method, resource_path, headers)
        if route.api_key_required:
            plan = self.plans.get(str(context.get("usageIdentifierKey")))
            if plan is None:
                raise GatewayError(403, "Forbidden")
            if not plan.admit():
                raise GatewayError(429, "Too Many Requests")
        self._validate(route, headers, body)
        event = self._proxy_event(route, method, resource_path, parameters, headers, body, context)
        invocation = self._integrations.submit(self.runtime.invoke, route.function, event)
        try:
            response = invocation.result(timeout=self.integration_timeout)
        except FutureTimeout:
            raise GatewayError(504, "Endpoint request timed out") from None
        except FunctionError:
            raise GatewayError(502, "Internal server error") from None
        return (
            int(response["statusCode"]),
            dict(response.get("headers") or {}),
            str(response.get("body") or ""),
        )

    def _route(self, method: str, path: str) -> tuple[DeployedRoute, dict[str, str]]:
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                return route, match.groupdict()
        raise GatewayError(403, "Missing Authentication Token")  # API Gateway's answer to an unknown route

    def _authorize(self, route: DeployedRoute, method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
        assert route.authorizer is not None
        authorizer = self.authorizers[route.authorizer]
        token = _header(headers, authorizer.header)
        if not token:
            raise GatewayError(401, "Unauthorized")
        method_arn = f"arn:aws:execute-api:{self.region}:{ACCOUNT}:{self.api_id}/{self.stage}/{method}{path}"
        cached = authorizer.cache.get(token)
        if cached and cached[0] > time.monotonic():
            result = cached[1]
        else:
            try:
                result = self.runtime.invoke(
                    authorizer.function,
                    {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn},
                )
            except FunctionError as error:
                if error.message == "Unauthorized" or error.error_type == "Unauthorized":
                    raise GatewayError(401, "Unauthorized") from None
                raise GatewayError(500, "AuthorizerConfigurationException") from None
            authorizer.cache[token] = (time.monotonic() + authorizer.ttl_seconds, result)
        if not _allows(result.get("policyDocument") or {}, method_arn):
            raise GatewayError(403, "User is not authorized to access this resource")
        return {
            **(result.get("context") or {}),
            "principalId": result.get("principalId"),
            "usageIdentifierKey": result.get("usageIdentifierKey"),
        }

    def _validate(self, route: DeployedRoute, headers: dict[str, str], body: str | None) -> None:
        missing = [name for name in route.required_headers if not _header(headers, name)]
        if missing:
            raise GatewayError(400, f"Missing required request parameters: [{', '.join(missing)}]")
        if route.schema is not None:
            try:
                jsonschema.validate(json.loads(body or ""), route.schema)
            except (ValueError, RecursionError, jsonschema.ValidationError):  # too deep is invalid, not a crash
                raise GatewayError(400, "Invalid request body") from None

    def _proxy_event(
        self,
        route: DeployedRoute,
        method: str,
        path: str,
        parameters: dict[str, str],
        headers: dict[str, str],
        body: str | None,
        context: dict[str, Any],
    ) -> dict[str, Any]:
        authorizer = {key: value for key, value in context.items() if key != "usageIdentifierKey"}
        return {
            "resource": route.template,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {key: [value] for key, value in headers.items()},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.template,
                "httpMethod": method,
                "path": f"/{self.stage}{path}",
                "stage": self.stage,
                "requestId": str(uuid.uuid4()),
                "accountId": ACCOUNT,
                "apiId": self.api_id,
                "identity": {"sourceIp": "127.0.0.1", "apiKey": context.get("usageIdentifierKey")},
                "authorizer": authorizer,
                "requestTimeEpoch": int(time.time() * 1000),
            },
            "body": body,
            "isBase64Encoded": False,
        }


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _allows(policy: dict[str, Any], method_arn: str) -> bool:
    allowed = False
    for statement in policy.get("Statement", []):
        resources = statement.get("Resource", [])
        matched = any(
            fnmatch.fnmatchcase(method_arn, pattern)
            for pattern in ([resources] if isinstance(resources, str) else resources)
        )
        if matched and statement.get("Effect") == "Deny":
            return False
        allowed = allowed or (matched and statement.get("Effect") == "Allow")
    return allowed


MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
"""API Gateway's payload quota for a REST API; larger requests get 413 before any integration."""


class ApiServer:
    """The REST API over HTTP on loopback."""

    def __init__(self, api: RestApi, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        self.dark = False
        """A regional outage: every request's connection is closed unanswered."""
        self._server = LoopbackServer(self._respond, name="api", host=host, port=port, max_body_bytes=MAX_PAYLOAD_BYTES)

    @property
    def url(self) -> str:
        return f"{self._server.url}/{self.api.stage}"

    def start(self) -> ApiServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _respond(self, request: Request) -> Reply:
        if self.dark:
            raise DropConnection()
        body = request.body.decode() if request.body else None
        status, headers, payload = self.api.handle(request.method, request.path, request.headers, body)
        return Reply(status, payload.encode(), headers)
