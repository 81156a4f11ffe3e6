"""``NOT_GIVEN``: the sentinel for "the caller did not pass this", as the openai SDK has it.

``timeout=None`` and leaving ``timeout`` out mean different things (no per-request limit vs. the
provider's default), so the default of such a keyword is :data:`NOT_GIVEN`, never None.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["NOT_GIVEN", "NotGiven"]


class NotGiven:
    """The type of :data:`NOT_GIVEN`; falsy, and the same object everywhere."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
