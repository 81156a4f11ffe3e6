"""imageshim: keep DALL·E 3-style image-generation code working when the model under it is retired.

>>> import imageshim
>>> client = imageshim.OpenAI()                      # config discovered; see README
>>> resp = client.images.generate(model="dall-e-3", prompt="a lighthouse at dusk", size="1792x1024")
>>> resp.data[0].url, resp.imageshim.route, resp.imageshim.warnings
"""

from __future__ import annotations

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
    PermissionDeniedError,
    RateLimitError,
    UnknownAdapterError,
)
from ._registry import AdapterRegistry
from ._response import Attempt, Image, ImagesResponse, ShimReport, Usage
from ._transport import async_openai_http_client, openai_http_client
from ._warnings import (
    ImageShimWarning,
    ModelDeprecationWarning,
    ModelRetiredWarning,
    OptionDroppedWarning,
    OptionMappedWarning,
    WarningRecord,
)

__version__ = "0.1.0"

__all__ = [
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
    "OpenAI",
    "OptionDroppedWarning",
    "OptionMappedWarning",
    "PermissionDeniedError",
    "ProviderSettings",
    "RateLimitError",
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
