"""Every rule of the pack, one module per concern."""

from pulumi_policy import Policy

from policies.rules import (
    api,
    dynamodb,
    events,
    functions,
    iam,
    observability,
    queues,
    state_machines,
    tags,
    topics,
)

POLICIES: list[Policy] = [
    *iam.POLICIES,
    *dynamodb.POLICIES,
    *queues.POLICIES,
    *functions.POLICIES,
    *state_machines.POLICIES,
    *api.POLICIES,
    *events.POLICIES,
    *topics.POLICIES,
    *observability.POLICIES,
    *tags.POLICIES,
]
