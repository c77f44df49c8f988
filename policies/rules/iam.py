"""Least privilege: no wildcard actions, no ``Resource: "*"`` where a resource can be named,
no admin-like managed policies, no ``iam:PassRole`` on anything, trust only service
principals, and one role per Lambda function."""

from __future__ import annotations

import re
from collections import defaultdict
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from components.iam import NO_RESOURCE_LEVEL_ACTIONS
from policies.rules.base import config, resource_policy, stack_policy
from policies.rules.documents import MalformedDocument, as_list, document, statements

POLICY_DOCUMENTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
UNSCOPABLE_ACTIONS = sorted(NO_RESOURCE_LEVEL_ACTIONS)
ADMIN_LIKE_POLICY = re.compile(r":policy/(AdministratorAccess|PowerUserAccess|IAMFullAccess|\w*FullAccess)$")


def _policy_document(args: ResourceValidationArgs, report_violation: ReportViolation) -> dict | None:  # type: ignore[type-arg]
    try:
        return document(args.props[POLICY_DOCUMENTS[args.resource_type]])
    except MalformedDocument as error:
        report_violation(f"the policy document is not valid JSON: {error}", None)
        return None


def _wild(action: object) -> bool:
    """IAM matches ``*`` and ``?`` anywhere in an action: ``dynamodb:Put*`` grants PutItem
    and any Put action AWS adds later, as ``dynamodb:*`` grants everything."""
    return "*" in str(action) or "?" in str(action)


def _grants(statement: dict[str, Any], action: str) -> bool:
    """Whether the statement's actions match ``action`` (case-insensitive, as IAM)."""
    return any(fnmatchcase(action.lower(), str(pattern).lower()) for pattern in as_list(statement.get("Action")))


def _no_wildcard_actions(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    policy = _policy_document(args, report_violation)
    for statement in statements(policy or {}):
        wild = [a for a in as_list(statement.get("Action")) if _wild(a)]
        if wild or "NotAction" in statement:
            report_violation(f"statement allows {wild or 'NotAction'}: name each action", None)


no_wildcard_actions = resource_policy(
    "iam-no-wildcard-actions",
    "IAM policies name their actions: no '*', no 'service:*', no partial wildcard ('dynamodb:Put*'), no NotAction.",
    POLICY_DOCUMENTS,
    _no_wildcard_actions,
    severity=Severity.CRITICAL,
    remediation="List the exact actions the function calls (see components/iam.py and components/region.py).",
)

WILDCARD_RESOURCE_SCHEMA = PolicyConfigSchema(
    properties={"allowedActions": {"type": "array", "items": {"type": "string"}, "default": UNSCOPABLE_ACTIONS}}
)


def _no_wildcard_resources(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    allowed = set(config(args, WILDCARD_RESOURCE_SCHEMA)["allowedActions"])
    policy = _policy_document(args, report_violation)
    for statement in statements(policy or {}):
        resources = as_list(statement.get("Resource"))
        if "*" in resources or "NotResource" in statement:
            scopable = sorted(set(as_list(statement.get("Action"))) - allowed)
            if scopable or "NotResource" in statement:
                report_violation(f"'Resource: *' for actions that can be scoped: {scopable}", None)


no_wildcard_resources = resource_policy(
    "iam-no-wildcard-resources",
    "Statements name exact ARNs; '*' only for actions without resource-level permissions.",
    POLICY_DOCUMENTS,
    _no_wildcard_resources,
    severity=Severity.HIGH,
    remediation="Scope the statement to the ARNs of the tables, queues, buses or functions it uses.",
    config_schema=WILDCARD_RESOURCE_SCHEMA,
)


def _no_passrole_anywhere(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    policy = _policy_document(args, report_violation)
    for statement in statements(policy or {}):
        # 'iam:Pass*', 'iam:*' and '*' grant PassRole as surely as its name does; NotResource
        # grants it on every role but those listed.
        anywhere = "*" in as_list(statement.get("Resource")) or "NotResource" in statement
        if anywhere and (_grants(statement, "iam:PassRole") or "NotAction" in statement):
            report_violation("iam:PassRole on '*' lets the holder hand any role to any service", None)


no_passrole_wildcard = resource_policy(
    "iam-no-passrole-wildcard",
    "iam:PassRole names the roles it may pass.",
    POLICY_DOCUMENTS,
    _no_passrole_anywhere,
    severity=Severity.CRITICAL,
    remediation="Restrict iam:PassRole to the role ARNs, and add an iam:PassedToService condition.",
)


def _no_admin_managed_policies(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    arns = (
        [args.props.get("policyArn")]
        if args.resource_type.endswith("Attachment")
        else as_list(args.props.get("managedPolicyArns"))
    )
    for arn in arns:
        if isinstance(arn, str) and ADMIN_LIKE_POLICY.search(arn):
            report_violation(f"{arn} grants far more than a saga function needs", None)


no_admin_managed_policies = resource_policy(
    "iam-no-admin-managed-policies",
    "No AdministratorAccess, PowerUserAccess or *FullAccess managed policies.",
    [
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
        "aws:iam/role:Role",
    ],
    _no_admin_managed_policies,
    severity=Severity.CRITICAL,
    remediation="Replace the managed policy with an inline RolePolicy naming exact actions and ARNs.",
)


FEDERATED_ACTIONS = {"sts:AssumeRoleWithSAML": "SAML:aud", "sts:AssumeRoleWithWebIdentity": ":aud"}
"""Federation actions and the audience key their condition must pin (OIDC: ``<provider>:aud``)."""
FEDERATED_PROVIDER = re.compile(r"^arn:aws:iam::\d{12}:(saml-provider|oidc-provider)/\S+$")


def _federated_problem(statement: dict) -> str | None:  # type: ignore[type-arg]
    """Why a statement trusting a federated identity provider is too loose, or None."""
    principal = statement["Principal"]
    providers = as_list(principal.get("Federated"))
    actions = as_list(statement.get("Action"))
    if set(principal) != {"Federated"} or len(providers) != 1 or not FEDERATED_PROVIDER.match(str(providers[0])):
        return f"the role trusts {principal!r}: name exactly one SAML or OIDC provider of this account"
    if len(actions) != 1 or actions[0] not in FEDERATED_ACTIONS:
        return f"a federated principal may only {' or '.join(FEDERATED_ACTIONS)}, not {actions!r}"
    if str(providers[0]).endswith(f":oidc-provider/{GITHUB_OIDC}"):  # any repository on GitHub could ask
        if _github_pinned(statement):
            return None
        return (
            f"the trust of GitHub Actions must be pinned to one repository and subject: StringEquals on "
            f"{GITHUB_OIDC}:aud = sts.amazonaws.com and an exact {GITHUB_OIDC}:sub"
        )
    audience = FEDERATED_ACTIONS[actions[0]]
    pinned = (statement.get("Condition") or {}).get("StringEquals") or {}
    if not any(key.endswith(audience) for key in pinned):
        return f"the trust of {providers[0]} does not pin the audience (StringEquals on {audience!r})"
    return None


GITHUB_OIDC = "token.actions.githubusercontent.com"
PINNED_SUBJECT = re.compile(r"^repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+:[^*?]+$")


def _github_pinned(statement: dict[str, Any]) -> bool:
    """A GitHub Actions OIDC trust that names one repository and one exact subject, with the
    audience STS: without the ``sub`` condition any repository on GitHub could assume it."""
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return False
    federated = as_list(principal.get("Federated"))
    if len(federated) != 1 or not str(federated[0]).endswith(f":oidc-provider/{GITHUB_OIDC}"):
        return False
    if set(principal) != {"Federated"} or as_list(statement.get("Action")) != ["sts:AssumeRoleWithWebIdentity"]:
        return False
    equals = (statement.get("Condition") or {}).get("StringEquals") or {}
    subjects = as_list(equals.get(f"{GITHUB_OIDC}:sub"))
    return (
        equals.get(f"{GITHUB_OIDC}:aud") == "sts.amazonaws.com"
        and all(PINNED_SUBJECT.match(str(subject)) for subject in subjects)
        and bool(subjects)
    )


def _trust_service_principal(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    try:
        trust = document(args.props["assumeRolePolicy"])
    except MalformedDocument as error:
        report_violation(f"the trust policy is not valid JSON: {error}", None)
        return
    for statement in statements(trust):
        principal = statement.get("Principal")
        if isinstance(principal, dict) and "Federated" in principal:
            problem = _federated_problem(statement)
            if problem:
                report_violation(problem, None)
            continue
        services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
        others = [key for key in principal if key != "Service"] if isinstance(principal, dict) else [principal]
        if not services or others:
            report_violation(
                f"the role trusts {principal!r}: only a service principal, or one named identity provider "
                "with a pinned audience, may assume it",
                None,
            )


trust_service_principal = resource_policy(
    "iam-trust-service-principal",
    "Roles are assumed by a named AWS service, or by users of one named identity provider for a pinned audience "
    "(GitHub Actions: one repository and subject).",
    ["aws:iam/role:Role"],
    _trust_service_principal,
    severity=Severity.HIGH,
    remediation="Set the trust policy's Principal to {'Service': '<service>.amazonaws.com'}, or to "
    "{'Federated': '<SAML or OIDC provider ARN>'} with sts:AssumeRoleWithSAML and StringEquals on SAML:aud; "
    "for GitHub Actions use components.bootstrap.github_trust_policy (StringEquals on the aud and an exact "
    "repo:<owner>/<name>:<subject>).",
)


def _one_role_per_function(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    by_role = defaultdict(list)
    for resource in args.resources:
        if resource.resource_type == "aws:lambda/function:Function":
            by_role[resource.props.get("role")].append(resource)
    for role, functions in by_role.items():
        if len(functions) > 1:
            names = ", ".join(sorted(f.name for f in functions))
            for function in functions:
                report_violation(f"shares role {role} with: {names}", function.urn)


one_role_per_function = stack_policy(
    "lambda-one-role-per-function",
    "No two Lambda functions share a role, so each holds only its own permissions.",
    _one_role_per_function,
    severity=Severity.HIGH,
    remediation="Give each function its own role (components.function.Function does).",
)

POLICIES: list[Policy] = [
    no_wildcard_actions,
    no_wildcard_resources,
    no_passrole_wildcard,
    no_admin_managed_policies,
    trust_service_principal,
    one_role_per_function,
]
