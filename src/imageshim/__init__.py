"""imageshim: keep DALL·E 3-style image-generation code working when the model under it is retired.

>>> import imageshim
>>> client = imageshim.OpenAI()                      # config discovered; see README
>>> resp = client.images.generate(model="dall-e-3", prompt="a lighthouse at dusk", size="1792x1024")
>>> resp.data[0].url, resp.imageshim.route, resp.imageshim.warnings
"""

from __future__ import annotations

import typing as _typing

if _typing.TYPE_CHECKING:  # static names for type checkers and IDEs; at run time they load on first use
    from imageshim._core.adapter import (
        AdapterResult,
        GeneratedImage,
        ImageAdapter,
        ImageCall,
        ProviderSettings,
    )
    from imageshim._core.catalog import Catalog, ModelSpec, SizeRule, builtin_catalog
    from imageshim._core.config import Config, load_config
    from imageshim._core.errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        ConfigurationError,
        ImageShimError,
        InternalServerError,
        MissingAPIKeyError,
        ModelRetiredError,
        NotFoundError,
        PartialResultError,
        PermissionDeniedError,
        RateLimitError,
        ResultUnknownError,
        UnknownAdapterError,
    )
    from imageshim._core.response import Attempt, Image, ImagesResponse, ShimReport, Usage
    from imageshim._core.types import NOT_GIVEN, NotGiven
    from imageshim._core.warnings import (
        ImageShimWarning,
        ModelDeprecationWarning,
        ModelRetiredWarning,
        OptionDroppedWarning,
        OptionMappedWarning,
        WarningRecord,
    )
    from imageshim._frontends.client import AsyncOpenAI, OpenAI
    from imageshim._frontends.transport import async_openai_http_client, openai_http_client
    from imageshim._plumbing.registry import AdapterRegistry

# `import imageshim` stays cheap: each public name is imported from its module on first access (PEP 562).
_LAZY: dict[str, str] = {
    "APIConnectionError": "imageshim._core.errors",
    "APIError": "imageshim._core.errors",
    "APIStatusError": "imageshim._core.errors",
    "APITimeoutError": "imageshim._core.errors",
    "AdapterRegistry": "imageshim._plumbing.registry",
    "AdapterResult": "imageshim._core.adapter",
    "AsyncOpenAI": "imageshim._frontends.client",
    "Attempt": "imageshim._core.response",
    "AuthenticationError": "imageshim._core.errors",
    "BadRequestError": "imageshim._core.errors",
    "BudgetExceededError": "imageshim._core.errors",
    "Catalog": "imageshim._core.catalog",
    "Config": "imageshim._core.config",
    "ConfigurationError": "imageshim._core.errors",
    "GeneratedImage": "imageshim._core.adapter",
    "Image": "imageshim._core.response",
    "ImageAdapter": "imageshim._core.adapter",
    "ImageCall": "imageshim._core.adapter",
    "ImageShimError": "imageshim._core.errors",
    "ImageShimWarning": "imageshim._core.warnings",
    "ImagesResponse": "imageshim._core.response",
    "InternalServerError": "imageshim._core.errors",
    "MissingAPIKeyError": "imageshim._core.errors",
    "ModelDeprecationWarning": "imageshim._core.warnings",
    "ModelRetiredError": "imageshim._core.errors",
    "ModelRetiredWarning": "imageshim._core.warnings",
    "ModelSpec": "imageshim._core.catalog",
    "NotFoundError": "imageshim._core.errors",
    "PartialResultError": "imageshim._core.errors",
    "OpenAI": "imageshim._frontends.client",
    "OptionDroppedWarning": "imageshim._core.warnings",
    "OptionMappedWarning": "imageshim._core.warnings",
    "PermissionDeniedError": "imageshim._core.errors",
    "ProviderSettings": "imageshim._core.adapter",
    "RateLimitError": "imageshim._core.errors",
    "ResultUnknownError": "imageshim._core.errors",
    "NOT_GIVEN": "imageshim._core.types",
    "NotGiven": "imageshim._core.types",
    "ShimReport": "imageshim._core.response",
    "SizeRule": "imageshim._core.catalog",
    "UnknownAdapterError": "imageshim._core.errors",
    "Usage": "imageshim._core.response",
    "WarningRecord": "imageshim._core.warnings",
    "async_openai_http_client": "imageshim._frontends.transport",
    "builtin_catalog": "imageshim._core.catalog",
    "load_config": "imageshim._core.config",
    "openai_http_client": "imageshim._frontends.transport",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imageshim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AdapterRegistry",
    "AdapterResult",
    "AsyncOpenAI",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "Catalog",
    "Config",
    "ConfigurationError",
    "GeneratedImage",
    "Image",
    "ImageAdapter",
    "ImageCall",
    "ImageShimError",
    "ImageShimWarning",
    "ImagesResponse",
    "InternalServerError",
    "MissingAPIKeyError",
    "ModelDeprecationWarning",
    "ModelRetiredError",
    "ModelRetiredWarning",
    "ModelSpec",
    "NotFoundError",
    "NotGiven",
    "OpenAI",
    "OptionDroppedWarning",
    "OptionMappedWarning",
    "PartialResultError",
    "PermissionDeniedError",
    "ProviderSettings",
    "RateLimitError",
    "ResultUnknownError",
    "ShimReport",
    "SizeRule",
    "UnknownAdapterError",
    "Usage",
    "WarningRecord",
    "async_openai_http_client",
    "builtin_catalog",
    "load_config",
    "openai_http_client",
]
