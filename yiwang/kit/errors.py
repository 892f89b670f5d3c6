"""One error hierarchy for the whole platform.

Every expected failure is a :class:`PlatformError` carrying a stable machine
``code``, a Chinese ``message`` for people, an HTTP ``status`` and optional
``details`` (for example the list of bad rows of an import). A single handler
in the app renders them as ``{"error": {"code", "message", "details"}}``; the
CLI prints the message and exits non-zero. Networks subclass these in their own
``errors.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PlatformError(Exception):
    """An expected failure: the caller's mistake or a rule that says no."""

    code: ClassVar[str] = "platform_error"
    status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        # Instance overrides let one class serve several specific codes.
        if code is not None:
            self.code = code  # type: ignore[misc]
        if status is not None:
            self.status = status  # type: ignore[misc]

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(PlatformError):
    """A value that breaks its format (ID number, credit code, field ...)."""

    code = "invalid_input"
    status = 422


class NotFound(PlatformError):
    code = "not_found"
    status = 404


class Conflict(PlatformError):
    """The change clashes with what exists (duplicate name, wrong state ...)."""

    code = "conflict"
    status = 409


class AuthenticationRequired(PlatformError):
    code = "authentication_required"
    status = 401


class PermissionDenied(PlatformError):
    code = "permission_denied"
    status = 403


class RateLimited(PlatformError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ConfigurationError(PlatformError):
    """The platform itself is set up wrongly (missing key, unknown suite ...)."""

    code = "configuration_error"
    status = 500
