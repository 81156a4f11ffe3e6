"""Hosted images are served only as the image their bytes are: never as the media type a provider wrote
next to them, always with ``nosniff``; bytes that are not an image are never hosted. And the labels
``_urls`` puts on data URIs and files."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from imageshim._core.media import MEDIA_EXTENSIONS
from imageshim._core.response import Image, ImagesResponse, ShimReport
from imageshim._frontends import orchestrate
from imageshim._frontends.gateway import create_app
from imageshim._frontends.gateway.hosting import decode_data_uri, host_images, media_type_of
from imageshim._frontends.gateway.store import MemoryStore, Stored
from imageshim._frontends.urls import data_uri, write_file_url
from imageshim_adapters.mock.images import make_image

PNG = make_image(8, 8, "hosted")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60  # a JPEG's leading bytes are all that is sniffed
HTML = b"<html><script>alert(document.cookie)</script></html>"
CONFIG = {"routes": {"*": ["mock:gpt-image-2"]}}
GENERATE = {"model": "gpt-image-2", "prompt": "an otter", "response_format": "url"}
OWNER = "client-hash"


def _uri(label: str, data: bytes) -> str:
    return f"data:{label};base64,{base64.b64encode(data).decode()}"


def _response(*urls: str, output_format: str | None = None) -> ImagesResponse:
    """An images response whose images are these URLs, as the core hands it to the gateway (route ``p:m``)."""
    report = ShimReport.model_construct(route="p:m", requested_model="gpt-image-2", warnings=[])
    data = []
    for url in urls:
        image = Image.model_construct(b64_json=None, url=url, revised_prompt=None)
        if url.startswith("data:"):  # the core keeps each image's bytes and label aside (render._image)
            head, _, payload = url.partition(",")
            image.keep_bytes(payload, head[5:].partition(";")[0])
        data.append(image)
    return ImagesResponse.model_construct(created=1, data=data, output_format=output_format, imageshim=report)


def _host(response: ImagesResponse, store: MemoryStore, *, keep_bytes: bool = False) -> list[Stored]:
    return asyncio.run(host_images(response, store, OWNER, "http://gw", keep_bytes=keep_bytes))


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def provider_urls(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make every generation answer with these ``data:`` URLs, as a provider's reply passed through would.

    The core checks and relabels provider images before they get here; this plays the case where one
    slips through anyway (a core bug, a third-party front end), which the gateway must still refuse."""

    def install(*urls: str) -> None:
        async def arun(engine: Any, plan: Any) -> ImagesResponse:
            return _response(*urls)

        monkeypatch.setattr(orchestrate, "arun", arun)

    return install


@pytest.fixture
def gateway(clock: Any, store: MemoryStore) -> Iterator[TestClient]:
    with TestClient(create_app(CONFIG, keys=[], clock=clock, store=store)) as client:
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


NOT_IMAGES = [
    _uri("text/html", HTML),
    _uri("image/png", HTML),
    "data:image/svg+xml,<svg onload='alert(1)'/>",
    "data:image/png;base64,%%%",
]


@pytest.mark.parametrize("url", NOT_IMAGES)
def test_bytes_that_are_not_an_image_are_never_hosted(
    url: str, gateway: TestClient, store: MemoryStore, provider_urls: Callable[..., None]
) -> None:
    provider_urls(_uri("image/png", PNG), url)
    reply = gateway.post("/v1/images/generations", json=GENERATE)
    assert reply.status_code == 502, reply.text
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert error["type"] == "server_error"
    assert error["code"] == "invalid_image_data"
    assert "data[1]" in error["message"]
    assert reply.headers["x-imageshim-model"] == "m"  # the served model still travels with the error
    assert "imageshim/images/" not in reply.text
    assert "<script>" not in reply.text
    assert store.bytes_used() == 0  # not even the good first image: the reply failed as a whole


def test_a_reply_refused_for_hosting_still_carries_its_report(
    gateway: TestClient, provider_urls: Callable[..., None]
) -> None:
    provider_urls(_uri("image/png", PNG), _uri("text/html", HTML))
    reply = gateway.post("/v1/images/generations", json=GENERATE)
    assert reply.status_code == 502, reply.text
    assert reply.headers["x-imageshim-route"] == "p:m"


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
    class Careless(MemoryStore):
        """A store (a subclass, a shared backend) that hands back what it was given, labels included."""

        def open(self, name: str) -> tuple[Stored, bytes] | None:
            found = {"page.png": (HTML, "text/html"), "photo.png": (JPEG, "image/png")}.get(name)
            if found is None:
                return None
            data, label = found
            return Stored(name, label, len(data), time.time() + 60), data

    with TestClient(create_app(CONFIG, keys=[], clock=clock, store=Careless())) as c:
        page = c.get("/v1/imageshim/images/page.png")
        photo = c.get("/v1/imageshim/images/photo.png")
        missing = c.get("/v1/imageshim/images/other.png")
    assert page.status_code == 502
    assert page.headers["content-type"] == "application/json"
    assert page.json()["error"]["code"] == "invalid_image_data"
    assert b"<script>" not in page.content
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/jpeg"
    assert photo.headers["x-content-type-options"] == "nosniff"
    assert photo.content == JPEG
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "image_expired"


# ----- what may be hosted ---------------------------------------------------------------------------------
def test_hosting_labels_and_names_by_the_bytes_not_the_claim(store: MemoryStore) -> None:
    assert media_type_of(JPEG, "text/html") == "image/jpeg"
    assert media_type_of(PNG, "image/jpeg") == "image/png"
    response = _response(_uri("text/html", JPEG))
    (item,) = _host(response, store)
    assert item.media_type == "image/jpeg"
    assert item.name.endswith(f".{MEDIA_EXTENSIONS['image/jpeg']}")
    assert item.size == len(JPEG)
    assert response.data[0].url == f"http://gw/v1/imageshim/images/{item.name}"
    assert store.open(item.name) == (item, JPEG)


@pytest.mark.parametrize("data", [HTML, b"", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"GIF8"])
def test_hosting_refuses_bytes_that_are_not_an_image(store: MemoryStore, data: bytes) -> None:
    assert media_type_of(data, "image/png") is None
    assert media_type_of(data) is None
    with pytest.raises(ValueError, match="not a PNG, JPEG, WebP or GIF image"):
        _host(_response(_uri("image/png", data)), store)
    assert store.bytes_used() == 0


def test_the_store_refuses_a_media_type_it_does_not_host(store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="not a media type the gateway hosts"):
        store.put(OWNER, HTML, "text/html")
    assert store.bytes_used() == 0


def test_host_images_refuses_the_whole_reply_and_hosts_nothing(store: MemoryStore) -> None:
    good = _uri("image/png", PNG)
    response = _response(good, _uri("image/png", HTML))
    with pytest.raises(ValueError, match=r"data\[1\].*not a PNG"):
        _host(response, store)
    assert store.bytes_used() == 0
    assert response.data[0].url == good  # the reply is left as it was


def test_host_images_hosts_only_data_uris_and_releases_the_bytes(store: MemoryStore) -> None:
    remote = "https://provider.example/a.png"
    response = _response(remote, _uri("image/png", PNG))
    (item,) = _host(response, store)
    assert response.data[0].url == remote
    assert response.data[1].url == f"http://gw/v1/imageshim/images/{item.name}"
    assert response.data[1].base64() is None  # not held twice once stored
    kept = _response(_uri("image/png", PNG))
    (again,) = _host(kept, store, keep_bytes=True)  # a stream still needs them
    assert kept.data[0].base64() == base64.b64encode(PNG).decode()
    assert store.open(again.name) == (again, PNG)


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
