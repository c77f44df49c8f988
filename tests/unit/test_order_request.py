"""The intake's request validation (msgspec), without AWS: what it refuses, what it stores, and
the idempotency hash, which must not change when the validation library does."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jsonschema
import pytest

from components.api import request_schema
from handlers.intake import ApiError, parse_order
from handlers.order_request import address, canonical

ADDRESS = {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}
ORDER: dict[str, Any] = {
    "items": [{"sku": "HOODIE-M", "quantity": 1}, {"sku": "TEE", "quantity": 2}],
    "shippingAddress": ADDRESS,
    "paymentToken": "tok_visa",
    "loyaltyPoints": 100,
}
# The pydantic model's model_dump_json(), hashed, for these two bodies (taken before the change):
# a client retrying across the deploy must still match its order, not get a 409.
PYDANTIC_HASHES = {
    "plain": "60bdd6b6346968069dd0d9716644423fb7437777a3f7a00f66c8a70f4dc56248",
    "padded unicode, defaults": "e33296ce61b8af60ae07cf3a084462ec31bc3dc839229a2548a2e765f907aa6b",
}
UNICODE_ORDER = {
    "paymentToken": "tok_x",
    "items": [{"quantity": 3, "sku": "A"}],
    "shippingAddress": {
        "country": "DE",
        "name": '  Jürgen "Q" \\ ü 😀 ',
        "line1": "Straße 1\t",
        "line2": "c/o <x>\u001f",
        "city": "Köln",
        "postalCode": "50667",
    },
}


def refusal(body: Any) -> ApiError:
    with pytest.raises(ApiError) as refused:
        parse_order(body if isinstance(body, str) else json.dumps(body))
    return refused.value


def with_line(**line: Any) -> dict[str, Any]:
    return {**ORDER, "items": [{"sku": "TEE", "quantity": 1, **line}]}


def with_address(**fields: Any) -> dict[str, Any]:
    return {**ORDER, "shippingAddress": {**ADDRESS, **fields}}


@pytest.mark.parametrize(
    ("name", "body"),
    [("plain", ORDER), ("padded unicode, defaults", UNICODE_ORDER)],
)
def test_request_hash_is_the_one_the_pydantic_model_gave(name: str, body: dict[str, Any]) -> None:
    assert hashlib.sha256(canonical(parse_order(json.dumps(body)))).hexdigest() == PYDANTIC_HASHES[name]


def test_address_is_stored_stripped_without_an_absent_line2() -> None:
    stored = address(parse_order(json.dumps(UNICODE_ORDER)).shippingAddress)
    assert stored["name"] == 'Jürgen "Q" \\ ü 😀' and stored["line1"] == "Straße 1"
    assert stored["line2"] == "c/o <x>\u001f"  # U+001F is not Unicode white space: kept, as before
    assert "line2" not in address(parse_order(json.dumps(ORDER)).shippingAddress)


MALFORMED: dict[str, Any] = {
    "quantity as a float": with_line(quantity=1.0),
    "quantity as a boolean": with_line(quantity=True),
    "quantity as a string": with_line(quantity="1"),
    "quantity over 10": with_line(quantity=11),
    "points as null": {**ORDER, "loyaltyPoints": None},
    "points over the cap": {**ORDER, "loyaltyPoints": 1_000_001},
    "SKU with a trailing newline": with_line(sku="TEE\n"),
    "SKU in lower case": with_line(sku="tee"),
    "SKU too long": with_line(sku="T" * 41),
    "token with a trailing newline": {**ORDER, "paymentToken": "tok_visa\n"},
    "token without its prefix": {**ORDER, "paymentToken": "visa"},
    "country with a trailing newline": with_address(country="US\n"),
    "country in lower case": with_address(country="us"),
    "blank name": with_address(name="   "),
    "name too long": with_address(name="x" * 101),
    "postal code as a number": with_address(postalCode=12345),
    "unknown address field": with_address(phone="555"),
    "address missing a city": {**ORDER, "shippingAddress": {k: v for k, v in ADDRESS.items() if k != "city"}},
    "no payment token": {k: v for k, v in ORDER.items() if k != "paymentToken"},
    "21 lines": {**ORDER, "items": [{"sku": f"S{n}", "quantity": 1} for n in range(21)]},
    "a line that is a list": {**ORDER, "items": [["TEE", 1]]},
    "a body that is a JSON string": '"TEE"',
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_order_is_a_422(case: str) -> None:
    refused = refusal(MALFORMED[case])
    assert (refused.status, refused.code) == (422, "invalid_order"), refused.details


@pytest.mark.parametrize("body", ["", "{", "{'items': []}", '{"items": NaN}'])
def test_a_body_that_is_not_json_is_a_400(body: str) -> None:
    assert (refusal(body).status, refusal(body).code) == (400, "malformed_json")


def test_the_problem_names_its_field_as_a_dotted_path() -> None:
    assert refusal(with_line(quantity=0)).details == [{"field": "items.0.quantity", "problem": "Expected `int` >= 1"}]
    assert refusal([ORDER]).details == [{"field": "", "problem": "Expected `object`, got `array`"}]


def test_the_api_gateway_model_refuses_no_order_the_intake_accepts_and_uses_json_schema_anchors() -> None:
    schema = request_schema()
    assert "\\Z" not in json.dumps(schema)
    validator = jsonschema.Draft4Validator(schema)
    for body in (ORDER, UNICODE_ORDER, with_address(line2="   ")):
        parse_order(json.dumps(body))
        assert validator.is_valid(body)
    # and what the gateway lets through with a bad shape, the intake refuses (the gateway's
    # regexes may differ from Python's on a trailing newline: the intake is the strict gate)
    for case in ("SKU with a trailing newline", "blank name", "unknown address field"):
        assert refusal(MALFORMED[case]).code == "invalid_order"
