"""Logging for the gateway process: imageshim's lines, uvicorn's and one access line per request, in one
format, every line redacted.

Only ``imageshim serve`` calls :func:`configure_logging`: a library never configures logging for its users, and
a host application that mounts ``create_app`` keeps its own (the access lines then reach its handlers through
the ``imageshim.access`` logger, with the same fields as ``extra=`` attributes). What it sets up::

    imageshim          our handler, ``level``, no propagation (warnings, tracebacks)
    └── imageshim.access   the access line of every request (:func:`log_access`), through ``imageshim``
    uvicorn            our handler, ``level``, no propagation
    └── uvicorn.error      no handler of its own, through ``uvicorn``
    uvicorn.access     silenced: we write our own access line
    httpx, httpcore    our handler, WARNING (httpcore logs request headers at DEBUG), no propagation
    root               untouched

Every line the handler writes is redacted as a whole after it is formatted (message, traceback, stack), with
:func:`imageshim._core.errors.redact`: defence in depth behind the redaction at the error boundary, for
lines written by code that does not know about keys (a third-party logger, a traceback's locals).

Text lines: ``2026-11-27T16:03:34.123Z WARNING imageshim: message`` (UTC, milliseconds); a traceback follows
on the next lines. JSON lines: one object per line with ``ts``, ``level``, ``logger``, ``message``, ``exc``
(a traceback, when there is one) and, for access lines, the access fields as top-level keys.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import IO, Any, Literal

from imageshim._core.errors import redact, redact_exact
from imageshim._frontends.gateway.record import AccessRecord

__all__ = ["ACCESS_FIELDS", "access_logger", "configure_logging", "log_access"]

access_logger = logging.getLogger("imageshim.access")

#: the keys of an access line, in the order the text form writes them (``method route status`` first,
#: without names); absent ones are left out
ACCESS_FIELDS = (
    "method",
    "route",
    "status",
    "model",
    "served",
    "images",
    "cost_usd",
    "duration_ms",
    "client",
    "intent",
    "request_id",
)

#: loggers our handler writes for, and the lowest level each gets (None: the ``level`` argument)
_HANDLED: dict[str, int | None] = {
    "imageshim": None,
    "uvicorn": None,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
}
#: values written bare in a text access line; anything else is JSON-quoted (a client-chosen model name must
#: not be able to start a forged line or a forged ``key=value``)
_BARE = re.compile(r"[A-Za-z0-9_.:/@+{}\-]+\Z")


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The gateway's handler: marked by its class, so that a second :func:`configure_logging` replaces it."""


def configure_logging(
    fmt: Literal["text", "json"] = "text", *, level: int = logging.INFO, stream: IO[str] | None = None
) -> None:
    """Send imageshim's, uvicorn's and the access log's lines to ``stream`` (stderr by default) in one format.

    Idempotent: a second call replaces the handler of the first (so it can change the format or the stream)
    and never adds a second. The root logger is not touched. uvicorn must then be started with
    ``log_config=None`` (its default ``log_config`` would replace these handlers with its own).
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {fmt!r}")
    handler = _Handler(sys.stderr if stream is None else stream)
    handler.setFormatter(_Formatter(fmt))
    for name, fixed in _HANDLED.items():
        logger = logging.getLogger(name)
        # uvicorn's own handlers (an earlier dictConfig) would write every line a second time, in its format
        _remove_handlers(logger, only_ours=not name.startswith("uvicorn"))
        logger.addHandler(handler)
        logger.setLevel(level if fixed is None else max(level, fixed))
        logger.propagate = False
        logger.disabled = False
    error = logging.getLogger("uvicorn.error")
    _remove_handlers(error, only_ours=False)
    error.setLevel(level)
    error.propagate = True
    error.disabled = False
    access_logger.setLevel(logging.NOTSET)  # follows imageshim's level
    access_logger.propagate = True
    # uvicorn asks hasHandlers() before it builds an access line: no handler, no propagation, no line.
    uvicorn_access = logging.getLogger("uvicorn.access")
    _remove_handlers(uvicorn_access, only_ours=False)
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True


def _remove_handlers(logger: logging.Logger, *, only_ours: bool) -> None:
    for handler in list(logger.handlers):
        if isinstance(handler, _Handler) or not only_ours:
            logger.removeHandler(handler)


def log_access(record: AccessRecord) -> None:
    """Write the access line of one request on ``imageshim.access`` at INFO; the fields also go as ``extra=``
    attributes (the JSON form's keys). Numbers stay numbers: ``status``, ``images``, ``duration_ms`` are ints,
    ``cost_usd`` a float.

    ``cost_usd`` stands only on the line of the request that paid for its generation: a joined or replayed
    request leaves it out, so that summing ``cost_usd`` over the log counts each generation once. ``images``
    is what the reply carried (on joined lines too). ``client`` is the record's hash, never a key."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    fields = _access_fields(record)
    text = " ".join(
        [_text_value(fields["method"]), _text_value(fields["route"]), str(fields["status"])]
        + [f"{key}={_text_value(fields[key])}" for key in ACCESS_FIELDS[3:] if key in fields]
    )
    access_logger.info(text, extra=fields)


def _access_fields(record: AccessRecord) -> dict[str, Any]:
    """The access line's fields of ``record`` (absent ones left out), strings redacted: a host application's
    handlers get them too, and do not redact."""
    generation = record.generation
    values: dict[str, Any] = {
        "method": record.method,
        "route": record.route,
        "status": record.status,
        "model": record.requested_model,
        "served": generation.served if generation else None,
        "images": generation.images if generation else None,
        "cost_usd": (
            round(generation.cost_usd, 6)
            if generation and generation.cost_usd is not None and not record.joined
            else None
        ),
        "duration_ms": round(record.duration_s * 1000),
        "client": record.client,
        "intent": record.intent,
        "request_id": record.request_id,
    }
    return {
        key: redact_exact(value) if isinstance(value, str) else value
        for key, value in values.items()
        if value is not None
    }


def _text_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    text = str(value)
    return text if _BARE.match(text) else json.dumps(text)


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class _Formatter(logging.Formatter):
    """Text or JSON lines; the whole formatted line redacted. Leaves the record as it came (``exc_text`` is
    not cached on it: an unredacted traceback must not wait there for another handler)."""

    def __init__(self, fmt: Literal["text", "json"]) -> None:
        super().__init__()
        self._json = fmt == "json"

    def format(self, record: logging.LogRecord) -> str:
        # Access lines are the gateway's own fields (hashes, numbers, the model a client named): whole
        # secrets are removed from them, cheaply; every other line is searched piece by piece, whose cost
        # grows with the number of keys (it was two thirds of a request's logging with 16 client keys).
        scrub = redact_exact if record.name == access_logger.name else redact
        message = record.getMessage()
        exc = self.formatException(record.exc_info) if record.exc_info else record.exc_text
        stack = self.formatStack(record.stack_info) if record.stack_info else None
        if self._json:
            return self._json_line(record, message, exc, stack, scrub)
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {message}"
        for extra in (exc, stack):
            if extra:
                line += "\n" + extra
        return scrub(line)

    def _json_line(
        self,
        record: logging.LogRecord,
        message: str,
        exc: str | None,
        stack: str | None,
        scrub: Callable[[str], str],
    ) -> str:
        out: dict[str, Any] = {"ts": _timestamp(record), "level": record.levelname, "logger": record.name}
        out["message"] = message
        if record.name == access_logger.name:
            for key in ACCESS_FIELDS:
                value = record.__dict__.get(key)
                if isinstance(value, (str, int, float)) and key not in out:
                    out[key] = value
        if exc:
            out["exc"] = exc
        if stack:
            out["stack"] = stack
        out = {key: scrub(value) if isinstance(value, str) else value for key, value in out.items()}
        line = json.dumps(out, ensure_ascii=False, default=str)
        # The values are redacted; the line is redacted again as written (a secret could only show up in it
        # through JSON escaping). Should that change the line, keep it only if it is still JSON.
        redacted = scrub(line)
        if redacted != line:
            try:
                json.loads(redacted)
            except ValueError:
                out = {key: out[key] for key in ("ts", "level", "logger")}
                out["message"] = "[REDACTED: this line held a secret]"
                return json.dumps(out)
        return redacted
