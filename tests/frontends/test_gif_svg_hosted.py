"""GIF and SVG output through the gateway and the URL makers: hosted GIFs are served as image/gif; hosted
SVGs as image/svg+xml with ``Content-Security-Policy: sandbox`` and ``nosniff``, so a script in one cannot
run when a browser opens the URL; SVG is hosted and labelled only where SVG output was asked for."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

import imageshim_adapters.mock as mock_module
from imageshim._core.response import Image as ResponseImage
from imageshim._core.response import ImagesResponse, ShimReport
from imageshim._frontends.gateway import create_app
from imageshim._frontends.gateway.hosting import decode_data_uri, host_images, media_type_of
from imageshim._frontends.gateway.store import MemoryStore, Stored
from imageshim._frontends.urls import data_uri, write_file_url
from imageshim_adapters.mock.images import make_gif, make_image, make_svg

KEY = "gw-test-key-123456"
CONFIG = {"routes": {"*": ["mock:gpt-image-2.5-sunburst"]}}
GENERATE = {"model": "gpt-image-2.5-sunburst", "prompt": "an otter", "size": "1024x1024"}
SVG = make_svg(16, 16, "hosted")
SCRIPTED = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><script>alert(2)</script></svg>"
PNG = make_image(8, 8, "hosted")


def _uri(label: str, data: bytes) -> str:
    return f"data:{label};base64,{base64.b64encode(data).decode()}"


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def _assert_sandboxed(reply: httpx.Response) -> None:
    assert reply.headers["x-content-type-options"] == "nosniff"
    policy = [p.strip() for p in reply.headers["content-security-policy"].split(";")]
    assert "sandbox" in policy
    assert "default-src 'none'" in policy
    assert "style-src 'unsafe-inline'" in policy


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def gateway(clock: Any, serve_app: Any, store: MemoryStore) -> Iterator[str]:
    with serve_app(create_app(CONFIG, keys=[KEY], clock=clock, store=store)) as base:
        yield base


# ----- through the gateway, a real server -----------------------------------------------------------------
def test_a_hosted_svg_is_sandboxed(gateway: str) -> None:
    body = {**GENERATE, "output_format": "svg", "response_format": "url", "size": "1536x1024"}
    reply = httpx.post(f"{gateway}/v1/images/generations", json=body, headers=_auth())
    assert reply.status_code == 200, reply.text
    assert reply.json()["output_format"] == "svg"
    url = reply.json()["data"][0]["url"]
    assert url.startswith(f"{gateway}/v1/imageshim/images/")
    assert url.endswith(".svg")
    image = httpx.get(url)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/svg+xml"
    _assert_sandboxed(image)
    root = ET.fromstring(image.content)
    assert (root.get("width"), root.get("height")) == ("1536", "1024")


def test_a_hosted_gif_is_served_as_image_gif(gateway: str) -> None:
    body = {**GENERATE, "output_format": "gif", "response_format": "url", "frame_count": 3}
    reply = httpx.post(f"{gateway}/v1/images/generations", json=body, headers=_auth())
    assert reply.status_code == 200, reply.text
    url = reply.json()["data"][0]["url"]
    assert url.endswith(".gif")
    image = httpx.get(url)
    assert image.headers["content-type"] == "image/gif"
    assert image.headers["x-content-type-options"] == "nosniff"
    decoded = Image.open(io.BytesIO(image.content))
    assert (decoded.size, decoded.n_frames) == ((1024, 1024), 3)


@pytest.mark.parametrize(("fmt", "head"), [("svg", b"<?xml"), ("gif", b"GIF89a")])
def test_gif_and_svg_as_base64_through_the_gateway(fmt: str, head: bytes, gateway: str) -> None:
    body = {**GENERATE, "output_format": fmt, "response_format": "b64_json"}
    reply = httpx.post(f"{gateway}/v1/images/generations", json=body, headers=_auth())
    assert reply.status_code == 200, reply.text
    assert base64.b64decode(reply.json()["data"][0]["b64_json"]).startswith(head)


def test_an_svg_answered_to_a_png_request_is_a_502(gateway: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mock_module, "make_image", lambda w, h, seed, fmt="png": make_svg(w, h, seed))
    body = {**GENERATE, "output_format": "png", "response_format": "url"}
    reply = httpx.post(f"{gateway}/v1/images/generations", json=body, headers=_auth())
    assert reply.status_code == 502, reply.text
    assert reply.json()["error"]["code"] == "invalid_image_data"
    assert "imageshim/images/" not in reply.text


# ----- what may be hosted, and the image route --------------------------------------------------------------
OWNER = "client-hash"


def _reply(output_format: str, *images: tuple[str, bytes]) -> ImagesResponse:
    """A response of ``output_format`` whose images are ``data:`` URIs with these labels (the media type the
    core keeps with each image, as render._image does) and bytes."""
    data = []
    for label, payload in images:
        b64 = base64.b64encode(payload).decode()
        image = ResponseImage.model_construct(
            b64_json=None, url=f"data:{label};base64,{b64}", revised_prompt=None
        )
        image.keep_bytes(b64, label)
        data.append(image)
    report = ShimReport.model_construct(route="mock:gpt-image-2.5-sunburst", requested_model="m", warnings=[])
    return ImagesResponse.model_construct(created=1, data=data, output_format=output_format, imageshim=report)


def _host(response: ImagesResponse, store: MemoryStore) -> list[Stored]:
    return asyncio.run(host_images(response, store, OWNER, "http://gw", keep_bytes=False))


def test_host_images_hosts_svg_only_for_an_svg_reply(store: MemoryStore) -> None:
    response = _reply("svg", ("image/svg+xml", SVG))
    (item,) = _host(response, store)
    assert item.name.endswith(".svg")
    assert item.media_type == "image/svg+xml"
    assert response.data[0].url == f"http://gw/v1/imageshim/images/{item.name}"
    assert store.open(item.name) == (item, SVG)


@pytest.mark.parametrize(
    ("output_format", "label", "data", "why"),
    [
        ("png", "image/svg+xml", SVG, "hosted only for output_format='svg'"),  # not an SVG reply
        ("svg", "image/png", SVG, "hosted only for output_format='svg'"),  # not labelled SVG
        ("svg", "image/svg+xml", b"<html><script>alert(1)</script></html>", "not a PNG"),  # not SVG bytes
    ],
)
def test_host_images_refuses_svg_where_anything_disagrees(
    output_format: str, label: str, data: bytes, why: str, store: MemoryStore
) -> None:
    with pytest.raises(ValueError, match=rf"data\[0\] of the reply cannot be hosted: .*{why}"):
        _host(_reply(output_format, (label, data)), store)
    assert store.bytes_used() == 0


def test_svg_is_hosted_only_when_claimed() -> None:
    assert media_type_of(SVG) is None
    assert media_type_of(SVG, "image/png") is None
    assert media_type_of(b"<html/>", "image/svg+xml") is None
    assert media_type_of(SVG, "image/svg+xml") == "image/svg+xml"
    assert media_type_of(PNG, "image/svg+xml") == "image/png"  # the bytes label rasters


def test_a_raster_labelled_svg_is_hosted_as_the_raster_it_is(store: MemoryStore) -> None:
    (item,) = _host(_reply("svg", ("image/svg+xml", PNG)), store)
    assert item.media_type == "image/png"
    assert item.name.endswith(".png")
    assert store.open(item.name) == (item, PNG)


def test_decode_data_uri_takes_svg_only_when_asked_and_labelled() -> None:
    assert decode_data_uri(_uri("image/svg+xml", SVG), svg=True) == SVG
    assert decode_data_uri(_uri("IMAGE/SVG+XML; charset=utf-8", SVG), svg=True) == SVG
    for url, svg in ((_uri("image/svg+xml", SVG), False), (_uri("text/html", SVG), True)):
        with pytest.raises(ValueError, match="not a PNG"):
            decode_data_uri(url, svg=svg)


def test_the_image_route_serves_svg_sandboxed_and_only_when_labelled_svg(clock: Any) -> None:
    class Careless(MemoryStore):
        """A store that hands back what it was given, labels included."""

        def open(self, name: str) -> tuple[Stored, bytes] | None:
            found = {
                "drawing.svg": (SCRIPTED, "image/svg+xml"),
                "drawing.png": (SCRIPTED, "image/png"),
                "page.svg": (b"<html><script>alert(1)</script></html>", "image/svg+xml"),
                "anim.gif": (make_gif(4, 4, "g", 2, 50), "image/svg+xml"),
            }.get(name)
            if found is None:
                return None
            data, label = found
            return Stored(name, label, len(data), time.time() + 60), data

    with TestClient(create_app(CONFIG, keys=[], clock=clock, store=Careless())) as client:
        drawing = client.get("/v1/imageshim/images/drawing.svg")
        unlabelled = client.get("/v1/imageshim/images/drawing.png")
        page = client.get("/v1/imageshim/images/page.svg")
        gif = client.get("/v1/imageshim/images/anim.gif")
    assert drawing.status_code == 200
    assert drawing.headers["content-type"] == "image/svg+xml"
    _assert_sandboxed(drawing)
    assert drawing.content == SCRIPTED  # served as it is: the sandbox keeps its script from running
    for refused in (unlabelled, page):
        assert refused.status_code == 502
        assert refused.headers["content-type"] == "application/json"
        assert b"<script>" not in refused.content
    assert gif.headers["content-type"] == "image/gif"  # a raster image: its bytes decide


# ----- data URIs and files ----------------------------------------------------------------------------------
def test_data_uri_labels_svg_only_for_svg_output() -> None:
    assert data_uri("AAAA", "svg", "image/svg+xml") == "data:image/svg+xml;base64,AAAA"
    assert data_uri("AAAA", "svg") == "data:image/svg+xml;base64,AAAA"
    assert data_uri("AAAA", "gif") == "data:image/gif;base64,AAAA"
    assert data_uri("AAAA", "png", "image/svg+xml") == "data:image/png;base64,AAAA"
    assert data_uri("AAAA", None, "image/svg+xml") == "data:image/png;base64,AAAA"
    assert data_uri("AAAA", "svg", "image/png") == "data:image/png;base64,AAAA"


def test_write_file_url_names_svg_only_for_svg_output(tmp_path: Path) -> None:
    b64 = base64.b64encode(SVG).decode()
    assert write_file_url(b64, "svg", tmp_path / "a", media_type="image/svg+xml").endswith(".svg")
    assert write_file_url(b64, "png", tmp_path / "b", media_type="image/svg+xml").endswith(".png")
    gif = base64.b64encode(make_gif(2, 2, "f", 2, 10)).decode()
    assert write_file_url(gif, "gif", tmp_path / "c", media_type="image/gif").endswith(".gif")


# ----- the real openai SDK, in process -------------------------------------------------------------------
@pytest.mark.parametrize("response_format", ["b64_json", "url"])
def test_the_sdk_gets_a_gif_with_the_frames_asked(
    response_format: str, clock: Any, imageshim_mock: Any
) -> None:
    import openai

    from imageshim import OptionMappedWarning
    from imageshim._frontends.transport import openai_http_client

    sdk = openai.OpenAI(api_key="unused", max_retries=0, http_client=openai_http_client(CONFIG, clock=clock))
    body = {
        "output_format": "gif",
        "frame_count": 6,
        "frame_duration_ms": 150,
        "response_format": response_format,
    }
    if response_format == "url":
        with pytest.warns(OptionMappedWarning, match="data: URIs"):
            resp = sdk.images.generate(model="gpt-image-2.5-sunburst", prompt="otter", extra_body=body)
        url = resp.data[0].url if resp.data else None
        assert url is not None
        assert url.startswith("data:image/gif;base64,")
        b64 = url.partition(",")[2]
    else:
        resp = sdk.images.generate(model="gpt-image-2.5-sunburst", prompt="otter", extra_body=body)
        b64 = (resp.data[0].b64_json if resp.data else None) or ""
    decoded = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert decoded.n_frames == 6
    assert decoded.info["duration"] == 150
    call = imageshim_mock.calls[0]
    assert (call.output_format, call.frame_count, call.frame_duration_ms) == ("gif", 6, 150)
