"""Hypothesis properties of the mapping, for every catalog model as each provider serves it:

- every mapped request is valid for its target;
- a warning is recorded exactly when a value was changed or dropped;
- orientation is preserved whenever the target has a size of that orientation;
- mapping an already valid request changes nothing and warns nothing.

A request redirected to another model that leaves size or quality out is mapped as if it had asked
for the requested model's defaults (DALL·E 3: 1024x1024, standard): the properties speak of those.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from imageshim import ModelSpec, NotFoundError, ProviderSettings, builtin_catalog
from imageshim._core.config import MappingPolicy
from imageshim._core.mapping import map_request
from imageshim._core.request import QUALITIES, STYLES, ImageRequest
from imageshim._core.sizes import orientation, parse_size
from imageshim_adapters.mock import MockAdapter
from imageshim_adapters.openai import OpenAIAdapter
from imageshim_adapters.runware import RunwareAdapter

ADAPTERS = [
    OpenAIAdapter(ProviderSettings("openai")),
    RunwareAdapter(ProviderSettings("runware")),
    MockAdapter(ProviderSettings("mock")),
]
CATALOG = builtin_catalog()


def _served() -> list[tuple[str, ModelSpec]]:
    """Every catalog model as each provider serves it (a provider refuses the models it lacks)."""
    out = []
    for adapter in ADAPTERS:
        for spec in CATALOG:
            try:
                out.append((f"{adapter.name}:{spec.id}", adapter.profile(spec)))
            except NotFoundError:
                continue
    return out


TARGETS = _served()
POLICY = MappingPolicy()

sizes = st.one_of(
    st.sampled_from(
        [
            "1024x1024",
            "1792x1024",
            "1024x1792",
            "256x256",
            "512x512",
            "1536x1024",
            "1024x1536",
            "3840x2160",
            "2160x3840",
            "auto",
        ]
    ),
    st.builds(lambda w, h: f"{w}x{h}", st.integers(64, 5000), st.integers(64, 5000)),
)
requests = st.builds(
    ImageRequest,
    prompt=st.text(min_size=2, max_size=60).filter(lambda p: p.strip() != ""),
    model=st.sampled_from(["dall-e-3", "gpt-image-2"]),
    n=st.integers(1, 10),
    size=st.none() | sizes,
    quality=st.none() | st.sampled_from(QUALITIES),
    style=st.none() | st.sampled_from(STYLES),
    response_format=st.none() | st.sampled_from(["url", "b64_json"]),
    user=st.none() | st.just("user-1"),
    background=st.none() | st.sampled_from(["auto", "opaque"]),
    moderation=st.none() | st.sampled_from(["auto", "low"]),
)


def _applied_size(call: Any) -> str | None:
    return call.size


def _warned(mapped: Any) -> set[str]:
    return {w.setting for w in mapped.warnings}


def _asked(request: ImageRequest, setting: str, requested: ModelSpec | None, spec: ModelSpec) -> Any:
    """What the caller asked for, counting the requested model's default when redirected."""
    value = getattr(request, setting)
    if value is not None or requested is None or requested.id == spec.id:
        return value
    default = getattr(requested, f"default_{setting}")
    return None if default == "auto" else default


@settings(max_examples=400, deadline=None)
@given(target=st.sampled_from(TARGETS), request=requests, default_url=st.booleans())
def test_mapped_requests_are_valid_and_warned_exactly(
    target: tuple[str, ModelSpec], request: ImageRequest, default_url: bool
) -> None:
    name, spec = target
    requested = CATALOG.get(request.model)
    mapped = map_request(request, spec, POLICY, name, default_url=default_url, requested=requested)
    call = mapped.template
    warned = _warned(mapped)
    size = _asked(request, "size", requested, spec)
    quality = _asked(request, "quality", requested, spec)

    # valid for the target
    if call.width is None:
        assert spec.accepts_auto_size
    else:
        assert spec.size_allowed(call.width, call.height)
    assert call.quality is None or call.quality in spec.qualities
    assert call.style is None or call.style in spec.styles
    assert 1 <= mapped.per_call <= spec.max_n
    assert sum(c.n for c in mapped.calls()) == request.n
    assert spec.prompt_min <= len(call.prompt) <= spec.prompt_max
    assert call.response_format in spec.response_formats
    assert call.background is None or call.background in spec.backgrounds
    assert call.moderation is None or call.moderation in spec.moderations
    assert call.end_user_id is None or spec.end_user_id

    # a warning exactly when a value changed or was dropped
    size_changed = size is not None and (
        (size == "auto" and call.width is not None) or (size != "auto" and call.size != size)
    )
    assert ("size" in warned) == size_changed
    assert ("quality" in warned) == (quality is not None and call.quality != quality)
    assert ("style" in warned) == (request.style is not None and call.style != request.style)
    assert ("n" in warned) == (request.n > spec.max_n)
    assert ("user" in warned) == (request.user is not None and call.end_user_id is None)
    assert ("background" in warned) == (request.background is not None and call.background is None)
    assert ("moderation" in warned) == (request.moderation is not None and call.moderation is None)
    wants_url = request.wants_url(default_url)
    assert ("response_format" in warned) == (wants_url and "url" not in spec.response_formats)

    # orientation kept whenever the target has that orientation
    asked = parse_size(size or "")
    if asked and call.width is not None and call.height is not None:
        want = orientation(*asked)
        available = {orientation(*p) for p in map(parse_size, spec.sizes) if p} | (
            {-1, 0, 1} if spec.size_rule is not None else set()
        )
        if want in available:
            assert orientation(call.width, call.height) == want


@settings(max_examples=300, deadline=None)
@given(data=st.data(), target=st.sampled_from(TARGETS))
def test_valid_requests_are_unchanged(data: st.DataObject, target: tuple[str, ModelSpec]) -> None:
    name, spec = target
    fixed = [s for s in spec.sizes if s != "auto"]
    size = data.draw(
        st.sampled_from(fixed) if fixed else st.sampled_from(["1024x1024", "1536x1024", "2048x1152"])
    )
    w, h = parse_size(size) or (0, 0)
    assert spec.size_allowed(w, h)
    request = ImageRequest(
        prompt="a valid prompt",
        model=spec.id,
        n=data.draw(st.integers(1, spec.max_n)),
        size=size,
        quality=data.draw(st.none() | st.sampled_from(spec.qualities)),
        style=data.draw(st.none() | st.sampled_from(spec.styles)) if spec.styles else None,
        response_format=data.draw(st.sampled_from(spec.response_formats)),
    )
    mapped = map_request(request, spec, POLICY, name)
    call = mapped.template
    assert mapped.warnings == ()
    assert (call.size, call.quality, call.style, call.prompt, mapped.per_call) == (
        size,
        request.quality,
        request.style,
        request.prompt,
        request.n,
    )
    assert call.response_format == request.response_format
