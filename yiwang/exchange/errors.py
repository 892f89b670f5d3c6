"""The exchange's errors: each names the rule that said no."""

from __future__ import annotations

from typing import Any

from yiwang.kit.errors import Conflict, NotFound, PermissionDenied, PlatformError, RateLimited


class ListingRefused(PlatformError):
    """A listing that breaks a market rule (无场景不登记、无登记不交易、无合规不上架)."""

    code = "listing_refused"
    status = 422


class WrongState(Conflict):
    code = "wrong_state"


class SoldOut(Conflict):
    code = "sold_out"


class NotMember(PermissionDenied):
    code = "not_member"


class ListingNotFound(NotFound):
    code = "listing_not_found"


class ContractNotFound(NotFound):
    code = "contract_not_found"


class NodeNotFound(NotFound):
    code = "node_not_found"


class DeliveryDenied(PermissionDenied):
    """A delivery call the contract does not allow (now); ``code`` says which check failed."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, code=code, details={"reason": code, **details})


class CallLimitReached(RateLimited):
    code = "call_limit"


class SandboxRefused(PlatformError):
    """A sandbox query refused by the rules of 可用不可见 (the reason says which)."""

    status = 422

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, details={"reason": code})
