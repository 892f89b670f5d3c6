"""Errors of the sharing network; the gateway's refusals carry a reason code in ``details``."""

from __future__ import annotations

from typing import Any

from yiwang.kit.errors import Conflict, NotFound, PermissionDenied, RateLimited


class RequestNotFound(NotFound):
    code = "request_not_found"


class GrantNotFound(NotFound):
    code = "grant_not_found"


class ObjectionNotFound(NotFound):
    code = "objection_not_found"


class DemandNotFound(NotFound):
    code = "demand_not_found"


class WrongState(Conflict):
    code = "wrong_state"


class Duplicate(Conflict):
    code = "duplicate_request"


class GatewayDenied(PermissionDenied):
    """A gateway refusal (403) with its machine-readable reason."""

    code = "gateway_denied"

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message, details={"reason": reason, **details})
        self.reason = reason


class QuotaExceeded(RateLimited):
    code = "quota_exceeded"
