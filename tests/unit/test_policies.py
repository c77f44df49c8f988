"""Every rule of the policy pack, through ``policy.validate(...)`` as the engine calls it: a
passing and a failing fixture each, and an unknown document at preview."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import (
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from components.order_saga import ORDER_SAGA
from components.saga import SagaBindings, compile_saga
from policies.check import _options, _stack_resources
from policies.rules import POLICIES
from synth.graph import Resource

BY_NAME = {policy.name: policy for policy in POLICIES}
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TABLE = "aws:dynamodb/table:Table"
FUNCTION = "aws:lambda/function:Function"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
URN = "urn:pulumi:test::order-saga::{type}::thing"
STEP_URN = "urn:pulumi:test::order-saga::order-saga:index:SagaStep$order-saga:index:Function${type}::thing"


def iam_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"role": "r", "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}


def allow(action: Any, resource: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
GOOD_TABLE = {
    "billingMode": "PAY_PER_REQUEST",
    "pointInTimeRecovery": {"enabled": True},
    "serverSideEncryption": {"enabled": True},
    "deletionProtectionEnabled": True,
    "replicas": [{"regionName": "us-west-2", "pointInTimeRecovery": True}],
    "tags": {"project": "p", "owner": "o", "cost-center": "c"},
}
GOOD_FUNCTION = {
    "runtime": "python3.11",
    "timeout": 10,
    "tracingConfig": {"mode": "Active"},
    "environment": {"variables": {"ORDERS_TABLE": "orders", "VAULT_ROLE": "order-saga-payment"}},
}
BINDINGS = SagaBindings(
    functions={task: f"arn:aws:lambda:us-east-1:1:function:{task}" for task in ORDER_SAGA.task_names},
    dead_letter_queues={step.name: f"https://sqs/{step.name}" for step in ORDER_SAGA.steps},
    orders_table="orders",
    event_bus="orders",
)
GOOD_MACHINE = {
    "definition": json.dumps(compile_saga(ORDER_SAGA, BINDINGS)),
    "loggingConfiguration": {"level": "ERROR", "logDestination": "arn:aws:logs:us-east-1:1:log-group:x:*"},
    "tracingConfiguration": {"enabled": True},
}
UNCAUGHT_IN_PARALLEL = json.dumps(
    {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "End": True,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Both"}],
                "Branches": [
                    {
                        "StartAt": "Charge",
                        "States": {"Charge": {"Type": "Task", "Resource": "arn", "End": True}},
                    }
                ],
            }
        },
    }
)

OIDC = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def github_trust(subject: str, operator: str = "StringEquals") -> dict[str, Any]:
    condition = {
        operator: {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": subject,
        }
    }
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": OIDC},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    }
    return {"assumeRolePolicy": json.dumps({"Statement": [statement]})}


# (policy, resource type, passing props, failing props, what the failure says)
RESOURCE_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    (
        "iam-no-wildcard-actions",
        ROLE_POLICY,
        iam_policy(allow("dynamodb:PutItem", TABLE_ARN)),
        iam_policy(allow("dynamodb:Put*", TABLE_ARN)),
        "dynamodb:Put*",
    ),
    (
        "iam-no-wildcard-actions",
        ROLE_POLICY,
        iam_policy(allow("sqs:SendMessage", "arn:aws:sqs:q")),
        iam_policy(allow("sqs:SendMessag?", "arn:aws:sqs:q")),
        "sqs:SendMessag?",
    ),
    (
        "iam-no-passrole-wildcard",
        ROLE_POLICY,
        iam_policy(allow("iam:PassRole", "arn:aws:iam::1:role/r")),
        iam_policy(allow("iam:Pass*", "*")),
        "iam:PassRole on '*'",
    ),
    (
        "iam-no-passrole-wildcard",
        ROLE_POLICY,
        iam_policy(allow("iam:PassRole", "arn:aws:iam::1:role/r")),
        iam_policy({"Effect": "Allow", "Action": "iam:PassRole", "NotResource": "arn:aws:iam::1:role/admin"}),
        "iam:PassRole on '*'",
    ),
    (
        "iam-trust-service-principal",
        "aws:iam/role:Role",
        github_trust("repo:retailer/order-saga:environment:prod-use1"),
        github_trust("repo:retailer/*", operator="StringLike"),
        "pinned to one repository",
    ),
    (
        "iam-trust-service-principal",
        "aws:iam/role:Role",
        github_trust("repo:retailer/order-saga:pull_request"),
        github_trust("repo:retailer/order-saga:*"),
        "pinned to one repository",
    ),
    (
        "apigateway-stage-tracing",
        "aws:apigateway/stage:Stage",
        {"xrayTracingEnabled": True},
        {"xrayTracingEnabled": False},
        "X-Ray tracing is off",
    ),
    ("kms-key-rotation", "aws:kms/key:Key", {"enableKeyRotation": True}, {"policy": "{}"}, "rotation is off"),
    (
        "cloudwatch-log-group-retention",
        "aws:cloudwatch/logGroup:LogGroup",
        {"retentionInDays": 30},
        {"name": "/aws/lambda/x"},
        "kept forever",
    ),
    (
        "cloudwatch-alarm-actions",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        {"alarmActions": ["arn:aws:sns:us-east-1:1:alarms"]},
        {"alarmActions": []},
        "no action for the ALARM state",
    ),
    (
        "cloudwatch-alarm-actions",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        {"alarmActions": ["arn:aws:sns:us-east-1:1:alarms"]},
        {"alarmActions": ["arn:aws:sns:us-east-1:1:alarms"], "actionsEnabled": False},
        "actions are disabled",
    ),
    ("lambda-supported-runtime", FUNCTION, GOOD_FUNCTION, {**GOOD_FUNCTION, "runtime": "python3.8"}, "deprecated"),
    (
        "lambda-permission-source-arn",
        "aws:lambda/permission:Permission",
        {"principal": "apigateway.amazonaws.com", "sourceArn": "arn:aws:execute-api:us-east-1:1:api/*"},
        {"principal": "apigateway.amazonaws.com"},
        "from any resource",
    ),
    (
        "iam-no-wildcard-actions",
        ROLE_POLICY,
        iam_policy(allow("dynamodb:GetItem", TABLE_ARN)),
        iam_policy(allow("dynamodb:*", TABLE_ARN)),
        "name each action",
    ),
    (
        "iam-no-wildcard-actions",
        ROLE_POLICY,
        iam_policy(allow(["sqs:SendMessage"], "arn:aws:sqs:q")),
        iam_policy(allow("*", "arn:aws:sqs:q")),
        "name each action",
    ),
    (
        "iam-no-wildcard-resources",
        ROLE_POLICY,
        iam_policy(allow(["xray:PutTraceSegments"], "*")),
        iam_policy(allow(["dynamodb:GetItem", "xray:PutTraceSegments"], "*")),
        "dynamodb:GetItem",
    ),
    (
        "iam-no-passrole-wildcard",
        ROLE_POLICY,
        iam_policy(allow("iam:PassRole", "arn:aws:iam::1:role/r")),
        iam_policy(allow("iam:PassRole", "*")),
        "iam:PassRole on '*'",
    ),
    (
        "iam-no-admin-managed-policies",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"},
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"},
        "AmazonDynamoDBFullAccess",
    ),
    (
        "iam-no-admin-managed-policies",
        "aws:iam/role:Role",
        {"assumeRolePolicy": "{}"},
        {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
        "AdministratorAccess",
    ),
    (
        "iam-trust-service-principal",
        "aws:iam/role:Role",
        {
            "assumeRolePolicy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                }
            )
        },
        {
            "assumeRolePolicy": json.dumps(
                {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
            )
        },
        "only a service principal",
    ),
    ("dynamodb-on-demand", TABLE, GOOD_TABLE, {**GOOD_TABLE, "billingMode": "PROVISIONED"}, "PROVISIONED"),
    (
        "dynamodb-on-demand",
        TABLE,
        GOOD_TABLE,
        {k: v for k, v in GOOD_TABLE.items() if k != "billingMode"},
        "PROVISIONED",
    ),
    (
        "dynamodb-point-in-time-recovery",
        TABLE,
        GOOD_TABLE,
        {**GOOD_TABLE, "pointInTimeRecovery": {"enabled": False}},
        "point-in-time recovery is off",
    ),
    (
        "dynamodb-point-in-time-recovery",
        TABLE,
        GOOD_TABLE,
        {**GOOD_TABLE, "replicas": [{"regionName": "us-west-2", "pointInTimeRecovery": False}]},
        "replica in us-west-2",
    ),
    ("dynamodb-encryption", TABLE, GOOD_TABLE, {**GOOD_TABLE, "serverSideEncryption": None}, "encryption"),
    (
        "dynamodb-deletion-protection",
        TABLE,
        GOOD_TABLE,
        {**GOOD_TABLE, "deletionProtectionEnabled": False},
        "deletion protection",
    ),
    ("sqs-encryption", "aws:sqs/queue:Queue", {"sqsManagedSseEnabled": True}, {"name": "q"}, "unencrypted"),
    (
        "lambda-tracing",
        FUNCTION,
        GOOD_FUNCTION,
        {**GOOD_FUNCTION, "tracingConfig": {"mode": "PassThrough"}},
        "not active",
    ),
    (
        "lambda-no-secrets-in-environment",
        FUNCTION,
        GOOD_FUNCTION,
        {**GOOD_FUNCTION, "environment": {"variables": {"PAYMENT_API_KEY": "x"}}},
        "named like a secret",
    ),
    (
        "lambda-no-secrets-in-environment",
        FUNCTION,
        GOOD_FUNCTION,
        {**GOOD_FUNCTION, "environment": {"variables": {"GATEWAY": "https://user:hunter2@pay.example.com"}}},
        "looks like a secret",
    ),
    (
        "lambda-no-secrets-in-environment",
        FUNCTION,
        GOOD_FUNCTION,
        {**GOOD_FUNCTION, "environment": {"variables": {"LEGACY": "AKIAABCDEFGHIJKLMNOP"}}},
        "looks like a secret",
    ),
    (
        "sfn-logging-and-tracing",
        STATE_MACHINE,
        GOOD_MACHINE,
        {**GOOD_MACHINE, "loggingConfiguration": {"level": "OFF"}},
        "logging is off",
    ),
    (
        "sfn-logging-and-tracing",
        STATE_MACHINE,
        GOOD_MACHINE,
        {**GOOD_MACHINE, "tracingConfiguration": {"enabled": False}},
        "tracing is off",
    ),
    (
        "sfn-every-task-catches",
        STATE_MACHINE,
        GOOD_MACHINE,
        {**GOOD_MACHINE, "definition": UNCAUGHT_IN_PARALLEL},
        "'Charge' has no Catch",
    ),
    (
        "sfn-every-task-catches",
        STATE_MACHINE,
        GOOD_MACHINE,
        {**GOOD_MACHINE, "definition": "{not json"},
        "not valid JSON",
    ),
    ("required-tags", TABLE, GOOD_TABLE, {**GOOD_TABLE, "tags": {"project": "p"}}, "owner, cost-center"),
]


def collect(messages: list[str]) -> Callable[[str, str | None], None]:
    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    return report


def validate(
    policy_name: str,
    resource_type: str,
    props: Any,
    urn: str | None = None,
    config: dict[str, Any] | None = None,
) -> list[str]:
    messages: list[str] = []
    urn = urn or URN.format(type=resource_type)
    # The engine's analyzer wraps every resource's properties so (mappings and sequences, not
    # dicts and lists); an already wrapped value passes through unchanged.
    engine_props = unknown_checking_proxy(props)
    args = ResourceValidationArgs(resource_type, engine_props, urn, "thing", _options(None), None, config=config or {})
    policy = BY_NAME[policy_name]
    assert isinstance(policy, ResourceValidationPolicy)
    policy.validate(args, collect(messages))
    return messages


@pytest.mark.parametrize(
    ("policy", "resource_type", "good", "bad", "says"),
    RESOURCE_CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(RESOURCE_CASES)],
)
def test_resource_rule_passes_the_good_fixture_and_names_the_bad_one(
    policy: str, resource_type: str, good: dict[str, Any], bad: dict[str, Any], says: str
) -> None:
    assert validate(policy, resource_type, good) == []
    found = validate(policy, resource_type, bad)
    assert found and says in " ".join(found), found


@pytest.mark.parametrize(
    ("policy", "resource_type", "props", "says"),
    [
        (
            "iam-no-admin-managed-policies",
            "aws:iam/role:Role",
            {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
            "AdministratorAccess",
        ),
        (
            "dynamodb-point-in-time-recovery",
            TABLE,
            {**GOOD_TABLE, "replicas": [{"regionName": "us-west-2", "pointInTimeRecovery": False}]},
            "replica in us-west-2",
        ),
    ],
)
def test_list_properties_are_read_as_the_engine_hands_them(
    policy: str, resource_type: str, props: dict[str, Any], says: str
) -> None:
    # In the engine a list property is pulumi-policy's _ListProxy, a Sequence but not a list.
    engine_props = unknown_checking_proxy(props)
    assert not isinstance(engine_props[next(k for k in props if isinstance(props[k], list))], list)
    found = validate(policy, resource_type, engine_props)
    assert found and says in " ".join(found), found


def test_rules_ignore_resource_types_they_do_not_govern() -> None:
    assert validate("dynamodb-on-demand", "aws:sqs/queue:Queue", {}) == []


def test_saga_step_timeout_limit_is_configurable() -> None:
    slow = {**GOOD_FUNCTION, "timeout": 60}
    step = STEP_URN.format(type=FUNCTION)
    assert validate("lambda-timeout", FUNCTION, slow) == []  # not a saga step
    assert "at most 30s" in validate("lambda-timeout", FUNCTION, slow, urn=step)[0]
    assert validate("lambda-timeout", FUNCTION, slow, urn=step, config={"maxStepTimeoutSeconds": 90}) == []


def test_missing_timeout_is_judged_as_the_providers_3_seconds() -> None:
    # The engine shows a resource policy the provider's checked inputs, where a missing timeout
    # is already 3: a rule that objected to the missing value would fire only offline.
    without = {k: v for k, v in GOOD_FUNCTION.items() if k != "timeout"}
    step = STEP_URN.format(type=FUNCTION)
    assert validate("lambda-timeout", FUNCTION, without) == []
    assert validate("lambda-timeout", FUNCTION, without, urn=step) == []
    [message] = validate("lambda-timeout", FUNCTION, without, urn=step, config={"maxStepTimeoutSeconds": 2})
    assert "timeout is 3s; at most 2s" in message


def test_a_saga_step_is_known_by_its_ancestor_types_not_by_text_in_its_name() -> None:
    slow = {**GOOD_FUNCTION, "timeout": 900}
    named_like_a_step = f"urn:pulumi:test::order-saga::{FUNCTION}::order-saga:index:SagaStep-archive"
    assert validate("lambda-timeout", FUNCTION, slow, urn=named_like_a_step) == []
    with pytest.raises(ValueError, match="not a Pulumi URN: 'thing'"):
        validate("lambda-timeout", FUNCTION, slow, urn="thing")


def test_wildcard_resource_allow_list_is_configurable() -> None:
    describe = iam_policy(allow("ec2:DescribeInstances", "*"))
    assert validate("iam-no-wildcard-resources", ROLE_POLICY, describe)
    assert (
        validate(
            "iam-no-wildcard-resources",
            ROLE_POLICY,
            describe,
            config={"allowedActions": ["ec2:DescribeInstances"]},
        )
        == []
    )


@pytest.mark.parametrize(
    ("policy", "resource_type", "key"),
    [
        ("iam-no-wildcard-actions", ROLE_POLICY, "policy"),
        ("sfn-every-task-catches", STATE_MACHINE, "definition"),
    ],
)
def test_document_unknown_at_preview_is_left_to_the_engine(policy: str, resource_type: str, key: str) -> None:
    # At preview the engine's proxy raises UnknownValueError on access, and reports "can't run
    # during preview": the rule must neither misjudge nor crash on the placeholder.
    props = unknown_checking_proxy({key: UNKNOWN_STRING_VALUE, "role": "r"})
    with pytest.raises(UnknownValueError):
        validate(policy, resource_type, props)


# -- stack rules ---------------------------------------------------------------------------------


def resource(
    urn: str,
    typ: str,
    props: dict[str, Any],
    parent: str | None = None,
    property_dependencies: dict[str, list[str]] | None = None,
    dependencies: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "urn": urn,
        "type": typ,
        "name": urn.rsplit("::", 1)[-1],
        "inputs": props,
        "outputs": props,
        "parent": parent,
        "propertyDependencies": property_dependencies or {},
        "dependencies": dependencies or [],
    }


def stack_violations(
    policy_name: str, resources: list[dict[str, Any]], config: dict[str, Any] | None = None
) -> list[str]:
    policy = BY_NAME[policy_name]
    assert isinstance(policy, StackValidationPolicy)
    messages: list[str] = []
    args = StackValidationArgs(_stack_resources([Resource.from_document(r) for r in resources]), config=config or {})
    policy.validate(args, collect(messages))
    return messages


def test_two_functions_sharing_a_role_are_both_reported() -> None:
    one = resource("urn:a", FUNCTION, {"role": "arn:role/one"})
    other = resource("urn:b", FUNCTION, {"role": "arn:role/two"})
    assert stack_violations("lambda-one-role-per-function", [one, other]) == []
    shared = resource("urn:c", FUNCTION, {"role": "arn:role/one"})
    assert len(stack_violations("lambda-one-role-per-function", [one, other, shared])) == 2


def saga_step(with_queue: bool = True, with_alarm: bool = True) -> list[dict[str, Any]]:
    step = resource("urn:step", "order-saga:index:SagaStep", {})
    found = [step]
    if with_queue:
        found.append(resource("urn:dlq", "aws:sqs/queue:Queue", {"name": "pay-dlq"}, parent="urn:step"))
    if with_alarm:
        found.append(
            resource(
                "urn:alarm",
                "aws:cloudwatch/metricAlarm:MetricAlarm",
                {"dimensions": {"QueueName": "pay-dlq"}},
                parent="urn:step",
            )
        )
    return found


def test_saga_step_needs_a_dead_letter_queue_and_an_alarm_on_it() -> None:
    assert stack_violations("saga-step-dead-letter-queue", saga_step()) == []
    assert "no dead-letter queue" in stack_violations("saga-step-dead-letter-queue", saga_step(with_queue=False))[0]
    assert "no alarm watches" in stack_violations("saga-step-dead-letter-queue", saga_step(with_alarm=False))[0]


def api_method(authorization: str, verb: str = "GET", path: str = "/health") -> list[dict[str, Any]]:
    return [
        resource("urn:res", "aws:apigateway/resource:Resource", {"path": path}),
        resource(
            "urn:method",
            "aws:apigateway/method:Method",
            {"httpMethod": verb, "authorization": authorization},
            property_dependencies={"resourceId": ["urn:res"]},
        ),
    ]


def test_method_without_authorizer_is_refused_unless_its_route_is_exempt() -> None:
    assert stack_violations("apigateway-method-authorizer", api_method("CUSTOM")) == []
    [message] = stack_violations("apigateway-method-authorizer", api_method("NONE"))
    assert message == "GET /health has authorization 'NONE'"
    assert stack_violations("apigateway-method-authorizer", api_method("NONE"), {"exemptRoutes": ["GET /health"]}) == []


def stage(throttled: bool = True, logged: bool = True) -> list[dict[str, Any]]:
    settings = {"throttlingRateLimit": 100, "throttlingBurstLimit": 200} if throttled else {"metricsEnabled": True}
    logs = {"destinationArn": "arn:aws:logs:x"} if logged else None
    return [
        resource(
            "urn:stage",
            "aws:apigateway/stage:Stage",
            {"restApi": "api1", "stageName": "prod", "accessLogSettings": logs},
        ),
        resource(
            "urn:settings",
            "aws:apigateway/methodSettings:MethodSettings",
            {"restApi": "api1", "stageName": "prod", "settings": settings},
        ),
    ]


def test_stage_needs_throttling_and_access_logs() -> None:
    assert stack_violations("apigateway-stage-throttling-and-logging", stage()) == []
    assert "no throttling" in stack_violations("apigateway-stage-throttling-and-logging", stage(throttled=False))[0]
    assert "no access logs" in stack_violations("apigateway-stage-throttling-and-logging", stage(logged=False))[0]


def test_event_bus_needs_an_archive() -> None:
    bus = resource("urn:bus", "aws:cloudwatch/eventBus:EventBus", {"arn": "arn:bus"})
    archive = resource("urn:archive", "aws:cloudwatch/eventArchive:EventArchive", {"eventSourceArn": "arn:bus"})
    assert stack_violations("eventbridge-bus-archive", [bus, archive]) == []
    assert stack_violations("eventbridge-bus-archive", [bus]) == [
        "this event bus has no archive: its events cannot be replayed"
    ]


ACCOUNT = "aws:apigateway/account:Account"


def test_stage_that_logs_needs_the_account_cloudwatch_role_and_depends_on_it() -> None:
    account = resource("urn:account", ACCOUNT, {"cloudwatchRoleArn": "arn:aws:iam::1:role/apigw"})
    [logged_stage, settings] = stage()
    waiting = {**logged_stage, "dependencies": ["urn:account"]}
    assert stack_violations("apigateway-account-cloudwatch-role", [account, waiting, settings]) == []
    [message] = stack_violations("apigateway-account-cloudwatch-role", [logged_stage, settings])
    assert "BadRequestException" in message
    [message] = stack_violations("apigateway-account-cloudwatch-role", [account, logged_stage, settings])
    assert "without depending on the account setting" in message
    unset = resource("urn:account", ACCOUNT, {"cloudwatchRoleArn": ""})
    assert "BadRequestException" in stack_violations("apigateway-account-cloudwatch-role", [unset, waiting])[0]
    # Method logging alone needs the role too.
    [quiet_stage, _] = stage(logged=False)
    logging = resource(
        "urn:ms",
        "aws:apigateway/methodSettings:MethodSettings",
        {"restApi": "api1", "stageName": "prod", "settings": {"loggingLevel": "ERROR"}},
    )
    assert stack_violations("apigateway-account-cloudwatch-role", [quiet_stage, logging])


def api_parts() -> list[dict[str, Any]]:
    return [
        resource(f"urn:{name}", f"aws:apigateway/{typ}", {"restApi": "api1"})
        for name, typ in (
            ("method", "method:Method"),
            ("integration", "integration:Integration"),
            ("authorizer", "authorizer:Authorizer"),
            ("model", "model:Model"),
        )
    ]


def test_deployment_trigger_must_depend_on_every_deployed_part_of_its_api() -> None:
    parts = api_parts()
    every = [part["urn"] for part in parts]
    full = resource(
        "urn:deployment", "aws:apigateway/deployment:Deployment", {"restApi": "api1"}, None, {"triggers": every}
    )
    assert stack_violations("apigateway-deployment-covers-api", [*parts, full]) == []
    partial = {**full, "propertyDependencies": {"triggers": every[:1]}}
    [message] = stack_violations("apigateway-deployment-covers-api", [*parts, partial])
    assert "do not cover urn:authorizer, urn:integration, urn:model" in message
    other_api = resource("urn:other", "aws:apigateway/method:Method", {"restApi": "api2"})
    assert stack_violations("apigateway-deployment-covers-api", [*parts, other_api, full]) == []


TOPIC_ARN = "arn:aws:sns:us-east-1:1:alarms"
KEY_ARN = "arn:aws:kms:us-east-1:1:key/k1"


def alarm_topic(key: str | None, grant: list[str] | None) -> list[dict[str, Any]]:
    statements = [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*", "Resource": "*"}]
    if grant is not None:
        statements.append(
            {
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com"]},
                "Action": grant,
                "Resource": "*",
            }
        )
    return [
        resource("urn:topic", "aws:sns/topic:Topic", {"arn": TOPIC_ARN, "kmsMasterKeyId": key}),
        resource("urn:alarm", "aws:cloudwatch/metricAlarm:MetricAlarm", {"alarmActions": [TOPIC_ARN]}),
        resource(
            "urn:key",
            "aws:kms/key:Key",
            {"arn": KEY_ARN, "keyId": "k1", "policy": json.dumps({"Statement": statements})},
        ),
        resource("urn:alias", "aws:kms/alias:Alias", {"name": "alias/alarms", "targetKeyId": "k1"}),
    ]


@pytest.mark.parametrize(
    ("key", "grant", "says"),
    [
        (KEY_ARN, ["kms:Decrypt", "kms:GenerateDataKey*"], None),
        ("alias/alarms", ["kms:Decrypt", "kms:GenerateDataKey*"], None),
        (None, None, None),  # unencrypted: not this rule's concern
        ("alias/aws/sns", None, "AWS managed key alias/aws/sns"),
        (KEY_ARN, ["kms:Decrypt"], "does not let cloudwatch.amazonaws.com use it"),
        (KEY_ARN, None, "does not let cloudwatch.amazonaws.com use it"),
        ("arn:aws:kms:us-east-1:1:key/elsewhere", None, "is not in the program"),
    ],
    ids=[
        "key by ARN",
        "key by alias",
        "unencrypted",
        "AWS managed key",
        "no GenerateDataKey",
        "no grant",
        "unknown key",
    ],
)
def test_alarm_topic_key_must_let_cloudwatch_encrypt(
    key: str | None, grant: list[str] | None, says: str | None
) -> None:
    found = stack_violations("sns-topic-key-usable-by-publishers", alarm_topic(key, grant))
    assert found == [] if says is None else (found and says in found[0]), found


def queue(name: str, props: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
    return resource(f"urn:{name}", "aws:sqs/queue:Queue", {"arn": f"arn:aws:sqs:us-east-1:1:{name}", **props}, parent)


def test_every_queue_but_a_dead_letter_queue_has_one() -> None:
    dlq = queue("dlq", {})
    work = queue("work", {"redrivePolicy": json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:dlq"})})
    assert stack_violations("sqs-dead-letter-queue", [dlq, work]) == []
    lonely = queue("lonely", {})
    [message] = stack_violations("sqs-dead-letter-queue", [dlq, work, lonely])
    assert "no dead-letter queue" in message
    # A saga step's park queue and an event target's DLQ are dead letters themselves.
    step = resource("urn:step", "order-saga:index:SagaStep", {})
    parked = queue("parked", {}, parent="urn:step")
    target = resource(
        "urn:target",
        "aws:cloudwatch/eventTarget:EventTarget",
        {"deadLetterConfig": {"arn": "arn:aws:sqs:us-east-1:1:fwd"}},
    )
    assert stack_violations("sqs-dead-letter-queue", [step, parked, target, queue("fwd", {})]) == []


def forwarding(target_props: dict[str, Any], bus_region: str = "us-west-2") -> list[dict[str, Any]]:
    rule = resource(
        "urn:rule",
        "aws:cloudwatch/eventRule:EventRule",
        {"name": "fwd", "eventBusName": "orders", "arn": "arn:aws:events:us-east-1:1:rule/orders/fwd"},
    )
    bus = f"arn:aws:events:{bus_region}:1:event-bus/orders"
    props = {"rule": "fwd", "eventBusName": "orders", "arn": bus, **target_props}
    return [rule, resource("urn:target", "aws:cloudwatch/eventTarget:EventTarget", props)]


def test_cross_region_bus_target_needs_a_dead_letter_queue_and_retries() -> None:
    kept = {"deadLetterConfig": {"arn": "arn:aws:sqs:us-east-1:1:dlq"}, "retryPolicy": {"maximumRetryAttempts": 185}}
    assert stack_violations("eventbridge-cross-region-target-dlq", forwarding(kept)) == []
    assert stack_violations("eventbridge-cross-region-target-dlq", forwarding({}, bus_region="us-east-1")) == []
    found = stack_violations("eventbridge-cross-region-target-dlq", forwarding({}))
    assert len(found) == 2 and "no dead-letter queue" in found[0] and "no retry policy" in found[1]


def traced_machine(actions: list[str]) -> list[dict[str, Any]]:
    role_arn = "arn:aws:iam::1:role/saga"
    return [
        resource("urn:machine", STATE_MACHINE, {"roleArn": role_arn, "tracingConfiguration": {"enabled": True}}),
        resource("urn:role", "aws:iam/role:Role", {"arn": role_arn, "name": "saga", "id": "saga"}),
        resource("urn:policy", ROLE_POLICY, {**iam_policy(allow(actions, "*")), "role": "saga"}),
    ]


def test_traced_state_machine_may_write_and_sample_traces() -> None:
    every = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    assert stack_violations("sfn-tracing-permissions", traced_machine(every)) == []
    [message] = stack_violations("sfn-tracing-permissions", traced_machine(every[:2]))
    assert message.endswith("lacks xray:GetSamplingRules, xray:GetSamplingTargets")


def test_every_rule_is_kebab_case_described_mandatory_and_has_remediation() -> None:
    for policy in POLICIES:
        assert policy.name == policy.name.lower() and " " not in policy.name
        assert policy.description and policy.remediation_steps, policy.name
        assert policy.enforcement_level is not None and policy.enforcement_level.value == "mandatory", policy.name
        assert policy.severity is not None, policy.name
