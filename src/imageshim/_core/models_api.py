"""The models API: the catalog as OpenAI's ``Model`` objects with imageshim's lifecycle fields.

One source for every way in: ``client.models.list()`` / ``.retrieve(id)`` (native), ``GET /v1/models`` and
``GET /v1/models/{id}`` (the in-process transport and the gateway, through the shared wire handler).
``status`` / ``days_left`` are as of the engine's clock. An unknown id is OpenAI's 404 ``model_not_found``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from imageshim._core.errors import NotFoundError

if TYPE_CHECKING:
    from imageshim._core.catalog import ModelSpec
    from imageshim._frontends.engine import Engine

__all__ = ["Model", "ModelList", "list_models", "model_not_found", "model_of", "retrieve_model"]


class Model(BaseModel):
    """Shaped like ``openai.types.Model``, plus the model's lifecycle on the engine's day."""

    model_config = ConfigDict(defer_build=True)

    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "imageshim"
    status: str
    shutdown_on: str | None = None
    days_left: int | None = None
    successor: str | None = None
    source: str | None = None


class ModelList(BaseModel):
    """Shaped like the SDK's page of models: ``.data``, iterable."""

    model_config = ConfigDict(defer_build=True)

    object: str = "list"
    data: list[Model]

    def __iter__(self) -> Iterator[Model]:  # type: ignore[override]
        return iter(self.data)


def model_of(spec: ModelSpec, day: date) -> Model:
    return Model(
        id=spec.id,
        status=spec.status_on(day),
        shutdown_on=spec.shutdown_on.isoformat() if spec.shutdown_on else None,
        days_left=spec.days_left(day),
        successor=spec.successor,
        source=spec.lifecycle_source,
    )


def list_models(engine: Engine) -> ModelList:
    day = engine.clock()
    return ModelList(data=[model_of(spec, day) for spec in engine.catalog])


def model_not_found(model: Any) -> NotFoundError:
    return NotFoundError(
        f"The model '{model}' does not exist or you do not have access to it.",
        code="model_not_found",
        param="model",
    )


def retrieve_model(engine: Engine, model: str) -> Model:
    """The model, or OpenAI's 404 ``model_not_found``. Looked up by its exact id (aliases too)."""
    spec = engine.catalog.get(model)
    if spec is None:
        raise model_not_found(model)
    return model_of(spec, engine.clock())
