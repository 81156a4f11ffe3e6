"""imageshim: keep DALL·E 3-style image-generation code working when the model under it is retired.

>>> import imageshim
>>> client = imageshim.OpenAI()                      # config discovered; see README
>>> resp = client.images.generate(model="dall-e-3", prompt="a lighthouse at dusk", size="1792x1024")
>>> resp.data[0].url, resp.imageshim.route, resp.imageshim.warnings
"""

from __future__ import annotations

import typing as _typing

if _typing.TYPE_CHECKING:  # static names for type checkers and IDEs; at run time they load on first use
    from ._adapter import AdapterResult, GeneratedImage, ImageAdapter, ImageCall, ProviderSettings
    from ._catalog import Catalog, ModelSpec, SizeRule, builtin_catalog
    from ._client import AsyncOpenAI, OpenAI
    from ._config import Config, load_config
    from ._errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
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
    from ._registry import AdapterRegistry
    from ._response import Attempt, Image, ImagesResponse, ShimReport, Usage
    from ._transport import async_openai_http_client, openai_http_client
    from ._types import NOT_GIVEN, NotGiven
    from ._warnings import (
        ImageShimWarning,
        ModelDeprecationWarning,
        ModelRetiredWarning,
        OptionDroppedWarning,
        OptionMappedWarning,
        WarningRecord,
    )

# `import imageshim` stays cheap: each public name is imported from its module on first access (PEP 562).
_LAZY: dict[str, str] = {
    "APIConnectionError": "._errors",
    "APIError": "._errors",
    "APIStatusError": "._errors",
    "APITimeoutError": "._errors",
    "AdapterRegistry": "._registry",
    "AdapterResult": "._adapter",
    "AsyncOpenAI": "._client",
    "Attempt": "._response",
    "AuthenticationError": "._errors",
    "BadRequestError": "._errors",
    "Catalog": "._catalog",
    "Config": "._config",
    "ConfigurationError": "._errors",
    "GeneratedImage": "._adapter",
    "Image": "._response",
    "ImageAdapter": "._adapter",
    "ImageCall": "._adapter",
    "ImageShimError": "._errors",
    "ImageShimWarning": "._warnings",
    "ImagesResponse": "._response",
    "InternalServerError": "._errors",
    "MissingAPIKeyError": "._errors",
    "ModelDeprecationWarning": "._warnings",
    "ModelRetiredError": "._errors",
    "ModelRetiredWarning": "._warnings",
    "ModelSpec": "._catalog",
    "NotFoundError": "._errors",
    "PartialResultError": "._errors",
    "OpenAI": "._client",
    "OptionDroppedWarning": "._warnings",
    "OptionMappedWarning": "._warnings",
    "PermissionDeniedError": "._errors",
    "ProviderSettings": "._adapter",
    "RateLimitError": "._errors",
    "ResultUnknownError": "._errors",
    "NOT_GIVEN": "._types",
    "NotGiven": "._types",
    "ShimReport": "._response",
    "SizeRule": "._catalog",
    "UnknownAdapterError": "._errors",
    "Usage": "._response",
    "WarningRecord": "._warnings",
    "async_openai_http_client": "._transport",
    "builtin_catalog": "._catalog",
    "load_config": "._config",
    "openai_http_client": "._transport",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imageshim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
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
