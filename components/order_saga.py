"""The order saga: the retailer's checkout as four steps, each with its compensator.

The exception class names are the contract with the handlers: a handler raises
``PaymentDeclined`` (domain: compensate) or ``PaymentGatewayUnavailable`` (transient: retry).
They are taken from the classes themselves, so a renamed class cannot silently stop retrying.
"""

from components.saga import SagaDefinition, SagaStep
from handlers.errors import (
    CourierUnavailable,
    InventoryUnavailable,
    LoyaltyLedgerUnavailable,
    PaymentGatewayUnavailable,
)

ORDER_SAGA = SagaDefinition(
    name="order",
    steps=[
        SagaStep(
            "AuthorizePayment",
            compensation="RefundPayment",
            transient_errors=(PaymentGatewayUnavailable.__name__,),
        ),
        SagaStep(
            "ReserveInventory",
            compensation="ReleaseInventory",
            transient_errors=(InventoryUnavailable.__name__,),
        ),
        SagaStep(
            "BurnLoyaltyPoints",
            compensation="RestoreLoyaltyPoints",
            transient_errors=(LoyaltyLedgerUnavailable.__name__,),
        ),
        SagaStep(
            "BookShipment",
            compensation="CancelShipment",
            transient_errors=(CourierUnavailable.__name__,),
        ),
    ],
)
