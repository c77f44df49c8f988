"""One host name for the primary and the warm standby: ``order-saga:customDomain``.

Each region's stack builds, for the same name and hosted zone:

- an API Gateway **regional custom domain** (``aws.apigateway.DomainName``, endpoint type
  ``REGIONAL``, this region's ACM certificate, TLS 1.2) and a **base path mapping** of its API's
  stage at the root;
- a Route 53 **health check** (HTTPS) of this region's API at ``GET /<stage>/health``, on the
  API's own ``execute-api`` host name (not the shared name, which would check whichever region
  the record already points at): 200 only while this region is active (handlers/health.py);
- a Route 53 **failover alias record** for the name: ``PRIMARY`` in the primary's stack,
  ``SECONDARY`` in the standby's, each with its region's health check, aliased to its regional
  domain.

Route 53 answers with the primary's record while its check passes, else with the standby's.
Healthy means active: a promotion (``python -m ops promote``) turns the standby's check
healthy and the lost primary's unhealthy (dark, or back and passive), so clients follow the
control item within the checks' failure threshold and the record's TTL; failback the same way.
Nothing is deployed for a failover. Argument names as pulumi-aws 7.51 documents them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.config import CustomDomain

Failover = Literal["PRIMARY", "SECONDARY"]
SECURITY_POLICY = "TLS_1_2"
HEALTH_CHECK_INTERVAL_SECONDS = 10
"""Route 53 offers 10 (fast) or 30 s."""
HEALTH_CHECK_FAILURES = 3
"""Consecutive failures (or passes) before a region's status flips: about 30 s."""


@dataclass
class FailoverDomainArgs:
    domain: CustomDomain
    failover: Failover
    rest_api_id: pulumi.Input[str]
    stage_name: pulumi.Input[str]
    region: str
    name_prefix: str
    tags: Mapping[str, str] = field(default_factory=dict)


def health_check_host(rest_api_id: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """This region's API, by its own host name: ``<api id>.execute-api.<region>.amazonaws.com``."""
    return pulumi.Output.concat(rest_api_id, ".execute-api.", region, ".amazonaws.com")


class FailoverDomain(pulumi.ComponentResource):
    url: pulumi.Output[str]
    health_check_id: pulumi.Output[str]

    def __init__(self, name: str, args: FailoverDomainArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("order-saga:index:FailoverDomain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        domain = aws.apigateway.DomainName(
            f"{name}-domain",
            domain_name=args.domain.domain,
            regional_certificate_arn=args.domain.certificate_arn,
            endpoint_configuration={"types": "REGIONAL"},
            security_policy=SECURITY_POLICY,
            tags=tags,
            opts=child,
        )
        aws.apigateway.BasePathMapping(
            f"{name}-mapping",
            domain_name=domain.domain_name,
            rest_api=args.rest_api_id,
            stage_name=args.stage_name,
            opts=child,
        )
        health = aws.route53.HealthCheck(
            f"{name}-health",
            type="HTTPS",
            fqdn=health_check_host(args.rest_api_id, args.region),
            port=443,
            resource_path=pulumi.Output.concat("/", args.stage_name, "/health"),
            request_interval=HEALTH_CHECK_INTERVAL_SECONDS,
            failure_threshold=HEALTH_CHECK_FAILURES,
            tags={**tags, "Name": f"{args.name_prefix}-{args.region}-active"},
            opts=child,
        )
        aws.route53.Record(
            f"{name}-record",
            zone_id=args.domain.hosted_zone_id,
            name=args.domain.domain,
            type="A",
            set_identifier=f"{args.name_prefix}-{args.failover.lower()}",
            failover_routing_policies=[{"type": args.failover}],
            health_check_id=health.id,
            aliases=[
                {
                    "name": domain.regional_domain_name,
                    "zone_id": domain.regional_zone_id,
                    # The health check decides: "is this region active", not "is the domain up".
                    "evaluate_target_health": False,
                }
            ],
            opts=child,
        )
        self.url = pulumi.Output.from_input(f"https://{args.domain.domain}")
        self.health_check_id = health.id
        self.register_outputs({"url": self.url, "healthCheckId": health.id})
