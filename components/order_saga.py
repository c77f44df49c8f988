"""The order saga: the retailer's checkout as four steps, each with its compensator.

The exception class names here are the contract with the handlers: a handler raises
``PaymentDeclined`` (domain: compensate) or ``PaymentGatewayUnavailable`` (transient: retry).
"""

from components.saga import SagaDefinition, SagaStep

ORDER_SAGA = SagaDefinition(
    name="order",
    steps=[
        SagaStep("AuthorizePayment", compensation="RefundPayment", transient_errors=("PaymentGatewayUnavailable",)),
        SagaStep("ReserveInventory", compensation="ReleaseInventory", transient_errors=("InventoryUnavailable",)),
        SagaStep(
            "BurnLoyaltyPoints",
            compensation="RestoreLoyaltyPoints",
            transient_errors=("LoyaltyLedgerUnavailable",),
        ),
        SagaStep("BookShipment", compensation="CancelShipment", transient_errors=("CourierUnavailable",)),
    ],
)
