"""The returns saga, a second saga beside the order saga: a team's whole program.

    ReceiveReturn (undo: RejectReturn) -> RefundReturn -> RestockReturn

``saga.SagaRegion.beside_order_saga`` builds the returns table, bus, archive and alarm topic, and
lets the tasks be granted the order program's tables; ``SagaService`` every step's functions,
roles, dead-letter queue and alarm, the state machine, the start path (``ReturnRequested`` on
the returns bus), the sweeper and the dashboard. The handlers are ``handlers/returns.py``.
Deploy it beside the order saga's stack, with its config; in the sandbox:
``python -m sandbox up --also examples/returns_saga.py``.
"""

from components import saga_service as saga

steps = [
    saga.SagaStep("ReceiveReturn", compensation="RejectReturn", clean_errors=("ReturnNotAllowed",)),
    saga.SagaStep("RefundReturn", clean_errors=("RefundRefused",), transient_errors=("PaymentGatewayUnavailable",)),
    saga.SagaStep("RestockReturn", transient_errors=("InventoryUnavailable",)),
]
tasks = {
    "ReceiveReturn": saga.Task("handlers.returns.receive_handler", {"orders": "read"}),
    "RejectReturn": saga.Task("handlers.returns.reject_handler"),
    "RefundReturn": saga.Task("handlers.returns.refund_handler", {"orders": "read"}, partner="payment"),
    "RestockReturn": saga.Task("handlers.returns.restock_handler", {"orders": "read", "inventory": "write"}),
}
region = saga.SagaRegion.beside_order_saga("returns", saga.load(), tags={"team": "returns"})
start = saga.StartEvent("returns-desk", "ReturnRequested")
returns = saga.SagaService("returns", saga.SagaServiceArgs(saga.SagaDefinition("returns", steps), tasks, region, start))
returns.export()
