"""The names the parts agree on, each defined once: events, partners, idempotency keys, fences.

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


# -- fences: an effect and its undo ------------------------------------------------------------
#
# Every compensator leaves a durable record that it ran (its fence), and every forward effect
# is conditioned on that record's absence. A task Step Functions timed out keeps running in
# Lambda, and a second saga may run for the same order: neither may redo an undone effect.


def fence_key(order_id: str, step: str) -> str:
    """Key of the fence item ``step``'s compensator writes in the step's own table (inventory,
    loyalty), in the same transaction as its undo, or alone when there was nothing to undo."""
    return f"FENCE#{undo_key(order_id, step)}"


def fence_attribute(step: str) -> str:
    """Order-item attribute every compensator sets first (before it calls a partner, or writes
    its table's fence); a forward step refuses when it finds it, and its stamp (the record that
    it completed) is conditioned on its absence."""
    return f"{step}Undone"


CANCELLED_COMPENSATED = "CANCELLED_COMPENSATED"
"""The order status a compensated saga writes (``components.saga.Status``; a unit test keeps
them equal): no forward step acts on an order in it."""
