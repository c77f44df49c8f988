"""What a region and an account need once, before (and beside) any order-saga stack.

``ApiGatewayLogging``: API Gateway writes a stage's access logs and method logs with one
CloudWatch role per account *and region* (``aws.apigateway.Account``); without it the stage
is refused (``BadRequestException: CloudWatch Logs role ARN must be set in account
settings``). The setting is shared by every API in that region, so exactly one stack may own
it; the others declare that they rely on it and read it (``manage=False``).

``GithubDeployRoles``: the account's GitHub Actions OIDC provider, a preview role pull
requests may assume, and one deploy role per stack, each trusting one GitHub environment
of one repository.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import iam

API_GATEWAY_ACCOUNT_ID = "api-gateway-account"
"""The provider's id for a region's one API Gateway settings object (what ``get`` reads)."""
PUSH_TO_CLOUDWATCH = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


class ApiGatewayLogging(pulumi.ComponentResource):
    """The region's API Gateway CloudWatch role: owned here, or read from its owner."""

    account: aws.apigateway.Account
    """Stages and method settings that log must depend on this."""

    def __init__(
        self,
        name: str,
        *,
        region: str,
        manage: bool,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("order-saga:index:ApiGatewayLogging", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if not manage:
            # Another stack owns the setting: read it, so `pulumi preview` (and the policy
            # pack) see whether a role is really set, and never write it.
            self.account = aws.apigateway.Account.get(f"{name}-account", API_GATEWAY_ACCOUNT_ID, opts=child)
            self.register_outputs({})
            return
        # Kept on destroy: other APIs in the region log through this role, and pulumi-aws 7
        # resets the account setting when the resource is deleted.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        role = aws.iam.Role(
            f"{name}-role",
            name=f"apigateway-cloudwatch-{region}",
            assume_role_policy=pulumi.Output.json_dumps(iam.assume_role_policy("apigateway.amazonaws.com")),
            tags=dict(tags),
            opts=kept,
        )
        push = aws.iam.RolePolicyAttachment(f"{name}-push", role=role.name, policy_arn=PUSH_TO_CLOUDWATCH, opts=kept)
        self.account = aws.apigateway.Account(
            f"{name}-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, depends_on=[push]),
        )
        self.register_outputs({"cloudwatchRoleArn": role.arn})


def github_trust_policy(provider_arn: pulumi.Input[str], repository: str, subject: str) -> dict[str, object]:
    """Trust one repository's workflow runs whose OIDC subject is ``subject`` exactly
    (``environment:prod-use1``, ``pull_request``): never a whole organization or ``*``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                        f"{GITHUB_OIDC_HOST}:sub": f"repo:{repository}:{subject}",
                    }
                },
            }
        ],
    }


POWERTOOLS_PARAMETERS = "arn:aws:ssm:{region}::parameter/aws/service/powertools/python/*"
"""AWS's public parameters (no account in the ARN): any Powertools release, so a pull request
that bumps the pin can still be previewed."""


def preview_statements(region_names: Sequence[str], account_id: pulumi.Input[str]) -> list[dict[str, object]]:
    """What ``pulumi preview`` of this program reads from AWS beyond the provider's own
    ``sts:GetCallerIdentity``: the Powertools layer parameter, the Lambda concurrency quota,
    and the API Gateway account setting. Nothing that holds order data."""
    return [
        iam.allow(["ssm:GetParameter"], [POWERTOOLS_PARAMETERS.format(region=region) for region in region_names]),
        iam.allow(
            ["servicequotas:GetServiceQuota"],
            [
                pulumi.Output.concat("arn:aws:servicequotas:", region, ":", account_id, ":lambda/L-B99A9384")
                for region in region_names
            ],
        ),
        iam.allow(["apigateway:GET"], [f"arn:aws:apigateway:{region}::/account" for region in region_names]),
    ]


@dataclass
class GithubDeployRolesArgs:
    repository: str
    """``owner/name`` on GitHub."""
    stacks: Sequence[str]
    """One deploy role per stack, trusting the GitHub environment of the same name."""
    regions: Sequence[str]
    """Where the stacks deploy (what the preview role may read)."""
    region: str
    """Where this stack is: IAM names carry it (IAM is global)."""
    account_id: pulumi.Input[str]
    deploy_policy_arns: Sequence[str]
    """The deployer's permissions: your platform team's policy, attached to each deploy role."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        found = []
        owner, _, name = self.repository.partition("/")
        if not owner or not name or "/" in name or "*" in self.repository:
            found.append(f"githubRepository must be 'owner/name', not {self.repository!r}")
        if not self.deploy_policy_arns:
            found.append("githubDeployPolicyArns must name the deployer's policy (the deploy roles have none)")
        return found


class GithubDeployRoles(pulumi.ComponentResource):
    """GitHub Actions' OIDC provider (one per account) and the roles the workflows assume."""

    preview_role_arn: pulumi.Output[str]
    deploy_role_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: GithubDeployRolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problems = args.problems()
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__("order-saga:index:GithubDeployRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=f"https://{GITHUB_OIDC_HOST}",
            client_id_lists=["sts.amazonaws.com"],
            tags=tags,
            opts=child,
        )

        def role(label: str, subject: str) -> aws.iam.Role:
            return aws.iam.Role(
                f"{name}-{label}",
                name=f"order-saga-github-{label}-{args.region}",
                assume_role_policy=pulumi.Output.json_dumps(
                    github_trust_policy(provider.arn, args.repository, subject)
                ),
                max_session_duration=3600,
                tags=tags,
                opts=child,
            )

        preview = role("preview", "pull_request")
        aws.iam.RolePolicy(
            f"{name}-preview-policy",
            role=preview.id,
            policy=pulumi.Output.json_dumps(iam.policy(preview_statements(args.regions, args.account_id))),
            opts=child,
        )
        self.deploy_role_arns = {}
        for stack in args.stacks:
            deploy = role(f"deploy-{stack}", f"environment:{stack}")
            for i, arn in enumerate(args.deploy_policy_arns):
                aws.iam.RolePolicyAttachment(f"{name}-deploy-{stack}-{i}", role=deploy.name, policy_arn=arn, opts=child)
            self.deploy_role_arns[stack] = deploy.arn
        self.preview_role_arn = preview.arn
        self.register_outputs({"previewRoleArn": preview.arn, "deployRoleArns": self.deploy_role_arns})
