"""The JSON reply is written piece by piece for large images: byte for byte what json.dumps makes."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from imageshim._core.response import Image, ImagesResponse
from imageshim._frontends.render import json_body

_B64 = st.binary(min_size=0, max_size=70_000).map(lambda b: base64.b64encode(b).decode())


def _response(items: list[tuple[str | None, str | None, str | None]]) -> ImagesResponse:
    data = [Image.model_construct(b64_json=b, url=u, revised_prompt=r) for b, u, r in items]
    for image in data:
        image.keep_bytes(image.b64_json, "image/png")
    return ImagesResponse.model_construct(
        created=1,
        data=data,
        usage=None,
        size="1024x1024",
        quality="high",
        output_format="png",
        background=None,
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), _B64),
            st.one_of(st.none(), st.text(max_size=20)),
            st.one_of(st.none(), st.text(max_size=30)),
        ),
        max_size=4,
    ),
    st.booleans(),
)
def test_the_body_is_what_json_dumps_makes(
    items: list[tuple[str | None, str | None, str | None]], consume: bool
) -> None:
    response = _response(items)
    expected = json.dumps(response.to_openai_dict()).encode()
    assert json_body(response, consume=consume) == expected


def test_consuming_releases_each_images_base64() -> None:
    big = base64.b64encode(bytes(200_000)).decode()
    response = _response([(big, None, "a prompt")])
    body = json_body(response, consume=True)
    assert json.loads(body)["data"][0]["b64_json"] == big
    assert response.data[0].b64_json is None
    assert response.data[0].base64() is None
