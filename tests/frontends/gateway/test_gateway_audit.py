"""An outside audit of ``imageshim serve``: attacks a real client or attacker can make, against real gateway
processes on 127.0.0.1 and a loopback fake provider that counts (and bills) every generation.

Each ``xfail(strict=True)`` test shows a problem found by the audit: it asserts what should happen and fails
today; remove the mark with the fix. The tests without a mark cover attacks the gateway withstood.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import signal
import socket
import string
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.faults.server import PNG, Conn, FaultServer, bad_image, delayed, success_body
from tests.frontends.gateway.serving import Gateway, gateway_process, openai_config

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")

KEY_A = "sk-gateway-client-a-0123456789"
BODY = {"model": "dall-e-3", "prompt": "a lighthouse at dusk", "size": "1024x1024"}


@pytest.fixture
def provider() -> Iterator[FaultServer]:
    server = FaultServer("openai")
    yield server
    server.close()


def _auth(key: str = KEY_A, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def _keys(*more: str) -> dict[str, str]:
    return {"IMAGESHIM_GATEWAY_KEYS": ",".join((KEY_A, *more))}


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        time.sleep(0.02)


def _raw_request(port: int, head: bytes, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head + body)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    sock.close()
    return data


def _post_head(length: int, **headers: str) -> bytes:
    lines = [
        "POST /v1/images/generations HTTP/1.1",
        "Host: gateway",
        f"Authorization: Bearer {KEY_A}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _png_bytes(size: int) -> str:
    """Base64 of a PNG signature followed by ``size`` bytes (what the gateway checks and passes on)."""
    return base64.b64encode(base64.b64decode(PNG) + os.urandom(size)).decode()


def _answer_with(b64: str, *, after: float = 0.0) -> Any:
    """A provider action: wait ``after`` seconds, then answer with the image ``b64``."""

    def act(conn: Conn) -> None:
        time.sleep(after)
        conn.send(200, success_body(conn, b64))

    return act


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


# =========================================================================================================
# 1. Secrets: the redaction of error messages is an oracle that reveals other clients' and provider keys
# =========================================================================================================
_ALPHABET = string.ascii_lowercase + string.digits + "-_"


def _redacted(gw: Gateway, candidates: list[str]) -> list[str]:
    """Which ``candidates`` the gateway redacts when it echoes them in an error message: the gateway redacts
    every run of 8 characters of any registered secret (any client key, any provider key), and echoes the
    name of an unknown parameter. One request tests many candidates."""
    name = "|" + "|".join(candidates) + "|"
    reply = httpx.post(
        f"{gw.base_url}/images/generations", json={"prompt": "x", name: 1}, headers=_auth(), timeout=30
    )
    assert reply.status_code == 400
    message = reply.json()["error"]["message"]
    start, end = message.find("|"), message.rfind("|")
    echoed = message[start : end + 1].strip("|").split("|") if 0 <= start < end else []
    if len(echoed) != len(candidates):
        return []  # the input is not echoed one for one: nothing to learn from it
    return [candidate for candidate, seen in zip(candidates, echoed, strict=True) if seen != candidate]


def _extract(gw: Gateway, seed: str, budget: int = 400) -> set[str]:
    """Every secret that continues ``seed`` (8 characters), one character per request (case folded)."""
    found: set[str] = set()
    stack = [seed] if _redacted(gw, [seed]) else []
    while stack and budget > 0:
        known = stack.pop()
        budget -= 1
        hits = _redacted(gw, [known[-7:] + c for c in _ALPHABET])
        if not hits or len(known) > 200:
            found.add(known)
        stack += [known + hit[-1] for hit in hits]
    return found


def test_error_redaction_is_not_an_oracle_for_other_secrets(provider: FaultServer, tmp_path: Path) -> None:
    provider_key = "sk-proj-" + secrets.token_hex(20)  # the public prefix of OpenAI project keys
    victim = "sk-gateway-client-b-" + secrets.token_hex(8)  # another tenant, same naming as the attacker's
    config = openai_config(provider.base_url)
    config["providers"]["openai"]["api_key"] = provider_key
    with gateway_process(tmp_path, config, env=_keys(victim)) as gw:
        started = time.monotonic()
        # The attacker holds KEY_A only. The provider key: from its public prefix.
        from_provider = _extract(gw, "sk-proj-")
        # Another tenant's key: from the prefix the attacker's own key has.
        from_tenants = _extract(gw, KEY_A[:8])
        stolen_works = [
            key
            for key in from_tenants - {KEY_A}
            if httpx.get(f"{gw.base_url}/models", headers=_auth(key), timeout=5).status_code == 200
        ]
        elapsed = time.monotonic() - started
    assert elapsed < 60
    assert provider_key not in from_provider, "the provider's API key was read out through error messages"
    assert not stolen_works, "another client's gateway key was read out and works"
    assert provider.count("generate") == 0


# =========================================================================================================
# 2. Shutdown: a retry of a paid generation is told "nothing was generated, send it again"
# =========================================================================================================
def test_a_retry_that_arrives_while_draining_joins_its_generation(
    provider: FaultServer, tmp_path: Path
) -> None:
    provider.script.append(delayed(3.0))
    body = json.dumps({**BODY, "response_format": "b64_json"}).encode()
    with gateway_process(tmp_path, openai_config(provider.base_url), env=_keys()) as gw:
        with pytest.raises(httpx.TimeoutException):  # the SDK's timeout: the generation goes on, paid
            httpx.post(
                f"{gw.base_url}/images/generations",
                content=body,
                headers=_auth(**{"content-type": "application/json"}),
                timeout=0.5,
            )
        _wait_for(lambda: provider.count("generate") == 1)
        # The SDK's retry: its headers are in, its body is on the way when the deploy sends SIGTERM.
        retry = _raw_request(gw.port, _post_head(len(body), **{"x-stainless-retry-count": "1"}), body[:10])
        time.sleep(0.3)
        gw.signal(signal.SIGTERM)
        time.sleep(0.5)
        retry.sendall(body[10:])
        answer = _read_all(retry).decode("latin-1")
        gw.process.wait(timeout=30)
    status_line, _, rest = answer.partition("\r\n")
    assert provider.count("generate") == 1
    assert "x-should-retry: true" not in rest.lower(), "told to retry elsewhere: the image is paid twice"
    assert " 200 " in status_line, answer[:600]


# =========================================================================================================
# 3. Resource exhaustion: request headers are not bounded in size (httptools), before any authentication
# =========================================================================================================
def _httptools() -> bool:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _httptools(), reason="Linux /proc, httptools")
def test_request_headers_are_bounded_in_size(provider: FaultServer, tmp_path: Path) -> None:
    with gateway_process(tmp_path, openai_config(provider.base_url), env=_keys()) as gw:
        before = _rss_kib(gw.process.pid)
        sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")
        line = b"X-Pad: " + b"a" * (1 << 20) + b"\r\n"
        sent = 0
        try:
            for _ in range(256):  # 256 MiB of header, no key needed
                sock.sendall(line)
                sent += len(line)
        except OSError:
            pass  # the gateway closed the connection: what should happen
        time.sleep(0.3)
        grown_mib = (_rss_kib(gw.process.pid) - before) / 1024
        sock.close()
    assert grown_mib < 32, f"the gateway buffered {grown_mib:.0f} MiB of headers ({sent >> 20} MiB sent)"


# =========================================================================================================
# 4. A clean SIGTERM drops a paid image that its client has not received yet
# =========================================================================================================
def test_a_restart_keeps_the_reply_a_client_has_not_received(provider: FaultServer, tmp_path: Path) -> None:
    provider.script.append(delayed(1.5))
    config = openai_config(
        provider.base_url, gateway={"store": "file", "store_dir": str(tmp_path / "hosted")}
    )
    body = {**BODY, "response_format": "url"}
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{gw.base_url}/images/generations", json=body, headers=_auth(), timeout=0.5)
        _wait_for(lambda: "intent=new" in gw.log())  # generated, paid, stored for the retry
        port = gw.port
        gw.signal(signal.SIGTERM)  # a rolling deploy, between the timeout and the SDK's retry
        assert gw.process.wait(timeout=10) == 0
    with gateway_process(tmp_path, config, env=_keys(), port=port) as gw:
        retry = httpx.post(
            f"{gw.base_url}/images/generations",
            json=body,
            headers=_auth(**{"x-stainless-retry-count": "1"}),
            timeout=30,
        )
    assert retry.status_code == 200
    assert provider.billed == 1, "the image was generated (and billed) a second time"
    assert retry.headers["x-imageshim-intent"] == "replayed"


# =========================================================================================================
# 5. A reply cut mid-transfer counts as delivered, and is dropped first under byte pressure
# =========================================================================================================
def test_a_reply_cut_mid_transfer_is_still_replayed(provider: FaultServer, tmp_path: Path) -> None:
    big = _png_bytes(450_000)  # ~600 KB of base64: two replies exceed the 1 MiB budget
    provider.script.append(_answer_with(big, after=1.0))
    provider.script.extend(_answer_with(big) for _ in range(3))
    config = openai_config(provider.base_url, gateway={"store_max_bytes": 1 << 20})
    first = json.dumps({**BODY, "response_format": "b64_json"}).encode()
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        url = f"{gw.base_url}/images/generations"
        sock = _raw_request(gw.port, _post_head(len(first)), first)
        assert sock.recv(64).startswith(b"HTTP/1.1 200")  # the reply begins ...
        sock.close()  # ... and the client's total timeout cuts it: the image never arrived
        other = httpx.post(
            url,
            json={**BODY, "prompt": "another", "response_format": "b64_json"},
            headers=_auth(),
            timeout=30,
        )
        assert other.status_code == 200
        retry = httpx.post(
            url,
            content=first,
            headers=_auth(**{"content-type": "application/json", "x-stainless-retry-count": "1"}),
        )
    assert retry.status_code == 200
    assert provider.count("generate") == 2, "the retry of the cut reply generated (and paid) again"
    assert retry.headers["x-imageshim-intent"] == "replayed"


# =========================================================================================================
# 6. Idempotency-Key: a billed failure is replayed for the window only, not for the TTL the README promises
# =========================================================================================================
def test_an_idempotency_key_replays_a_billed_failure_for_the_ttl(
    provider: FaultServer, tmp_path: Path
) -> None:
    provider.script.extend([bad_image, bad_image])
    config = openai_config(provider.base_url, gateway={"retry_window_seconds": 1})  # the unkeyed window
    headers = _auth(**{"Idempotency-Key": "invoice-7-image"})
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        url = f"{gw.base_url}/images/generations"
        first = httpx.post(url, json=BODY, headers=headers, timeout=30)
        assert first.status_code == 502
        assert first.json()["error"]["code"] == "invalid_image_data"
        assert provider.billed == 1  # the provider made (and billed) an image the gateway refused
        time.sleep(1.5)  # well within ttl_seconds (3600)
        again = httpx.post(url, json=BODY, headers=headers, timeout=30)
    assert provider.billed == 1, "the same Idempotency-Key paid for a second generation"
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()


# =========================================================================================================
# 7. Multipart fingerprint: removing the boundary everywhere merges different requests
# =========================================================================================================
def _png_image() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, "PNG")
    return buffer.getvalue()


def _form(prompt: str, boundary: bytes, image: bytes) -> bytes:
    fields = [(b"model", b"gpt-image-2"), (b"prompt", prompt.encode()), (b"response_format", b"b64_json")]
    body = b"".join(
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="'
        + name
        + b'"\r\n\r\n'
        + value
        + b"\r\n"
        for name, value in fields
    )
    body += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
    return body + b"Content-Type: image/png\r\n\r\n" + image + b"\r\n--" + boundary + b"--\r\n"


def test_edits_that_differ_only_by_the_boundary_text_are_different_intents(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    image = _png_image()
    with gateway_process(tmp_path, {"routes": {"*": ["mock:gpt-image-2"]}}, env=_keys()) as gw:
        url = f"{gw.base_url}/images/edits"
        headers = _auth(**{"content-type": "multipart/form-data; boundary=x"})
        fox = httpx.post(url, content=_form("a fox in a box", b"x", image), headers=headers, timeout=30)
        other = httpx.post(url, content=_form("a fo in a bo", b"x", image), headers=headers, timeout=30)
    assert fox.status_code == other.status_code == 200
    assert other.headers["x-imageshim-intent"] == "new", "another prompt got the image of 'a fox in a box'"


# =========================================================================================================
# 8. A client key is echoed in a reply header (the body and the log redact it)
# =========================================================================================================
def test_a_key_in_the_model_name_is_not_echoed_in_headers(provider: FaultServer, tmp_path: Path) -> None:
    with gateway_process(tmp_path, openai_config(provider.base_url), env=_keys()) as gw:
        reply = httpx.post(
            f"{gw.base_url}/images/generations", json={**BODY, "model": KEY_A}, headers=_auth(), timeout=30
        )
        log = gw.log()
    assert KEY_A not in log  # held: the log redacts it
    assert reply.status_code == 200
    assert all(KEY_A not in value for value in reply.headers.values())


# =========================================================================================================
# 9. A hosted file that cannot be read: 502 "not an image", and the capability URL is logged
# =========================================================================================================
def test_a_hosted_file_that_cannot_be_read_is_not_called_a_non_image(
    provider: FaultServer, tmp_path: Path
) -> None:
    store = tmp_path / "hosted"
    config = openai_config(provider.base_url, gateway={"store": "file", "store_dir": str(store)})
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        reply = httpx.post(
            f"{gw.base_url}/images/generations",
            json={**BODY, "response_format": "url"},
            headers=_auth(),
            timeout=30,
        )
        url = reply.json()["data"][0]["url"]
        name = url.rsplit("/", 1)[1]
        (store / name).unlink()  # an operator's cleanup, a disk error: the sidecar says it lives
        served = httpx.get(url, timeout=5)
        log = gw.log()
    assert served.json()["error"]["code"] != "invalid_image_data"
    assert name not in log


# =========================================================================================================
# What held (kept as coverage)
# =========================================================================================================
def test_status_table_rows_before_any_provider_call(provider: FaultServer, tmp_path: Path) -> None:
    """400, 401, 404, 408, 413, 424 from the README's table: x-should-retry false, nothing sent upstream."""
    config = openai_config(
        provider.base_url,
        routes={"*": ["openai:gpt-image-2"], "needs-runware": ["runware:gpt-image-2"]},
        gateway={"body_timeout": 1},
    )
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        url = f"{gw.base_url}/images/generations"
        seen: dict[str, httpx.Response] = {
            "400 key": httpx.post(
                url, json=BODY, headers=_auth(**{"Idempotency-Key": "k" * 256}), timeout=10
            ),
            "401": httpx.post(url, json=BODY, headers=_auth("sk-not-a-gateway-key-000000"), timeout=10),
            "404": httpx.get(f"{gw.base_url}/{KEY_A}", headers=_auth(), timeout=10),
            "413": httpx.post(url, content=b"{" + b" " * (2 << 20) + b"}", headers=_auth(), timeout=10),
            "424": httpx.post(url, json={**BODY, "model": "needs-runware"}, headers=_auth(), timeout=10),
        }
        slow = _raw_request(gw.port, _post_head(100), b"{")  # the body never completes
        timed_out = _read_all(slow).decode("latin-1")
        log = gw.log()
    assert {name: reply.status_code for name, reply in seen.items()} == {
        "400 key": 400,
        "401": 401,
        "404": 404,
        "413": 413,
        "424": 424,
    }
    assert all(reply.headers["x-should-retry"] == "false" for reply in seen.values())
    assert seen["424"].json()["error"]["code"] == "imageshim_configuration_error"
    assert KEY_A not in seen["404"].text
    assert timed_out.startswith("HTTP/1.1 408")
    assert "x-should-retry: false" in timed_out
    assert provider.count("generate") == 0
    assert KEY_A not in log


def test_hosted_route_edges(provider: FaultServer, tmp_path: Path) -> None:
    """Traversal, HEAD, Range (single and many), preflights from `null` and for a disallowed method."""
    config = openai_config(
        provider.base_url,
        gateway={
            "store": "file",
            "store_dir": str(tmp_path / "hosted"),
            "cors_origins": ["https://app.example"],
        },
    )
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        reply = httpx.post(
            f"{gw.base_url}/images/generations",
            json={**BODY, "response_format": "url"},
            headers=_auth(),
            timeout=30,
        )
        url = reply.json()["data"][0]["url"]
        base = url.rsplit("/", 1)[0]
        whole = httpx.get(url, timeout=5)
        head = httpx.head(url, timeout=5)
        first = httpx.get(url, headers={"Range": "bytes=0-3"}, timeout=5)
        many = httpx.get(
            url, headers={"Range": "bytes=" + ",".join(f"{i}-{i}" for i in range(200))}, timeout=5
        )
        traversal = [
            httpx.get(f"{base}/{path}", timeout=5).status_code
            for path in ("..%2F..%2Fetc%2Fpasswd", "%2e%2e", "x" * 32 + ".png%00", "..")
        ]
        null_origin = httpx.options(
            f"{gw.base_url}/images/generations",
            headers={"Origin": "null", "Access-Control-Request-Method": "POST"},
            timeout=5,
        )
        delete = httpx.options(
            f"{gw.base_url}/images/generations",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "DELETE"},
            timeout=5,
        )
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "image/png"
    assert head.status_code == 200
    assert head.content == b""
    assert first.status_code == 206
    assert first.content == whole.content[:4]
    assert many.status_code in (200, 206, 416)
    assert all(code in (401, 404) for code in traversal)
    assert null_origin.headers.get("access-control-allow-origin") != "null"
    assert "DELETE" not in delete.headers.get("access-control-allow-methods", "")
    assert provider.count("generate") == 1


def test_another_client_cannot_join_or_replay_a_generation(provider: FaultServer, tmp_path: Path) -> None:
    """Replays are scoped by client key: a retry header from another key, or from no key, gets nothing."""
    key_b = "sk-gateway-client-b-" + secrets.token_hex(8)
    provider.script.append(delayed(1.0))
    with gateway_process(tmp_path, openai_config(provider.base_url), env=_keys(key_b)) as gw:
        url = f"{gw.base_url}/images/generations"
        retry = {"x-stainless-retry-count": "3", "Idempotency-Key": "shared"}
        a = httpx.post(url, json=BODY, headers=_auth(**{"Idempotency-Key": "shared"}), timeout=30)
        anonymous = httpx.post(url, json=BODY, headers=retry, timeout=30)
        b = httpx.post(url, json=BODY, headers=_auth(key_b, **retry), timeout=30)
    assert a.status_code == 200
    assert a.headers["x-imageshim-intent"] == "new"
    assert anonymous.status_code == 401
    assert b.status_code == 200
    assert b.headers["x-imageshim-intent"] == "new"
    assert provider.count("generate") == 2
