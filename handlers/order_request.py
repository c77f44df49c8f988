"""What a client may send to ``POST /orders``: no prices, totals or statuses.

Shared by the intake Lambda (strict validation, 422) and the API Gateway request model
(its JSON schema, 400), so the two can never disagree about the shape.
"""

from pydantic import BaseModel, ConfigDict, Field

from handlers.orders import Address


class LineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,39}$")
    quantity: int = Field(ge=1, le=10)


class OrderRequest(BaseModel):
    """What a client may send: no prices, totals or statuses."""

    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[LineRequest] = Field(min_length=1, max_length=20)
    shippingAddress: Address
    paymentToken: str = Field(pattern=r"^tok_[A-Za-z0-9_]{1,64}$")
    loyaltyPoints: int = Field(default=0, ge=0, le=1_000_000)
