"""Provider credentials from Secrets Manager, one secret per provider account, via Powertools Parameters.

Secret name: `<prefix><provider>/<account>` (e.g. `livectl/volcengine/default`), JSON
`{"access_key": ..., "secret_key": ..., "session_token"?: ...}`. Values are cached by Powertools for `max_age`
seconds. No error raised here ever carries a secret value: messages name the account and the secret's name only.
"""

from __future__ import annotations

import threading

from livectl.aws import PERMANENT_AWS_CODES, error_code
from livectl.errors import AwsServiceError, LivectlError, PermanentProviderError
from livectl.providers.signing import Credentials

DEFAULT_PREFIX = "livectl/"
DEFAULT_MAX_AGE = 300
_NOT_FOUND = frozenset({"ResourceNotFoundException"})


def secret_name(prefix: str, provider: str, account: str) -> str:
    return f"{prefix}{provider}/{account}"


def load_credentials(
    provider: str, account: str, *, prefix: str = DEFAULT_PREFIX, max_age: int = DEFAULT_MAX_AGE
) -> Credentials:
    """The account's key pair. Missing or malformed secret: PermanentProviderError naming the account."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

    name = secret_name(prefix, provider, account)
    try:
        value = parameters.get_secret(name, transform="json", max_age=max_age)
    except TransformParameterError:
        raise PermanentProviderError(
            f"credentials for {provider} account {account!r}: secret {name} is not a JSON object",
            code="CredentialsMalformed",
            provider=provider,
            field="account",
        ) from None
    except GetParameterError as exc:
        # Powertools wraps the botocore error (implicitly chained); classify by its code, never its text.
        code = error_code(exc.__context__) if exc.__context__ is not None else None
        if code in _NOT_FOUND:
            raise PermanentProviderError(
                f"no credentials for {provider} account {account!r}: secret {name} does not exist",
                code="CredentialsNotFound",
                provider=provider,
                field="account",
            ) from None
        cls: type[LivectlError] = PermanentProviderError if code in PERMANENT_AWS_CODES else AwsServiceError
        raise cls(f"reading secret {name} failed", code=code or "GetSecretFailed", provider="aws") from None
    return _parse(value, provider, account, name)


def _parse(value: object, provider: str, account: str, name: str) -> Credentials:
    if not isinstance(value, dict):
        raise PermanentProviderError(
            f"credentials for {provider} account {account!r}: secret {name} is not a JSON object",
            code="CredentialsMalformed",
            provider=provider,
            field="account",
        )
    access_key = value.get("access_key")
    secret_key = value.get("secret_key")
    token = value.get("session_token")
    if not isinstance(access_key, str) or not access_key or not isinstance(secret_key, str) or not secret_key:
        raise PermanentProviderError(
            f"credentials for {provider} account {account!r}: secret {name} needs access_key and secret_key",
            code="CredentialsMalformed",
            provider=provider,
            field="account",
        )
    return Credentials(access_key, secret_key, token if isinstance(token, str) and token else None)


_PRIME_LOCK = threading.Lock()


def prime() -> None:
    """Create Powertools' Secrets Manager provider (and its boto3 client) now, in the calling thread, so that
    the worker threads of a batch do not race to build it on their first command."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
    from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider

    from livectl.aws import _CREATE_LOCK

    if "secrets" in DEFAULT_PROVIDERS:
        return
    with _PRIME_LOCK:
        if "secrets" not in DEFAULT_PROVIDERS:
            with _CREATE_LOCK:
                DEFAULT_PROVIDERS["secrets"] = SecretsProvider()
