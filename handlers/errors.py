"""Business failures as exception classes.

The class name is the contract with the state machine (components/order_saga.py): Step
Functions matches Retry and Catch on it. ``*Unavailable`` errors are transient and retried;
every other error is a domain error and sends the order to compensation at once.
"""


class OrderNotFound(Exception):
    """The saga names an order the orders table does not hold."""


class AlreadyCompensated(Exception):
    """This step's compensator already ran for the order (or the order is settled as cancelled):
    a late or second run refuses to redo the effect."""


class PaymentDeclined(Exception):
    """The card issuer refused the charge."""


class PaymentGatewayUnavailable(Exception):
    """The payment gateway timed out or answered 5xx/429; try again later."""


class OutOfStock(Exception):
    """No shard of a SKU holds the quantity ordered."""


class InventoryUnavailable(Exception):
    """DynamoDB throttled or a transaction conflicted; try again later."""


class InsufficientPoints(Exception):
    """The customer's loyalty balance is below the points the order burns."""


class LoyaltyLedgerUnavailable(Exception):
    """The loyalty table throttled or a transaction conflicted; try again later."""


class NoCourierCapacity(Exception):
    """The courier has no slot left for this order."""


class CourierUnavailable(Exception):
    """The courier API timed out or answered 5xx/429; try again later."""


class PartnerRejected(Exception):
    """A partner refused our request as malformed or unauthorized: a bug or a bad key, not load."""
