"""SVG from providers: recognised by its first element, labelled ``image/svg+xml``, and accepted only for a
call that asked for SVG output. Anywhere else SVG bytes are refused like any non-image (a 502
``invalid_image_data``): SVG is a document that can carry scripts."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import imageshim
import imageshim_adapters.mock as mock_module
from imageshim import AdapterResult, GeneratedImage
from imageshim._core.media import MEDIA_EXTENSIONS, check_base64_image, is_svg, sniff
from imageshim._core.policy import _checked
from imageshim_adapters.mock.images import make_image, make_svg

SUNBURST = {"routes": {"*": ["mock:gpt-image-2.5-sunburst"]}}
MODEL = "gpt-image-2.5-sunburst"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'
SCRIPTED = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><script>alert(2)</script></svg>"
PNG = make_image(4, 4, "png")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ----- recognising an SVG document ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        SVG,
        b"<svg>",
        b"<svg/>",
        b"<svg\n  width='1'/>",
        b"  \r\n\t" + SVG,
        b"\xef\xbb\xbf" + SVG,
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + SVG,
        b"<!-- made by a model -->" + SVG,
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
        + SVG,
        b'\xef\xbb\xbf <?xml version="1.0"?> <!-- a --> <!DOCTYPE svg> <!-- b -->\n' + SVG,
        SCRIPTED,  # recognised: whether it is served safely is the gateway's business
        make_svg(10, 10, "mock"),
    ],
)
def test_an_svg_document_is_recognised_after_its_prolog(data: bytes) -> None:
    assert is_svg(data)
    assert sniff(data[:16]) is None  # never one of the raster types


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html><svg/></html>",
        b"<svgx/>",
        b"<SVG/>",
        b"<svg",
        b"hello <svg/>",
        b"<!-- <svg/> -->",
        b"<!-- unterminated <svg/>",
        b"<?xml version='1.0'",
        b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>',  # an internal subset: entity definitions
        b"<!DOCTYPE html><html><body><svg/></body></html>",
        b"\xff\xfe<\x00s\x00v\x00g\x00",  # UTF-16: not taken
        PNG,
    ],
)
def test_other_documents_are_not_svg(data: bytes) -> None:
    assert not is_svg(data)


def test_svg_has_its_media_type_and_extension() -> None:
    assert MEDIA_EXTENSIONS["image/svg+xml"] == "svg"
    assert MEDIA_EXTENSIONS["image/gif"] == "gif"


# ----- check_base64_image ----------------------------------------------------------------------------------
def test_svg_is_refused_unless_asked_for() -> None:
    with pytest.raises(ValueError, match="SVG is accepted only when output_format='svg'"):
        check_base64_image(_b64(SVG))
    assert check_base64_image(_b64(SVG), svg=True) == "image/svg+xml"
    assert check_base64_image(_b64(SCRIPTED), svg=True) == "image/svg+xml"


def test_asking_for_svg_still_refuses_what_is_neither_and_keeps_raster_types() -> None:
    with pytest.raises(ValueError, match="not a PNG, JPEG, WebP or GIF image or an SVG document"):
        check_base64_image(_b64(b"<html><script>alert(1)</script></html>"), svg=True)
    with pytest.raises(ValueError, match="does not decode"):
        check_base64_image("not base64!", svg=True)
    assert check_base64_image(_b64(PNG), svg=True) == "image/png"
    assert check_base64_image(base64.encodebytes(make_svg(300, 300, "wrapped")).decode(), svg=True) == (
        "image/svg+xml"
    )


# ----- the policy's check of provider replies ----------------------------------------------------------------
@pytest.mark.parametrize("as_url", [False, True])
def test_the_policy_takes_svg_only_for_svg_calls(as_url: bool) -> None:
    image = (
        GeneratedImage(url=f"data:text/plain;base64,{_b64(SVG)}")
        if as_url
        else GeneratedImage(b64_json=_b64(SVG))
    )
    result = AdapterResult(images=[image])
    refused = _checked(result, "p:m")
    assert refused.images == []
    [error] = refused.failures
    assert (error.status_code, error.code) == (502, "invalid_image_data")
    assert "SVG" in error.message
    accepted = _checked(result, "p:m", svg=True)
    assert accepted.failures == []
    [checked] = accepted.images
    assert checked.media_type == "image/svg+xml"
    if as_url:  # relabelled with the type its bytes are, not the provider's claim
        assert checked.url == f"data:image/svg+xml;base64,{_b64(SVG)}"


def test_svg_bytes_answered_to_a_png_request_are_a_502(
    clock: Any, imageshim_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider that answers SVG to a png call: the caller gets a 502, never the document."""
    monkeypatch.setattr(mock_module, "make_image", lambda w, h, seed, fmt="png": make_svg(w, h, seed))
    client = imageshim.OpenAI(config=SUNBURST, clock=clock)
    with pytest.raises(imageshim.APIStatusError) as info:
        client.images.generate(model=MODEL, prompt="a cat", output_format="png", size="1024x1024")
    assert info.value.status_code == 502
    assert info.value.code == "invalid_image_data"
    assert len(imageshim_mock.calls) == 1  # a provider fault: not sent again


def test_png_bytes_answered_to_an_svg_request_are_labelled_png(
    clock: Any, imageshim_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mock_module, "make_image", lambda w, h, seed, fmt="png": make_image(w, h, seed))
    client = imageshim.OpenAI(config=SUNBURST, clock=clock)
    with pytest.warns(imageshim.OptionMappedWarning, match="data: URIs"):
        resp = client.images.generate(
            model=MODEL, prompt="a cat", output_format="svg", size="1024x1024", response_format="url"
        )
    assert resp.data[0].media_type == "image/png"
    assert (resp.data[0].url or "").startswith("data:image/png;base64,")
