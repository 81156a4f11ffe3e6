"""The public surface: a sorted __all__, every name real, the contract's names present."""

from __future__ import annotations

import imageshim

CONTRACT = {
    "OpenAI",
    "AsyncOpenAI",
    "openai_http_client",
    "async_openai_http_client",
    "ImageShimError",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "ConfigurationError",
    "MissingAPIKeyError",
    "UnknownAdapterError",
    "ModelRetiredError",
    "ImageShimWarning",
    "OptionMappedWarning",
    "OptionDroppedWarning",
    "ModelDeprecationWarning",
    "ModelRetiredWarning",
}


def test_all_is_sorted_and_real() -> None:
    # ruff's RUF022 order: CONSTANTS first, then the rest alphabetically
    assert imageshim.__all__ == sorted(imageshim.__all__, key=lambda n: (not n.isupper(), n))
    for name in imageshim.__all__:
        assert hasattr(imageshim, name), name


def test_contract_names_are_exported() -> None:
    assert set(imageshim.__all__) >= CONTRACT


def test_public_names_are_all_listed() -> None:
    public = {n for n in dir(imageshim) if not n.startswith("_") and n not in {"annotations"}}
    modules = {n for n in public if type(getattr(imageshim, n)).__name__ == "module"}
    assert public - modules == set(imageshim.__all__)
    assert set(imageshim._LAZY) == set(imageshim.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        imageshim.DallE4  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "DallE4" in str(exc)  # noqa: PT017
    else:
        raise AssertionError("expected AttributeError")


def test_error_and_warning_trees() -> None:
    assert issubclass(imageshim.ImageShimWarning, UserWarning)
    for warning in (
        imageshim.OptionMappedWarning,
        imageshim.OptionDroppedWarning,
        imageshim.ModelDeprecationWarning,
        imageshim.ModelRetiredWarning,
    ):
        assert issubclass(warning, imageshim.ImageShimWarning)
    assert issubclass(imageshim.ModelRetiredError, imageshim.BadRequestError)
    assert issubclass(imageshim.APITimeoutError, imageshim.APIConnectionError)
    assert issubclass(imageshim.MissingAPIKeyError, imageshim.ConfigurationError)
    assert issubclass(imageshim.UnknownAdapterError, imageshim.ConfigurationError)
    for status in (imageshim.BadRequestError, imageshim.RateLimitError, imageshim.InternalServerError):
        assert issubclass(status, imageshim.APIStatusError)
        assert issubclass(status, imageshim.ImageShimError)
