"""Errors the simulator answers with, in Adobe Commerce's envelope.

Magento sends the *template* in ``message`` and the values in ``parameters`` (an object for
``%name`` placeholders, a list for ``%1``/``%2``), adds ``errors`` only for aggregate exceptions
and omits empty keys. Clients fill the placeholders themselves.
"""

from __future__ import annotations

from typing import Any

PRODUCT_NOT_FOUND = "The product that was requested doesn't exist. Verify the product and try again."
ENTITY_NOT_FOUND = "The entity that was requested doesn't exist. Verify the entity and try again."
NO_ROUTE = "Request does not match any route."
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
REQUIRED_FIELD = '"%fieldName" is required. Enter and try again.'
INVALID_FIELD_VALUE = 'Invalid value of "%value" provided for the %fieldName field.'
TYPE_ERROR = 'Error occurred during "%field_name" processing. %details'


class ApiError(Exception):
    """Raised by handlers; rendered as ``{"message", "parameters"?, "errors"?}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        parameters: dict[str, Any] | list[Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameters = parameters
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.parameters:
            body["parameters"] = self.parameters
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found_product() -> ApiError:
    return ApiError(404, PRODUCT_NOT_FOUND)


def not_found_entity() -> ApiError:
    return ApiError(404, ENTITY_NOT_FOUND)


def required(field: str) -> ApiError:
    return ApiError(400, REQUIRED_FIELD, {"fieldName": field})


def invalid_value(field: str, value: object) -> ApiError:
    return ApiError(400, INVALID_FIELD_VALUE, {"value": str(value), "fieldName": field})


def type_error(field: str, value: object, expected: str) -> ApiError:
    details = (
        f'The "{value}" value\'s type is invalid. The "{expected}" type was expected. Verify and try again.'
    )
    return ApiError(400, TYPE_ERROR, {"field_name": field, "details": details})


def bad_request(message: str, parameters: dict[str, Any] | list[Any] | None = None) -> ApiError:
    return ApiError(400, message, parameters)
