"""A loopback HTTP/1.1 keep-alive server for the benchmarks, run in its own process (no GIL sharing).

``python benchmarks/_server.py --latency 0.1 --image-bytes 0`` prints its port on the first line, then
answers every POST with a GPT-image-shaped JSON body after ``latency`` seconds, until stdin closes.
``--keepalive K`` closes a connection that stays idle K seconds (uvicorn's and Node's default is 5 s),
as providers' front ends do: a request that arrives as the server closes meets the keep-alive race.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys


def body(image_bytes: int) -> bytes:
    # A PNG signature, then bytes that do not compress: what a big photo-like image costs to carry.
    raw = b"\x89PNG\r\n\x1a\n" + (os.urandom(image_bytes - 8) if image_bytes else b"\0" * 64)
    return json.dumps(
        {
            "created": 1_764_000_000,
            "data": [{"b64_json": base64.b64encode(raw).decode()}],
            "usage": {
                "input_tokens": 10,
                "input_tokens_details": {"text_tokens": 10, "image_tokens": 0},
                "output_tokens": 1056,
                "total_tokens": 1066,
            },
            "size": "1024x1024",
            "quality": "medium",
            "output_format": "png",
            "background": "opaque",
        }
    ).encode()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--image-bytes", type=int, default=0)
    parser.add_argument("--keepalive", type=float, default=0.0, help="idle seconds before closing")
    args = parser.parse_args()
    payload = body(args.image_bytes)
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "x-request-id: req_bench\r\n\r\n"
    ).encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                if args.keepalive:
                    # The idle timer starts when the reply is written, as in uvicorn (h11) and nginx.
                    headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), args.keepalive)
                else:
                    headers = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in headers.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if args.latency:
                    await asyncio.sleep(args.latency)
                writer.write(head + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.CancelledError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
