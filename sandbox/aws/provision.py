"""Provision a synthesized resource graph into the embedded AWS (moto) and the local runtime.

Each resource type the sandbox models has a provisioner here; functions go to the local
Lambda runtime, event source mappings to pollers, API Gateway resources to the local API
server. Every other type is listed once in ``Provisioned.unmodeled``, never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from sandbox.runtime.functions import FunctionSpec
from synth.graph import Graph, Resource


@dataclass(frozen=True)
class MappingSpec:
    """An SQS event source mapping: poll ``queue_url``, invoke ``function`` with batches."""

    queue_url: str
    queue_arn: str
    function: str
    batch_size: int
    max_concurrency: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class ScheduleSpec:
    """A scheduled EventBridge rule with a Lambda target (moto stores it and never fires it)."""

    rule: str
    expression: str
    function: str


@dataclass
class Provisioned:
    functions: list[FunctionSpec] = field(default_factory=list)
    mappings: list[MappingSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    queue_urls: dict[str, str] = field(default_factory=dict)  # name -> moto URL
    replicas: dict[str, list[str]] = field(default_factory=dict)
    """Global tables: name -> every region holding a replica (this one first)."""
    unmodeled: Counter[str] = field(default_factory=Counter)


# Resource types that are no cloud resource (components, stack references) or that the local
# API server reads straight from the graph.
SERVED_FROM_GRAPH = ("aws:apigateway/",)
NOT_RESOURCES = ("order-saga:", "pulumi:")


class Provisioner:
    def __init__(self, session: boto3.Session, endpoint: str) -> None:
        def client(service: Any) -> Any:
            return session.client(service, endpoint_url=endpoint)

        self.session, self.endpoint = session, endpoint

        self.dynamodb = client("dynamodb")
        self.sqs = client("sqs")
        self.events = client("events")
        self.sfn = client("stepfunctions")
        self.iam = client("iam")
        self.logs = client("logs")
        self.sns = client("sns")
        self.cloudwatch = client("cloudwatch")
        self.result = Provisioned()
        self.schedule_expressions: dict[str, str] = {}
        self.handlers: dict[str, Callable[[Resource], None]] = {
            "aws:dynamodb/table:Table": self.table,
            "aws:sqs/queue:Queue": self.queue,
            "aws:sqs/queuePolicy:QueuePolicy": self.queue_policy,
            "aws:cloudwatch/eventBus:EventBus": self.bus,
            "aws:cloudwatch/eventArchive:EventArchive": self.archive,
            "aws:cloudwatch/eventRule:EventRule": self.rule,
            "aws:cloudwatch/eventTarget:EventTarget": self.target,
            "aws:iam/role:Role": self.role,
            "aws:iam/rolePolicy:RolePolicy": self.role_policy,
            "aws:cloudwatch/logGroup:LogGroup": self.log_group,
            "aws:sfn/stateMachine:StateMachine": self.state_machine,
            "aws:sns/topic:Topic": self.topic,
            "aws:cloudwatch/metricAlarm:MetricAlarm": self.alarm,
            "aws:lambda/function:Function": self.function,
            "aws:lambda/eventSourceMapping:EventSourceMapping": self.mapping,
        }

    def provision(self, graph: Graph) -> Provisioned:
        # Dependencies first: dead-letter queues before the queues that name them.
        # Dependencies first: roles before their policies, queues (dead-letter queues first)
        # before what names them.
        ordered = sorted(
            graph.resources,
            key=lambda r: (
                r.type != "aws:iam/role:Role",
                r.type != "aws:sqs/queue:Queue",
                "redrivePolicy" in r.inputs,
            ),
        )
        for resource in ordered:
            typ = resource.type
            handler = self.handlers.get(typ)
            if handler is not None:
                handler(resource)
            elif not typ.startswith(NOT_RESOURCES + SERVED_FROM_GRAPH):
                self.result.unmodeled[typ] += 1
        return self.result

    # -- one provisioner per modeled type ------------------------------------------------------

    def table(self, resource: Resource) -> None:
        inputs = resource.inputs
        keys = [{"AttributeName": inputs["hashKey"], "KeyType": "HASH"}]
        if inputs.get("rangeKey"):
            keys.append({"AttributeName": inputs["rangeKey"], "KeyType": "RANGE"})
        arguments: dict[str, Any] = {
            "TableName": inputs["name"],
            "KeySchema": keys,
            "AttributeDefinitions": [
                {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs["attributes"]
            ],
            "BillingMode": inputs.get("billingMode", "PROVISIONED"),
        }
        if arguments["BillingMode"] == "PROVISIONED":
            arguments["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        indexes = inputs.get("globalSecondaryIndexes") or []
        if indexes:
            arguments["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index["name"],
                    "KeySchema": [{"AttributeName": index["hashKey"], "KeyType": "HASH"}]
                    + ([{"AttributeName": index["rangeKey"], "KeyType": "RANGE"}] if index.get("rangeKey") else []),
                    "Projection": {"ProjectionType": index.get("projectionType", "ALL")},
                }
                for index in indexes
            ]
        if inputs.get("streamEnabled"):
            arguments["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": inputs["streamViewType"],
            }
        self.dynamodb.create_table(**arguments)
        # A global table: its replicas exist in their regions (moto's UpdateTable creates none;
        # the embedded AWS replicates between them, sandbox/aws/moto_patches.py).
        replicas = [str(r["regionName"]) for r in inputs.get("replicas") or []]
        if replicas:
            for region in replicas:
                self.session.client("dynamodb", region_name=region, endpoint_url=self.endpoint).create_table(
                    **arguments
                )
            self.result.replicas[inputs["name"]] = [self.session.region_name, *replicas]

    def queue(self, resource: Resource) -> None:
        inputs = resource.inputs
        attributes = {
            "MessageRetentionPeriod": str(int(inputs.get("messageRetentionSeconds", 345600))),
            "VisibilityTimeout": str(int(inputs.get("visibilityTimeoutSeconds", 30))),
        }
        if inputs.get("redrivePolicy"):
            attributes["RedrivePolicy"] = inputs["redrivePolicy"]
        url = self.sqs.create_queue(QueueName=inputs["name"], Attributes=attributes)["QueueUrl"]
        self.result.queue_urls[inputs["name"]] = url

    def queue_policy(self, resource: Resource) -> None:
        name = resource.inputs["queueUrl"].rsplit("/", 1)[-1]
        self.sqs.set_queue_attributes(
            QueueUrl=self.result.queue_urls[name], Attributes={"Policy": resource.inputs["policy"]}
        )

    def bus(self, resource: Resource) -> None:
        self.events.create_event_bus(Name=resource.inputs["name"])

    def archive(self, resource: Resource) -> None:
        inputs = resource.inputs
        self.events.create_archive(
            ArchiveName=inputs["name"],
            EventSourceArn=inputs["eventSourceArn"],
            RetentionDays=int(inputs.get("retentionDays", 0)),
        )

    def rule(self, resource: Resource) -> None:
        inputs = resource.inputs
        if "scheduleExpression" in inputs:
            self.events.put_rule(Name=inputs["name"], ScheduleExpression=inputs["scheduleExpression"])
            self.schedule_expressions[inputs["name"]] = inputs["scheduleExpression"]
            return
        self.events.put_rule(
            Name=inputs["name"],
            EventBusName=inputs.get("eventBusName", "default"),
            EventPattern=inputs["eventPattern"],
        )

    def target(self, resource: Resource) -> None:
        inputs = resource.inputs
        target = {"Id": inputs.get("targetId", resource.name[:64]), "Arn": inputs["arn"]}
        if inputs.get("roleArn"):
            target["RoleArn"] = inputs["roleArn"]
        if inputs.get("deadLetterConfig"):
            target["DeadLetterConfig"] = {"Arn": inputs["deadLetterConfig"]["arn"]}
        if inputs.get("retryPolicy"):
            policy = inputs["retryPolicy"]
            target["RetryPolicy"] = {
                "MaximumEventAgeInSeconds": int(policy["maximumEventAgeInSeconds"]),
                "MaximumRetryAttempts": int(policy["maximumRetryAttempts"]),
            }
        self.events.put_targets(
            Rule=inputs["rule"], EventBusName=inputs.get("eventBusName", "default"), Targets=[target]
        )
        if inputs["rule"] in self.schedule_expressions and ":function:" in inputs["arn"]:
            self.result.schedules.append(
                ScheduleSpec(inputs["rule"], self.schedule_expressions[inputs["rule"]], inputs["arn"])
            )

    def role(self, resource: Resource) -> None:
        inputs = resource.inputs
        self.iam.create_role(RoleName=inputs["name"], AssumeRolePolicyDocument=inputs["assumeRolePolicy"])

    def role_policy(self, resource: Resource) -> None:
        inputs = resource.inputs
        self.iam.put_role_policy(RoleName=inputs["role"], PolicyName=resource.name, PolicyDocument=inputs["policy"])

    def log_group(self, resource: Resource) -> None:
        self.logs.create_log_group(logGroupName=resource.inputs["name"])

    def state_machine(self, resource: Resource) -> None:
        inputs = resource.inputs
        self.sfn.create_state_machine(
            name=inputs["name"],
            definition=inputs["definition"],
            roleArn=inputs["roleArn"],
            type=inputs.get("type", "STANDARD"),
        )

    def topic(self, resource: Resource) -> None:
        self.sns.create_topic(Name=resource.inputs["name"])

    def alarm(self, resource: Resource) -> None:
        inputs = resource.inputs
        arguments: dict[str, Any] = {
            "AlarmName": inputs["name"],
            "EvaluationPeriods": int(inputs["evaluationPeriods"]),
            "Threshold": float(inputs["threshold"]),
            "ComparisonOperator": inputs["comparisonOperator"],
            "AlarmActions": list(inputs.get("alarmActions", [])),
        }
        if "metricName" in inputs:
            arguments |= {
                "Namespace": inputs["namespace"],
                "MetricName": inputs["metricName"],
                "Statistic": inputs["statistic"],
                "Period": int(inputs["period"]),
                "Dimensions": [{"Name": k, "Value": v} for k, v in inputs.get("dimensions", {}).items()],
            }
        else:
            arguments["Metrics"] = [_metric_query(query) for query in inputs.get("metricQueries", [])]
        self.cloudwatch.put_metric_alarm(**arguments)

    def function(self, resource: Resource) -> None:
        inputs = resource.inputs
        self.result.functions.append(
            FunctionSpec(
                name=inputs["name"],
                arn=resource.outputs["arn"],
                handler=inputs["handler"],
                environment=dict((inputs.get("environment") or {}).get("variables") or {}),
                timeout_seconds=float(inputs.get("timeout", 3)),
                memory_mb=int(inputs.get("memorySize", 128)),
                reserved_concurrency=int(inputs["reservedConcurrentExecutions"])
                if inputs.get("reservedConcurrentExecutions") is not None
                else None,
            )
        )

    def mapping(self, resource: Resource) -> None:
        inputs = resource.inputs
        name = inputs["eventSourceArn"].rsplit(":", 1)[-1]
        self.result.mappings.append(
            MappingSpec(
                queue_url=self.result.queue_urls[name],
                queue_arn=inputs["eventSourceArn"],
                function=inputs["functionName"],
                batch_size=int(inputs.get("batchSize", 10)),
                max_concurrency=int((inputs.get("scalingConfig") or {}).get("maximumConcurrency", 2)),
                report_batch_item_failures="ReportBatchItemFailures" in (inputs.get("functionResponseTypes") or []),
            )
        )


def _metric_query(query: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"Id": query["id"], "ReturnData": bool(query.get("returnData", False))}
    if "expression" in query:
        converted["Expression"] = query["expression"]
    if "metric" in query:
        metric = query["metric"]
        converted["MetricStat"] = {
            "Metric": {
                "Namespace": metric["namespace"],
                "MetricName": metric["metricName"],
                "Dimensions": [{"Name": k, "Value": v} for k, v in metric.get("dimensions", {}).items()],
            },
            "Period": int(metric["period"]),
            "Stat": metric["stat"],
        }
    return converted
