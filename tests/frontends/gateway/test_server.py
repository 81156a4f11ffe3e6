"""``server.run`` in a real process on a loopback socket: header clock, connection limit, drain and exit.

Each test talks raw HTTP/1.1 over sockets (the edges are below what an HTTP client lets a test do) to the
app in ``_server_app.py``. The header and limit tests run against both uvicorn protocol classes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")

HELPER = Path(__file__).with_name("_server_app.py")
IMPLS = [
    pytest.param(
        "httptools",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("httptools") is None,
            reason="httptools is not installed (the gateway extra brings it)",
        ),
    ),
    "h11",
]
HEADER_TIMEOUT = 0.5


# ----- a served process ---------------------------------------------------------------------------------
@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server did not exit within {timeout} s:\n{self.log()}") from None


@contextlib.contextmanager
def served(directory: Path, **settings: Any) -> Iterator[Served]:
    log_path = directory / f"server-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(HELPER), json.dumps(settings)],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=directory,
        )
    with process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 30)
            line = process.stdout.readline() if ready else b""
            if not line.strip():
                process.kill()
                raise AssertionError(f"the server did not start:\n{log_path.read_text(errors='replace')}")
            server = Served(process, int(line), log_path)
            status = 0
            deadline = time.monotonic() + 30
            while status != 200 and time.monotonic() < deadline:  # the app's lifespan has started
                with server.connect() as sock:
                    status, _, _ = exchange(sock, "GET", "/ok")
            yield server
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


# ----- raw HTTP/1.1 ---------------------------------------------------------------------------------------
def send_request(
    sock: socket.socket, method: str, path: str, body: bytes | None = None, *, length: int | None = None
) -> None:
    """Send a request; ``length`` without ``body``: the headers only, the body to follow."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body is not None or length is not None:
        head += f"Content-Length: {len(body or b'') if length is None else length}\r\n"
    sock.sendall(head.encode() + b"\r\n" + (body or b""))


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed in a response body: {body!r}")
        body += chunk
    return int(status_line.split()[1]), headers, body


def exchange(
    sock: socket.socket, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    send_request(sock, method, path, body)
    return read_response(sock)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes ``sock`` within ``seconds`` (nothing more is expected on it)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def trickle_until_closed(sock: socket.socket, data: bytes, every: float = 0.05) -> float:
    """Send ``data`` a byte at a time; the seconds from the first byte until the server closed ``sock``."""
    started = time.monotonic()
    for byte in data:
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            assert closed_within(sock, 1), "the server answered a request it never got"
            return time.monotonic() - started
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
    raise AssertionError(f"still open {time.monotonic() - started:.1f} s after the first byte")


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def in_flight(server: Served) -> int:
    with server.connect() as sock:
        status, _, body = exchange(sock, "GET", "/state")
    assert status == 200
    count: int = json.loads(body)["in_flight"]
    return count


def refuses_connections(server: Served) -> bool:
    try:
        server.connect().close()
    except ConnectionRefusedError:
        return True
    return False


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# ----- header clock and keep-alive ------------------------------------------------------------------------
@pytest.fixture(scope="module", params=IMPLS)
def edges(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("edges")
    with served(directory, header_timeout=HEADER_TIMEOUT, idle_timeout=5.0, impl=request.param) as server:
        yield server


def test_a_silent_connection_is_closed_after_the_header_timeout(edges: Served) -> None:
    with edges.connect() as sock:
        started = time.monotonic()
        assert closed_within(sock, HEADER_TIMEOUT + 1)
        assert time.monotonic() - started >= HEADER_TIMEOUT - 0.1


def test_a_trickled_request_line_is_closed_after_the_header_timeout(edges: Served) -> None:
    with edges.connect() as sock:  # at 20 bytes a second, the request line is still partial when it is closed
        elapsed = trickle_until_closed(sock, b"GET /" + b"a" * 60 + b" HTTP/1.1\r\n")
    assert HEADER_TIMEOUT - 0.1 <= elapsed <= HEADER_TIMEOUT + 1


def test_after_a_response_the_clock_starts_at_the_next_requests_first_byte(edges: Served) -> None:
    with edges.connect() as sock:
        assert exchange(sock, "GET", "/ok")[0] == 200
        time.sleep(
            HEADER_TIMEOUT + 0.3
        )  # idle longer than the header timeout: the idle timeout (5 s) applies
        elapsed = trickle_until_closed(sock, b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60)
    assert HEADER_TIMEOUT - 0.1 <= elapsed <= HEADER_TIMEOUT + 1


def test_a_keep_alive_client_makes_requests_slower_than_the_header_timeout(edges: Served) -> None:
    with edges.connect() as sock:
        status, _, body = exchange(sock, "GET", f"/slow?seconds={HEADER_TIMEOUT + 0.3}")
        assert (status, json.loads(body)) == (200, {"draining": False})
        time.sleep(HEADER_TIMEOUT + 0.3)  # idle, between requests
        status, headers, body = exchange(sock, "GET", "/ok")
        assert (status, body) == (200, b"ok")
        assert "server" not in headers
        assert "date" in headers


# ----- connection limit -------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_beyond_max_connections_a_connection_gets_503_and_is_closed(impl: str, tmp_path: Path) -> None:
    with (
        served(tmp_path, max_connections=5, idle_timeout=30.0, impl=impl) as server,
        contextlib.ExitStack() as stack,
    ):
        held = [stack.enter_context(server.connect()) for _ in range(5)]
        for sock in held:  # idle but valid keep-alive connections
            assert exchange(sock, "GET", "/ok")[0] == 200
        fds = open_fds(server.process.pid) if os.path.isdir("/proc/self/fd") else None

        with server.connect() as sixth:
            status, headers, body = read_response(sixth)
            assert status == 503
            assert headers["retry-after"] == "1"
            assert headers["connection"] == "close"
            assert headers["content-type"] == "application/json"
            assert json.loads(body) == {
                "error": {
                    "message": "The gateway has too many open connections; retry shortly.",
                    "type": "server_error",
                    "param": None,
                    "code": "too_many_connections",
                }
            }
            assert closed_within(sixth, 1)
        if fds is not None:  # the refused connection's descriptor is free again
            assert open_fds(server.process.pid) == fds

        for sock in held:  # the held connections still work
            assert exchange(sock, "GET", "/ok")[0] == 200
        stack.close()

        def accepted() -> bool:
            with server.connect() as sock:
                try:
                    return exchange(sock, "GET", "/ok")[0] == 200
                except (EOFError, ConnectionResetError):
                    return False

        wait_until(accepted, 2, "a new connection served once the held ones closed")
        with contextlib.ExitStack() as again:
            fresh = [again.enter_context(server.connect()) for _ in range(5)]
            assert [exchange(sock, "GET", "/ok")[0] for sock in fresh] == [200] * 5
    assert "refused 1 connections: 5 open" in server.log()


# ----- signals and drain ------------------------------------------------------------------------------
def test_sigterm_drains_the_requests_in_flight_and_exits(tmp_path: Path) -> None:
    with served(tmp_path, drain_seconds=10) as server, server.connect() as kept, server.connect() as slow:
        status, _, body = exchange(kept, "GET", "/state")
        assert (status, json.loads(body)["draining"]) == (200, False)
        send_request(kept, "POST", "/state", length=2)  # in flight: its body comes after the signal
        send_request(slow, "GET", "/slow?seconds=1.5")
        wait_until(lambda: in_flight(server) == 1, 5, "the slow request in flight")

        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses_connections(server), 3, "the listener closed")

        kept.sendall(b"{}")
        status, headers, body = read_response(kept)
        assert (status, json.loads(body)["draining"]) == (200, True)
        assert headers["connection"] == "close"  # no further request on a draining server's connection
        status, _, body = read_response(slow)
        assert (status, json.loads(body)) == (200, {"draining": True})
        assert time.monotonic() - signalled < 1.5 + 1
        assert server.wait(5) == 0
    assert "draining: 1 requests in flight, up to 10 s" in server.log()


def test_at_the_drain_deadline_waiting_requests_are_cut(tmp_path: Path) -> None:
    with served(tmp_path, drain_seconds=1) as server, server.connect() as waiting:
        send_request(waiting, "GET", "/wait")
        wait_until(lambda: in_flight(server) == 1, 5, "the waiting request in flight")

        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        status, headers, _ = read_response(waiting)
        assert (status, headers["x-should-retry"]) == (503, "false")
        assert 0.9 <= time.monotonic() - signalled <= 2
        assert server.wait(5) == 0
    log = server.log()
    assert "draining: 1 requests in flight, up to 1 s" in log
    assert "drain deadline: 1 requests still in flight" in log


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_second_signal_exits_at_once(second: signal.Signals, tmp_path: Path) -> None:
    with served(tmp_path, drain_seconds=60) as server, server.connect() as slow, server.connect() as waiting:
        send_request(slow, "GET", "/slow?seconds=30")
        send_request(waiting, "GET", "/wait")
        wait_until(lambda: in_flight(server) == 2, 5, "two requests in flight")
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses_connections(server), 3, "the drain began")

        signalled = time.monotonic()
        server.process.send_signal(second)
        status, headers, _ = read_response(waiting)  # cut: it answers before the process ends
        assert (status, headers["x-should-retry"]) == (503, "false")
        assert server.wait(2) == 128 + second
        assert time.monotonic() - signalled < 2
        with pytest.raises((EOFError, ConnectionResetError)):  # abandoned: nothing more, not a 500
            read_response(slow)
    log = server.log()
    assert f"second signal: exiting now (status {128 + second}), 2 requests in flight" in log
    assert "Traceback" not in log


def test_a_second_signal_exits_at_once_even_with_the_event_loop_stuck(tmp_path: Path) -> None:
    with served(tmp_path, drain_seconds=60) as server, server.connect() as stuck:
        send_request(stuck, "GET", "/block?seconds=30")
        # nothing to poll while the loop is stuck: give the request time to start blocking it
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # two signals pending at once would be handled as one
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.wait(2) == 128 + signal.SIGTERM
        assert time.monotonic() - signalled < 2
    assert "second signal: exiting now (status 143), 0 requests in flight" in server.log()
