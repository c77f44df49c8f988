"""``order-saga:customDomain``: one host name for both regions, Route 53 failover records
health-checked against each region's ``GET /health`` (synthesized under Pulumi mocks), the
config refused by name when wrong, the health answer, and the policy pack's exempt route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.api import HEALTH_PATH
from handlers.health import answer
from handlers.ownership import RegionControl
from policies.check import evaluate, mandatory
from synth.graph import Graph
from synth.program import ROOT, SynthError, run_synth

DOMAIN = "api.retailer.example"
ZONE = "Z0123456789ABCDEFGHIJ"
ACCOUNT = "123456789012"
CERTIFICATES = {
    "us-east-1": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555",
    "us-west-2": f"arn:aws:acm:us-west-2:{ACCOUNT}:certificate/66666666-7777-8888-9999-000000000000",
}
STACKS = {"prod-use1": "us-east-1", "prod-usw2": "us-west-2"}
POLICY_CONFIG = json.loads((ROOT / "policies" / "policy-config.json").read_text())


def domain_keys(region: str, **overrides: str | None) -> str:
    keys: dict[str, str | None] = {"customDomain": DOMAIN, "hostedZoneId": ZONE, "certificateArn": CERTIFICATES[region]}
    keys.update(overrides)
    return "".join(f"  order-saga:{key}: {value}\n" for key, value in keys.items() if value is not None)


def stack_root(tmp_path: Path, **overrides: str | None) -> Path:
    """Both prod stacks, with the custom domain's keys added to each."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    for stack, region in STACKS.items():
        text = (ROOT / f"Pulumi.{stack}.yaml").read_text()
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(
            text.replace("config:\n", "config:\n" + domain_keys(region, **overrides), 1)
        )
    return tmp_path


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Graph]]:
    root = stack_root(tmp_path_factory.mktemp("domain"))
    yield {
        stack: run_synth(stack, root=root, program=ROOT / "__main__.py", out=root / f"{stack}.json") for stack in STACKS
    }


def only(graph: Graph, typ: str) -> Any:
    [resource] = graph.of_type(typ)
    return resource


@pytest.mark.parametrize(("stack", "failover"), [("prod-use1", "PRIMARY"), ("prod-usw2", "SECONDARY")])
def test_each_region_has_a_regional_domain_and_a_failover_record_checked_against_its_own_health_route(
    graphs: dict[str, Graph], stack: str, failover: str
) -> None:
    graph, region = graphs[stack], STACKS[stack]
    api_id = only(graph, "aws:apigateway/stage:Stage").inputs["restApi"]
    domain = only(graph, "aws:apigateway/domainName:DomainName")
    assert domain.inputs["domainName"] == DOMAIN
    assert domain.inputs["regionalCertificateArn"] == CERTIFICATES[region]
    assert domain.inputs["endpointConfiguration"] == {"types": "REGIONAL"}
    assert domain.inputs["securityPolicy"] == "TLS_1_2"
    assert "certificateArn" not in domain.inputs  # that one is the edge-optimized domain's
    mapping = only(graph, "aws:apigateway/basePathMapping:BasePathMapping")
    assert mapping.inputs["restApi"] == api_id
    assert mapping.inputs["stageName"] == "prod"
    assert mapping.inputs["domainName"] == DOMAIN
    assert "basePath" not in mapping.inputs  # the API at the domain's root, as at its own URL
    # The check asks this region's API by its own host name, not the shared one.
    check = only(graph, "aws:route53/healthCheck:HealthCheck")
    assert check.inputs["type"] == "HTTPS"
    assert check.inputs["fqdn"] == f"{api_id}.execute-api.{region}.amazonaws.com"
    assert (check.inputs["port"], check.inputs["resourcePath"]) == (443, f"/prod{HEALTH_PATH}")
    assert (check.inputs["requestInterval"], check.inputs["failureThreshold"]) == (10, 3)
    record = only(graph, "aws:route53/record:Record")
    assert (record.inputs["zoneId"], record.inputs["name"], record.inputs["type"]) == (ZONE, DOMAIN, "A")
    assert record.inputs["failoverRoutingPolicies"] == [{"type": failover}]
    assert record.inputs["setIdentifier"] == f"order-saga-{stack}-{failover.lower()}"
    assert record.property_dependencies["healthCheckId"] == [check.urn]
    assert record.inputs["aliases"] == [
        {
            "name": domain.outputs["regionalDomainName"],
            "zoneId": domain.outputs["regionalZoneId"],
            "evaluateTargetHealth": False,
        }
    ]
    assert graph.outputs["customDomainUrl"] == f"https://{DOMAIN}"
    assert graph.outputs["healthCheckId"] == record.inputs["healthCheckId"]


def test_the_two_records_form_one_failover_pair(graphs: dict[str, Graph]) -> None:
    records = [only(graphs[stack], "aws:route53/record:Record").inputs for stack in STACKS]
    assert {r["name"] for r in records} == {DOMAIN} and {r["zoneId"] for r in records} == {ZONE}
    assert sorted(r["failoverRoutingPolicies"][0]["type"] for r in records) == ["PRIMARY", "SECONDARY"]
    assert len({r["setIdentifier"] for r in records}) == 2


def test_the_health_route_is_public_and_its_function_reads_only_the_control_item(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    [method] = [m for m in graph.of_type("aws:apigateway/method:Method") if m.name == "api-get-health"]
    assert (method.inputs["httpMethod"], method.inputs["authorization"]) == ("GET", "NONE")
    assert not method.inputs.get("apiKeyRequired")
    [resource] = [r for r in graph.of_type("aws:apigateway/resource:Resource") if r.name == "api-health"]
    assert resource.outputs["path"] == HEALTH_PATH
    [function] = [f for f in graph.of_type("aws:lambda/function:Function") if f.name.endswith("-health")]
    assert function.inputs["handler"] == "handlers.health.lambda_handler"
    [integration] = [i for i in graph.of_type("aws:apigateway/integration:Integration") if "health" in i.name]
    assert integration.inputs["uri"] == function.outputs["invokeArn"]
    [policy] = [p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if "health" in p.inputs["role"]]
    statements = [s for s in json.loads(policy.inputs["policy"])["Statement"] if s["Action"] == ["dynamodb:GetItem"]]
    assert [s["Condition"] for s in statements] == [
        {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["#region-control"]}}
    ]
    # The deployment's trigger covers the new route (a change to it redeploys the stage).
    [permission] = [p for p in graph.of_type("aws:lambda/permission:Permission") if p.name == "api-health-invoke"]
    assert permission.inputs["principal"] == "apigateway.amazonaws.com"


def test_the_policy_pack_passes_the_public_health_route_only_through_its_exempt_routes(
    graphs: dict[str, Graph],
) -> None:
    for graph in graphs.values():
        refused = [v for v in mandatory(evaluate(graph)) if v.policy == "apigateway-method-authorizer"]
        assert [v.message for v in refused] == ["GET /health has authorization 'NONE'"]
        assert mandatory(evaluate(graph, config=POLICY_CONFIG)) == []


def test_off_by_default_the_shipped_stacks_build_no_domain_no_check_and_no_public_route(tmp_path: Path) -> None:
    graph = run_synth("prod-use1", out=tmp_path / "prod-use1.json")
    for typ in (
        "aws:apigateway/domainName:DomainName",
        "aws:apigateway/basePathMapping:BasePathMapping",
        "aws:route53/healthCheck:HealthCheck",
        "aws:route53/record:Record",
    ):
        assert graph.of_type(typ) == [], typ
    assert all(m.inputs["authorization"] == "CUSTOM" for m in graph.of_type("aws:apigateway/method:Method"))
    assert "customDomainUrl" not in graph.outputs


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hostedZoneId": None}, "order-saga:hostedZoneId is required when order-saga:customDomain is set"),
        ({"certificateArn": None}, "order-saga:certificateArn is required when order-saga:customDomain is set"),
        (
            {"certificateArn": CERTIFICATES["us-west-2"]},
            "order-saga:certificateArn must be an ACM certificate in us-east-1",
        ),
        ({"certificateArn": "arn:aws:iam::123456789012:server-certificate/x"}, "order-saga:certificateArn must be"),
        ({"hostedZoneId": "zone-1"}, "order-saga:hostedZoneId must be a Route 53 hosted zone id"),
        ({"customDomain": "API.Retailer.example"}, "order-saga:customDomain must be a lower-case DNS host name"),
        ({"customDomain": "https://api.retailer.example"}, "order-saga:customDomain must be a lower-case DNS host"),
        ({"customDomain": None}, "only for order-saga:customDomain"),
    ],
    ids=[
        "no zone",
        "no certificate",
        "certificate of the other region",
        "not ACM",
        "bad zone",
        "upper case",
        "url",
        "zone without a domain",
    ],
)
def test_a_wrong_domain_setting_is_refused_by_name_before_anything_is_built(
    tmp_path: Path, overrides: dict[str, str | None], message: str
) -> None:
    root = stack_root(tmp_path, **overrides)
    with pytest.raises(SynthError, match=message):
        run_synth("prod-use1", root=root, program=ROOT / "__main__.py", out=tmp_path / "out.json")


class _Control:
    def __init__(self, active: bool | Exception) -> None:
        self.is_active = active

    def active(self) -> bool:
        if isinstance(self.is_active, Exception):
            raise self.is_active
        return self.is_active


def test_health_answers_200_only_while_the_region_is_active() -> None:
    healthy = answer(_Control(True), "us-west-2")  # type: ignore[arg-type]
    assert healthy["statusCode"] == 200
    assert json.loads(healthy["body"]) == {"region": "us-west-2", "active": True}
    assert answer(_Control(False), "us-east-1")["statusCode"] == 503  # type: ignore[arg-type]
    # A region that cannot read its control item is no place to send clients.
    assert answer(_Control(ConnectionError("table unreachable")), "us-east-1")["statusCode"] == 503  # type: ignore[arg-type]


def test_health_follows_a_promotion() -> None:
    """The real RegionControl over an in-memory replica: the standby turns healthy, the primary not."""

    class Replica:
        item: dict[str, Any] | None = None

        def get_item(self, **_: Any) -> dict[str, Any]:
            return {"Item": self.item} if self.item else {}

        def put_item(self, Item: dict[str, Any], **_: Any) -> None:
            self.item = Item

    replica = Replica()
    primary = RegionControl(replica, "us-east-1", "primary", cache_seconds=0)
    standby = RegionControl(replica, "us-west-2", "standby", cache_seconds=0)
    assert [answer(c, c.region)["statusCode"] for c in (primary, standby)] == [200, 503]
    standby.promote(0)
    assert [answer(c, c.region)["statusCode"] for c in (primary, standby)] == [503, 200]
