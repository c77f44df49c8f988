"""The names the parts agree on, each defined once: events, partners, idempotency keys.

Imported by the handlers (which run in Lambda), the components (which wire rules, roles
and environments from the same names) and the sandbox (which plays the partners and Vault).
Pure constants and functions: nothing here costs a cold start.
"""

from __future__ import annotations

from dataclasses import dataclass

ORDER_SUBMITTED_SOURCE = "order-saga.intake"
ORDER_SUBMITTED = "OrderSubmitted"
"""The detail type intake publishes and the saga start rule matches."""


@dataclass(frozen=True)
class Partner:
    """An outside system reached over HTTP with an API key held in Vault."""

    name: str
    """Short name: the Vault role is ``order-saga-<name>``."""
    env_prefix: str
    """``<PREFIX>_URL`` and ``<PREFIX>_VAULT_PATH`` in a function's environment."""
    vault_path: str
    """KV v2 path of the key (field ``api_key``)."""

    @property
    def vault_role(self) -> str:
        return f"order-saga-{self.name}"


PAYMENT_GATEWAY = Partner("payment", "PAYMENT_GATEWAY", "order-saga/payment-gateway")
COURIER = Partner("courier", "COURIER", "order-saga/courier")
PARTNERS = {partner.name: partner for partner in (PAYMENT_GATEWAY, COURIER)}


def step_key(order_id: str, step: str) -> str:
    """The idempotency key of a forward step, shared by our records and the partner's."""
    return f"{order_id}:{step}"


def undo_key(order_id: str, step: str) -> str:
    """The idempotency key of the compensator that undoes ``step``."""
    return f"{step_key(order_id, step)}:undo"
