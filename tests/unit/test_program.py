"""The program and its components under Pulumi mocks, read from the synthesized graphs.

Each stack is synthesized once (``python -m synth.program``, the real ``__main__.py`` with
that stack's config); assertions name the resource's URN.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from bench.cold_start import MODULES as COLD_START_MODULES
from components.bootstrap import POWERTOOLS_PARAMETERS
from components.config import ConfigError, powertools_version
from components.events import ORDER_SUBMITTED_EVENT
from components.function import SECRET_LIKE_NAME, FunctionSettings
from components.iam import NO_RESOURCE_LEVEL_ACTIONS
from components.order_saga import ORDER_SAGA
from components.preflight import concurrency_problems
from components.region import ORDER_TASKS
from components.saga import SagaBindings, compile_saga
from components.saga.stand_down import StandDown, with_stand_down
from components.step import SagaStepComponentArgs, TaskArgs
from handlers.usage_plans import usage_plan_key
from synth.graph import Graph, Resource
from synth.program import ROOT, SynthError, run_synth

FUNCTION = "aws:lambda/function:Function"
PUBLIC_PARAMETERS = tuple(
    POWERTOOLS_PARAMETERS.format(region=region).removesuffix("*") for region in ("us-east-1", "us-west-2")
)
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE = "aws:sqs/queue:Queue"
TABLE = "aws:dynamodb/table:Table"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"


def policy_of(graph: Graph, function: Resource) -> dict[str, Any]:
    """The inline policy of the role a function runs as."""
    [role] = [r for r in graph.of_type(ROLE) if r.outputs["arn"] == function.inputs["role"]]
    [policy] = [p for p in graph.of_type(ROLE_POLICY) if p.inputs["role"] == role.outputs["name"]]
    document: dict[str, Any] = json.loads(policy.inputs["policy"])
    return document


def function_named(graph: Graph, suffix: str) -> Resource:
    [found] = [f for f in graph.of_type(FUNCTION) if f.inputs["name"].endswith(f"-{suffix}")]
    return found


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Graph]]:
    out = tmp_path_factory.mktemp("graphs")
    yield {stack: run_synth(stack, out=out / f"{stack}.json") for stack in ("prod-use1", "prod-usw2", "sandbox")} | {
        "returns": run_synth("sandbox", program=ROOT / "examples" / "returns_saga.py", out=out / "returns.json")
    }


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["Statement"])


def actions_on(policy: dict[str, Any], arn: str) -> set[str]:
    return {action for s in statements(policy) if arn in s["Resource"] for action in s["Action"]}


# -- SagaStep ------------------------------------------------------------------------------------


def test_every_saga_step_has_its_functions_dead_letter_queue_and_alarm(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    components = graph.of_type("order-saga:index:SagaStep")
    assert sorted(c.name for c in components) == sorted(f"step-{s.name}" for s in ORDER_SAGA.steps)
    for component in components:
        functions = graph.children(component, "order-saga:index:Function")
        assert len(functions) == 2, component.urn
        [queue] = graph.children(component, QUEUE)
        assert queue.inputs["sqsManagedSseEnabled"] is True, queue.urn
        assert queue.inputs["messageRetentionSeconds"] == 14 * 24 * 3600, queue.urn
        [alarm] = graph.children(component, "aws:cloudwatch/metricAlarm:MetricAlarm")
        assert alarm.inputs["dimensions"] == {"QueueName": queue.outputs["name"]}, alarm.urn


def test_step_without_compensation_gets_one_function(graphs: dict[str, Graph]) -> None:
    graph = graphs["returns"]
    restock = graph.named("order-saga:index:SagaStep", "step-RestockReturn")
    assert len(graph.children(restock, "order-saga:index:Function")) == 1


def test_every_function_has_its_own_role_and_log_group(graphs: dict[str, Graph]) -> None:
    for stack in ("prod-use1", "prod-usw2", "sandbox"):
        graph = graphs[stack]
        functions = graph.of_type(FUNCTION)
        roles = [f.inputs["role"] for f in functions]
        assert len(set(roles)) == len(functions), f"{stack}: two functions share a role"
        for function in functions:
            component = graph.parent(function)
            assert component is not None and component.type == "order-saga:index:Function", function.urn
            [log_group] = graph.children(component, "aws:cloudwatch/logGroup:LogGroup")
            assert log_group.inputs["name"] == f"/aws/lambda/{function.inputs['name']}", function.urn
            assert function.inputs["loggingConfig"]["logGroup"] == log_group.inputs["name"]


def test_every_policy_statement_names_exact_arns(graphs: dict[str, Graph]) -> None:
    for stack in ("prod-use1", "prod-usw2", "returns"):
        for policy in graphs[stack].of_type(ROLE_POLICY):
            for statement in statements(json.loads(policy.inputs["policy"])):
                actions = set(statement["Action"])
                assert not any(action == "*" or action.endswith(":*") for action in actions), policy.urn
                if statement["Resource"] == "*":
                    assert actions <= NO_RESOURCE_LEVEL_ACTIONS, f"{policy.urn}: {sorted(actions)} on *"
                else:
                    # AWS's public parameters are no resource of ours: the preview role may read
                    # any Powertools release's (components.bootstrap.POWERTOOLS_PARAMETERS).
                    assert all(
                        "*" not in arn.removesuffix(":*") or arn.startswith(PUBLIC_PARAMETERS)
                        for arn in statement["Resource"]
                    ), policy.urn


def test_each_saga_task_may_touch_only_its_own_tables(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    arns = {t.inputs["name"].rsplit("-", 1)[-1]: t.outputs["arn"] for t in graph.of_type(TABLE)}
    for task, wiring in ORDER_TASKS.items():
        policy = policy_of(graph, function_named(graph, task))
        assert actions_on(policy, arns["orders"]) == {"dynamodb:GetItem", "dynamodb:UpdateItem"}, task
        for table in ("inventory", "loyalty"):
            expected = table in wiring.tables
            assert bool(actions_on(policy, arns[table])) == expected, f"{task} on {table}"


def test_partner_steps_reach_vault_and_are_capped_other_steps_are_not(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    for task, wiring in ORDER_TASKS.items():
        function = function_named(graph, task)
        environment = function.inputs["environment"]["variables"]
        assert ("VAULT_ADDR" in environment) == bool(wiring.partner), task
        assert ("reservedConcurrentExecutions" in function.inputs) == bool(wiring.partner), task


def test_no_function_environment_variable_looks_like_a_secret(graphs: dict[str, Graph]) -> None:
    for stack in ("prod-use1", "sandbox"):
        for function in graphs[stack].of_type(FUNCTION):
            names = function.inputs.get("environment", {}).get("variables", {})
            assert not [name for name in names if SECRET_LIKE_NAME.search(name)], function.urn


def test_code_archive_holds_handlers_only_and_powertools_comes_from_its_layer(
    graphs: dict[str, Graph],
) -> None:
    for function in graphs["prod-usw2"].of_type(FUNCTION):
        assert function.inputs["code"] == {"AssetArchive": {"handlers": {"FileArchive": str(ROOT / "handlers")}}}
        # The layer is the public SSM parameter of the Powertools release constraints.txt pins
        # (the mocks answer with the ARN's version marked "synth").
        powertools = "arn:aws:lambda:us-west-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-arm64:synth"
        assert function.inputs["layers"][0] == powertools, function.urn
        assert function.inputs["architectures"] == ["arm64"]
        assert function.inputs["tracingConfig"] == {"mode": "Active"}
    parameter = f"/aws/service/powertools/python/arm64/python3.11/{powertools_version()}"
    assert graphs["prod-usw2"].outputs["powertoolsLayerParameter"] == parameter


# -- Saga ----------------------------------------------------------------------------------------


def test_the_cold_start_bench_measures_every_deployed_handler_module(graphs: dict[str, Graph]) -> None:
    # make bench holds each module it imports to 1.5x boto3; one it does not import escapes
    # (the sweeper did, with the X-Ray SDK in it).
    deployed = {
        function.inputs["handler"].rsplit(".", 1)[0]
        for graph in graphs.values()
        for function in graph.of_type(FUNCTION)
    }
    assert deployed <= set(COLD_START_MODULES), deployed - set(COLD_START_MODULES)


def test_state_machine_definition_is_the_compiled_saga_for_the_mocked_arns(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    [machine] = graph.of_type("aws:sfn/stateMachine:StateMachine")
    bindings = SagaBindings(
        functions={task: function_named(graph, task).outputs["arn"] for task in ORDER_SAGA.task_names},
        dead_letter_queues={
            step.name: graph.named(QUEUE, f"step-{step.name}-dlq").outputs["url"] for step in ORDER_SAGA.steps
        },
        orders_table="order-saga-prod-use1-orders",
        event_bus="order-saga-prod-use1-orders",
    )
    # The compiled saga, made to stand down where the region does not own the order.
    stand_down = StandDown(region="us-east-1", errors=("RegionStandsDown",))
    expected = with_stand_down(
        compile_saga(ORDER_SAGA, bindings), stand_down.for_saga(ORDER_SAGA), "order-saga-prod-use1-orders"
    )
    assert json.loads(machine.inputs["definition"]) == expected
    assert machine.inputs["type"] == "STANDARD"
    assert machine.inputs["tracingConfiguration"] == {"enabled": True}
    assert machine.inputs["loggingConfiguration"]["level"] == "ERROR"


def test_saga_role_may_do_exactly_what_the_definition_does(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    saga = graph.named("order-saga:index:Saga", "order-saga")
    [policy_resource] = graph.children(saga, ROLE_POLICY)
    scoped = {
        action: sorted(s["Resource"])
        for s in statements(json.loads(policy_resource.inputs["policy"]))
        if s["Resource"] != "*"
        for action in s["Action"]
    }
    assert scoped == {
        "lambda:InvokeFunction": sorted(function_named(graph, task).outputs["arn"] for task in ORDER_SAGA.task_names),
        "sqs:SendMessage": sorted(graph.named(QUEUE, f"step-{s.name}-dlq").outputs["arn"] for s in ORDER_SAGA.steps),
        "dynamodb:GetItem": ["arn:aws:dynamodb:us-east-1:123456789012:table/order-saga-prod-use1-orders"],
        "dynamodb:UpdateItem": ["arn:aws:dynamodb:us-east-1:123456789012:table/order-saga-prod-use1-orders"],
        "events:PutEvents": ["arn:aws:events:us-east-1:123456789012:event-bus/order-saga-prod-use1-orders"],
    }


def test_returns_saga_is_one_saga_service_with_least_privilege_tasks(graphs: dict[str, Graph]) -> None:
    graph = graphs["returns"]
    [service] = graph.of_type("order-saga:index:SagaService")
    [machine] = graph.of_type("aws:sfn/stateMachine:StateMachine")
    assert service in graph.ancestors(machine)
    definition = json.loads(machine.inputs["definition"])
    assert definition["StartAt"] == "ReceiveReturn"
    assert {"ReceiveReturn", "RejectReturn", "RefundReturn", "RestockReturn"} <= set(definition["States"])
    # Four tasks, the starter and the sweeper: each its own function and role.
    assert len(graph.of_type(FUNCTION)) == 6
    [rule] = [r for r in graph.of_type("aws:cloudwatch/eventRule:EventRule") if "eventPattern" in r.inputs]
    assert json.loads(rule.inputs["eventPattern"]) == {"source": ["returns-desk"], "detail-type": ["ReturnRequested"]}
    orders = "arn:aws:dynamodb:us-east-1:123456789012:table/order-saga-sandbox-orders"
    inventory = "arn:aws:dynamodb:us-east-1:123456789012:table/order-saga-sandbox-inventory"
    restock = policy_of(graph, function_named(graph, "RestockReturn"))
    assert actions_on(restock, orders) == {"dynamodb:GetItem"}
    assert "dynamodb:PutItem" in actions_on(restock, inventory)
    reject = policy_of(graph, function_named(graph, "RejectReturn"))
    assert actions_on(reject, orders) == actions_on(reject, inventory) == set()


# -- tables, regions ------------------------------------------------------------------------------


def test_primary_tables_are_on_demand_recoverable_encrypted_protected_and_replicated(
    graphs: dict[str, Graph],
) -> None:
    tables = graphs["prod-use1"].of_type(TABLE)
    assert len(tables) == 3
    for table in tables:
        inputs = table.inputs
        assert inputs["billingMode"] == "PAY_PER_REQUEST", table.urn
        assert inputs["pointInTimeRecovery"] == {"enabled": True}, table.urn
        assert inputs["serverSideEncryption"] == {"enabled": True}, table.urn
        assert inputs["deletionProtectionEnabled"] is True, table.urn
        [replica] = inputs["replicas"]
        assert (replica["regionName"], replica["pointInTimeRecovery"]) == ("us-west-2", True), table.urn
    orders = graphs["prod-use1"].named(TABLE, "tables-orders")
    assert orders.inputs["streamEnabled"] is True
    assert orders.inputs["globalSecondaryIndexes"][0]["hashKey"] == "customerId"


def test_standby_creates_no_table_and_uses_the_primarys_through_a_stack_reference(
    graphs: dict[str, Graph],
) -> None:
    graph = graphs["prod-usw2"]
    assert graph.of_type(TABLE) == []
    [reference] = graph.of_type("pulumi:pulumi:StackReference")
    assert reference.name == "organization/order-saga/prod-use1"
    environment = function_named(graph, "ReserveInventory").inputs["environment"]["variables"]
    assert environment["INVENTORY_TABLE"] == "order-saga-prod-use1-inventory"
    policy = policy_of(graph, function_named(graph, "ReserveInventory"))
    local_replica = "arn:aws:dynamodb:us-west-2:123456789012:table/order-saga-prod-use1-inventory"
    assert "dynamodb:UpdateItem" in actions_on(policy, local_replica)


def test_iam_names_carry_the_region(graphs: dict[str, Graph]) -> None:
    for stack, region in (("prod-use1", "us-east-1"), ("prod-usw2", "us-west-2")):
        for role in graphs[stack].of_type(ROLE):
            assert role.inputs["name"].endswith(f"-{region}"), role.urn
            assert len(role.inputs["name"]) <= 64, role.urn


def test_primary_forwards_every_event_to_the_standby_bus(graphs: dict[str, Graph]) -> None:
    primary, standby = graphs["prod-use1"], graphs["prod-usw2"]
    forward = primary.named("aws:cloudwatch/eventTarget:EventTarget", "events-forward-target")
    assert forward.inputs["arn"] == standby.outputs["eventBusArn"]
    assert forward.inputs["roleArn"].startswith("arn:aws:iam::")
    assert not [
        t for t in standby.of_type("aws:cloudwatch/eventTarget:EventTarget") if t.name.endswith("forward-target")
    ]
    for graph in (primary, standby):
        [archive] = graph.of_type("aws:cloudwatch/eventArchive:EventArchive")
        assert len(archive.inputs["name"]) <= 48 and archive.inputs["retentionDays"] == 30


def test_saga_start_goes_through_a_queue_with_a_dead_letter_queue(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    starter = graph.named("order-saga:index:SagaStarter", "saga-start")
    queue = graph.named(QUEUE, "saga-start-queue")
    dlq = graph.named(QUEUE, "saga-start-dlq")
    assert json.loads(queue.inputs["redrivePolicy"])["deadLetterTargetArn"] == dlq.outputs["arn"]
    [mapping] = graph.children(starter, "aws:lambda/eventSourceMapping:EventSourceMapping")
    assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    policy = policy_of(graph, function_named(graph, "saga-starter"))
    assert actions_on(policy, graph.outputs["stateMachineArn"]) == {"states:StartExecution"}


# -- API ----------------------------------------------------------------------------------------


def test_every_method_needs_the_authorizer_and_an_api_key(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    methods = graph.of_type("aws:apigateway/method:Method")
    assert sorted(m.inputs["httpMethod"] for m in methods) == ["GET", "POST"]
    for method in methods:
        assert method.inputs["authorization"] == "CUSTOM", method.urn
        assert method.inputs["apiKeyRequired"] is True, method.urn
    post = graph.named("aws:apigateway/method:Method", "api-post-orders")
    assert post.inputs["requestParameters"] == {"method.request.header.Idempotency-Key": True}


def test_stage_throttles_and_logs_and_each_client_has_a_usage_plan(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    [settings] = graph.of_type("aws:apigateway/methodSettings:MethodSettings")
    assert settings.inputs["settings"]["throttlingRateLimit"] == 500
    [stage] = graph.of_type("aws:apigateway/stage:Stage")
    assert stage.inputs["accessLogSettings"]["destinationArn"].startswith("arn:aws:logs:")
    keys = {key.inputs["value"] for key in graph.of_type("aws:apigateway/apiKey:ApiKey")}
    assert keys == {usage_plan_key("web-shop"), usage_plan_key("mobile-app")}
    plans = graph.of_type("aws:apigateway/usagePlan:UsagePlan")
    assert sorted(p.inputs["throttleSettings"]["rateLimit"] for p in plans) == [200, 300]


def test_request_model_checks_the_shape_and_leaves_unknown_fields_to_the_intake(
    graphs: dict[str, Graph],
) -> None:
    [model] = graphs["prod-use1"].of_type("aws:apigateway/model:Model")
    schema = json.loads(model.inputs["schema"])
    assert schema["required"] == ["items", "shippingAddress", "paymentToken"]
    assert schema["properties"]["items"]["items"]["properties"]["quantity"] == {
        "maximum": 10,
        "minimum": 1,
        "type": "integer",
    }
    assert "additionalProperties" not in json.dumps(schema)  # a price field gets the intake's 422
    assert "$ref" not in json.dumps(schema)


# -- bad configuration ---------------------------------------------------------------------------

VALID = (ROOT / "Pulumi.sandbox.yaml").read_text()
SANDBOX_RETENTION = "  order-saga:logRetentionDays: 1\n"


def with_setting(setting: str) -> tuple[str, str]:
    """A change to the sandbox stack file that adds ``order-saga:<setting>``."""
    return SANDBOX_RETENTION, f"{SANDBOX_RETENTION}  order-saga:{setting}\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("order-saga:role: primary", "order-saga:role: secondary"),
            "order-saga:role must be 'primary' or 'standby'",
        ),
        (("order-saga:role: primary", "order-saga:role: standby"), "order-saga:primaryStack is required"),
        (("  order-saga:courierUrl: http://127.0.0.1:8182\n", ""), "order-saga:courierUrl is required"),
        (("    cost-center: none\n", ""), "order-saga:tags must include cost-center"),
        (("order-saga:vaultAuth: approle", "order-saga:vaultAuth: token"), "order-saga:vaultAuth must be"),
        (
            with_setting("powertoolsLayerVersion: 27"),
            "powertoolsLayerVersion is no longer read",
        ),
        (
            with_setting("paymentConcurrency: 500"),
            "reserved concurrency 1040 .* needs a Lambda concurrency quota of at least 1140 .* the quota is 1000",
        ),
        (
            with_setting("apiGatewayAccount: mine"),
            "order-saga:apiGatewayAccount must be 'manage' or 'external'",
        ),
        (
            with_setting("githubRepository: retailer/order-saga"),
            "githubDeployPolicyArns must name the deployer's policy",
        ),
    ],
    ids=[
        "unknown role",
        "standby without primary",
        "missing partner url",
        "missing tag",
        "unknown vault auth",
        "a guessed layer version",
        "reserved concurrency over the account quota",
        "unknown API Gateway account mode",
        "deploy roles without a policy",
    ],
)
def test_bad_config_fails_naming_the_setting(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    assert change[0] in VALID
    (tmp_path / "Pulumi.broken.yaml").write_text(VALID.replace(*change))
    with pytest.raises(SynthError, match=message):
        run_synth("broken", root=tmp_path, program=ROOT / "__main__.py", out=tmp_path / "out.json")


def test_unknown_stack_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="unknown stack 'nowhere'"):
        run_synth("nowhere", out=tmp_path / "out.json")


def test_saga_tasks_without_a_handler_or_with_unknown_tables_are_refused_by_name() -> None:
    from components.saga import SagaDefinition, SagaStep
    from components.saga_service import SagaRegion, SagaServiceArgs, Task
    from components.tables import TableRefs

    region = SagaRegion(
        config=None,  # type: ignore[arg-type]  # problems() reads the tables only
        name_prefix="p",
        tables=TableRefs({"orders": "t"}, {"orders": "arn"}),  # type: ignore[dict-item]
        saga_table="orders",
        bus_name="bus",
        bus_arn="arn:bus",
        alarm_topic_arn="arn:topic",
        function=None,  # type: ignore[arg-type]
    )
    drone = SagaDefinition(name="drone", steps=[SagaStep("ShipByDrone"), SagaStep("Land", compensation="TakeOff")])
    args = SagaServiceArgs(
        drone,
        {"Land": Task("h.land", {"hangar": "write"}), "TakeOff": Task("h.up", partner="pigeon"), "Fly": Task("h.f")},
        region,
        ORDER_SUBMITTED_EVENT,
    )
    assert args.problems() == [
        "saga task 'ShipByDrone' has no handler: give it a Task in SagaServiceArgs.tasks",
        "Task 'Fly' is not a task of saga 'drone'",
        "task 'Land' names table 'hangar', not one of ['orders']",
        "task 'TakeOff' names partner 'pigeon', not one of ['courier', 'payment']",
    ]


def test_step_declaring_a_compensation_needs_its_handler() -> None:
    step = ORDER_SAGA.steps[0]
    args = SagaStepComponentArgs(
        step=step,
        forward=TaskArgs("handlers.payment.authorize_handler"),
        compensation=None,
        function=FunctionSettings(code=pulumi.AssetArchive({})),
        alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:alarms",
        name_prefix="order-saga-test",
        region="us-east-1",
    )
    assert args.problems() == [
        "step 'AuthorizePayment': give a compensation handler exactly when the step declares a compensation"
    ]


# -- what a real account needs -------------------------------------------------------------------


def test_layer_release_is_the_powertools_the_tests_run() -> None:
    assert powertools_version() == importlib.metadata.version("aws-lambda-powertools")


@pytest.mark.parametrize("pins", ["", "aws-lambda-powertools==3.1.0\naws_lambda_powertools==3.2.0\n"])
def test_constraints_without_exactly_one_powertools_pin_is_refused(tmp_path: Path, pins: str) -> None:
    (tmp_path / "constraints.txt").write_text("boto3==1.44.8\n" + pins)
    with pytest.raises(ConfigError, match="must pin aws-lambda-powertools exactly once"):
        powertools_version(tmp_path / "constraints.txt")


def test_reserved_concurrency_needs_100_unreserved_under_the_quota() -> None:
    reserved = {"AuthorizePayment": 50, "RefundPayment": 50, "BookShipment": 20, "CancelShipment": 20}
    assert concurrency_problems(reserved, 240, "us-east-1") == []
    [problem] = concurrency_problems(reserved, 239, "us-east-1")
    assert "at least 240 in us-east-1" in problem and "the quota is 239" in problem


def test_stage_logs_only_after_the_regions_cloudwatch_role_is_set(graphs: dict[str, Graph]) -> None:
    for stack in ("prod-use1", "prod-usw2"):
        graph = graphs[stack]
        [account] = graph.of_type("aws:apigateway/account:Account")
        role = graph.named(ROLE, "api-gateway-logging-role")
        assert account.inputs["cloudwatchRoleArn"] == role.outputs["arn"]
        for logger in (*graph.of_type("aws:apigateway/stage:Stage"), *graph.of_type(METHOD_SETTINGS)):
            assert account.urn in logger.dependencies, logger.urn


def test_alarm_topic_key_lets_cloudwatch_encrypt(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod-use1"]
    [key] = graph.of_type("aws:kms/key:Key")
    topic = graph.named("aws:sns/topic:Topic", "alarms-topic")
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]
    [grant] = [s for s in json.loads(key.inputs["policy"])["Statement"] if "Service" in s["Principal"]]
    assert grant["Principal"]["Service"] == ["cloudwatch.amazonaws.com"]
    assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_the_returns_stack_outputs_what_the_ops_console_reads(graphs: dict[str, Graph]) -> None:
    from ops.region import REQUIRED_OUTPUTS, SAGA_TABLE_OUTPUTS

    outputs = graphs["returns"].outputs
    assert {*REQUIRED_OUTPUTS, SAGA_TABLE_OUTPUTS[0]} <= set(outputs)
    assert outputs["sagaTableName"] == "order-saga-sandbox-returns"


def test_the_returns_stack_names_its_start_event_vault_principals_and_its_own_sweeper_service(
    graphs: dict[str, Graph],
) -> None:
    graph = graphs["returns"]
    outputs = graph.outputs
    assert (outputs["startSource"], outputs["startDetailType"]) == ("returns-desk", "ReturnRequested")
    refund_role = function_named(graph, "RefundReturn").inputs["role"]
    assert outputs["vaultAwsAuthPrincipals"] == {"order-saga-payment": [refund_role]}
    alarms = [a for a in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.inputs.get("dimensions")]
    services = {a.inputs["dimensions"].get("service") for a in alarms} - {None}
    assert services == {"returns-saga-sweeper"}  # never the order saga's sweeper's metrics
