"""``images.edit`` and ``images.create_variation`` on the native clients (mixed into ``Images`` / ``AsyncImages``).

The keyword-only signatures mirror the openai SDK's (an unknown keyword is a ``TypeError``); files are what
the SDK takes: bytes, a binary file object, a path, or ``(filename, content[, media type])``, and for
``image`` a list of those (up to 16). Everything after reading the files is shared with the wire:
:func:`~imageshim._frontends.edit_request.edit_plan`, then the one orchestration.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from imageshim._core.errors import APIError, BadRequestError
from imageshim._core.types import NOT_GIVEN, NotGiven
from imageshim._core.warnings import emit
from imageshim._frontends import orchestrate as _orchestrate
from imageshim._frontends.edit_request import Upload, edit_plan

if TYPE_CHECKING:
    from imageshim._core.edit import Kind
    from imageshim._core.plan import Plan
    from imageshim._core.response import ImagesResponse
    from imageshim._frontends.engine import Engine

__all__ = ["AsyncEditMethods", "EditMethods", "read_upload"]

FileInput = Any  # bytes | IO[bytes] | os.PathLike[str] | tuple[str | None, bytes | IO[bytes], ...]


def read_upload(value: FileInput, field: str) -> Upload:
    """``value`` as (bytes, filename), as the SDK reads a file it uploads; a 400 naming ``field`` otherwise."""
    filename: str | None = None
    if isinstance(value, tuple) and value:
        filename, value = value[0], value[1]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), filename
    if isinstance(value, os.PathLike):
        path = Path(value)
        return path.read_bytes(), filename or path.name
    read = getattr(value, "read", None)
    if callable(read):
        data = read()
        if isinstance(data, (bytes, bytearray)):
            name = filename or getattr(value, "name", None)
            return bytes(data), os.path.basename(name) if isinstance(name, str) else None
    raise BadRequestError(
        f"Invalid value for {field!r}: {type(value).__name__}. Allowed: bytes, a binary file, a path, or "
        "(filename, content).",
        code="invalid_value",
        param=field,
    )


def locals_without_self(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "self"}


def _images(image: FileInput | Sequence[FileInput]) -> list[Upload]:
    if isinstance(image, list):
        return [read_upload(v, f"image[{i}]") for i, v in enumerate(image)]
    return [read_upload(image, "image")]


def _timeout(timeout: float | httpx.Timeout | NotGiven | None) -> float | None:
    from imageshim._frontends.client import _timeout_seconds

    return _timeout_seconds(timeout)


class _Base:
    _engine: Engine

    def _edit_plan(self, kind: Kind, kwargs: dict[str, Any]) -> Plan:
        image = kwargs.pop("image")
        mask, markup = kwargs.pop("mask", None), kwargs.pop("markup", None)
        timeout = _timeout(kwargs.pop("timeout"))
        extra = kwargs.pop("extra_body", None) or {}
        return edit_plan(
            self._engine,
            {**kwargs, **extra},
            _images(image),
            mask=None if mask is None else read_upload(mask, "mask"),
            markup=None if markup is None else read_upload(markup, "markup"),
            kind=kind,
            timeout=timeout,
        )


class EditMethods(_Base):
    def edit(
        self,
        *,
        image: FileInput | Sequence[FileInput],
        prompt: str,
        mask: FileInput | None = None,
        markup: FileInput | None = None,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        response_format: str | None = None,
        user: str | None = None,
        safety_identifier: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        input_fidelity: str | None = None,
        extra_body: dict[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
    ) -> ImagesResponse:
        """Edit images: the files are checked before any network call, the request is mapped onto the
        route's target like a generation, every change warned. ``timeout`` as for ``generate``."""
        return self._run(self._edit_plan("edit", locals_without_self(locals())))

    def create_variation(
        self,
        *,
        image: FileInput,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        response_format: str | None = None,
        user: str | None = None,
        extra_body: dict[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
    ) -> ImagesResponse:
        """DALL·E 2's retired variations, kept working: an edit of ``image`` on the successor with
        ``[mapping] variation_prompt`` (a warning says so), or a 400 with ``[mapping] variations = "error"``."""
        return self._run(self._edit_plan("variation", locals_without_self(locals())))

    def _run(self, plan: Plan) -> ImagesResponse:
        """The one run of every native call: execute, then emit what was decided (also when it failed),
        pointing at the caller's line (caller -> method -> _run -> emit)."""
        try:
            response = _orchestrate.run(self._engine, plan)
        except APIError as error:
            emit(_orchestrate.warnings_for(plan, error), stacklevel=3)
            raise
        emit(response.imageshim.warnings, stacklevel=3)
        return response


class AsyncEditMethods(_Base):
    async def edit(
        self,
        *,
        image: FileInput | Sequence[FileInput],
        prompt: str,
        mask: FileInput | None = None,
        markup: FileInput | None = None,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        response_format: str | None = None,
        user: str | None = None,
        safety_identifier: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        input_fidelity: str | None = None,
        extra_body: dict[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
    ) -> ImagesResponse:
        """Async twin of :meth:`EditMethods.edit`."""
        return await self._run(self._edit_plan("edit", locals_without_self(locals())))

    async def create_variation(
        self,
        *,
        image: FileInput,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        response_format: str | None = None,
        user: str | None = None,
        extra_body: dict[str, Any] | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
    ) -> ImagesResponse:
        """Async twin of :meth:`EditMethods.create_variation`."""
        return await self._run(
            self._edit_plan("variation", {k: v for k, v in locals().items() if k != "self"})
        )

    async def _run(self, plan: Plan) -> ImagesResponse:
        try:
            response = await _orchestrate.arun(self._engine, plan)
        except APIError as error:
            emit(_orchestrate.warnings_for(plan, error), stacklevel=3)
            raise
        emit(response.imageshim.warnings, stacklevel=3)
        return response
