"""The exception tree.

Names mirror the ``openai`` SDK so that porting an ``except`` clause is an import change::

    ImageShimError
    ├── ConfigurationError              invalid or missing configuration
    │   ├── MissingAPIKeyError          names the environment variable to set
    │   └── UnknownAdapterError         "did you mean ...?"
    ├── ModelRetiredError               the model is past shutdown and on_retired = "error"
    └── APIError                        anything that went wrong with a request
        ├── APIStatusError              the provider (or the shim, before I/O) refused it
        │   ├── BadRequestError         400: invalid value, prompt too long, moderation
        │   │   └── BudgetExceededError the estimate is above [budget] max_usd_per_call (no I/O)
        │   ├── AuthenticationError     401
        │   ├── PermissionDeniedError   402/403: no credits, no access
        │   ├── NotFoundError           404
        │   ├── RateLimitError          429
        │   └── InternalServerError     >= 500
        ├── APIConnectionError          the request did not get an answer
        │   └── APITimeoutError
        ├── PartialResultError          some of n images failed and [retry] partial = "error"
        └── ResultUnknownError          a reply was lost and the provider could not say whether the
                                        image was made (and billed): never sent again; names the tasks

``ModelRetiredError`` is also a ``BadRequestError`` so that code catching the SDK's 400 still catches it.
So is ``BudgetExceededError``: the same request can never fit the cap, so it is a 400 that no client
retries (a 429 would be retried by the SDKs), with ``code = "budget_exceeded"``.

Every status error carries ``status_code``, ``code``, ``param``, ``provider``, ``request_id`` and
``retry_after``. Errors never carry API keys: every value a provider sent that an error copies (the
message, ``request_id``, ``code``, ``param``, ``body``) passes through :func:`redact` when the error is
built, and adapters (and the gateway, for its clients' keys) register the keys they hold with
:func:`register_secret`. Redacting here, at the one place provider values enter the error tree, is what
keeps keys out of everything built from an error later (``x-imageshim-provider-request-id`` and the
other wire headers, reply bodies, log lines), including code that forgets to redact.

Anything that shortens a provider value must redact it *before* cutting it: a key cut in half is no
longer a registered secret, and its first half would survive :func:`redact`.
"""

from __future__ import annotations

import re
import threading
from datetime import date
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConfigurationError",
    "ImageShimError",
    "InternalServerError",
    "MissingAPIKeyError",
    "ModelRetiredError",
    "NotFoundError",
    "PartialResultError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResultUnknownError",
    "UnknownAdapterError",
    "error_class_for_status",
    "redact",
    "redact_exact",
    "register_secret",
]

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
# Shapes of keys that must never be printed even when we were never told about them.
_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-.]{8,})")


def register_secret(secret: str | None) -> None:
    """Remember a secret so that :func:`redact` removes it from every message."""
    if secret and len(secret) >= 4:
        with _secrets_lock:
            _secrets.add(secret)


#: a run of this many characters of a registered secret is redacted wherever it stands: a provider that
#: echoes part of a key ("Invalid API key: rw-secret-AUDIT0123456****") or splits it over two lines must not
#: show the part it echoed
_PIECE = 8


def _spans(lowered: str, secret: str) -> list[tuple[int, int]]:
    """Where runs of ``_PIECE`` characters of ``secret`` stand in ``lowered`` (both case folded)."""
    spans = []
    for start in range(max(1, len(secret) - _PIECE + 1)):
        piece = secret[start : start + _PIECE]
        found = lowered.find(piece)
        while found != -1:
            spans.append((found, found + len(piece)))
            found = lowered.find(piece, found + 1)
    return spans


def redact(text: str) -> str:
    """Replace every registered secret, any run of 8 or more of its characters (whatever their case), and
    every key-shaped token in ``text``. For text that may hold what a provider or a caller sent (error
    messages, excerpts, ids, tracebacks); :func:`redact_exact` is the cheap form for the shim's own words.
    Key-shaped tokens go first, whole: a piece of a registered secret replaced inside one would split it."""
    text = _KEY_SHAPES.sub("[REDACTED]", text)
    if _secrets:
        lowered = text.lower()
        spans = sorted(span for secret in tuple(_secrets) for span in _spans(lowered, secret.lower()))
        if spans:
            merged: list[list[int]] = []
            for start, end in spans:
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            out, last = [], 0
            for start, end in merged:
                out += [text[last:start], "[REDACTED]"]
                last = end
            out.append(text[last:])
            text = "".join(out)
    return text


def redact_exact(text: str) -> str:
    """Whole registered secrets and key-shaped tokens only: for text the shim wrote itself (warnings), on
    every reply, where the piece-by-piece search of :func:`redact` would cost more than it guards."""
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    return _KEY_SHAPES.sub("[REDACTED]", text)


def _redact_field(value: Any, exact: bool = False) -> Any:
    """A provider-supplied field (``request_id``, ``code``, ``param``) with any key in it redacted.

    Strings are redacted whatever their origin: a provider can echo the caller's key anywhere, e.g. a
    proxy that puts the Authorization value into ``x-request-id``. Other values (an int code) cannot
    hold a key and are kept as they came."""
    if not isinstance(value, str):
        return value
    return redact_exact(value) if exact else redact(value)


def _redact_body(value: Any, depth: int = 0) -> Any:
    """``value`` with every string passed through :func:`redact` (providers echo keys in error bodies)."""
    if isinstance(value, str):
        return redact(value)
    if depth > 20:
        return None
    if isinstance(value, dict):
        return {redact(str(k)): _redact_body(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_body(v, depth + 1) for v in value]
    return value


class ImageShimError(Exception):
    """Base of every error imageshim raises.

    ``from_provider``: the message holds a provider's words, searched piece by piece (:func:`redact`:
    providers echo keys, whole or cut). The shim's own messages (validation, configuration) echo what the
    caller sent, to that caller: only whole secrets are removed from them (:func:`redact_exact`). Searching
    those piece by piece would answer, for any 8 characters a caller puts in a field, whether they are part
    of another key (the reply shows [REDACTED] or not): an oracle that reads out every key it knows
    (tracebacks and log lines are still redacted piece by piece; only the operator reads them).
    """

    def __init__(self, message: str, *, from_provider: bool = False) -> None:
        self.message = redact(message) if from_provider else redact_exact(message)
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(ImageShimError):
    """The configuration is invalid: names the file, the key and what is allowed."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ", ".join(p for p in (f"file {file}" if file else "", f"key {key!r}" if key else "") if p)
        super().__init__(f"{message} ({where})" if where else message)


class MissingAPIKeyError(ConfigurationError):
    """No API key for a provider: names the environment variable that would provide it."""

    def __init__(self, provider: str, env_var: str, *, alternatives: tuple[str, ...] = ()) -> None:
        self.provider = provider
        self.env_var = env_var
        others = "".join(f" or {alt}" for alt in alternatives)
        super().__init__(
            f"No API key for provider {provider!r}: set the {env_var}{others} environment variable, set "
            f"api_key_env in [providers.{provider}], or use the mock adapter (IMAGESHIM_ADAPTER=mock) for tests."
        )


class UnknownAdapterError(ConfigurationError):
    """A route names an adapter that is neither built in nor registered through entry points."""

    def __init__(self, name: str, known: list[str]) -> None:
        import difflib

        self.name = name
        self.known = known
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"Unknown adapter {name!r}; known adapters: {', '.join(sorted(known))}.{hint}")


class APIError(ImageShimError):
    """A request failed. ``provider`` is the adapter that was talking, or None before any I/O."""

    status_code: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        provider: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
        retryable: bool | None = None,
        status_code: int | None = None,
        model_unavailable: bool = False,
        reply_lost: bool | None = None,
    ) -> None:
        super().__init__(message, from_provider=provider is not None)
        self.status_code = status_code
        #: the provider says it does not serve the model (removed, unknown, disabled). Adapters only
        #: report this; the core, which holds the clock and the catalog, decides whether the model is
        #: retired (``ModelRetiredError``) and tries the route's next target either way.
        self.model_unavailable = model_unavailable
        #: the provider may have done the work although its reply did not come back (a read timeout, a
        #: dropped connection after sending, a proxy's timeout page): the core recovers the result or
        #: reports its fate unknown, and never sends the request again. Not given: a connection error
        #: and any reply that could not be read count as lost (the safe reading: the work may be done and
        #: billed); a status error as not lost (the provider answered that it did not do it).
        self.reply_lost = not isinstance(self, APIStatusError) if reply_lost is None else reply_lost
        # Provider values, redacted once here so that every header, reply and log line built from
        # them later is safe (the wire handler copies request_id into a response header verbatim).
        exact = provider is None  # the shim's own error: what it echoes came from the caller
        self.code = _redact_field(code, exact)
        self.param = _redact_field(param, exact)
        self.provider = provider
        self.request_id = _redact_field(request_id, exact)
        self.retry_after = retry_after
        #: the provider's error object as it came (keys it echoed are redacted)
        self.body = _redact_body(body)
        self._retryable = retryable
        #: every try the shim made before giving up (``imageshim.Attempt`` records)
        self.attempts: list[Any] = []

    @property
    def retryable(self) -> bool:
        """Whether trying again (after ``retry_after``) can succeed."""
        if self._retryable is not None:
            return self._retryable
        return False

    def __repr__(self) -> str:
        fields = {"status_code": self.status_code, "code": self.code, "provider": self.provider}
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items() if v is not None)
        return f"{type(self).__name__}({self.message!r}{', ' if shown else ''}{shown})"


class APIStatusError(APIError):
    """The provider answered with an error status, or the shim refused the request before any I/O."""

    def __init__(self, message: str, *, status_code: int, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, **kwargs)

    @property
    def retryable(self) -> bool:
        if self._retryable is not None:
            return self._retryable
        return self.status_code in (408, 409, 429) or (self.status_code or 0) >= 500


class BadRequestError(APIStatusError):
    def __init__(self, message: str, *, status_code: int = 400, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, **kwargs)


class AuthenticationError(APIStatusError):
    def __init__(self, message: str, *, status_code: int = 401, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, **kwargs)


class PermissionDeniedError(APIStatusError):
    def __init__(self, message: str, *, status_code: int = 403, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, **kwargs)


class NotFoundError(APIStatusError):
    def __init__(self, message: str, *, status_code: int = 404, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, **kwargs)


class RateLimitError(APIStatusError):
    def __init__(self, message: str, *, status_code: int = 429, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, **kwargs)


class InternalServerError(APIStatusError):
    def __init__(self, message: str, *, status_code: int = 500, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, **kwargs)


class APIConnectionError(APIError):
    """No usable answer arrived: connection refused or reset, truncated or unreadable body."""

    def __init__(self, message: str = "Connection error.", **kwargs: Any) -> None:
        kwargs.setdefault("retryable", True)
        super().__init__(message, **kwargs)


class APITimeoutError(APIConnectionError):
    def __init__(self, message: str = "Request timed out.", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class ModelRetiredError(BadRequestError):
    """The model is past its shutdown date and ``[lifecycle] on_retired = "error"`` (or the provider said so)."""

    def __init__(
        self,
        model: str,
        *,
        shutdown_on: date | None,
        successor: str | None,
        message: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.model = model
        self.shutdown_on = shutdown_on
        self.successor = successor
        if message is None:
            when = f" on {shutdown_on.isoformat()}" if shutdown_on else ""
            instead = f" Use {successor!r} instead" if successor else ""
            message = (
                f"Model {model!r} was retired{when}.{instead} (or set [lifecycle] on_retired = "
                f'"redirect" to send such requests to the successor automatically).'
            )
        kwargs.setdefault("code", "model_retired")
        kwargs.setdefault("param", "model")
        kwargs.setdefault("model_unavailable", True)
        super().__init__(message, **kwargs)


class BudgetExceededError(BadRequestError):
    """The call's estimate is above ``[budget] max_usd_per_call``, or the catalog cannot price it while a cap
    is set: refused before any network call. ``estimate_usd`` (None: no price known), ``cap_usd``,
    ``target`` (the route's first target), and ``fits``: the cheapest change that fits the cap, e.g.
    ``{"quality": "medium", "size": "1024x1024", "estimate_usd": 0.0528}``, or None when none does."""

    def __init__(
        self,
        message: str,
        *,
        estimate_usd: float | None,
        cap_usd: float,
        target: str,
        fits: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("code", "budget_exceeded")
        super().__init__(message, **kwargs)
        self.estimate_usd = estimate_usd
        self.cap_usd = cap_usd
        self.target = target
        self.fits = fits


class PartialResultError(APIError):
    """Some of the images asked for failed and ``[retry] partial = "error"``: ``.response`` holds the
    ones that arrived (an ``ImagesResponse``), ``.failures`` the errors of the calls that did not."""

    def __init__(self, message: str, *, response: Any, failures: list[APIError]) -> None:
        super().__init__(message, code="partial_result", retryable=False)
        self.response = response
        self.failures = failures


class ResultUnknownError(APIError):
    """A request reached the provider, its reply was lost, and whether it produced (and billed) images is
    still unknown after recovery was tried within its budget. It is never sent again: sending it again
    could pay for the same image twice. ``task_ids`` names the provider tasks (Runware ``taskUUID``, or
    imageshim's own call id where the provider has no task id), so they can be looked up later."""

    def __init__(self, message: str, *, task_ids: list[str], **kwargs: Any) -> None:
        kwargs.setdefault("code", "result_unknown")
        kwargs["retryable"] = False
        kwargs["reply_lost"] = True
        super().__init__(message, **kwargs)
        self.task_ids = list(task_ids)


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PermissionDeniedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIStatusError]:
    """The most specific error class for an HTTP status."""
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIStatusError)
