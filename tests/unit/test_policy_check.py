"""The offline check over the real program: it passes as shipped, and each injected fault is
caught by exactly the policy that names it (every mandatory policy has one). Also the command
line's formats and exit codes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.check import evaluate, mandatory
from policies.rules import POLICIES
from synth.graph import Graph as SynthGraph
from synth.program import ROOT, SynthError, engine_urn, run_synth

Graph = dict[str, Any]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Graph]:
    out = tmp_path_factory.mktemp("graphs")
    # Documents, not Graphs: the mutations below edit the JSON the synth wrote.
    return {
        stack: run_synth(stack, out=out / f"{stack}.json").to_document()
        for stack in ("prod-use1", "prod-usw2", "sandbox")
    }


def find(graph: Graph, typ: str, name: str | None = None) -> dict[str, Any]:
    return next(r for r in graph["resources"] if r["type"] == typ and (name is None or r["name"] == name))


def both(resource: dict[str, Any], key: str, value: Any) -> None:
    """Set a property as the engine would report it before and after the deploy."""
    resource["inputs"][key] = value
    resource["outputs"][key] = value


def edit_statements(graph: Graph, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    policy = find(graph, "aws:iam/rolePolicy:RolePolicy", "order-saga-prod-use1-ReserveInventory-policy")
    document = json.loads(policy["inputs"]["policy"])
    edit(document["Statement"])
    both(policy, "policy", json.dumps(document))


def wildcard_action(graph: Graph) -> None:
    edit_statements(graph, lambda statements: statements[-1].update(Action=["dynamodb:*"]))


def wildcard_resource(graph: Graph) -> None:
    edit_statements(graph, lambda statements: statements[-1].update(Resource="*"))


def passrole_anywhere(graph: Graph) -> None:
    passrole = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}
    edit_statements(graph, lambda statements: statements.append(passrole))


def intake_role(graph: Graph) -> dict[str, Any]:
    return find(graph, "aws:iam/role:Role", "order-saga-prod-use1-intake-role")


def admin_managed_policy(graph: Graph) -> None:
    both(intake_role(graph), "managedPolicyArns", ["arn:aws:iam::aws:policy/AdministratorAccess"])


def role_trusting_any_account(graph: Graph) -> None:
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    both(intake_role(graph), "assumeRolePolicy", json.dumps(trust))


def unencrypted_table(graph: Graph) -> None:
    both(find(graph, "aws:dynamodb/table:Table", "tables-orders"), "serverSideEncryption", {"enabled": False})


def unprotected_table(graph: Graph) -> None:
    both(find(graph, "aws:dynamodb/table:Table", "tables-orders"), "deletionProtectionEnabled", False)


def unencrypted_queue(graph: Graph) -> None:
    both(find(graph, "aws:sqs/queue:Queue", "saga-start-dlq"), "sqsManagedSseEnabled", False)


def untagged_queue(graph: Graph) -> None:
    both(find(graph, "aws:sqs/queue:Queue", "saga-start-dlq"), "tags", {"project": "order-saga"})


def untraced_function(graph: Graph) -> None:
    intake = find(graph, "aws:lambda/function:Function", "order-saga-prod-use1-intake")
    both(intake, "tracingConfig", {"mode": "PassThrough"})


def untraced_state_machine(graph: Graph) -> None:
    both(find(graph, "aws:sfn/stateMachine:StateMachine"), "tracingConfiguration", {"enabled": False})


def task_without_catch(graph: Graph) -> None:
    machine = find(graph, "aws:sfn/stateMachine:StateMachine")
    definition = json.loads(machine["inputs"]["definition"])
    del definition["States"]["AuthorizePayment"]["Catch"]
    both(machine, "definition", json.dumps(definition))


def stage_without_access_logs(graph: Graph) -> None:
    both(find(graph, "aws:apigateway/stage:Stage"), "accessLogSettings", None)


def bus_without_archive(graph: Graph) -> None:
    graph["resources"] = [r for r in graph["resources"] if r["type"] != "aws:cloudwatch/eventArchive:EventArchive"]


def provisioned_billing(graph: Graph) -> None:
    both(find(graph, "aws:dynamodb/table:Table", "tables-orders"), "billingMode", "PROVISIONED")


def replica_without_pitr(graph: Graph) -> None:
    table = find(graph, "aws:dynamodb/table:Table", "tables-loyalty")
    both(table, "replicas", [{**table["inputs"]["replicas"][0], "pointInTimeRecovery": False}])


def shared_role(graph: Graph) -> None:
    payment = find(graph, "aws:lambda/function:Function", "order-saga-prod-use1-AuthorizePayment")
    refund = find(graph, "aws:lambda/function:Function", "order-saga-prod-use1-RefundPayment")
    both(refund, "role", payment["inputs"]["role"])


def step_without_dead_letter_queue(graph: Graph) -> None:
    graph["resources"] = [
        r for r in graph["resources"] if r["name"] not in ("step-BookShipment-dlq", "step-BookShipment-dlq-depth")
    ]


def secret_in_environment(graph: Graph) -> None:
    courier = find(graph, "aws:lambda/function:Function", "order-saga-prod-use1-BookShipment")
    variables = {**courier["inputs"]["environment"]["variables"], "COURIER_API_KEY": "ck_live_1234"}
    both(courier, "environment", {"variables": variables})


def slow_saga_step(graph: Graph) -> None:
    both(find(graph, "aws:lambda/function:Function", "order-saga-prod-use1-AuthorizePayment"), "timeout", 900.0)


def route_without_authorizer(graph: Graph) -> None:
    both(find(graph, "aws:apigateway/method:Method", "api-get-order"), "authorization", "NONE")


def partial_wildcard_action(graph: Graph) -> None:
    edit_statements(graph, lambda statements: statements[-1].update(Action=["dynamodb:Put*"]))


def passrole_by_prefix(graph: Graph) -> None:
    passrole = {"Effect": "Allow", "Action": "iam:Pass*", "Resource": "*"}
    edit_statements(graph, lambda statements: statements.append(passrole))


def github_role_for_any_repository_of_the_org(graph: Graph) -> None:
    role = find(graph, "aws:iam/role:Role", "github-deploy-prod-use1")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    trust["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] = "repo:retailer/*"
    both(role, "assumeRolePolicy", json.dumps(trust))


def no_account_cloudwatch_role(graph: Graph) -> None:
    graph["resources"] = [r for r in graph["resources"] if r["type"] != "aws:apigateway/account:Account"]


def deployment_trigger_of_the_schema_only(graph: Graph) -> None:
    find(graph, "aws:apigateway/deployment:Deployment")["propertyDependencies"]["triggers"] = []


def untraced_stage(graph: Graph) -> None:
    both(find(graph, "aws:apigateway/stage:Stage"), "xrayTracingEnabled", False)


def alarm_topic_on_the_aws_managed_key(graph: Graph) -> None:
    both(find(graph, "aws:sns/topic:Topic"), "kmsMasterKeyId", "alias/aws/sns")


def key_without_rotation(graph: Graph) -> None:
    both(find(graph, "aws:kms/key:Key"), "enableKeyRotation", False)


def log_group_kept_forever(graph: Graph) -> None:
    both(find(graph, "aws:cloudwatch/logGroup:LogGroup", "api-access-logs"), "retentionInDays", None)


def silent_alarm(graph: Graph) -> None:
    both(find(graph, "aws:cloudwatch/metricAlarm:MetricAlarm", "saga-dashboard-failed-executions"), "alarmActions", [])


def deprecated_runtime(graph: Graph) -> None:
    both(find(graph, "aws:lambda/function:Function", "order-saga-prod-use1-intake"), "runtime", "python3.9")


def permission_without_source_arn(graph: Graph) -> None:
    both(find(graph, "aws:lambda/permission:Permission", "api-intake-invoke"), "sourceArn", None)


def start_queue_without_dead_letter_queue(graph: Graph) -> None:
    both(find(graph, "aws:sqs/queue:Queue", "saga-start-queue"), "redrivePolicy", None)


def forwarding_without_dead_letter_queue(graph: Graph) -> None:
    both(find(graph, "aws:cloudwatch/eventTarget:EventTarget", "events-forward-target"), "deadLetterConfig", None)


def saga_role_without_sampling(graph: Graph) -> None:
    policy = find(graph, "aws:iam/rolePolicy:RolePolicy", "order-saga-policy")
    document = json.loads(policy["inputs"]["policy"])
    for statement in document["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if not a.startswith("xray:GetSampling")]
    both(policy, "policy", json.dumps(document))


MUTATIONS: dict[str, tuple[Callable[[Graph], None], set[str]]] = {
    "partial wildcard action": (partial_wildcard_action, {"iam-no-wildcard-actions"}),
    "iam:Pass* on anything": (
        passrole_by_prefix,
        {"iam-no-passrole-wildcard", "iam-no-wildcard-actions", "iam-no-wildcard-resources"},
    ),
    "GitHub role for any repository of the org": (
        github_role_for_any_repository_of_the_org,
        {"iam-trust-service-principal"},
    ),
    "stage logs with no account CloudWatch role": (no_account_cloudwatch_role, {"apigateway-account-cloudwatch-role"}),
    "deployment trigger covers no method": (
        deployment_trigger_of_the_schema_only,
        {"apigateway-deployment-covers-api"},
    ),
    "stage without X-Ray": (untraced_stage, {"apigateway-stage-tracing"}),
    "alarm topic on alias/aws/sns": (alarm_topic_on_the_aws_managed_key, {"sns-topic-key-usable-by-publishers"}),
    "key without rotation": (key_without_rotation, {"kms-key-rotation"}),
    "log group kept forever": (log_group_kept_forever, {"cloudwatch-log-group-retention"}),
    "alarm without action": (silent_alarm, {"cloudwatch-alarm-actions"}),
    "deprecated runtime": (deprecated_runtime, {"lambda-supported-runtime"}),
    "permission without source ARN": (permission_without_source_arn, {"lambda-permission-source-arn"}),
    # The start DLQ is then no queue's dead letter either: both are reported by the same rule.
    "start queue without DLQ": (start_queue_without_dead_letter_queue, {"sqs-dead-letter-queue"}),
    # Its DLQ then serves nothing and has none itself: the queue rule fires too.
    "forwarding without DLQ": (
        forwarding_without_dead_letter_queue,
        {"eventbridge-cross-region-target-dlq", "sqs-dead-letter-queue"},
    ),
    "saga role without X-Ray sampling": (saga_role_without_sampling, {"sfn-tracing-permissions"}),
    "wildcard action": (wildcard_action, {"iam-no-wildcard-actions"}),
    "wildcard resource": (wildcard_resource, {"iam-no-wildcard-resources"}),
    # PassRole is an action with resource-level permissions: on '*' it breaks both rules.
    "PassRole on anything": (passrole_anywhere, {"iam-no-passrole-wildcard", "iam-no-wildcard-resources"}),
    "AdministratorAccess on a role": (admin_managed_policy, {"iam-no-admin-managed-policies"}),
    "role trusting any account": (role_trusting_any_account, {"iam-trust-service-principal"}),
    "PROVISIONED billing": (provisioned_billing, {"dynamodb-on-demand"}),
    "PITR off on a replica": (replica_without_pitr, {"dynamodb-point-in-time-recovery"}),
    "table without SSE": (unencrypted_table, {"dynamodb-encryption"}),
    "table without deletion protection": (unprotected_table, {"dynamodb-deletion-protection"}),
    "queue without SSE": (unencrypted_queue, {"sqs-encryption"}),
    "shared role": (shared_role, {"lambda-one-role-per-function"}),
    "step without DLQ": (step_without_dead_letter_queue, {"saga-step-dead-letter-queue"}),
    "900 s timeout on a saga step": (slow_saga_step, {"lambda-timeout"}),
    "function without X-Ray": (untraced_function, {"lambda-tracing"}),
    "secret in an environment variable": (secret_in_environment, {"lambda-no-secrets-in-environment"}),
    "state machine without X-Ray": (untraced_state_machine, {"sfn-logging-and-tracing"}),
    "task without Catch": (task_without_catch, {"sfn-every-task-catches"}),
    "route without authorizer": (route_without_authorizer, {"apigateway-method-authorizer"}),
    "stage without access logs": (stage_without_access_logs, {"apigateway-stage-throttling-and-logging"}),
    "bus without archive": (bus_without_archive, {"eventbridge-bus-archive"}),
    "queue missing owner and cost-center tags": (untagged_queue, {"required-tags"}),
}


def test_every_mandatory_policy_has_a_mutation_of_the_shipped_graph_that_makes_it_fire() -> None:
    required = {p.name for p in POLICIES if p.enforcement_level in (None, EnforcementLevel.MANDATORY)}
    assert required - {policy for _, policies in MUTATIONS.values() for policy in policies} == set()


@pytest.mark.parametrize("stack", ["prod-use1", "prod-usw2", "sandbox"])
def test_shipped_program_has_no_violation(shipped: dict[str, Graph], stack: str) -> None:
    assert evaluate(SynthGraph.from_document(shipped[stack])) == []


@pytest.mark.parametrize("fault", list(MUTATIONS))
def test_injected_fault_is_caught_by_the_policy_that_names_it(shipped: dict[str, Graph], fault: str) -> None:
    mutate, policies = MUTATIONS[fault]
    graph = copy.deepcopy(shipped["prod-use1"])
    mutate(graph)
    assert {violation.policy for violation in evaluate(SynthGraph.from_document(graph))} == policies


# -- the graph as the engine would see it -----------------------------------------------------------


def test_nested_resource_has_the_engine_urn_with_every_ancestor_type(shipped: dict[str, Graph]) -> None:
    # The engine's URN for the Lambda of the AuthorizePayment step, written out by its rule:
    # urn:pulumi:<stack>::<project>::<ancestor types, outermost first, no root stack>$<type>::<name>.
    lambda_ = find(shipped["prod-use1"], "aws:lambda/function:Function", "order-saga-prod-use1-AuthorizePayment")
    assert lambda_["urn"] == (
        "urn:pulumi:prod-use1::order-saga::order-saga:index:SagaService$"
        "order-saga:index:SagaStep$order-saga:index:Function$aws:lambda/function:Function"
        "::order-saga-prod-use1-AuthorizePayment"
    )


@pytest.mark.parametrize("stack", ["prod-use1", "prod-usw2", "sandbox"])
def test_every_urn_names_the_whole_chain_of_parent_types(shipped: dict[str, Graph], stack: str) -> None:
    graph = shipped[stack]
    by_urn = {resource["urn"]: resource for resource in graph["resources"]}
    for resource in graph["resources"]:
        # Walk the recorded parents up to the root stack (not a resource of the graph).
        types = [resource["type"]]
        parent = by_urn.get(resource["parent"] or "")
        while parent is not None:
            types.insert(0, parent["type"])
            parent = by_urn.get(parent["parent"] or "")
        expected = f"urn:pulumi:{stack}::order-saga::{'$'.join(types)}::{resource['name']}"
        assert resource["urn"] == expected


def test_a_parent_that_is_not_a_urn_is_a_clear_error() -> None:
    with pytest.raises(SynthError, match="has a parent that is not a URN: 'step-Pay'"):
        engine_urn("step-Pay", "aws:sqs/queue:Queue", "dlq", "prod-use1", "order-saga")


def test_900_s_timeout_outside_any_saga_step_passes(shipped: dict[str, Graph]) -> None:
    graph = copy.deepcopy(shipped["prod-use1"])
    both(find(graph, "aws:lambda/function:Function", "order-saga-prod-use1-intake"), "timeout", 900.0)
    assert evaluate(SynthGraph.from_document(graph)) == []


def unknown_policy_document(graph: Graph) -> None:
    policy = find(graph, "aws:iam/rolePolicy:RolePolicy", "order-saga-prod-use1-ReserveInventory-policy")
    policy["inputs"]["policy"] = UNKNOWN_STRING_VALUE


def unknown_bus_arn(graph: Graph) -> None:
    find(graph, "aws:cloudwatch/eventBus:EventBus")["outputs"]["arn"] = UNKNOWN_STRING_VALUE


@pytest.mark.parametrize(
    ("unknown", "policies"),
    [
        (unknown_policy_document, {"iam-no-wildcard-actions", "iam-no-wildcard-resources", "iam-no-passrole-wildcard"}),
        (unknown_bus_arn, {"eventbridge-bus-archive"}),
    ],
)
def test_value_unknown_at_preview_is_an_advisory_cannot_run_as_in_the_engine(
    shipped: dict[str, Graph], unknown: Callable[[Graph], None], policies: set[str]
) -> None:
    # pulumi-policy's analyzer raises UnknownValueError on access and reports it as advisory:
    # the offline check must neither misjudge the placeholder nor block on it.
    graph = copy.deepcopy(shipped["prod-use1"])
    unknown(graph)
    found = evaluate(SynthGraph.from_document(graph))
    assert mandatory(found) == []
    assert {v.policy for v in found} == policies
    assert all(v.enforcement == "advisory" and "can't run policy" in v.message for v in found)


# -- the command line ------------------------------------------------------------------------------


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policies", "check", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture
def faulty_graph(shipped: dict[str, Graph], tmp_path: Path) -> Path:
    graph = copy.deepcopy(shipped["prod-use1"])
    provisioned_billing(graph)
    path = tmp_path / "faulty.resources.json"
    path.write_text(json.dumps(graph))
    return path


def test_json_report_lists_each_violation_and_exits_1(faulty_graph: Path) -> None:
    result = check("--graph", str(faulty_graph), "--format", "json")
    assert result.returncode == 1, result.stderr
    [violation] = json.loads(result.stdout)
    assert violation == {
        "policy": "dynamodb-on-demand",
        "severity": "high",
        "enforcement": "mandatory",
        "resourceType": "aws:dynamodb/table:Table",
        "resource": "urn:pulumi:prod-use1::order-saga::order-saga:index:OrderTables"
        "$aws:dynamodb/table:Table::tables-orders",
        "message": "billing mode is PROVISIONED: a 50x spike would throttle",
    }


def test_saga_step_with_a_900_s_timeout_exits_1_naming_lambda_timeout(
    shipped: dict[str, Graph], tmp_path: Path
) -> None:
    graph = copy.deepcopy(shipped["prod-use1"])
    slow_saga_step(graph)
    path = tmp_path / "slow.resources.json"
    path.write_text(json.dumps(graph))
    result = check("--graph", str(path), "--format", "json")
    assert result.returncode == 1, result.stderr
    [violation] = json.loads(result.stdout)
    assert (violation["policy"], violation["resource"]) == (
        "lambda-timeout",
        "urn:pulumi:prod-use1::order-saga::order-saga:index:SagaService$order-saga:index:SagaStep$order-saga:index:Function"
        "$aws:lambda/function:Function::order-saga-prod-use1-AuthorizePayment",
    )


def test_markdown_report_is_ready_for_a_pull_request(faulty_graph: Path) -> None:
    result = check("--graph", str(faulty_graph), "--format", "markdown")
    assert result.returncode == 1
    assert "**1 mandatory**" in result.stdout and "| `dynamodb-on-demand` | mandatory | high |" in result.stdout


def test_clean_stack_exits_0_with_a_text_summary() -> None:
    result = check("--stack", "sandbox")
    assert (result.returncode, result.stdout.strip()) == (0, f"sandbox: {len(POLICIES)} policies, no violations")


@pytest.mark.parametrize("content", ["{not json", json.dumps({"resources": [{"urn": "x"}]}), json.dumps([1, 2])])
def test_broken_graph_is_a_clear_error_exit_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    result = check("--graph", str(path))
    assert result.returncode == 2 and result.stderr.startswith("policy check: ")


def test_unknown_stack_is_a_clear_error_exit_2() -> None:
    result = check("--stack", "prod-mars1")
    assert result.returncode == 2 and "unknown stack 'prod-mars1'" in result.stderr


@pytest.mark.parametrize("content", ["{not json", json.dumps({"apigateway-method-authorizer": ["GET /health"]})])
def test_a_bad_policy_pack_config_is_a_clear_error_exit_2(faulty_graph: Path, tmp_path: Path, content: str) -> None:
    config = tmp_path / "config.json"
    config.write_text(content)
    result = check("--graph", str(faulty_graph), "--config", str(config))
    assert result.returncode == 2 and result.stderr.startswith("policy check: ")
