"""Run by tests/frontends/test_openai_sdk1.py under an interpreter that has the openai SDK 1.x line (httpx):
the same calls in-process and against a gateway URL, each result printed as one JSON line."""

from __future__ import annotations

import base64
import io
import json
import sys
import warnings

import openai

import imageshim

warnings.simplefilter("ignore")
MOCK = {"routes": {"*": ["mock:gpt-image-2.5-sunburst"]}}


def png(side: int) -> bytes:
    from imageshim_adapters.mock.images import make_image

    return make_image(side, side, "input")


def calls(client: openai.OpenAI) -> dict[str, object]:
    out: dict[str, object] = {"sdk": openai.__version__}
    url = client.images.generate(
        model="dall-e-3", prompt="a lighthouse", size="1792x1024", response_format="url"
    )
    out["generate_url"] = (url.data[0].url or "")[:40]
    b64 = client.images.generate(
        model="gpt-image-2.5-sunburst", prompt="x", extra_body={"complexity": "low", "quality": "max"}
    )
    out["generate_b64_png"] = base64.b64decode(b64.data[0].b64_json or "")[:4] == b"\x89PNG"
    edited = client.images.edit(
        image=("in.png", io.BytesIO(png(1024)), "image/png"),
        prompt="add a hat",
        model="gpt-image-2.5-sunburst",
    )
    out["edit"] = bool(edited.data[0].b64_json)
    varied = client.images.create_variation(
        image=("in.png", io.BytesIO(png(1024)), "image/png"), model="dall-e-2", response_format="b64_json"
    )
    out["variation"] = bool(varied.data[0].b64_json)
    out["retrieve"] = client.models.retrieve("dall-e-3").model_dump().get("successor")
    try:
        client.images.generate(model="gpt-image-2", prompt="x", quality="ultra")
    except openai.BadRequestError as exc:
        out["bad_request_param"] = exc.param
    return out


def main() -> None:
    where = sys.argv[1]
    if where == "in-process":
        client = openai.OpenAI(
            api_key="unused", max_retries=0, http_client=imageshim.openai_http_client(MOCK)
        )
    else:
        client = openai.OpenAI(api_key=sys.argv[2], base_url=where, max_retries=0)
    print(json.dumps(calls(client)))


if __name__ == "__main__":
    main()
