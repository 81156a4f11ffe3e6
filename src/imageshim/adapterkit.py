"""The adapter kit: everything an adapter needs, in one public module.

An adapter turns :class:`ImageCall` values (already valid for its model) into its provider's wire calls
and the replies back into an :class:`AdapterResult`, mapping provider errors onto the error tree at one
boundary. The core does the rest: validation, mapping, retries, recovery of lost replies, deadlines,
fallbacks, partial results, checking image bytes. The built-in adapters (mock, OpenAI, Runware) use this
module and nothing private, so a third-party adapter can do everything they do::

    from imageshim.adapterkit import AdapterResult, GeneratedImage, ImageAdapter, post, parse_json

    class AcmeAdapter(ImageAdapter):
        name = "acme"
        api_key_env = "ACME_API_KEY"
        default_base_url = "https://api.acme.example/v1"

        def generate(self, calls, spec):
            (call,) = calls
            reply = post(self.http_client, f"{self.base_url}/draw", provider=self.name,
                         total=call.timeout or self.default_timeout, json={"prompt": call.prompt},
                         headers={"Authorization": f"Bearer {self.api_key()}"})
            body = parse_json(reply, self.name)
            return AdapterResult(images=[GeneratedImage(b64_json=body["image"])])

Register it under the entry-point group ``imageshim.adapters`` (``acme = "acme_pkg:AcmeAdapter"``) or with
:meth:`AdapterRegistry.register`, and route to it: ``[routes] "dall-e-3" = ["acme:gpt-image-2"]``.

What the HTTP helpers promise: :func:`post` / :func:`apost` bound the whole exchange by ``total`` seconds
(not only each read) and raise :class:`APIConnectionError` / :class:`APITimeoutError` with ``reply_lost``
telling whether the provider may have received the request (the core then looks the result up with
:meth:`ImageAdapter.poll`, or reports it unknown, and never sends it again); :func:`parse_json` turns a body
that is not JSON into a typed error that keeps the status class; :func:`retry_after` reads
``retry-after-ms`` / ``retry-after``; :func:`error_class_for_status` picks the error for a status;
:func:`excerpt` quotes a reply safely (keys redacted before the cut).
"""

from __future__ import annotations

from imageshim._core.adapter import (
    ADAPTER_SPEC_VERSION,
    AdapterResult,
    GeneratedImage,
    ImageAdapter,
    ImageCall,
    InputImage,
    ProviderSettings,
)
from imageshim._core.catalog import ModelSpec, SizeRule, TokenRule
from imageshim._core.cost import expected_usage, input_images
from imageshim._core.edit import EditFacts, edit_facts
from imageshim._core.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResultUnknownError,
    error_class_for_status,
    redact,
    register_secret,
)
from imageshim._plumbing.http import (
    HTTPReply,
    amap_transport_errors,
    apost,
    excerpt,
    malformed,
    map_transport_errors,
    parse_json,
    post,
    request_id,
    retry_after,
)

__all__ = [
    "ADAPTER_SPEC_VERSION",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AdapterResult",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "EditFacts",
    "GeneratedImage",
    "HTTPReply",
    "ImageAdapter",
    "ImageCall",
    "InputImage",
    "InternalServerError",
    "ModelSpec",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderSettings",
    "RateLimitError",
    "ResultUnknownError",
    "SizeRule",
    "TokenRule",
    "amap_transport_errors",
    "apost",
    "edit_facts",
    "error_class_for_status",
    "excerpt",
    "expected_usage",
    "input_images",
    "malformed",
    "map_transport_errors",
    "parse_json",
    "post",
    "redact",
    "register_secret",
    "request_id",
    "retry_after",
]
