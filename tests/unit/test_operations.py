"""The sweeper and the operators' role as the program builds them (under Pulumi mocks), and
the trust rule that checks a federated role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from policies.check import _options
from policies.rules import POLICIES
from synth.graph import Graph
from synth.program import run_synth

ACCOUNT, REGION = "123456789012", "us-east-1"
PREFIX = "order-saga-prod-use1"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{PREFIX}-order"
EXECUTIONS = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{PREFIX}-order:*"
ORDERS = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PREFIX}-orders"
INVENTORY = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PREFIX}-inventory"
LOYALTY = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PREFIX}-loyalty"
BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{PREFIX}-orders"
START_DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{PREFIX}-saga-start-dlq"
STEP_DLQS = [
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:{PREFIX}-{step}-dlq"
    for step in ("AuthorizePayment", "ReserveInventory", "BurnLoyaltyPoints", "BookShipment")
]


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Graph]]:
    out = tmp_path_factory.mktemp("graphs")
    yield {stack: run_synth(stack, out=out / f"{stack}.json") for stack in ("prod-use1", "prod-usw2")}


def policy_of_role(graph: Graph, role_name: str) -> list[dict[str, Any]]:
    [policy] = [p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role_name]
    return list(json.loads(policy.inputs["policy"])["Statement"])


def grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(action, resource) for s in statements for action in s["Action"] for resource in s["Resource"]}


def test_operators_role_may_do_exactly_what_the_console_calls(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    [role] = [r for r in graph.of_type("aws:iam/role:Role") if r.name == "operators-role"]
    assert role.inputs["name"] == f"{PREFIX}-operators-{REGION}"
    expected = (
        {(a, ORDERS) for a in ("dynamodb:GetItem", "dynamodb:Scan")}
        | {
            (a, EXECUTIONS)
            for a in ("states:DescribeExecution", "states:GetExecutionHistory", "states:RedriveExecution")
        }
        | {("states:SendTaskSuccess", MACHINE)}
        | {
            (a, queue)
            for queue in STEP_DLQS
            for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility")
        }
        | {(a, START_DLQ) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage")}
        | {("events:PutEvents", BUS)}
        | {("dynamodb:UpdateItem", ORDERS), ("dynamodb:PutItem", ORDERS)}  # claim, promote
        # recount: read both tables, write counters, releases and restores, check orders and burns
        | {(a, table) for a in ("dynamodb:GetItem", "dynamodb:Scan") for table in (INVENTORY, LOYALTY)}
        | {("dynamodb:UpdateItem", INVENTORY), ("dynamodb:UpdateItem", LOYALTY), ("dynamodb:PutItem", LOYALTY)}
        | {("dynamodb:ConditionCheckItem", ORDERS), ("dynamodb:ConditionCheckItem", LOYALTY)}
    )
    statements = policy_of_role(graph, role.inputs["name"])
    assert grants(statements) == expected
    # The writes are held to the ownership and control attributes, and promote to the control item;
    # recount's to the counters, reservations and restore entries.
    writes = {
        (action, resource): s.get("Condition") or {}
        for s in statements
        for action in s["Action"]
        for resource in s["Resource"]
        if action in ("dynamodb:UpdateItem", "dynamodb:PutItem")
    }
    assert writes["dynamodb:UpdateItem", ORDERS] == {
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["orderId", "ownerRegion", "ownerClaimedAt", "status"]}
    }
    assert writes["dynamodb:PutItem", ORDERS]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == [
        "#region-control"
    ]
    leading = {
        key: c["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] for key, c in writes.items() if key[1] != ORDERS
    }
    assert leading == {
        ("dynamodb:UpdateItem", INVENTORY): ["STOCK#*", "RES#*"],
        ("dynamodb:UpdateItem", LOYALTY): ["ACCOUNT#*"],
        ("dynamodb:PutItem", LOYALTY): ["LEDGER#*#RESTORE"],
    }
    assert graph.outputs["operatorsRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-operators-{REGION}"


def test_operators_role_trusts_only_entra_id_over_saml(graphs: dict[str, Graph]) -> None:
    [role] = [r for r in graphs["prod-use1"].of_type("aws:iam/role:Role") if r.name == "operators-role"]
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/entra-id"},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
        }
    ]


def test_sweeper_runs_on_a_schedule_with_its_own_least_privilege_role_and_an_alarm(
    graphs: dict[str, Graph],
) -> None:
    graph = graphs["prod-use1"]
    [function] = [f for f in graph.of_type("aws:lambda/function:Function") if f.inputs["name"].endswith("-sweeper")]
    assert function.inputs["handler"] == "handlers.sweeper.lambda_handler"
    assert function.inputs["reservedConcurrentExecutions"] == 1
    statements = policy_of_role(graph, f"{PREFIX}-sweeper-{REGION}")
    assert grants(statements[2:]) == (  # after its log group and X-Ray
        {(a, ORDERS) for a in ("dynamodb:GetItem", "dynamodb:Scan")}
        | {("states:DescribeExecution", EXECUTIONS), ("events:PutEvents", BUS)}
        | {(a, START_DLQ) for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage")}
        | {("dynamodb:UpdateItem", ORDERS)}  # adopting what the other region left, after a failover
    )
    assert function.inputs["environment"]["variables"]["REGION_ROLE"] == "primary"
    [rule] = [r for r in graph.of_type("aws:cloudwatch/eventRule:EventRule") if r.name == "sweeper-schedule"]
    assert rule.inputs["scheduleExpression"] == "rate(5 minutes)"
    [target] = [t for t in graph.of_type("aws:cloudwatch/eventTarget:EventTarget") if t.name == "sweeper-target"]
    assert target.inputs["arn"] == function.outputs["arn"]
    [permission] = [p for p in graph.of_type("aws:lambda/permission:Permission") if p.name == "sweeper-invoke"]
    assert (permission.inputs["principal"], permission.inputs["sourceArn"]) == (
        "events.amazonaws.com",
        rule.outputs["arn"],
    )
    [alarm] = [a for a in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name == "sweeper-fixed"]
    assert (alarm.inputs["metricName"], alarm.inputs["threshold"]) == ("OrdersReconciled", 0)
    assert alarm.inputs["dimensions"] == {"service": "order-saga-sweeper"}


def test_standby_sweeper_is_held_by_the_region_switch_and_has_an_operators_role(graphs: dict[str, Graph]) -> None:
    # A passive standby's sweeper sweeps nothing (handlers/ownership.py); once promoted it sweeps
    # at once, with no deploy. Its role is the standby's.
    graph = graphs["prod-usw2"]
    [sweeper] = [f for f in graph.of_type("aws:lambda/function:Function") if f.inputs["name"].endswith("-sweeper")]
    assert sweeper.inputs["environment"]["variables"]["REGION_ROLE"] == "standby"
    assert graph.outputs["sweeperFunctionName"] == sweeper.inputs["name"]
    assert graph.outputs["operatorsRoleArn"].endswith("-operators-us-west-2")


TRUST = next(policy for policy in POLICIES if policy.name == "iam-trust-service-principal")
SAML = f"arn:aws:iam::{ACCOUNT}:saml-provider/entra-id"
GOOD_FEDERATED = {
    "Effect": "Allow",
    "Principal": {"Federated": SAML},
    "Action": "sts:AssumeRoleWithSAML",
    "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
}


def violations(statement: dict[str, Any]) -> list[str]:
    found: list[str] = []
    args = ResourceValidationArgs(
        resource_type="aws:iam/role:Role",
        props={"assumeRolePolicy": json.dumps({"Statement": [statement]})},
        urn="urn:pulumi:test::order-saga::aws:iam/role:Role::operators",
        name="operators",
        opts=_options(None),
        provider=None,
    )
    assert isinstance(TRUST, ResourceValidationPolicy)
    TRUST.validate(args, lambda message, urn: found.append(message))
    return found


def test_trust_rule_accepts_one_named_identity_provider_with_a_pinned_audience() -> None:
    assert violations(GOOD_FEDERATED) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Principal": {"Federated": [SAML, f"arn:aws:iam::{ACCOUNT}:saml-provider/other"]}}, "exactly one"),
        ({"Principal": {"Federated": SAML, "AWS": "*"}}, "exactly one"),
        ({"Principal": {"Federated": "cognito-identity.amazonaws.com"}}, "exactly one"),
        ({"Action": "sts:AssumeRole"}, "may only"),
        ({"Condition": {}}, "does not pin the audience"),
        ({"Condition": {"StringLike": {"SAML:aud": "*"}}}, "does not pin the audience"),
    ],
)
def test_trust_rule_refuses_a_loose_federated_trust(change: dict[str, Any], message: str) -> None:
    found = violations({**GOOD_FEDERATED, **change})
    assert len(found) == 1 and message in found[0], found
