"""The API key value that ties a client to its API Gateway usage plan.

The authorizer returns it as ``usageIdentifierKey``; the program creates each client's key
with the same value. It meters and throttles; it authenticates nothing (the JWT does), so it
is derived from the client id rather than kept secret.
"""


def usage_plan_key(client_id: str) -> str:
    """API Gateway wants 20 to 128 characters."""
    return f"order-saga-usage-plan-{client_id}"[:128]
