"""``GET /health``: 200 while this region is the active one, 503 while it is passive.

Route 53 health-checks each region's API here and answers the custom domain with the failover
record of the region that is healthy (README, "Disaster recovery": clients and the custom
domain). Healthy means *active*, read from the control item on this region's replica
(``handlers.ownership``), not merely "the function runs": a passive standby, or a lost primary
that came back after the standby was promoted, answers 503, so the domain never points clients
at a region that would refuse their orders. The route is public (no authorizer: Route 53's
checkers carry no token) and says nothing but the region and whether it is active.

Pure boto3 and the standard library: it answers every 10 s from each checker location.
"""

from __future__ import annotations

import json
import os
from typing import Any

from handlers import ownership


def answer(control: ownership.RegionControl | None, region: str) -> dict[str, Any]:
    """The API Gateway proxy response: 200 when ``control`` says this region is active."""
    try:
        active = control.active() if control is not None else True
    except Exception:  # the table is unreachable: not a region to send clients to
        active = False
    return {
        "statusCode": 200 if active else 503,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps({"region": region, "active": active}),
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return answer(ownership.from_environment(), os.environ.get("AWS_REGION", ""))
