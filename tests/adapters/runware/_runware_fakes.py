"""What the Runware tests share: a key, the routes and Runware's success reply (``no_sleep`` is in conftest)."""

from __future__ import annotations

import json
from typing import Any

import httpx

KEY = "rw-secret-key-abcdefghijkl"
GPT2: dict[str, Any] = {
    "routes": {"*": ["runware:gpt-image-2"]},
    "providers": {"runware": {"api_key": KEY}},
    "retry": {"max_retries": 0},
}
DALLE3: dict[str, Any] = {**GPT2, "routes": {"*": ["runware:dall-e-3"]}, "lifecycle": {"on_retired": "allow"}}


def ok_reply(request: httpx.Request) -> httpx.Response:
    """One data item per requested image, echoing each task's UUID, like Runware; ``cost`` (0.05 an image)
    only when the task asked for it with ``includeCost`` (Runware's default is false)."""
    data = []
    for task in json.loads(request.content):
        for i in range(task.get("numberResults", 1)):
            item: dict[str, Any] = {
                "taskType": "imageInference",
                "taskUUID": task["taskUUID"],
                "imageUUID": f"{task['taskUUID']}-{i}",
            }
            if task.get("includeCost") is True:
                item["cost"] = 0.05
            if task.get("outputType") == "base64Data":
                item["imageBase64Data"] = "iVBORw0KGgo="
            else:
                item["imageURL"] = f"https://im.runware.ai/image/{item['imageUUID']}.jpg"
            data.append(item)
    return httpx.Response(200, json={"data": data})
