"""Which object a model's options travel in on Runware, learned once per process.

Runware moved GPT Image 2's options from ``providerSettings.openai`` to ``settings`` (runware.md, "2026-10
update"); whether a given Runware still takes the old object, or already refuses it, is UNCERTAIN. The
adapter sends a model's first choice (:data:`~.request.OPTION_SHAPES`); when Runware refuses that object as
unknown or unsupported, a validation error that proves nothing ran (:func:`refused`), it sends the other
object once and, when that is taken, remembers it for the process (:class:`ShapeMemory`: per Runware URL and
model, thread-safe, one instance shared by every adapter, sync and async) and logs the switch once on the
``imageshim`` logger. Anything else goes to the core as before: nothing that may have run is sent again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from .reply import Reply
from .request import OPTION_SHAPES, PROVIDER_SETTINGS

__all__ = ["MEMORY", "ShapeMemory", "refused"]

logger = logging.getLogger("imageshim")

#: the HTTP statuses of a request refused by validation, before anything ran (runware.md §5: 400 "bad
#: request / missing param"; 422 as the generic validation status, UNCERTAIN whether Runware uses it)
_VALIDATION_STATUSES = frozenset({400, 422})
#: codes that say a parameter is not known (or not taken) at all: the object, or a key in it
_UNKNOWN_CODES = frozenset(
    {
        "unknownParameter",
        "unsupportedParameter",
        "unknownProviderSettingsProvider",
        "mismatchProviderSettingsProvider",
    }
)


def _names(parameter: str | list[str] | None) -> list[str]:
    if parameter is None:
        return []
    return [parameter] if isinstance(parameter, str) else list(parameter)


def _about(error_code: str, parameter: str | list[str] | None, shape: str) -> bool:
    """Whether one error refuses the ``shape`` object itself (rather than a value inside it)."""
    names = _names(parameter)
    if error_code in ("unknownProviderSettingsProvider", "mismatchProviderSettingsProvider"):
        return shape == PROVIDER_SETTINGS and all(n.startswith(PROVIDER_SETTINGS) for n in names)
    if not names:
        return False
    objects = {shape, f"{shape}.openai"} if shape == PROVIDER_SETTINGS else {shape}
    if all(n in objects for n in names):
        # "unknownParameter: settings", or "invalidParameter / unsupported…: settings" about the object
        return error_code in _UNKNOWN_CODES or error_code.startswith(("invalid", "unsupported"))
    # A key inside the object is unknown: Runware does not know the object's keys at all. A value that is
    # invalid (invalidParameter: settings.quality) is not about the object and goes to the caller.
    return error_code in _UNKNOWN_CODES and all(n.startswith(f"{shape}.") for n in names)


def refused(status: int, reply: Reply, shape: str) -> bool:
    """Whether Runware refused the whole request because of the ``shape`` object: a 400-class validation
    reply, no image, and every error an "unknown / unsupported parameter" naming that object. Only then is
    it certain that nothing ran and nothing was billed, so the other object may be sent."""
    if status not in _VALIDATION_STATUSES or not reply.errors:
        return False
    if any(item.imageURL or item.imageBase64Data or item.imageDataURI for item in reply.data):
        return False
    return all(_about(e.code or "", e.parameter, shape) for e in reply.errors)


class ShapeMemory:
    """What each (Runware URL, model) takes, learned this process; safe to share between threads and the
    event loop (the lock is held only for a dictionary read or write, never across I/O)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._learned: dict[tuple[str, str], str] = {}

    def order(self, base_url: str, air: str) -> Sequence[str]:
        """The objects to try for ``air``, the one to send first first."""
        shapes = OPTION_SHAPES.get(air, (PROVIDER_SETTINGS,))
        with self._lock:
            learned = self._learned.get((base_url, air))
        if learned is None or learned == shapes[0]:
            return shapes
        return (learned, *(s for s in shapes if s != learned))

    def learn(self, base_url: str, air: str, refused_shape: str, works: str) -> None:
        """Remember that ``air`` takes ``works``; log it the first time it changes."""
        key = (base_url, air)
        with self._lock:
            if self._learned.get(key) == works:
                return
            self._learned[key] = works
        logger.warning(
            "runware: %s refused its options in %r as an unknown parameter (nothing ran) and took %r; "
            "this process sends %s options in %r from now on",
            air,
            refused_shape,
            works,
            air,
            works,
        )

    def forget(self) -> None:
        """Forget everything learned (tests; or after Runware changes its schema again)."""
        with self._lock:
            self._learned.clear()


#: the process-wide memory every RunwareAdapter shares
MEMORY = ShapeMemory()
