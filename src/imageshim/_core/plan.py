"""The plan: everything decided about a call before any I/O, handed from the engine to the execution policy."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from imageshim._core.mapping import MappedRequest

if TYPE_CHECKING:  # pydantic models load with the first request, not with the client
    from imageshim._core.edit import EditInputs
    from imageshim._core.request import ImageRequest

__all__ = ["Plan"]


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything decided before I/O: the request and, per target of the route, what to send and why."""

    request: ImageRequest
    targets: tuple[MappedRequest, ...]
    #: seconds one provider call may take (the caller's ``timeout=``), instead of the provider's own
    timeout: float | None = None
    #: seconds the whole call may take, retries and fallbacks included; the shorter of this and
    #: ``[retry] deadline`` applies
    deadline: float | None = None
    #: the edit's inputs (also for a variation); None for a generation
    edit: EditInputs | None = None
