"""Every rule of the pack, one module per concern."""

from pulumi_policy import Policy

from policies.rules import api, dynamodb, events, functions, iam, queues, state_machines, tags

POLICIES: list[Policy] = [
    *iam.POLICIES,
    *dynamodb.POLICIES,
    *queues.POLICIES,
    *functions.POLICIES,
    *state_machines.POLICIES,
    *api.POLICIES,
    *events.POLICIES,
    *tags.POLICIES,
]
