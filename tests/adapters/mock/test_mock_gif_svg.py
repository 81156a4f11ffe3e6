"""The mock adapter draws GIF and SVG output: a real animated GIF89a (pure-Python LZW) of the size, frame
count and frame delay asked, and a small well-formed SVG document of the size asked, deterministic from
the prompt. Pillow (a test dependency only) decodes the GIFs; xml.etree parses the SVGs."""

from __future__ import annotations

import base64
import dataclasses
import io
import struct
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from PIL import Image

import imageshim
from imageshim import ProviderSettings, builtin_catalog
from imageshim._core.media import check_base64_image, is_svg
from imageshim_adapters.mock import MockAdapter
from imageshim_adapters.mock.images import _lzw_runs, gif_delay, make_gif, make_image, make_svg

SUNBURST = {"routes": {"*": ["mock:gpt-image-2.5-sunburst"]}}
MODEL = "gpt-image-2.5-sunburst"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _frames(data: bytes) -> tuple[tuple[int, int], list[int], list[Image.Image]]:
    """(size, each frame's duration in ms, each frame as RGB) as Pillow decodes them."""
    image = Image.open(io.BytesIO(data))
    durations, frames = [], []
    for index in range(image.n_frames):
        image.seek(index)
        durations.append(image.info["duration"])
        frames.append(image.convert("RGB"))
    return image.size, durations, frames


def _svg(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == f"{SVG_NS}svg"
    return root


# ----- the image makers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("width", "height", "frames", "ms"),
    [(1, 1, 2, 0), (3, 5, 3, 15), (37, 150, 5, 130), (1024, 1024, 9, 200), (1536, 1024, 16, 655_350)],
)
def test_make_gif_decodes_to_the_size_frames_and_delay_asked(
    width: int, height: int, frames: int, ms: int
) -> None:
    data = make_gif(width, height, "an otter", frames, ms)
    assert data[:6] == b"GIF89a"
    assert struct.unpack("<HH", data[6:10]) == (width, height)
    size, durations, decoded = _frames(data)
    assert size == (width, height)
    assert len(decoded) == frames
    assert durations == [gif_delay(ms) * 10] * frames
    assert all(frame.size == (width, height) for frame in decoded)


def test_the_gif_frames_are_the_gradient_bands_shifted_one_step_per_frame() -> None:
    """Every pixel decodes to what was drawn: each row is its band's colour, the bands shifted by the frame
    index (so the frames differ and the LZW stream is right to the last pixel)."""
    width, height, count = 23, 100, 4
    data = make_gif(width, height, "bands", count, 100)
    steps, band = 64, -(-100 // 64)
    bands = [b for b in range(steps) if b * band < height]
    image = Image.open(io.BytesIO(data))
    palette = image.getpalette()  # the global colour table
    assert palette is not None
    seen = set()
    for frame in range(count):
        image.seek(frame)
        pixels = image.convert("RGB").tobytes()
        for row in range(height):
            index = (bands.index(row // band) + frame) % len(bands)
            colour = bytes(palette[3 * index : 3 * index + 3])
            assert pixels[row * width * 3 : (row + 1) * width * 3] == colour * width, (frame, row)
        seen.add(pixels)
    assert len(seen) == count


def test_lzw_clears_before_the_dictionary_fills() -> None:
    """A run longer than one dictionary can cover (4096 codes) is encoded across clear codes; Pillow
    decodes every pixel of it."""
    width, height = 3000, 3000  # one run of 9 M pixels: more than the ~8.1 M one dictionary covers
    runs = [(5, width * 2999), (1, width - 7), (2, 7)]
    stream = _lzw_runs(runs, 6)
    gif = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF5, 0, 0))
    gif += bytes(range(64)) * 3
    gif += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x06"
    for start in range(0, len(stream), 255):
        gif += bytes([len(stream[start : start + 255])]) + stream[start : start + 255]
    gif += b"\x00\x3b"
    image = Image.open(io.BytesIO(bytes(gif)))
    image.load()
    histogram = image.histogram()
    assert (histogram[5], histogram[1], histogram[2]) == (width * 2999, width - 7, 7)
    assert image.getpixel((width - 1, height - 1)) == 2
    assert image.getpixel((width - 8, height - 1)) == 1


@pytest.mark.parametrize(
    ("ms", "centiseconds"),
    [(0, 0), (14, 1), (16, 2), (200, 20), (1234, 123), (655_350, 65_535), (10**9, 65_535)],
)
def test_the_frame_delay_is_rounded_to_10_ms_and_capped(ms: int, centiseconds: int) -> None:
    assert gif_delay(ms) == centiseconds


def test_make_svg_is_a_well_formed_document_of_the_size_asked() -> None:
    data = make_svg(1536, 1024, "an otter")
    root = _svg(data)
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == ("1536", "1024", "0 0 1536 1024")
    assert is_svg(data)
    assert not root.findall(f".//{SVG_NS}script")
    assert b'href="http' not in data  # nothing outside the document
    assert make_svg(1536, 1024, "an otter") == data  # deterministic from the prompt
    assert make_svg(1536, 1024, "a heron") != data


def test_make_image_dispatches_gif_and_svg() -> None:
    assert make_image(10, 20, "s", "svg") == make_svg(10, 20, "s")
    assert make_image(10, 20, "s", "gif") == make_gif(10, 20, "s", 9, 200)


# ----- through the native client ----------------------------------------------------------------------------
def test_gif_output_through_the_client_has_the_frames_asked(clock: Any, imageshim_mock: Any) -> None:
    client = imageshim.OpenAI(config=SUNBURST, clock=clock)
    resp = client.images.generate(
        model=MODEL,
        prompt="a cat",
        output_format="gif",
        size="1536x1024",
        frame_count=4,
        frame_duration_ms=130,
    )
    assert resp.output_format == "gif"
    assert resp.data[0].media_type == "image/gif"
    b64 = resp.data[0].b64_json
    assert b64 is not None
    size, durations, frames = _frames(base64.b64decode(b64))
    assert size == (1536, 1024)
    assert (len(frames), durations) == (4, [130] * 4)
    call = imageshim_mock.calls[0]
    assert (call.output_format, call.frame_count, call.frame_duration_ms) == ("gif", 4, 130)


def test_gif_output_defaults_to_9_frames_of_200_ms(clock: Any, imageshim_mock: Any) -> None:
    resp = imageshim.OpenAI(config=SUNBURST, clock=clock).images.generate(
        model=MODEL, prompt="a cat", output_format="gif", size="1024x1024"
    )
    b64 = resp.data[0].b64_json
    assert b64 is not None
    size, durations, _ = _frames(base64.b64decode(b64))
    assert size == (1024, 1024)
    assert durations == [200] * 9


def test_svg_output_through_the_client_is_an_svg_document(clock: Any, imageshim_mock: Any) -> None:
    client = imageshim.OpenAI(config=SUNBURST, clock=clock)
    resp = client.images.generate(model=MODEL, prompt="a cat", output_format="svg", size="1024x1536")
    assert resp.output_format == "svg"
    assert resp.data[0].media_type == "image/svg+xml"
    b64 = resp.data[0].b64_json
    assert b64 is not None
    root = _svg(base64.b64decode(b64))
    assert (root.get("width"), root.get("height")) == ("1024", "1536")
    again = client.images.generate(model=MODEL, prompt="a cat", output_format="svg", size="1024x1536")
    assert again.data[0].b64_json == b64  # deterministic from the prompt, like the PNG


def test_svg_n_above_one_is_one_call_per_image(clock: Any, imageshim_mock: Any) -> None:
    client = imageshim.OpenAI(config=SUNBURST, clock=clock)
    with pytest.warns(imageshim.OptionMappedWarning, match="SVG output is made one image per request"):
        resp = client.images.generate(model=MODEL, prompt="a cat", output_format="svg", n=2, size="1024x1024")
    assert len(resp.data) == 2
    assert [c.n for c in imageshim_mock.calls] == [1, 1]
    for image in resp.data:
        assert image.b64_json is not None
        _svg(base64.b64decode(image.b64_json))


@pytest.mark.parametrize(("fmt", "media_type"), [("gif", "image/gif"), ("svg", "image/svg+xml")])
def test_url_output_is_a_data_uri_of_the_right_type(
    fmt: str, media_type: str, clock: Any, imageshim_mock: Any
) -> None:
    client = imageshim.OpenAI(config=SUNBURST, clock=clock)
    with pytest.warns(imageshim.OptionMappedWarning, match="URLs are data: URIs"):
        resp = client.images.generate(
            model=MODEL, prompt="a cat", output_format=fmt, response_format="url", size="1024x1024"
        )
    url = resp.data[0].url
    assert url is not None
    assert resp.data[0].b64_json is None
    head, _, b64 = url.partition(",")
    assert head == f"data:{media_type};base64"
    data = base64.b64decode(b64)
    if fmt == "gif":
        assert _frames(data)[0] == (1024, 1024)
    else:
        assert _svg(data).get("width") == "1024"


@pytest.mark.parametrize(("fmt", "media_type"), [("gif", "image/gif"), ("svg", "image/svg+xml")])
def test_the_mock_labels_its_own_data_urls(fmt: str, media_type: str) -> None:
    """A URL-capable emulated model answers GIF and SVG as data: URLs labelled with their type."""
    spec = builtin_catalog().get(MODEL)
    assert spec is not None
    spec = dataclasses.replace(spec, response_formats=("url", "b64_json"))
    call = imageshim.ImageCall(
        call_id="c",
        model=MODEL,
        prompt="a cat",
        width=1024,
        height=1024,
        output_format=fmt,
        response_format="url",
    )
    result = MockAdapter(ProviderSettings("mock")).generate([call], spec)
    url = result.images[0].url
    assert url is not None
    assert url.startswith(f"data:{media_type};base64,")
    assert check_base64_image(url.partition(",")[2], svg=True) == media_type
