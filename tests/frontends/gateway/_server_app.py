"""The process :mod:`test_server` runs: a tiny raw ASGI app around a :class:`Runtime`, served by ``server.run``.

Usage: ``python _server_app.py '{"header_timeout": 0.5, ..., "drain_seconds": 1, "impl": "h11"}'``. Binds a
listening socket on 127.0.0.1 (any free port), prints the port on stdout, then serves until signalled.
Keys: any ``GatewayPolicy`` field, ``drain_seconds`` and ``impl`` ("auto", "h11" or "httptools").

Routes (every response has a Content-Length, so the tests read them with a few lines of socket code):

    GET  /ok                 200 "ok"
    GET  /state              {"draining": ..., "in_flight": ...}
    POST /state              the same, after reading the whole body
    GET  /slow?seconds=S     sleeps S seconds (counted in flight), then 200 {"draining": ...}
    GET  /wait               waits for Runtime.cut_event (counted in flight), then 503 x-should-retry: false
    GET  /block?seconds=S    blocks the event loop for S seconds (a stuck app), then 200
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
import sys
import time
from typing import Any
from urllib.parse import parse_qs

from imageshim._core.config import GatewayPolicy
from imageshim._frontends.gateway import server
from imageshim._frontends.gateway.runtime import Runtime

Scope = dict[str, Any]


def make_app(runtime: Runtime) -> Any:
    async def respond(
        send: Any, status: int, body: Any, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(data)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def lifespan(receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        method, path = scope["method"], scope["path"]
        state = {"draining": runtime.draining, "in_flight": runtime.in_flight}
        if path == "/ok":
            await respond(send, 200, b"ok")
        elif path == "/state" and method == "GET":
            await respond(send, 200, state)
        elif path == "/state":
            while (await receive()).get("more_body"):
                pass
            await respond(send, 200, {"draining": runtime.draining, "in_flight": runtime.in_flight})
        elif path in ("/slow", "/wait"):
            runtime.in_flight += 1
            try:
                if path == "/slow":
                    await asyncio.sleep(float(parse_qs(scope["query_string"].decode())["seconds"][0]))
                    await respond(send, 200, {"draining": runtime.draining})
                else:
                    await asyncio.wait_for(runtime.cut_event.wait(), 60)
                    error = {
                        "error": {"message": "result unknown", "type": "server_error", "code": "drain_cut"}
                    }
                    await respond(send, 503, error, ((b"x-should-retry", b"false"),))
            finally:
                runtime.in_flight -= 1
        elif path == "/block":
            time.sleep(float(parse_qs(scope["query_string"].decode())["seconds"][0]))
            await respond(send, 200, b"unblocked")
        else:
            await respond(send, 404, b"not found")

    return app


def main(settings: dict[str, Any]) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    drain_seconds = float(settings.pop("drain_seconds", 10.0))
    impl = settings.pop("impl", "auto")
    server._protocol_class = functools.partial(server._protocol_class, impl=impl)
    policy = GatewayPolicy(**settings)
    runtime = Runtime()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections made before the loop runs wait in the backlog
    print(sock.getsockname()[1], flush=True)
    server.run(
        make_app(runtime), runtime, policy, host="127.0.0.1", port=0, drain_seconds=drain_seconds, sock=sock
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
