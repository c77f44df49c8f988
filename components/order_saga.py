"""The order saga: the retailer's checkout as four steps, each with its compensator.

The exception class names are the contract with the handlers: a handler raises
``PaymentGatewayUnavailable`` (transient: retry) or ``PaymentDeclined`` (clean: nothing
happened, compensate the steps before); any other failure may have had its effect and
compensates the step too. ``AlreadyCompensated`` (a late or second run met its fence) is clean
for every step. The names are taken from the classes themselves, so a renamed class cannot
silently stop retrying.
"""

from components.saga import SagaDefinition, SagaStep
from handlers.errors import (
    AlreadyCompensated,
    CourierUnavailable,
    InsufficientPoints,
    InventoryUnavailable,
    LoyaltyLedgerUnavailable,
    NoCourierCapacity,
    OutOfStock,
    PaymentDeclined,
    PaymentGatewayUnavailable,
)


def _clean(*refusals: type[Exception]) -> tuple[str, ...]:
    """A step's "nothing happened" errors: its own refusals, and meeting its fence."""
    return tuple(error.__name__ for error in (*refusals, AlreadyCompensated))


ORDER_SAGA = SagaDefinition(
    name="order",
    steps=[
        SagaStep(
            "AuthorizePayment",
            compensation="RefundPayment",
            transient_errors=(PaymentGatewayUnavailable.__name__,),
            clean_errors=_clean(PaymentDeclined),
        ),
        SagaStep(
            "ReserveInventory",
            compensation="ReleaseInventory",
            transient_errors=(InventoryUnavailable.__name__,),
            clean_errors=_clean(OutOfStock),
        ),
        SagaStep(
            "BurnLoyaltyPoints",
            compensation="RestoreLoyaltyPoints",
            transient_errors=(LoyaltyLedgerUnavailable.__name__,),
            clean_errors=_clean(InsufficientPoints),
        ),
        SagaStep(
            "BookShipment",
            compensation="CancelShipment",
            transient_errors=(CourierUnavailable.__name__,),
            clean_errors=_clean(NoCourierCapacity),
        ),
    ],
)
