"""Domain errors. Each knows the HTTP status it maps to; one handler renders them."""

from __future__ import annotations


class TelemedError(Exception):
    """Base of all domain errors: a message for humans and the HTTP status it means."""

    status_code = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TelemedError):
    """The input is malformed or violates the schema; nothing was changed."""

    status_code = 400
    code = "invalid"


class NotAuthenticated(TelemedError):
    """Missing or wrong credentials."""

    status_code = 401
    code = "unauthenticated"


class Forbidden(TelemedError):
    """Authenticated, but this role or relation does not allow it."""

    status_code = 403
    code = "forbidden"


class NotFound(TelemedError):
    """No such resource (or not visible to the caller)."""

    status_code = 404
    code = "not-found"


class Conflict(TelemedError):
    """The change conflicts with the current state."""

    status_code = 409
    code = "conflict"


class BusinessRuleViolation(TelemedError):
    """Well-formed input that a business rule rejects."""

    status_code = 422
    code = "business-rule"


class TooManyRequests(TelemedError):
    """Refused for now (throttled or locked out); ``retry_after_s`` says when to try again."""

    status_code = 429
    code = "too-many-requests"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
