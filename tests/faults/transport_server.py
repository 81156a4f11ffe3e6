"""A loopback HTTP/1.1 KEEP-ALIVE server for transport faults (tests/faults/server.py closes every
connection, so it cannot show what happens on a reused one).

- ``idle_timeout``: close a connection that stays idle that long, timed from the reply written, as
  uvicorn (h11) and nginx do. Bursts that arrive as it fires meet the keep-alive race.
- ``race``: every REUSED connection loses the keep-alive race: when its next request arrives, the server
  closes it without reading the request or sending a byte (an abortive close, as a server whose idle
  timer fired as the request came in). Such requests are never processed and not counted.
- ``headers_after`` / ``trickle_every``: send the headers after that many seconds, then the body one
  byte at a time: no single read ever waits long, only the total grows.

Bodies are the fault suite's (``server.success_body``, which reads and updates ``provider``, ``finished``
and ``billed`` as on ``FaultServer``): both providers, Runware's ``getResponse`` too.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from . import server as s


@dataclass
class TransportServer:
    provider: str  # "openai" | "runware"
    idle_timeout: float = 30.0
    race: bool = False
    headers_after: float | None = None
    trickle_every: float = 0.05
    requests: list[tuple[str, Any]] = field(default_factory=list)
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    billed: int = 0  # images the provider generated (server.success_body counts them)
    races: int = 0  # requests dropped by ``race``
    connections: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(512)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        """The URL the provider's adapter posts to (``base_url`` plus OpenAI's path)."""
        return self.base_url + ("/images/generations" if self.provider == "openai" else "")

    @property
    def base_url(self) -> str:
        port = self._sock.getsockname()[1]
        return f"http://127.0.0.1:{port}/v1" + ("" if self.provider == "openai" else "/tasks")

    def count(self, kind: str = "generate") -> int:
        with self._lock:
            return sum(1 for k, _ in self.requests if k == kind)

    def close(self) -> None:
        self._stop.set()
        self._accept.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> TransportServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- serving -------------------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _handle(self, sock: socket.socket) -> None:
        served = 0
        try:
            while not self._stop.is_set():
                if not self._wait_for_request(sock, first=served == 0):
                    return
                if served and self.race:
                    if sock.recv(1, socket.MSG_PEEK):  # a request, not the client closing
                        with self._lock:
                            self.races += 1
                    return  # closed below with the request unread: the client gets a reset or EOF
                read = self._read(sock)
                if read is None:
                    return
                self._reply(*read)
                served += 1
        except OSError:
            pass
        finally:
            # SO_LINGER 0: an abortive close, as a server drops an idle connection with data unread
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.close()

    def _wait_for_request(self, sock: socket.socket, *, first: bool) -> bool:
        """Whether a request arrived before the idle timeout (checked in short steps to see ``stop``)."""
        waited, limit = 0.0, 5.0 if first else self.idle_timeout
        while waited < limit and not self._stop.is_set():
            step = min(0.05, limit - waited)
            if select.select([sock], [], [], step)[0]:
                return True
            waited += step
        return False

    def _read(self, sock: socket.socket) -> tuple[s.Conn, str] | None:
        sock.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next((int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:")), 0)
        while len(body) < length:
            body += sock.recv(65536)
        conn = s.Conn(sock, lines[0].split(" ")[1], body, self)  # type: ignore[arg-type]
        payload = conn.json()
        get = isinstance(payload, list) and payload and payload[0].get("taskType") == "getResponse"
        kind = "getResponse" if get else "generate"
        with self._lock:
            self.requests.append((kind, payload))
        return conn, kind

    def _reply(self, conn: s.Conn, kind: str) -> None:
        body = s.success_body(conn)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nContent-Type: application/json\r\n"
            "x-request-id: req_keepalive\r\n\r\n"
        ).encode()
        if self.headers_after is None or kind != "generate":
            conn.sock.sendall(head + body)
            return
        if self._stop.wait(self.headers_after):
            return
        conn.sock.sendall(head)
        for i in range(len(body)):
            if self._stop.wait(self.trickle_every):
                return
            conn.sock.sendall(body[i : i + 1])
