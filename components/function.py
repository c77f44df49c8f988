"""One Lambda function with its own role, its own log group, and nothing it does not need."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam

RUNTIME = "python3.11"
_HANDLER = re.compile(r"^handlers\.[a-z_]+\.[a-z_]+$")
# Environment variable names that suggest a secret: secrets come from Vault, never from here.
SECRET_LIKE_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|API_?KEY|CREDENTIAL)", re.IGNORECASE)


@dataclass
class FunctionSettings:
    """What the functions of a region share."""

    code: pulumi.Archive
    """The archive holds ``handlers/`` only; libraries come from layers."""
    layers: Sequence[pulumi.Input[str]] = ()
    architecture: str = "arm64"
    timeout_seconds: int = 10
    memory_mb: int = 256
    log_retention_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass
class FunctionArgs:
    """What a function is and what it may touch."""

    handler: str
    """``handlers.<module>.<entry point>``."""
    role_name: str
    """Globally unique (IAM is global): include the region."""
    settings: FunctionSettings
    statements: Sequence[dict[str, Any]] = ()
    """IAM statements beyond its log group and X-Ray, naming exact ARNs."""
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    """Caps concurrent executions, protecting a fragile partner behind the function."""

    def problems(self, name: str) -> list[str]:
        found = []
        if not _HANDLER.match(self.handler):
            found.append(f"{name}: handler {self.handler!r} must be handlers.<module>.<function>")
        if not 1 <= self.settings.timeout_seconds <= 900:
            found.append(f"{name}: timeout_seconds must be 1..900")
        if not 128 <= self.settings.memory_mb <= 10240:
            found.append(f"{name}: memory_mb must be 128..10240")
        if len(self.role_name) > 64:
            found.append(f"{name}: role name {self.role_name!r} is longer than 64 characters")
        found += [
            f"{name}: environment variable {key} looks like a secret; read it from Vault"
            for key in self.environment
            if SECRET_LIKE_NAME.search(key)
        ]
        return found


class Function(pulumi.ComponentResource):
    """A Lambda function, its role (trusting Lambda only), its policy and its log group."""

    function_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    invoke_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems(name)
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__("order-saga:index:Function", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        tags = dict(settings.tags)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{name}",
            retention_in_days=settings.log_retention_days,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            assume_role_policy=pulumi.Output.json_dumps(iam.assume_role_policy("lambda.amazonaws.com")),
            tags=tags,
            opts=child,
        )
        statements = [iam.log_writing(log_group.arn), iam.tracing(), *args.statements]
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(iam.policy(statements)),
            opts=child,
        )
        function = aws.lambda_.Function(
            name,
            name=name,
            role=role.arn,
            runtime=RUNTIME,
            handler=args.handler,
            code=settings.code,
            architectures=[settings.architecture],
            layers=list(settings.layers),
            environment={"variables": dict(args.environment)} if args.environment else None,
            timeout=settings.timeout_seconds,
            memory_size=settings.memory_mb,
            reserved_concurrent_executions=args.reserved_concurrency,
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "JSON", "log_group": log_group.name},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, log_group]),
        )
        self.function_arn = function.arn
        self.function_name = function.name
        self.invoke_arn = function.invoke_arn
        self.role_arn = role.arn
        self.register_outputs({"functionArn": function.arn, "roleArn": role.arn})
