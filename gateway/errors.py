"""Error types: API errors in Notify's shape, and channel errors that say whether a retry can help."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to an API caller as Notify does: a status code and a list of errors."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"status_code": self.status, "errors": [{"error": self.error, "message": self.message}]}


class BadRequest(ApiError):
    def __init__(self, message: str, error: str = "BadRequestError") -> None:
        super().__init__(400, error, message)


class ValidationFailed(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, "ValidationError", message)


class ValidationErrors(ApiError):
    """Several validation problems in one answer, as Notify lists them: one entry per message."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(400, "ValidationError", messages[0])
        self.messages = messages

    def body(self) -> dict[str, Any]:
        return {"status_code": 400, "errors": [{"error": "ValidationError", "message": m} for m in self.messages]}


class AuthFailed(ApiError):
    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(status, "AuthError", message)


class NotFound(ApiError):
    def __init__(self, message: str = "No result found") -> None:
        super().__init__(404, "NoResultFound", message)


class RateLimited(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(429, "RateLimitError", message)


class TooManyRequests(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(429, "TooManyRequestsError", message)


class ChannelError(Exception):
    """A provider call failed. Subclasses say whether trying again can help, and whether the fault is the
    provider's as a whole (`provider_wide`: it counts against the sender's circuit breaker, never against
    the message's attempts; `gateway.jobs.breaker`)."""

    retryable: bool = False
    provider_wide: bool = False

    def __init__(self, reason: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.retry_after = retry_after


class RetryableError(ChannelError):
    """Timeouts, 5xx, 429, SMTP 4xx: back off and try again."""

    retryable = True


class ProviderUnavailable(RetryableError):
    """The provider as a whole is failing, whoever the message is for: 5xx, 429, a timeout, a refused or
    dropped connection. Not the message's fault, so it uses none of its attempts: it pauses the sender."""

    provider_wide = True


class PermanentError(ChannelError):
    """Invalid number, opted out, SMTP 5xx: fail now and keep the provider's reason."""

    retryable = False


class ContentRefused(PermanentError):
    """The message itself cannot go as it is (a letter PDF that fails its checks): `validation-failed`."""
