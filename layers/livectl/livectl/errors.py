"""livectl's small, closed set of error types, and the table that maps every provider code to one of them.

Adapters translate foreign errors (provider codes, HTTP failures, AWS client errors) into these classes by
*code*, never by message text. Callers decide on retry, ledger outcome and events from the class alone.
"""

from __future__ import annotations

from typing import ClassVar


class LivectlError(Exception):
    """Base class. Keeps the provider's code, message and request id for the ledger and the operator."""

    retryable: ClassVar[bool] = False
    kind: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        provider: str | None = None,
        http_status: int | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.provider = provider
        self.http_status = http_status
        self.field = field
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"error": type(self).__name__, "message": self.message}
        for name in ("code", "request_id", "provider", "http_status", "field"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class InvalidCommand(LivectlError):
    """The command itself is wrong (schema, parameter, stale). Never retried; `field` names the culprit."""

    kind = "invalid"


class PermanentProviderError(LivectlError):
    """The provider refused for a reason a retry cannot fix (auth, bad parameter, unknown task)."""

    kind = "permanent"


class TransientProviderError(LivectlError):
    """A failure a later attempt may not see (5xx, timeout, dropped connection, malformed body)."""

    retryable = True
    kind = "transient"


class Throttled(LivectlError):
    """The provider's rate limit answered; retry with backoff, never drop."""

    retryable = True
    kind = "throttled"


class AlreadyDone(LivectlError):
    """The desired state already holds (task already stopped or ended): the caller records success."""

    kind = "already_done"


class AwsServiceError(LivectlError):
    """An AWS dependency (DynamoDB, Scheduler, EventBridge, Secrets Manager) failed; retried by the queue."""

    retryable = True
    kind = "aws"


ERROR_CLASSES: tuple[type[LivectlError], ...] = (
    InvalidCommand,
    PermanentProviderError,
    TransientProviderError,
    Throttled,
    AlreadyDone,
    AwsServiceError,
)

# --------------------------------------------------------------------------------------------------------
# Volcengine: the seeds' error tables (StopPullRecordTask, GetPullRecordTask, RestartPullToPushTask, whose table
# StopPullToPushTask shares) and the gateway's common codes (notes/providers.md 4.2). Every code maps to exactly
# one class.
# --------------------------------------------------------------------------------------------------------
VOLCENGINE_CODES: dict[str, type[LivectlError]] = {
    # seeds
    "CommonErr": TransientProviderError,  # HTTP 200, "未分类错误。建议重试"
    "InvalidParam": PermanentProviderError,
    "InvalidParam.BindError": PermanentProviderError,
    "RequestForbidden": PermanentProviderError,
    "RequestForbidden.AccountIDNotAllow": PermanentProviderError,
    "RequestForbidden.BillingStatus": PermanentProviderError,
    "ResourceNotFound": PermanentProviderError,  # stopping a task nobody knows is an error that says so
    "RequestLimitExceeded": Throttled,  # RestartPullToPushTask's 429
    "InternalError": TransientProviderError,
    "InternalServiceError": TransientProviderError,
    "InternalServiceError.BadResponse": TransientProviderError,
    "InternalServiceTimeout": TransientProviderError,
    # gateway / common
    "FlowLimitExceeded": Throttled,
    "AccountFlowLimitExceeded": Throttled,
    "ServiceUnavailableTemp": TransientProviderError,
    "FailToConnect": TransientProviderError,
    "MissingParameter": PermanentProviderError,
    "MissingRequestInfo": PermanentProviderError,
    "InvalidTimestamp": PermanentProviderError,
    "InvalidActionOrVersion": PermanentProviderError,
    "InvalidAccessKey": PermanentProviderError,
    "SignatureDoesNotMatch": PermanentProviderError,
    "AccessDenied": PermanentProviderError,
}

# --------------------------------------------------------------------------------------------------------
# Tencent: the seeds' tables (DeleteCloudRecording, StopPublishCdnStream) plus the common throttling,
# transient, auth and "already stopped" codes of notes/providers.md 4.2.
# --------------------------------------------------------------------------------------------------------
TENCENT_CODES: dict[str, type[LivectlError]] = {
    # seeds
    "AuthFailure": PermanentProviderError,
    "AuthFailure.UnRealNameAuthenticated": PermanentProviderError,
    "AuthFailure.UnauthorizedOperation": PermanentProviderError,
    "AuthFailure.UnsupportedOperation": PermanentProviderError,
    "FailedOperation.CRUnsupportMethod": PermanentProviderError,
    "InternalError.CRInternalError": TransientProviderError,
    "InternalError": TransientProviderError,
    "InvalidParameter": PermanentProviderError,
    "InvalidParameter.OutOfRange": PermanentProviderError,
    "InvalidParameter.SdkAppId": PermanentProviderError,
    "MissingParameter": PermanentProviderError,
    "MissingParameter.RoomId": PermanentProviderError,
    "MissingParameter.SdkAppId": PermanentProviderError,
    "MissingParameter.TaskId": PermanentProviderError,
    "MissingParameter.UserId": PermanentProviderError,
    "ResourceNotFound": PermanentProviderError,
    # common auth
    "AuthFailure.SignatureFailure": PermanentProviderError,
    "AuthFailure.SignatureExpire": PermanentProviderError,
    "AuthFailure.SecretIdNotFound": PermanentProviderError,
    "AuthFailure.InvalidSecretId": PermanentProviderError,
    "AuthFailure.TokenFailure": PermanentProviderError,
    "AuthFailure.InvalidAuthorization": PermanentProviderError,
    "AuthFailure.MFAFailure": PermanentProviderError,
    "UnauthorizedOperation": PermanentProviderError,
    "UnsupportedRegion": PermanentProviderError,
    "UnsupportedOperation": PermanentProviderError,
    "InvalidAction": PermanentProviderError,
    "InvalidParameterValue": PermanentProviderError,
    # throttling
    "RequestLimitExceeded": Throttled,
    "RequestLimitExceeded.UinLimitExceeded": Throttled,
    "RequestLimitExceeded.IPLimitExceeded": Throttled,
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded": Throttled,
    "FailedOperation.RestrictedFrequency": Throttled,
    "FailedOperation.RestrictedConcurrency": Throttled,
    "LimitExceeded.ConcurrencyLimit": Throttled,
    # transient
    "ServiceUnavailable": TransientProviderError,
    "ResourceUnavailable": TransientProviderError,
    "InternalError.InternalError": TransientProviderError,
    # already stopped (DeleteCloudRecording / StopPublishCdnStream retried after success)
    "FailedOperation.TaskNotExist": AlreadyDone,
    "FailedOperation.TaskFinished": AlreadyDone,
}

# Families: a code not listed above is classified by its documented prefix (still a code, never a message).
TENCENT_FAMILIES: tuple[tuple[str, type[LivectlError]], ...] = (
    ("AuthFailure.", PermanentProviderError),
    ("InvalidParameter.", PermanentProviderError),
    ("InvalidParameterValue.", PermanentProviderError),
    ("MissingParameter.", PermanentProviderError),
    ("UnauthorizedOperation.", PermanentProviderError),
    ("UnsupportedOperation.", PermanentProviderError),
    ("RequestLimitExceeded.", Throttled),
    ("InternalError.", TransientProviderError),
    ("ResourceNotFound.", PermanentProviderError),
    ("LimitExceeded.", Throttled),
)
VOLCENGINE_FAMILIES: tuple[tuple[str, type[LivectlError]], ...] = (
    ("InvalidParam.", PermanentProviderError),
    ("RequestForbidden.", PermanentProviderError),
    ("InternalServiceError.", TransientProviderError),
    ("InternalError.", TransientProviderError),
    ("MissingParameter.", PermanentProviderError),
)


def classify(provider: str, code: str, http_status: int | None = None) -> type[LivectlError]:
    """The class for a provider error code. Unknown codes fall back on their family, then on HTTP status."""
    table, families = (
        (VOLCENGINE_CODES, VOLCENGINE_FAMILIES) if provider == "volcengine" else (TENCENT_CODES, TENCENT_FAMILIES)
    )
    if code in table:
        return table[code]
    for prefix, cls in families:
        if code.startswith(prefix):
            return cls
    if http_status == 429:
        return Throttled
    if http_status is not None and http_status >= 500:
        return TransientProviderError
    return PermanentProviderError


def provider_error(
    provider: str,
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    http_status: int | None = None,
    retry_after: float | None = None,
) -> LivectlError:
    cls = classify(provider, code, http_status)
    return cls(
        message or code,
        code=code,
        request_id=request_id,
        provider=provider,
        http_status=http_status,
        retry_after=retry_after,
    )
