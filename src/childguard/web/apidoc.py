"""What the JSON API answers besides success, stated in /openapi.json: every route declares
its error statuses, with the bodies the app's exception handlers really send."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Body of every error but 422: `{"detail": "what went wrong"}`."""

    detail: str


class FieldErrorOut(BaseModel):
    """One problem in a 422 body: where, what, and pydantic's error type."""
    loc: list[str] = Field(description="where: body, field name, list index")
    msg: str = Field(description="what is wrong (the submitted value is never echoed)")
    type: str = Field(description="pydantic's error type, e.g. missing, value_error")


class ValidationErrorOut(BaseModel):
    """Body of a 422: one entry per problem."""

    detail: list[FieldErrorOut]


_WHY = {
    400: "the body is not JSON",
    401: "not signed in",
    403: "signed in without the right (admin only, escalated row) or CSRF token missing/wrong",
    404: "no such token, task or request",
    409: "conflict with the current state",
    413: "request body too large",
    422: "the request does not match the schema, or a value the schema cannot check is wrong",
    429: "rate limited; see Retry-After",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route answering these error statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        model = ValidationErrorOut if code == 422 else ErrorOut
        entry: dict[str, Any] = {"model": model, "description": _WHY[code]}
        if code == 429:
            entry["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
            }
        out[code] = entry
    return out
