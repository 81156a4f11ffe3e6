"""OpenAI adapter wire tests: the exact body sent for DALL·E 3-style calls, validated against the official
CreateImageRequest schema, and the reply read back (data URIs, file URLs, usage and cost)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import jsonschema
import pytest

import imageshim

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
_SCHEMAS = json.loads((FIXTURES / "openai-images-schemas.json").read_text(encoding="utf-8"))
# Strict: the official schema plus "no fields beyond the documented ones".
SCHEMA = {**_SCHEMAS["components"]["schemas"]["CreateImageRequest"], "additionalProperties": False}
KEY = "sk-test-abcdefghijklmnopqrstuvwxyz"
IMAGE = b"\x89PNG\r\n\x1a\n-exact-bytes-\x00\x01\x02"
USAGE = {
    "input_tokens": 50,
    "input_tokens_details": {"text_tokens": 40, "image_tokens": 10},
    "output_tokens": 4160,
    "total_tokens": 4210,
}


def gpt_reply(request: httpx.Request) -> httpx.Response:
    sent = json.loads(request.content)
    body = {
        "created": 1_764_000_000,
        "data": [{"b64_json": base64.b64encode(IMAGE).decode()} for _ in range(sent.get("n", 1))],
        "usage": USAGE,
        "size": sent.get("size", "1024x1024"),
        "quality": sent.get("quality", "medium"),
        "output_format": sent.get("output_format", "png"),
        "background": "opaque",
    }
    return httpx.Response(200, json=body, headers={"x-request-id": "req_abc"})


def client(recorder: Any, clock: Any, **config: Any) -> imageshim.OpenAI:
    base = {"routes": {"*": ["openai:gpt-image-2"]}, "providers": {"openai": {"api_key": KEY}}}
    return imageshim.OpenAI(config={**base, **config}, http_client=recorder.client(), clock=clock)


@pytest.mark.parametrize("size", ["1024x1024", "1792x1024", "1024x1792"])
@pytest.mark.parametrize(("quality", "mapped"), [("standard", "medium"), ("hd", "high")])
@pytest.mark.parametrize("style", ["vivid", "natural"])
@pytest.mark.parametrize("response_format", ["url", "b64_json"])
def test_dalle3_style_call_sends_exactly_the_gpt_image_2_body(
    size: str, quality: str, mapped: str, style: str, response_format: str, recorder_factory: Any, clock: Any
) -> None:
    recorder = recorder_factory(gpt_reply)
    expected_warnings = [
        imageshim.ModelRetiredWarning,
        imageshim.OptionMappedWarning,
        imageshim.OptionDroppedWarning,
    ]
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = client(recorder, clock).images.generate(
            model="dall-e-3",
            prompt="a lighthouse",
            size=size,
            quality=quality,
            style=style,
            response_format=response_format,
        )
    assert {type(w.message) for w in caught} == set(expected_warnings)
    sent = recorder.json()
    # dall-e-3 sizes are valid GPT Image 2 sizes (multiples of 16, ratio <= 3:1): unchanged.
    assert sent == {"model": "gpt-image-2", "prompt": "a lighthouse", "n": 1, "size": size, "quality": mapped}
    jsonschema.validate(sent, SCHEMA)
    request = recorder.requests[0]
    assert str(request.url) == "https://api.openai.com/v1/images/generations"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    if response_format == "url":
        assert resp.data[0].url == "data:image/png;base64," + base64.b64encode(IMAGE).decode()
        assert resp.data[0].b64_json is None
    else:
        assert base64.b64decode(resp.data[0].b64_json or "") == IMAGE
        assert resp.data[0].url is None
    assert resp.data[0].revised_prompt is None
    assert resp.imageshim.route == "openai:gpt-image-2"


def test_data_uri_decodes_to_the_exact_bytes(recorder_factory: Any, clock: Any) -> None:
    with pytest.warns(imageshim.ImageShimWarning):
        resp = client(recorder_factory(gpt_reply), clock).images.generate(model="dall-e-3", prompt="x")
    url = resp.data[0].url or ""
    assert base64.b64decode(url.partition("base64,")[2]) == IMAGE


def test_file_urls_point_at_files_holding_the_bytes(
    recorder_factory: Any, clock: Any, tmp_path: Path
) -> None:
    c = client(recorder_factory(gpt_reply), clock, mapping={"url": "file", "url_dir": str(tmp_path / "img")})
    with pytest.warns(imageshim.OptionMappedWarning, match="file:// URLs"):
        resp = c.images.generate(model="gpt-image-2", prompt="x", response_format="url", n=2)
    paths = [Path(urlparse(d.url or "").path) for d in resp.data]
    assert all(p.parent == (tmp_path / "img").resolve() for p in paths)
    assert all(p.read_bytes() == IMAGE for p in paths)


def test_url_policy_error_refuses_before_any_request(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(gpt_reply)
    with pytest.raises(imageshim.BadRequestError, match="response_format") as info:
        client(recorder, clock, mapping={"url": "error"}).images.generate(
            model="gpt-image-2", prompt="x", response_format="url"
        )
    assert info.value.param == "response_format"
    assert recorder.requests == []


def test_usage_and_cost(recorder_factory: Any, clock: Any) -> None:
    resp = client(recorder_factory(gpt_reply), clock).images.generate(
        model="gpt-image-2", prompt="x", quality="high"
    )
    assert resp.usage is not None
    assert resp.usage.output_tokens == 4160
    # text in $5/1M, image in $8/1M, image out $30/1M
    assert resp.imageshim.cost_usd == pytest.approx(40 * 5e-6 + 10 * 8e-6 + 4160 * 30e-6)
    assert resp.imageshim.cost_source is not None
    assert resp.imageshim.cost_source.startswith("estimate from token usage")
    assert (resp.size, resp.quality, resp.output_format, resp.background) == (
        "1024x1024",
        "high",
        "png",
        "opaque",
    )


def test_gpt_image_options_and_user_are_sent(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(gpt_reply)
    client(recorder, clock).images.generate(
        model="gpt-image-2",
        prompt="x",
        n=3,
        size="2048x1152",
        quality="low",
        output_format="webp",
        output_compression=80,
        background="opaque",
        moderation="low",
        user="end-user-7",
    )
    sent = recorder.json()
    assert sent == {
        "model": "gpt-image-2",
        "prompt": "x",
        "n": 3,
        "size": "2048x1152",
        "quality": "low",
        "output_format": "webp",
        "output_compression": 80,
        "background": "opaque",
        "moderation": "low",
        "user": "end-user-7",
    }
    jsonschema.validate(sent, SCHEMA)


def test_dalle3_body_when_allowed(recorder_factory: Any, clock: Any) -> None:
    def dalle_reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"created": 1, "data": [{"url": "https://example.test/i.png", "revised_prompt": "r"}]}
        )

    recorder = recorder_factory(dalle_reply)
    c = client(recorder, clock, routes={"*": ["openai:dall-e-3"]}, lifecycle={"on_retired": "allow"})
    with pytest.warns(imageshim.ModelRetiredWarning):
        resp = c.images.generate(
            model="dall-e-3", prompt="x", size="1792x1024", quality="hd", style="natural"
        )
    sent = recorder.json()
    assert sent == {
        "model": "dall-e-3",
        "prompt": "x",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "style": "natural",
        "response_format": "url",
    }
    jsonschema.validate(sent, SCHEMA)
    assert resp.data[0].url == "https://example.test/i.png"
    assert resp.data[0].revised_prompt == "r"
    assert resp.imageshim.cost_usd == pytest.approx(0.12)  # catalog per-image price, hd wide


@pytest.mark.parametrize("model", ["gpt-image-1.5", "gpt-image-1-mini"])
def test_dying_gpt_image_models_keep_their_constraints_and_warn(
    model: str, recorder_factory: Any, clock: Any
) -> None:
    recorder = recorder_factory(gpt_reply)
    c = client(recorder, clock, routes={"*": [f"openai:{model}"]})
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        c.images.generate(model=model, prompt="x", size="1792x1024")
    messages = [str(w.message) for w in caught]
    assert f"{model} shuts down on 2026-12-01 (7 days left). Migrate to gpt-image-2." in messages[0]
    assert any("sent the nearest valid 1536x1024" in m for m in messages)
    assert recorder.json()["size"] == "1536x1024"
    jsonschema.validate(recorder.json(), SCHEMA)


@pytest.mark.anyio
async def test_async_path(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(gpt_reply)
    c = imageshim.AsyncOpenAI(
        config={
            "routes": {"*": ["openai:gpt-image-2"]},
            "providers": {"openai": {"api_key": KEY, "organization": "org-1"}},
        },
        http_client=recorder.async_client(),
        clock=clock,
    )
    resp = await c.images.generate(model="gpt-image-2", prompt="x", n=2)
    assert len(resp.data) == 2
    assert recorder.requests[0].headers["openai-organization"] == "org-1"


def test_openai_base_url_env_is_honoured(
    recorder_factory: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1/")
    recorder = recorder_factory(gpt_reply)
    client(recorder, clock).images.generate(model="gpt-image-2", prompt="x")
    assert str(recorder.requests[0].url) == "http://127.0.0.1:9999/v1/images/generations"


def test_api_key_from_openai_api_key_env(
    recorder_factory: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-0123456789abcdefghij")
    recorder = recorder_factory(gpt_reply)
    config = {"routes": {"*": ["openai:gpt-image-2"]}}
    c = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    c.images.generate(model="gpt-image-2", prompt="x")
    assert recorder.requests[0].headers["authorization"] == "Bearer sk-env-0123456789abcdefghij"


def test_missing_key_names_the_env_var_before_any_request(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(gpt_reply)
    config = {"routes": {"*": ["openai:gpt-image-2"]}}
    c = imageshim.OpenAI(config=config, http_client=recorder.client(), clock=clock)
    with pytest.raises(imageshim.MissingAPIKeyError, match="OPENAI_API_KEY"):
        c.images.generate(model="gpt-image-2", prompt="x")
    assert recorder.requests == []


def test_organization_and_project_headers_from_config(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(gpt_reply)
    c = client(
        recorder,
        clock,
        providers={"openai": {"api_key": KEY, "organization": "org-cfg", "project": "proj_cfg"}},
    )
    c.images.generate(model="gpt-image-2", prompt="x")
    headers = recorder.requests[0].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-cfg", "proj_cfg")


def test_organization_and_project_from_the_sdk_env_vars(
    recorder_factory: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The official SDK reads OPENAI_ORG_ID / OPENAI_PROJECT_ID when they are not configured.
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_env")
    recorder = recorder_factory(gpt_reply)
    client(recorder, clock).images.generate(model="gpt-image-2", prompt="x")
    headers = recorder.requests[0].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-env", "proj_env")

    # configured values win over the environment
    recorder = recorder_factory(gpt_reply)
    c = client(recorder, clock, providers={"openai": {"api_key": KEY, "project": "proj_cfg"}})
    c.images.generate(model="gpt-image-2", prompt="x")
    headers = recorder.requests[0].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-env", "proj_cfg")


def test_no_organization_or_project_header_unless_set(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(gpt_reply)
    client(recorder, clock).images.generate(model="gpt-image-2", prompt="x")
    assert "openai-organization" not in recorder.requests[0].headers
    assert "openai-project" not in recorder.requests[0].headers


def test_dalle3_default_url_call_gets_file_urls(recorder_factory: Any, clock: Any, tmp_path: Path) -> None:
    """DALL·E 3 code that never set response_format reads data[0].url: with [mapping] url = "file" it gets
    a file:// URL of a file holding the image."""
    recorder = recorder_factory(gpt_reply)
    url_dir = tmp_path / "images"
    c = client(recorder, clock, mapping={"url": "file", "url_dir": str(url_dir)})
    with pytest.warns(imageshim.ImageShimWarning) as caught:
        resp = c.images.generate(model="dall-e-3", prompt="a lighthouse", size="1792x1024")
    assert {type(w.message) for w in caught} == {imageshim.ModelRetiredWarning, imageshim.OptionMappedWarning}
    assert any("file:// URLs" in str(w.message) for w in caught)
    assert "response_format" not in recorder.json()
    url = resp.data[0].url or ""
    assert url.startswith("file://")
    path = Path(urlparse(url).path)
    assert path.parent == url_dir.resolve()
    assert path.read_bytes() == IMAGE
    assert resp.data[0].b64_json is None


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("style", "take no 'style'"),
        ("response_format", "take no 'response_format'"),
        ("size", "pass size= instead"),
        ("quality", "pass quality= instead"),
        ("n", "pass n= instead"),
        ("model", "the route's target model"),
        ("prompt", "pass prompt= instead"),
        ("stream", "not an event stream"),
    ],
)
def test_extra_body_keys_a_gpt_image_target_refuses(
    key: str, fragment: str, recorder_factory: Any, clock: Any
) -> None:
    recorder = recorder_factory(gpt_reply)
    with pytest.raises(imageshim.BadRequestError, match=fragment) as info:
        client(recorder, clock).images.generate(model="gpt-image-2", prompt="x", extra_body={key: "vivid"})
    assert f"extra_body[{key!r}]" in info.value.message
    assert info.value.param == "extra_body"
    assert recorder.requests == []


def test_extra_body_refused_for_a_redirected_dalle3_call(recorder_factory: Any, clock: Any) -> None:
    # The DALL·E 3 habit of passing response_format through extra_body would be a sure 400 on gpt-image-2.
    recorder = recorder_factory(gpt_reply)
    with (
        pytest.warns(imageshim.ImageShimWarning) as caught,
        pytest.raises(imageshim.BadRequestError, match="response_format"),
    ):
        client(recorder, clock).images.generate(
            model="dall-e-3", prompt="x", response_format="b64_json", extra_body={"response_format": "url"}
        )
    assert imageshim.ModelRetiredWarning in {type(w.message) for w in caught}
    assert recorder.requests == []


def test_other_extra_body_keys_are_sent_verbatim(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(gpt_reply)
    client(recorder, clock).images.generate(
        model="gpt-image-2", prompt="x", extra_body={"safety_identifier": "u-1", "complexity": "low"}
    )
    sent = recorder.json()
    assert (sent["safety_identifier"], sent["complexity"]) == ("u-1", "low")


def test_extra_body_is_merged_verbatim_for_a_dalle_target(recorder_factory: Any, clock: Any) -> None:
    def dalle_reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"created": 1, "data": [{"url": "https://example.test/i.png"}]})

    recorder = recorder_factory(dalle_reply)
    c = client(recorder, clock, routes={"*": ["openai:dall-e-3"]}, lifecycle={"on_retired": "allow"})
    with pytest.warns(imageshim.ModelRetiredWarning):
        c.images.generate(model="dall-e-3", prompt="x", extra_body={"style": "natural"})
    assert recorder.json()["style"] == "natural"
