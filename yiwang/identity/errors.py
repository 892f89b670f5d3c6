"""Errors of the identity package."""

from yiwang.kit.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound, RateLimited


class OrgNotFound(NotFound):
    code = "org_not_found"


class OrgExists(Conflict):
    code = "org_exists"


class UserNotFound(NotFound):
    code = "user_not_found"


class UserExists(Conflict):
    code = "user_exists"


class TokenNotFound(NotFound):
    code = "token_not_found"


class BadCredentials(AuthenticationRequired):
    code = "bad_credentials"


class InvalidToken(AuthenticationRequired):
    code = "invalid_token"


class TooManyLogins(RateLimited):
    code = "too_many_logins"


class WeakPassword(InvalidInput):
    code = "weak_password"
