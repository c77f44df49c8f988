"""What a client may send to ``POST /orders``: no prices, totals or statuses.

Shared by the intake Lambda (strict validation, 422) and the API Gateway request model
(its JSON schema, 400), so the two can never disagree about the shape.
"""

from pydantic import BaseModel, ConfigDict, Field


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postalCode: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$")


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
