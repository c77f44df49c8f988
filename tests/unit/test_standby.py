"""The warm standby as the program builds it (under Pulumi mocks): passive until promoted, with
no deploy; the primary's forwarding with a dead-letter queue and a retry policy; the failover
settings refused by name when wrong; strong consistency as an option."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from synth.graph import Graph, Resource
from synth.program import ROOT, SynthError, run_synth

FUNCTION = "aws:lambda/function:Function"
PRIMARY_STACK = (ROOT / "Pulumi.prod-use1.yaml").read_text()


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Graph]]:
    out = tmp_path_factory.mktemp("graphs")
    yield {stack: run_synth(stack, out=out / f"{stack}.json") for stack in ("prod-use1", "prod-usw2")}


def function(graph: Graph, suffix: str) -> Resource:
    [found] = [f for f in graph.of_type(FUNCTION) if f.inputs["name"].endswith(suffix)]
    return found


def environment(resource: Resource) -> dict[str, str]:
    return dict(resource.inputs["environment"]["variables"])


def test_passive_standby_has_no_active_start_path(graphs: dict[str, Graph]) -> None:
    # Every way an order can start work in the standby is held by the region switch: intake
    # (accepts no order), the starter (starts nothing the primary forwards), the sweeper (sweeps
    # nothing), every saga task (stands down) and the state machine's status writes (owner only).
    graph = graphs["prod-usw2"]
    gated = [function(graph, suffix) for suffix in ("-intake", "-saga-starter", "-sweeper")]
    gated += [f for f in graph.of_type(FUNCTION) if "REGION_ROLE" in environment(f) and f not in gated]
    assert {f.inputs["handler"] for f in graph.of_type(FUNCTION)} - {f.inputs["handler"] for f in gated} == {
        "handlers.authorizer.lambda_handler"  # reads no table, starts nothing
    }
    for gate in gated:
        assert environment(gate)["REGION_ROLE"] == "standby", gate.urn
    # The starter reads the switch and the order's owner, and writes nothing there.
    starter = function(graph, "-saga-starter")
    [policy] = [
        p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"].endswith("starter-us-west-2")
    ]
    dynamodb = [a for s in json.loads(policy.inputs["policy"])["Statement"] for a in s["Action"] if "dynamodb" in a]
    assert dynamodb == ["dynamodb:GetItem"]
    assert environment(starter)["ORDERS_TABLE"] == "order-saga-prod-use1-orders"  # the replica, not a new table
    # The standby's saga stands down in us-west-2.
    [machine] = graph.of_type("aws:sfn/stateMachine:StateMachine")
    definition = json.loads(machine.inputs["definition"])
    assert definition["States"]["MarkConfirmed"]["Parameters"]["ExpressionAttributeValues"][":ownerRegion"] == {
        "S": "us-west-2"
    }
    # And the primary is active by the same switch.
    assert environment(function(graphs["prod-use1"], "-intake"))["REGION_ROLE"] == "primary"


def test_promotion_needs_no_deploy_of_either_stack(graphs: dict[str, Graph]) -> None:
    # The standby deploys what an active region needs (its start path, sweeper, API); promotion
    # is data: the operators' role may write the control item in its own region's replica.
    standby = graphs["prod-usw2"]
    for suffix in ("-intake", "-saga-starter", "-sweeper"):
        function(standby, suffix)
    assert standby.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    [policy] = [
        p for p in standby.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"].endswith("operators-us-west-2")
    ]
    orders = "arn:aws:dynamodb:us-west-2:123456789012:table/order-saga-prod-use1-orders"
    statements = json.loads(policy.inputs["policy"])["Statement"]
    [put] = [s for s in statements if "dynamodb:PutItem" in s["Action"] and orders in s["Resource"]]
    assert put["Resource"] == [orders]
    assert put["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == ["#region-control"]


def test_forwarding_to_the_standby_has_a_dead_letter_queue_and_a_retry_policy(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    target = graph.named("aws:cloudwatch/eventTarget:EventTarget", "events-forward-target")
    dlq = graph.named("aws:sqs/queue:Queue", "events-forward-dlq")
    assert target.inputs["arn"] == "arn:aws:events:us-west-2:123456789012:event-bus/order-saga-prod-usw2-orders"
    assert target.inputs["deadLetterConfig"] == {"arn": dlq.outputs["arn"]}
    assert target.inputs["retryPolicy"] == {"maximumEventAgeInSeconds": 86400, "maximumRetryAttempts": 185}
    assert dlq.inputs["sqsManagedSseEnabled"] is True
    [policy] = [p for p in graph.of_type("aws:sqs/queuePolicy:QueuePolicy") if p.name == "events-forward-dlq-policy"]
    [statement] = json.loads(policy.inputs["policy"])["Statement"]
    rule = graph.named("aws:cloudwatch/eventRule:EventRule", "events-forward")
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule.outputs["arn"]}}
    alarm = graph.named("aws:cloudwatch/metricAlarm:MetricAlarm", "events-forward-dlq-depth")
    assert alarm.inputs["dimensions"] == {"QueueName": dlq.inputs["name"]}
    assert graph.outputs["forwardDeadLetterQueueUrl"] == dlq.outputs["url"]
    # The standby forwards nothing.
    assert not [t for t in graphs["prod-usw2"].of_type("aws:cloudwatch/eventTarget:EventTarget") if "forward" in t.name]


def synth_primary(tmp_path: Path, text: str) -> Graph:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.changed.yaml").write_text(text)
    return run_synth("changed", root=tmp_path, program=ROOT / "__main__.py", out=tmp_path / "out.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("  order-saga:standbyStack: prod-usw2\n", ""), "standbyRegion and order-saga:standbyStack are set together"),
        (("standbyRegion: us-west-2", "standbyRegion: us-east-1"), "standbyRegion must differ from aws:region"),
        (("standbyRegion: us-west-2", "standbyRegion: oregon"), "standbyRegion must be an AWS region name"),
        (
            ("order-saga:role: primary\n", "order-saga:role: primary\n  order-saga:replicaConsistency: quorum\n"),
            "replicaConsistency must be 'eventual' or 'strong'",
        ),
        (
            ("order-saga:role: primary\n", "order-saga:role: primary\n  order-saga:replicaConsistency: strong\n"),
            "witnessRegion must name a third AWS region",
        ),
        (
            (
                "order-saga:role: primary\n",
                "order-saga:role: primary\n  order-saga:replicaConsistency: strong\n"
                "  order-saga:witnessRegion: us-west-2\n",
            ),
            "witnessRegion must name a third AWS region",
        ),
        (
            ("order-saga:role: primary\n", "order-saga:role: primary\n  order-saga:witnessRegion: us-east-2\n"),
            "witnessRegion is only for order-saga:replicaConsistency 'strong'",
        ),
    ],
    ids=[
        "standby region without its stack",
        "standby in the primary's region",
        "not a region",
        "unknown consistency",
        "strong without a witness",
        "witness is the standby",
        "witness without strong",
    ],
)
def test_bad_failover_settings_are_refused_by_name(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in PRIMARY_STACK
    with pytest.raises(SynthError, match=message):
        synth_primary(tmp_path, PRIMARY_STACK.replace(*change))


def test_strong_consistency_builds_mrsc_tables_with_a_witness(tmp_path: Path) -> None:
    extra = "order-saga:role: primary\n  order-saga:replicaConsistency: strong\n  order-saga:witnessRegion: us-east-2\n"
    graph = synth_primary(tmp_path, PRIMARY_STACK.replace("order-saga:role: primary\n", extra))
    for table in graph.of_type("aws:dynamodb/table:Table"):
        [replica] = table.inputs["replicas"]
        assert (replica["regionName"], replica["consistencyMode"]) == ("us-west-2", "STRONG"), table.urn
        assert table.inputs["globalTableWitness"] == {"regionName": "us-east-2"}, table.urn


def test_both_regions_name_the_roles_vaults_aws_auth_must_trust(graphs: dict[str, Graph]) -> None:
    # Vault's aws auth role for a partner binds the function roles of both stacks (README,
    # "Disaster recovery": Vault): each stack says which of its roles read which partner's key.
    for stack, region in (("prod-use1", "us-east-1"), ("prod-usw2", "us-west-2")):
        principals = graphs[stack].outputs["vaultAwsAuthPrincipals"]
        prefix = f"arn:aws:iam::123456789012:role/order-saga-{stack}"
        assert principals == {
            "order-saga-payment": [f"{prefix}-{t}-{region}" for t in ("AuthorizePayment", "RefundPayment")],
            "order-saga-courier": [f"{prefix}-{t}-{region}" for t in ("BookShipment", "CancelShipment")],
        }
