"""What a client may send to ``POST /orders``: no prices, totals or statuses.

Shared by the intake Lambda (strict validation, 422) and the API Gateway request model
(its JSON schema, 400: ``json_schema()``), so the two can never disagree about the shape.

msgspec rather than pydantic: importing pydantic and building these models was about a third
of a bare boto3 import on the intake's cold start; msgspec imports in about 5 ms and checks
the same constraints while it parses (README, Cold start). Strict as before: no type is
coerced (``"1"``, ``1.0`` and ``true`` are not quantities), unknown fields are refused at every
level (a smuggled ``price``, ``total`` or ``status``), every bound and pattern holds.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

# Python's ``$`` also matches before a trailing newline ("TEE\n" would pass); ``\Z`` does not.
# JSON Schema's regexes (ECMA 262) have no ``\Z``, and their ``$`` already means the end of
# the input: json_schema() writes ``$``.
_END = r"\Z"

Sku = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9][A-Z0-9-]{0,39}" + _END)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=10)]
PaymentToken = Annotated[str, msgspec.Meta(pattern=r"^tok_[A-Za-z0-9_]{1,64}" + _END)]
Points = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}" + _END)]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Street = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Street2 = Annotated[str, msgspec.Meta(max_length=200)]
City = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
PostalCode = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]

# Unicode's White_Space characters: what the pydantic model stripped (Python's str.strip()
# would also strip U+001C..U+001F, and change the stored address and the request hash).
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


class LineRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One line of a requested order: a catalog SKU and how many."""

    sku: Sku
    quantity: Quantity


class AddressRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where to ship. Surrounding whitespace is stripped; a required field left blank is refused."""

    name: Name
    line1: Street
    line2: Street2 | None = None
    city: City
    postalCode: PostalCode
    country: Country

    def __post_init__(self) -> None:
        for field in ("name", "line1", "line2", "city", "postalCode"):
            value = getattr(self, field)
            if value is None:
                continue
            stripped = value.strip(WHITESPACE)
            if not stripped and field != "line2":
                raise ValueError(f"`{field}` is blank")
            setattr(self, field, stripped)


class OrderRequest(msgspec.Struct, forbid_unknown_fields=True):
    """What a client may send: no prices, totals or statuses."""

    items: Annotated[list[LineRequest], msgspec.Meta(min_length=1, max_length=20)]
    shippingAddress: AddressRequest
    paymentToken: PaymentToken
    loyaltyPoints: Points = 0


ORDER_REQUEST = msgspec.json.Decoder(OrderRequest)
"""Parses and validates a request body in one pass (``msgspec.ValidationError`` when it does
not match, ``msgspec.DecodeError`` when it is not JSON)."""


def canonical(request: OrderRequest) -> bytes:
    """The request as compact JSON, fields in declaration order, defaults included: what its
    idempotency hash is taken of (byte for byte what the pydantic model dumped, so a retry
    that spans the change still matches its order; a unit test pins it)."""
    return msgspec.json.encode(request)


def address(value: AddressRequest) -> dict[str, str]:
    """The address as the order item stores it: no ``line2`` when none was sent."""
    return {key: item for key, item in msgspec.structs.asdict(value).items() if item is not None}


def json_schema() -> dict[str, Any]:
    """The request model as JSON Schema (``$defs`` and ``$ref``s as msgspec writes them), its
    patterns anchored with ``$`` as JSON Schema's regexes mean it."""

    def translate(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: value.replace(_END, "$") if key == "pattern" else translate(value) for key, value in node.items()
            }
        if isinstance(node, list):
            return [translate(item) for item in node]
        return node

    return translate(msgspec.json.schema(OrderRequest))  # type: ignore[no-any-return]
