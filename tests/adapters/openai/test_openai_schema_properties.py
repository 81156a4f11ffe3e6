"""Property: whatever a caller asks, map_request -> build_body sends OpenAI a body that the official
CreateImageRequest schema accepts (no field beyond the documented ones), and that keeps the per-model rules
the schema states in prose (DALL·E-only and GPT-image-only fields, dall-e-3 n=1, sizes, qualities)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from imageshim import BadRequestError, ModelSpec, ProviderSettings, builtin_catalog
from imageshim._core.config import MappingPolicy
from imageshim._core.mapping import map_request
from imageshim._core.request import QUALITIES, STYLES, ImageRequest
from imageshim._core.sizes import parse_size
from imageshim_adapters.openai import OpenAIAdapter
from imageshim_adapters.openai.wire import build_body

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
_DOCUMENT = json.loads((FIXTURES / "openai-images-schemas.json").read_text(encoding="utf-8"))
# Strict: the official schema plus "no fields beyond the documented ones"; the components ride along so
# that "#/components/schemas/..." references (partial_images) resolve.
SCHEMA = {
    **_DOCUMENT["components"]["schemas"]["CreateImageRequest"],
    "additionalProperties": False,
    "components": _DOCUMENT["components"],
}
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
# gpt-image-2.5-* also take quality "xhigh" and "max" (openai SDK 3.54 docstring), which the schema
# (openapi.yaml of 2026-08-21, older than that SDK) does not list yet: those bodies are left out.
NEWER_THAN_SCHEMA = frozenset({"xhigh", "max"})

CATALOG = builtin_catalog()
ADAPTER = OpenAIAdapter(ProviderSettings("openai"))
TARGETS: list[tuple[str, ModelSpec]] = [(f"openai:{s.id}", ADAPTER.profile(s)) for s in CATALOG]
POLICIES = [
    MappingPolicy(),
    MappingPolicy(style="prompt", url="file"),
    MappingPolicy(quality={"standard": "low", "hd": "high"}),
]

sizes = st.one_of(
    st.sampled_from(
        ["1024x1024", "1792x1024", "1024x1792", "256x256", "512x512", "1536x1024", "1024x1536", "auto"]
    ),
    st.builds(lambda w, h: f"{w}x{h}", st.integers(16, 4096), st.integers(16, 4096)),
)
output_formats = st.sampled_from(["png", "jpeg", "webp"])
requests = st.builds(
    ImageRequest,
    prompt=st.text(min_size=1, max_size=40).filter(lambda p: p.strip() != ""),
    model=st.sampled_from(["dall-e-3", "dall-e-2", "gpt-image-2", "gpt-image-1.5"]),
    n=st.integers(1, 10),
    size=st.none() | sizes,
    quality=st.none() | st.sampled_from(QUALITIES),
    style=st.none() | st.sampled_from(STYLES),
    response_format=st.none() | st.sampled_from(["url", "b64_json"]),
    user=st.none() | st.just("end-user-1"),
    background=st.none() | st.sampled_from(["transparent", "opaque", "auto"]),
    moderation=st.none() | st.sampled_from(["auto", "low"]),
    output_format=st.none() | output_formats,
    output_compression=st.none() | st.integers(0, 100),
    partial_images=st.none() | st.integers(0, 3),
)


@settings(max_examples=200, deadline=None)
@given(target=st.sampled_from(TARGETS), request=requests, policy=st.sampled_from(POLICIES))
def test_bodies_sent_to_openai_match_the_official_schema(
    target: tuple[str, ModelSpec], request: ImageRequest, policy: MappingPolicy
) -> None:
    name, spec = target
    requested = CATALOG.get(request.model)
    default_url = requested is not None and requested.response_formats[:1] == ("url",)
    try:
        mapped = map_request(request, spec, policy, name, default_url=default_url, requested=requested)
    except BadRequestError:
        return  # refused before any request: nothing is sent
    for call in mapped.calls():
        body = build_body(call, spec)
        assume(body.get("quality") not in NEWER_THAN_SCHEMA)
        errors = sorted(VALIDATOR.iter_errors(body), key=str)
        assert not errors, f"{name}: {body} -> {errors[0].message}"

        # the schema's per-model prose
        assert body["model"] == spec.id
        dalle = "url" in spec.response_formats
        if dalle:
            assert not {"output_format", "output_compression", "background", "moderation"} & set(body)
            assert body["response_format"] in ("url", "b64_json")
        else:  # "This parameter isn't supported for the GPT image models" (response_format, style)
            assert not {"style", "response_format"} & set(body)
        if spec.id == "dall-e-3":
            assert body["n"] == 1  # "For dall-e-3, only n=1 is supported."
        assert 1 <= body["n"] <= spec.max_n
        if "quality" in body:
            assert body["quality"] in spec.qualities
        if "size" in body:
            parsed = parse_size(body["size"])
            assert parsed is not None
            assert spec.size_allowed(*parsed)
        if "output_compression" in body:  # "only ... with the webp or jpeg output formats"
            assert body.get("output_format") in ("jpeg", "webp")
        if body.get("background") == "transparent":  # "set the output format to png or webp"
            assert body.get("output_format", "png") in ("png", "webp")
        assert len(body["prompt"]) <= spec.prompt_max
