"""Typed warnings: data first, emitted in one place.

Every decision that changes or drops something the caller asked for creates a :class:`WarningRecord`
where it is made (mapping, lifecycle). The records travel on the response (``resp.imageshim.warnings``)
and :func:`emit` turns each into a ``warnings.warn`` of its typed class and one log line::

    UserWarning
    └── ImageShimWarning
        ├── OptionMappedWarning       a value was changed (size, quality, n split, response_format ...)
        ├── OptionDroppedWarning      a setting has no equivalent on the target (style, user ...)
        ├── ModelDeprecationWarning   the model shuts down within the warning window
        └── ModelRetiredWarning       the model is past shutdown; says where the request went instead

They are ``UserWarning`` subclasses on purpose: ``DeprecationWarning`` is hidden by default, and these
must be seen.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import warnings
from collections.abc import Iterable
from datetime import date
from typing import Any, Literal

__all__ = [
    "ImageShimWarning",
    "ModelDeprecationWarning",
    "ModelRetiredWarning",
    "OptionDroppedWarning",
    "OptionMappedWarning",
    "WarningKind",
    "WarningRecord",
    "emit",
]

logger = logging.getLogger("imageshim")
logger.addHandler(logging.NullHandler())  # a library never configures logging for its users

WarningKind = Literal["option_mapped", "option_dropped", "model_deprecation", "model_retired"]


@dataclasses.dataclass(frozen=True)
class WarningRecord:
    """One change the shim made, and why.

    ``setting`` is the request keyword (``"size"``, ``"style"``, ...) or ``"model"`` for lifecycle records;
    ``requested`` is what the caller asked for and ``applied`` what was sent (None when dropped).
    Lifecycle records also carry the model, its shutdown date, the days left (negative once past) and
    the successor; ``target`` is the ``provider:model`` the request went to.
    """

    kind: WarningKind
    setting: str
    requested: Any
    applied: Any
    reason: str
    model: str | None = None
    shutdown_on: date | None = None
    days_left: int | None = None
    successor: str | None = None
    target: str | None = None

    @property
    def category(self) -> type[ImageShimWarning]:
        return _CATEGORIES[self.kind]

    @property
    def message(self) -> str:
        return self.reason

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings)."""
        out = dataclasses.asdict(self)
        if self.shutdown_on is not None:
            out["shutdown_on"] = self.shutdown_on.isoformat()
        out["category"] = self.category.__name__
        return out


class ImageShimWarning(UserWarning):
    """Base of the shim's warnings; ``.record`` holds the :class:`WarningRecord`."""

    record: WarningRecord | None

    def __init__(self, message: str, record: WarningRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


class OptionMappedWarning(ImageShimWarning):
    """A value was changed to one the target accepts."""


class OptionDroppedWarning(ImageShimWarning):
    """A setting has no equivalent on the target and was not sent."""


class ModelDeprecationWarning(ImageShimWarning):
    """The model shuts down within the warning window: the message says the date and the days left."""


class ModelRetiredWarning(ImageShimWarning):
    """The model is past its shutdown date: the message says where the request went instead."""


_CATEGORIES: dict[str, type[ImageShimWarning]] = {
    "option_mapped": OptionMappedWarning,
    "option_dropped": OptionDroppedWarning,
    "model_deprecation": ModelDeprecationWarning,
    "model_retired": ModelRetiredWarning,
}


def emit(records: Iterable[WarningRecord], *, stacklevel: int = 2) -> None:
    """Log each record and raise it through ``warnings.warn`` as its typed class.

    ``stacklevel`` is counted from the caller of ``emit``, so that the warning points at user code.
    """
    heard = _heard()
    for record in records:
        if heard:
            logger.warning("%s: %s", record.category.__name__, record.reason)
        warnings.warn(record.category(record.reason, record), stacklevel=stacklevel + 1)


def caller_stacklevel(skip: tuple[str, ...]) -> int:
    """The ``stacklevel`` (counted from the caller of :func:`emit`) of the first frame outside the packages
    whose top-level names are in ``skip`` (imageshim, the openai SDK, its HTTP library): the caller's own
    line, however deep the SDK's call chain is. Found by walking the stack, so it holds for any SDK version."""
    frame = sys._getframe(2)  # the caller of emit's caller
    level = 2
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.partition(".")[0] not in skip:
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return 2


def _heard() -> bool:
    """Whether a warning logged on ``imageshim`` reaches a handler (or a filter) that does something.

    With logging left unconfigured the only handler is the library's NullHandler: building a LogRecord
    per warning for it costs ~3 us and does nothing (this check costs well under 1 us).
    """
    if not logger.isEnabledFor(logging.WARNING):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False
