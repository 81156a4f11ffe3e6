"""Hosted images are served only as the image their bytes are: never as the media type a provider wrote
next to them, always with ``nosniff``; bytes that are not an image are never hosted. And the labels
``_urls`` puts on data URIs and files."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from imageshim._core.media import MEDIA_EXTENSIONS
from imageshim._frontends.gateway import create_app
from imageshim._frontends.hosted import HostedImages, decode_data_uri
from imageshim._frontends.urls import data_uri, write_file_url
from imageshim._frontends.wire import WireHandler, WireResponse
from imageshim_adapters.mock.images import make_image

PNG = make_image(8, 8, "hosted")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60  # a JPEG's leading bytes are all that is sniffed
HTML = b"<html><script>alert(document.cookie)</script></html>"
CONFIG = {"routes": {"*": ["mock:gpt-image-2"]}}
GENERATE = {"model": "gpt-image-2", "prompt": "an otter", "response_format": "url"}


def _uri(label: str, data: bytes) -> str:
    return f"data:{label};base64,{base64.b64encode(data).decode()}"


@pytest.fixture
def store() -> HostedImages:
    return HostedImages()


@pytest.fixture
def provider_urls(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make the wire handler answer with these ``data:`` URLs, as a provider's reply passed through would.

    The core checks and relabels provider images before they get here; this plays the case where one
    slips through anyway (a core bug, a third-party front end), which the store must still refuse."""

    def install(*urls: str) -> None:
        async def ahandle(self: WireHandler, *args: Any, **kwargs: Any) -> WireResponse:
            body = json.dumps({"created": 1, "data": [{"url": u} for u in urls]}).encode()
            headers = {
                "content-type": "application/json",
                "x-request-id": "req_1",
                "x-imageshim-route": "p:m",
            }
            return WireResponse(200, headers, body)

        monkeypatch.setattr(WireHandler, "ahandle", ahandle)

    return install


@pytest.fixture
def gateway(clock: Any, store: HostedImages) -> Iterator[TestClient]:
    with TestClient(create_app(CONFIG, keys=[], clock=clock, hosted=store)) as client:
        yield client


def test_a_provider_label_of_text_html_is_served_as_the_png_it_is(
    gateway: TestClient, provider_urls: Callable[..., None]
) -> None:
    provider_urls(_uri("text/html", PNG), _uri("image/png", JPEG))
    reply = gateway.post("/v1/images/generations", json=GENERATE)
    assert reply.status_code == 200, reply.text
    first, second = (item["url"] for item in reply.json()["data"])
    assert first.startswith("http://testserver/v1/imageshim/images/")
    assert first.endswith(".png")
    assert second.endswith(".jpg")
    for url, media_type, data in ((first, "image/png", PNG), (second, "image/jpeg", JPEG)):
        image = gateway.get(url)
        assert image.status_code == 200
        assert image.headers["content-type"] == media_type
        assert image.headers["x-content-type-options"] == "nosniff"
        assert image.content == data


@pytest.mark.parametrize(
    "url",
    [
        _uri("text/html", HTML),
        _uri("image/png", HTML),
        "data:image/svg+xml,<svg onload='alert(1)'/>",
        "data:image/png;base64,%%%",
    ],
)
def test_bytes_that_are_not_an_image_are_never_hosted(
    url: str, gateway: TestClient, store: HostedImages, provider_urls: Callable[..., None]
) -> None:
    provider_urls(_uri("image/png", PNG), url)
    reply = gateway.post("/v1/images/generations", json=GENERATE)
    assert reply.status_code == 502, reply.text
    error = reply.json()["error"]
    assert error["type"] == "server_error"
    assert error["code"] == "invalid_image_data"
    assert "data[1]" in error["message"]
    assert reply.headers["x-imageshim-route"] == "p:m"  # the report still travels with the error
    assert "imageshim/images/" not in reply.text
    assert store._items == {}  # not even the good first image: the reply failed as a whole


@pytest.mark.parametrize(
    ("fmt", "media_type", "ext"), [("png", "image/png", "png"), ("jpeg", "image/jpeg", "jpg")]
)
def test_images_from_the_core_are_served_with_nosniff(
    fmt: str, media_type: str, ext: str, gateway: TestClient
) -> None:
    reply = gateway.post("/v1/images/generations", json={**GENERATE, "output_format": fmt})
    assert reply.status_code == 200, reply.text
    url = reply.json()["data"][0]["url"]
    assert url.endswith(f".{ext}")
    image = gateway.get(url)
    assert image.headers["content-type"] == media_type
    assert image.headers["x-content-type-options"] == "nosniff"


def test_the_image_route_sniffs_whatever_store_it_is_given(clock: Any) -> None:
    class Careless(HostedImages):
        """A store (a subclass, a shared backend) that hands back what it was given, labels included."""

        def get(self, name: str) -> tuple[bytes, str] | None:
            return {"page.png": (HTML, "text/html"), "photo.png": (JPEG, "image/png")}.get(name)

    with TestClient(create_app(CONFIG, keys=[], clock=clock, hosted=Careless())) as c:
        page = c.get("/v1/imageshim/images/page.png")
        photo = c.get("/v1/imageshim/images/photo.png")
    assert page.status_code == 502
    assert page.headers["content-type"] == "application/json"
    assert b"<script>" not in page.content
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/jpeg"
    assert photo.headers["x-content-type-options"] == "nosniff"


# ----- the store itself ----------------------------------------------------------------------------------
def test_put_labels_and_names_by_the_bytes_not_the_claim(store: HostedImages) -> None:
    name = store.put(JPEG, "text/html")
    assert name.endswith(f".{MEDIA_EXTENSIONS['image/jpeg']}")
    assert store.get(name) == (JPEG, "image/jpeg")


@pytest.mark.parametrize("data", [HTML, b"", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"GIF8"])
def test_put_refuses_bytes_that_are_not_an_image(store: HostedImages, data: bytes) -> None:
    with pytest.raises(ValueError, match="not a PNG, JPEG, WebP or GIF image"):
        store.put(data, "image/png")
    assert store._items == {}


def test_host_data_uris_refuses_the_whole_reply_and_hosts_nothing(store: HostedImages) -> None:
    good = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
    bad = f"data:image/png;base64,{base64.b64encode(HTML).decode()}"
    body = f'{{"data": [{{"url": "{good}"}}, {{"url": "{bad}"}}]}}'.encode()
    with pytest.raises(ValueError, match=r"data\[1\].*not a PNG"):
        store.host_data_uris(body, "http://gw")
    assert store._items == {}


@pytest.mark.parametrize(
    "url",
    [
        "data:image/svg+xml,<svg onload='alert(1)'/>",  # not base64: text
        "data:image/png;base64,not base64!",
        "data:image/png;base64,é",
        "http://example.com/a.png",
    ],
)
def test_decode_data_uri_refuses_what_is_not_base64_image_data(url: str) -> None:
    with pytest.raises(ValueError, match="data: URI"):
        decode_data_uri(url)


def test_decode_data_uri_tolerates_mime_line_breaks() -> None:
    b64 = base64.encodebytes(PNG).decode()  # wrapped at 76 characters
    assert decode_data_uri(f"data:text/html;base64,{b64}") == PNG


# ----- _urls: labels from the sniffed type when the caller knows it --------------------------------------
def test_data_uri_labels_by_output_format_unless_given_the_media_type() -> None:
    assert data_uri("AAAA", "png") == "data:image/png;base64,AAAA"
    assert data_uri("AAAA", None) == "data:image/png;base64,AAAA"
    assert data_uri("AAAA", "webp") == "data:image/webp;base64,AAAA"
    assert data_uri("AAAA", "png", media_type="image/jpeg") == "data:image/jpeg;base64,AAAA"
    assert data_uri("AAAA", "png", "image/gif") == "data:image/gif;base64,AAAA"
    # a type imageshim never passes on is not written into a URL
    assert data_uri("AAAA", "png", media_type="text/html") == "data:image/png;base64,AAAA"


def test_write_file_url_names_by_the_media_type_when_given(tmp_path: Path) -> None:
    b64 = base64.b64encode(JPEG).decode()
    assert write_file_url(b64, "jpeg", tmp_path).endswith(".jpg")
    assert write_file_url(b64, None, tmp_path / "a").endswith(".png")  # old behaviour: the format decides
    assert write_file_url(b64, "png", tmp_path / "b", media_type="image/jpeg").endswith(".jpg")
    assert write_file_url(b64, "png", tmp_path / "c", media_type="image/webp").endswith(".webp")
    assert write_file_url(b64, "webp", tmp_path / "d", media_type="text/html").endswith(".webp")
