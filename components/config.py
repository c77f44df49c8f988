"""Every ``pulumi.Config`` read of the program, in one place, validated before anything is built.

Keys live under the project namespace (``order-saga:role`` …) except the provider's
``aws:region``. A bad or missing setting raises ``ConfigError`` naming the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi

Role = Literal["primary", "standby"]
Consistency = Literal["eventual", "strong"]
REGION_NAME = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
HOST_NAME = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")


class ConfigError(ValueError):
    """A stack setting is missing or wrong; the message names the key."""


@dataclass(frozen=True)
class ApiClient:
    """A client application of the REST API and its usage plan."""

    client_id: str
    rate_limit: float = 100.0
    burst_limit: int = 200
    quota_per_day: int = 1_000_000


@dataclass(frozen=True)
class Issuers:
    customer_issuer: str
    customer_audience: str
    customer_jwks_uri: str
    staff_issuer: str
    staff_audience: str
    staff_jwks_uri: str


@dataclass(frozen=True)
class CustomDomain:
    """One API host name for both regions: a regional API Gateway domain in each, and Route 53
    failover records (PRIMARY in the primary's stack, SECONDARY in the standby's), each
    health-checked against its region's ``GET /health`` (200 only while the region is active)."""

    domain: str
    hosted_zone_id: str
    certificate_arn: str
    """An ACM certificate for ``domain`` in this stack's region (a regional domain needs its own)."""


@dataclass(frozen=True)
class RegionConfig:
    stack: str
    region: str
    role: Role
    issuers: Issuers
    payment_gateway_url: str
    courier_url: str
    vault_addr: str
    vault_auth: str = "aws"
    vault_login_dir: str | None = None
    """approle only: where each Vault role's secret-id file is (``<dir>/<role>.secret-id``)."""
    primary_stack: str | None = None
    """Standby only: the primary's fully qualified stack name, for its table names."""
    standby_region: str | None = None
    """Primary only: where the global tables keep their replicas."""
    standby_stack: str | None = None
    """Primary only: the standby's stack name, whose bus receives every event."""
    replica_consistency: Consistency = "eventual"
    """Primary only: ``strong`` makes the global tables multi-Region strongly consistent (RPO 0),
    with a witness in ``witness_region``; README, "Disaster recovery", for the trade-offs."""
    witness_region: str | None = None
    architecture: str = "arm64"
    powertools_version: str = ""
    """The Powertools release the functions' layer carries: the one ``constraints.txt`` pins."""
    api_gateway_account: Literal["manage", "external"] = "manage"
    """Whether this stack owns the region's API Gateway CloudWatch role, or reads its owner's."""
    github_repository: str | None = None
    """``owner/name``: create the account's GitHub OIDC provider and the workflows' roles here."""
    github_stacks: tuple[str, ...] = ()
    github_regions: tuple[str, ...] = ()
    github_deploy_policy_arns: tuple[str, ...] = ()
    log_retention_days: int = 30
    archive_retention_days: int = 30
    api_clients: tuple[ApiClient, ...] = (ApiClient("web-shop"),)
    stage_rate_limit: float = 500.0
    stage_burst_limit: int = 1000
    payment_concurrency: int | None = 50
    courier_concurrency: int | None = 20
    alarm_email: str | None = None
    servicenow_url: str | None = None
    datadog_url: str | None = None
    operators_identity_provider: str = "entra-id"
    """The IAM SAML provider (name or ARN) through which on-call signs in to the operators' role."""
    sweeper_interval_minutes: int = 5
    custom_domain: CustomDomain | None = None
    """Off by default: clients use the per-region ``apiUrl`` (README, what clients do)."""
    tags: dict[str, str] = field(default_factory=dict)

    def partner_url(self, partner: str) -> str:
        """Where a partner of ``handlers.contract.PARTNERS`` answers."""
        return {"payment": self.payment_gateway_url, "courier": self.courier_url}[partner]

    def partner_concurrency(self, partner: str) -> int | None:
        """The reserved concurrency of the steps that call ``partner`` (its rate limit)."""
        return {"payment": self.payment_concurrency, "courier": self.courier_concurrency}[partner]

    @property
    def prefix(self) -> str:
        """Physical-name prefix: unique per stack; IAM names add the region (IAM is global)."""
        return stack_prefix(self.stack)


def stack_prefix(stack: str) -> str:
    return f"order-saga-{stack}"


CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"
_POWERTOOLS_PIN = re.compile(r"^aws[-_]lambda[-_]powertools==(\S+)$", re.IGNORECASE | re.MULTILINE)


def powertools_version(constraints: Path = CONSTRAINTS) -> str:
    """The Powertools version ``constraints.txt`` pins: what the tests run, and so what the
    functions' public layer must carry (one place for both)."""
    found = _POWERTOOLS_PIN.findall(constraints.read_text())
    if len(found) != 1:
        raise ConfigError(f"{constraints.name} must pin aws-lambda-powertools exactly once (found {len(found)})")
    return str(found[0])


REQUIRED_TAGS = ("project", "owner", "cost-center")


def load() -> RegionConfig:
    """Read and validate the current stack's configuration."""
    config = pulumi.Config("order-saga")
    aws = pulumi.Config("aws")

    def required(key: str, source: pulumi.Config = config) -> str:
        value = source.get(key)
        if not value:
            raise ConfigError(f"{source.name}:{key} is required")
        return value

    role = required("role")
    if role not in ("primary", "standby"):
        raise ConfigError(f"order-saga:role must be 'primary' or 'standby', not {role!r}")
    primary_stack = config.get("primaryStack")
    if role == "standby" and not primary_stack:
        raise ConfigError("order-saga:primaryStack is required when order-saga:role is 'standby'")
    architecture = config.get("architecture") or "arm64"
    if architecture not in ("arm64", "x86_64"):
        raise ConfigError(f"order-saga:architecture must be 'arm64' or 'x86_64', not {architecture!r}")
    vault_auth = config.get("vaultAuth") or "aws"
    if vault_auth not in ("aws", "approle"):
        raise ConfigError(f"order-saga:vaultAuth must be 'aws' or 'approle', not {vault_auth!r}")
    if vault_auth == "approle" and not config.get("vaultLoginDir"):
        raise ConfigError("order-saga:vaultLoginDir is required when order-saga:vaultAuth is 'approle'")
    if config.get("powertoolsLayerVersion"):
        raise ConfigError(
            "order-saga:powertoolsLayerVersion is no longer read: the layer follows the Powertools version "
            "pinned in constraints.txt; remove the key"
        )
    api_gateway_account = config.get("apiGatewayAccount") or "manage"
    if api_gateway_account not in ("manage", "external"):
        raise ConfigError(f"order-saga:apiGatewayAccount must be 'manage' or 'external', not {api_gateway_account!r}")
    github_repository = config.get("githubRepository")
    region = required("region", aws)
    standby_region, standby_stack = config.get("standbyRegion"), config.get("standbyStack")
    consistency, witness = config.get("replicaConsistency") or "eventual", config.get("witnessRegion")
    if role == "primary":
        _check_pairing(region, standby_region, standby_stack, consistency, witness)
    tags = {"project": "order-saga", **_object(config, "tags", {})}
    missing = [tag for tag in REQUIRED_TAGS if not tags.get(tag)]
    if missing:
        raise ConfigError(f"order-saga:tags must include {', '.join(missing)}")
    return RegionConfig(
        stack=pulumi.get_stack(),
        region=region,
        role=role,  # type: ignore[arg-type]
        issuers=Issuers(
            *(
                required(key)
                for key in (
                    "customerIssuer",
                    "customerAudience",
                    "customerJwksUri",
                    "staffIssuer",
                    "staffAudience",
                    "staffJwksUri",
                )
            )
        ),
        payment_gateway_url=required("paymentGatewayUrl"),
        courier_url=required("courierUrl"),
        vault_addr=required("vaultAddr"),
        vault_auth=vault_auth,
        vault_login_dir=config.get("vaultLoginDir") if vault_auth == "approle" else None,
        primary_stack=primary_stack if role == "standby" else None,
        standby_region=standby_region if role == "primary" else None,
        standby_stack=standby_stack if role == "primary" else None,
        replica_consistency=consistency if role == "primary" else "eventual",  # type: ignore[arg-type]
        witness_region=witness if role == "primary" else None,
        architecture=architecture,
        powertools_version=powertools_version(),
        api_gateway_account=api_gateway_account,  # type: ignore[arg-type]
        github_repository=github_repository,
        github_stacks=tuple(_strings(config, "githubStacks", [pulumi.get_stack()])) if github_repository else (),
        github_regions=tuple(_strings(config, "githubRegions", [region])) if github_repository else (),
        github_deploy_policy_arns=tuple(_strings(config, "githubDeployPolicyArns", [])) if github_repository else (),
        log_retention_days=config.get_int("logRetentionDays") or 30,
        archive_retention_days=config.get_int("archiveRetentionDays") or 30,
        api_clients=_clients(_object(config, "apiClients", [{"clientId": "web-shop"}])),
        payment_concurrency=config.get_int("paymentConcurrency") or 50,
        courier_concurrency=config.get_int("courierConcurrency") or 20,
        alarm_email=config.get("alarmEmail"),
        servicenow_url=config.get("serviceNowUrl"),
        datadog_url=config.get("datadogUrl"),
        operators_identity_provider=config.get("operatorsIdentityProvider") or "entra-id",
        sweeper_interval_minutes=config.get_int("sweeperIntervalMinutes") or 5,
        custom_domain=_custom_domain(config, region),
        tags=tags,
    )


def _custom_domain(config: pulumi.Config, region: str) -> CustomDomain | None:
    """``customDomain`` with its ``hostedZoneId`` and this region's ``certificateArn``, all three
    or none; each checked for its shape before anything is built."""
    domain, zone, certificate = (config.get(key) for key in ("customDomain", "hostedZoneId", "certificateArn"))
    if not domain:
        if zone or certificate:
            raise ConfigError(
                "order-saga:hostedZoneId and order-saga:certificateArn are only for order-saga:customDomain: "
                "set it, or remove them"
            )
        return None
    if not HOST_NAME.match(domain):
        raise ConfigError(f"order-saga:customDomain must be a lower-case DNS host name, not {domain!r}")
    if not zone:
        raise ConfigError("order-saga:hostedZoneId is required when order-saga:customDomain is set")
    if not HOSTED_ZONE_ID.match(zone):
        raise ConfigError(f"order-saga:hostedZoneId must be a Route 53 hosted zone id (Z...), not {zone!r}")
    if not certificate:
        raise ConfigError("order-saga:certificateArn is required when order-saga:customDomain is set")
    match = CERTIFICATE_ARN.match(certificate)
    if not match:
        raise ConfigError(f"order-saga:certificateArn must be an ACM certificate ARN, not {certificate!r}")
    if match["region"] != region:
        raise ConfigError(
            f"order-saga:certificateArn must be an ACM certificate in {region} (this stack's region): "
            f"a regional API domain cannot use one from {match['region']}"
        )
    return CustomDomain(domain, zone, certificate)


def _check_pairing(
    region: str, standby_region: str | None, standby_stack: str | None, consistency: str, witness: str | None
) -> None:
    """What failing over to the standby relies on: its region and stack named together (the
    replicas and the forwarding target), a real region other than this one, and, for strong
    consistency, a third region as witness."""
    if bool(standby_region) != bool(standby_stack):
        raise ConfigError("order-saga:standbyRegion and order-saga:standbyStack are set together, or neither")
    if standby_region and not REGION_NAME.match(standby_region):
        raise ConfigError(f"order-saga:standbyRegion must be an AWS region name, not {standby_region!r}")
    if standby_region == region:
        raise ConfigError(
            f"order-saga:standbyRegion must differ from aws:region ({region}): a standby in the same region"
        )
    if consistency not in ("eventual", "strong"):
        raise ConfigError(f"order-saga:replicaConsistency must be 'eventual' or 'strong', not {consistency!r}")
    if consistency == "strong":
        if not standby_region:
            raise ConfigError("order-saga:replicaConsistency 'strong' needs order-saga:standbyRegion")
        if not witness or not REGION_NAME.match(witness) or witness in (region, standby_region):
            raise ConfigError(
                "order-saga:witnessRegion must name a third AWS region when order-saga:replicaConsistency is 'strong'"
            )
    elif witness:
        raise ConfigError("order-saga:witnessRegion is only for order-saga:replicaConsistency 'strong'")


def _object(config: pulumi.Config, key: str, default: Any) -> Any:
    try:
        value = config.get_object(key)
    except Exception as error:  # malformed JSON in the stack file
        raise ConfigError(f"order-saga:{key} is not valid: {error}") from error
    return default if value is None else value


def _strings(config: pulumi.Config, key: str, default: list[str]) -> list[str]:
    value = _object(config, key, default)
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"order-saga:{key} must be a list of strings")
    return value


def _clients(raw: Any) -> tuple[ApiClient, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("order-saga:apiClients must be a non-empty list")
    clients = []
    for entry in raw:
        if not isinstance(entry, dict) or not entry.get("clientId"):
            raise ConfigError("order-saga:apiClients entries need a clientId")
        clients.append(
            ApiClient(
                client_id=str(entry["clientId"]),
                rate_limit=float(entry.get("rateLimit", 100.0)),
                burst_limit=int(entry.get("burstLimit", 200)),
                quota_per_day=int(entry.get("quotaPerDay", 1_000_000)),
            )
        )
    return tuple(clients)
