"""A scriptable HTTP/1.1 server on 127.0.0.1 for fault injection: each request takes the next scripted
action (answer, reset, stall, truncate, trickle); when the script runs out it answers normally.

It speaks just enough HTTP for httpx (one request per connection, ``Connection: close``), records every
request, and plays both providers: OpenAI (``/v1/images/generations``) and Runware (a task array, including
``getResponse`` for tasks it has finished).
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfault-suite").decode()
Action = Callable[["Conn"], None]


@dataclass
class Conn:
    sock: socket.socket
    path: str
    body: bytes
    server: FaultServer

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, *, declared: int | None = None
    ) -> None:
        head = [
            f"HTTP/1.1 {status} X",
            f"Content-Length: {len(body) if declared is None else declared}",
            "Content-Type: application/json",
            "Connection: close",
        ]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


@dataclass
class FaultServer:
    provider: str  # "openai" | "runware"
    script: list[Action] = field(default_factory=list)
    #: actions for the next getResponse polls (Runware), as ``script`` is for generate requests
    poll_script: list[Action] = field(default_factory=list)
    requests: list[tuple[str, Any]] = field(default_factory=list)
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)  # runware taskUUID -> result item
    #: images the fake generated (and a real provider would bill), whether or not the reply got through
    billed: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def base_url(self) -> str:
        port = self._sock.getsockname()[1]
        return (
            f"http://127.0.0.1:{port}/v1"
            if self.provider == "openai"
            else f"http://127.0.0.1:{port}/v1/tasks"
        )

    def count(self, kind: str) -> int:
        """How many requests of ``kind`` ("generate" or "getResponse") arrived."""
        return sum(1 for k, _ in self.requests if k == kind)

    def close(self) -> None:
        self._stop.set()
        self._accept.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    # ----- serving -------------------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read(self, conn: socket.socket) -> tuple[str, bytes]:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return "", b""
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:")), 0)
        while len(body) < length:
            body += conn.recv(65536)
        return lines[0].split(" ")[1], body

    def _handle(self, sock: socket.socket) -> None:
        try:
            path, body = self._read(sock)
            if not path:
                return
            conn = Conn(sock, path, body, self)
            kind = self._kind(conn)
            with self._lock:
                self.requests.append((kind, conn.json()))
                queue = self.script if kind == "generate" else self.poll_script
                action = queue.pop(0) if queue else None
            (action or ok)(conn)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _kind(self, conn: Conn) -> str:
        payload = conn.json()
        if isinstance(payload, list) and payload and payload[0].get("taskType") == "getResponse":
            return "getResponse"
        return "generate"


# ----- replies ------------------------------------------------------------------------------------------
def success_body(conn: Conn, b64: str = PNG) -> bytes:
    server, payload = conn.server, conn.json()
    if server.provider == "openai":
        data = [{"b64_json": b64} for _ in range(payload.get("n", 1))]
        server.billed += len(data)
        return json.dumps({"created": int(time.time()), "data": data, "size": payload.get("size")}).encode()
    if payload[0].get("taskType") == "getResponse":
        items = [server.finished[t["taskUUID"]] for t in payload if t["taskUUID"] in server.finished]
        if len(items) < len(payload):
            errors = [
                {"code": "taskFailedOrNotFound", "message": "unknown task", "taskUUID": t["taskUUID"]}
                for t in payload
                if t["taskUUID"] not in server.finished
            ]
            return json.dumps({"data": items, "errors": errors}).encode()
        return json.dumps({"data": items}).encode()
    items = []
    for task in payload:
        item = {
            "taskType": "imageInference",
            "taskUUID": task["taskUUID"],
            "imageUUID": str(uuid.uuid4()),
            "cost": 0.05,
            "status": "success",
        }
        if task.get("outputType") == "base64Data":  # as Runware answers the format asked for
            item["imageBase64Data"] = b64
        else:
            item["imageURL"] = f"https://im.runware.ai/image/{uuid.uuid4()}.jpg"
        server.finished[task["taskUUID"]] = item
        items.append(item)
        server.billed += 1
    return json.dumps({"data": items}).encode()


def ok(conn: Conn) -> None:
    conn.send(200, success_body(conn))


def status(code: int, headers: dict[str, str] | None = None) -> Action:
    def act(conn: Conn) -> None:
        if conn.server.provider == "openai":
            body = {
                "error": {"message": f"injected {code}", "type": "server_error", "param": None, "code": None}
            }
        else:
            body = {
                "errors": [
                    {
                        "code": "serviceUnavailable" if code >= 500 else "rateLimitExceeded",
                        "message": f"injected {code}",
                    }
                ]
            }
        conn.send(code, json.dumps(body).encode(), headers)

    return act


def reset(conn: Conn) -> None:
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def stall(seconds: float, *, then_finish: bool = False) -> Action:
    """Say nothing for ``seconds`` (past the client's timeout). With ``then_finish`` the work is done
    server-side (Runware: a later getResponse finds it), as when a reply is lost after submission."""

    def act(conn: Conn) -> None:
        if then_finish:
            success_body(conn)
        conn.server._stop.wait(seconds)

    return act


def delayed(seconds: float) -> Action:
    """Answer with success after ``seconds`` (a slow generation: GPT Image 2 at high quality)."""

    def act(conn: Conn) -> None:
        conn.server._stop.wait(seconds)
        ok(conn)

    return act


def truncated(conn: Conn) -> None:
    body = success_body(conn)
    conn.send(200, body[: len(body) // 2], declared=len(body))


def raw(status_code: int, body: bytes) -> Action:
    return lambda conn: conn.send(status_code, body)


def huge(conn: Conn) -> None:
    conn.send(200, success_body(conn, base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (24 << 20)).decode()))


def trickle(seconds: float) -> Action:
    """A valid reply sent a few bytes at a time over ``seconds``: no single read ever times out."""

    def act(conn: Conn) -> None:
        body = success_body(conn)
        conn.send(200, b"", declared=len(body))
        step = max(1, len(body) // 50)
        for i in range(0, len(body), step):
            if conn.server._stop.wait(seconds / 50):
                return
            conn.sock.sendall(body[i : i + step])

    return act


def bad_image(conn: Conn) -> None:
    """A 200 whose image is not an image: base64 of an HTML page."""
    page = base64.b64encode(b"<html><script>alert(1)</script></html>").decode()
    if conn.server.provider == "openai":
        conn.send(200, success_body(conn, page))
        return
    items = [
        {
            "taskType": "imageInference",
            "taskUUID": t["taskUUID"],
            "imageBase64Data": page,
            "status": "success",
        }
        for t in conn.json()
    ]
    conn.send(200, json.dumps({"data": items}).encode())
