"""Checks against the account that must pass before the program creates anything.

Reserved concurrency is taken from the account's regional concurrency quota, and Lambda
refuses any reservation that would leave fewer than 100 unreserved executions
(``UnreservedConcurrentExecutions`` >= 100). New accounts often start far below the default
1,000, so the program reads the quota first and fails naming the settings, instead of
failing half-way through an update on the first ``PutFunctionConcurrency``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_aws as aws

from components.config import ConfigError

LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"
"""Service Quotas' code for Lambda's "Concurrent executions" (per account and region)."""
UNRESERVED_MINIMUM = 100


def concurrency_problems(reserved: Mapping[str, int], quota: float, region: str) -> list[str]:
    """What is wrong with reserving ``reserved`` (function -> executions) under ``quota``."""
    total = sum(reserved.values())
    if total + UNRESERVED_MINIMUM <= quota:
        return []
    detail = ", ".join(f"{name} {count}" for name, count in sorted(reserved.items()))
    return [
        f"reserved concurrency {total} ({detail}) needs a Lambda concurrency quota of at least "
        f"{total + UNRESERVED_MINIMUM} in {region} (100 stay unreserved); the quota is {quota:g}: lower "
        "order-saga:paymentConcurrency / order-saga:courierConcurrency or raise the quota "
        f"({LAMBDA_CONCURRENCY_QUOTA}) first"
    ]


def check_concurrency_quota(reserved: Mapping[str, int], region: str) -> None:
    """Read the region's quota (a blocking invoke: nothing is registered before it answers)."""
    if not reserved:
        return
    quota = aws.servicequotas.get_service_quota(service_code="lambda", quota_code=LAMBDA_CONCURRENCY_QUOTA)
    problems = concurrency_problems(reserved, float(quota.value), region)
    if problems:
        raise ConfigError("; ".join(problems))
