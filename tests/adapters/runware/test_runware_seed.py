"""The four recorded DALL·E 3 exchanges on Runware, replayed through the public API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import imageshim

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "runware-dalle3-seed-exchanges.json"
EXCHANGES: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["exchanges"]
CONFIG = {
    "routes": {"dall-e-3": ["runware:dall-e-3"]},
    "lifecycle": {"on_retired": "allow"},
    "providers": {"runware": {"api_key": "rw-test-key-0123456789"}},
}


def _client(recorder: Any, clock: Any) -> imageshim.OpenAI:
    return imageshim.OpenAI(config=CONFIG, http_client=recorder.client(), clock=clock)


def _reply_for(exchange: dict[str, Any]) -> Any:
    def reply(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        body = json.loads(json.dumps(exchange["response"]))
        for item in body["data"]:
            item["taskUUID"] = sent[0]["taskUUID"]  # the reply echoes the UUID we generated
            if sent[0].get("includeCost") is not True:
                item.pop("cost", None)  # Runware reports cost only when asked (includeCost, default false)
        return httpx.Response(200, json=body)

    return reply


@pytest.mark.parametrize("exchange", EXCHANGES, ids=[e["title"] for e in EXCHANGES])
def test_seed_exchange_replays_exactly(exchange: dict[str, Any], recorder_factory: Any, clock: Any) -> None:
    recorded = exchange["request"][0]
    recorder = recorder_factory(_reply_for(exchange))
    client = _client(recorder, clock)

    with pytest.warns(imageshim.ModelRetiredWarning, match=r"dall-e-3 was retired on 2026-05-12"):
        resp = client.images.generate(
            model="dall-e-3",
            prompt=recorded["positivePrompt"],
            size=f"{recorded['width']}x{recorded['height']}",
            quality="hd",
        )

    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.runware.ai/v1"
    assert request.headers["authorization"] == "Bearer rw-test-key-0123456789"
    (sent,) = json.loads(request.content)
    assert uuid.UUID(sent["taskUUID"]).version == 4
    # the recorded body plus exactly includeCost (so that Runware reports what it charged), nothing else
    assert {**sent, "taskUUID": recorded["taskUUID"]} == {**recorded, "includeCost": True}
    assert set(sent) - set(recorded) == {"includeCost"}

    item = exchange["response"]["data"][0]
    assert resp.data[0].url == item["imageURL"]
    assert resp.data[0].b64_json is None
    assert resp.imageshim.cost_usd == pytest.approx(0.12)
    assert resp.imageshim.cost_source == "provider"
    assert resp.imageshim.route == "runware:dall-e-3"
    assert resp.size == f"{recorded['width']}x{recorded['height']}"


@pytest.mark.anyio
async def test_seed_exchange_async(recorder_factory: Any, clock: Any) -> None:
    exchange = EXCHANGES[0]
    recorder = recorder_factory(_reply_for(exchange))
    client = imageshim.AsyncOpenAI(config=CONFIG, http_client=recorder.async_client(), clock=clock)
    recorded = exchange["request"][0]
    with pytest.warns(imageshim.ModelRetiredWarning):
        resp = await client.images.generate(
            model="dall-e-3", prompt=recorded["positivePrompt"], size="1792x1024", quality="hd"
        )
    (sent,) = recorder.json()
    assert {**sent, "taskUUID": recorded["taskUUID"]} == {**recorded, "includeCost": True}
    assert resp.data[0].url == exchange["response"]["data"][0]["imageURL"]
    assert resp.imageshim.cost_usd == pytest.approx(0.12)


def test_style_is_sent_only_when_given(recorder_factory: Any, clock: Any) -> None:
    recorder = recorder_factory(_reply_for(EXCHANGES[0]))
    client = _client(recorder, clock)
    with pytest.warns(imageshim.ModelRetiredWarning):
        client.images.generate(
            model="dall-e-3", prompt="a fox", size="1024x1024", quality="standard", style="natural"
        )
    (sent,) = recorder.json()
    assert sent["providerSettings"] == {"openai": {"quality": "standard", "style": "natural"}}
