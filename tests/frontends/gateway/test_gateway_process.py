"""The gateway in production, tested as clients and operators meet it: real ``imageshim serve`` processes
against a loopback fake provider that counts (and bills) every generation."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.faults.server import PNG, FaultServer, delayed, status, success_body
from tests.frontends.gateway.serving import gateway_process, openai_config

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")

KEY_A, KEY_B = "sk-gateway-client-a-0123456789", "sk-gateway-client-b-0123456789"
BODY = {"model": "dall-e-3", "prompt": "a lighthouse at dusk", "size": "1024x1024"}


@pytest.fixture
def provider() -> Iterator[FaultServer]:
    server = FaultServer("openai")
    yield server
    server.close()


def _auth(key: str = KEY_A, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def _keys() -> dict[str, str]:
    return {"IMAGESHIM_GATEWAY_KEYS": f"{KEY_A},{KEY_B}"}


def _metrics(origin: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{origin}/metrics", timeout=5).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _total(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, have), value in metrics.items()
        if sample == name and all((k, v) in have for k, v in labels.items())
    )


# ----- one generation per intent -----------------------------------------------------------------------
def test_concurrent_duplicates_make_one_generation(provider: FaultServer, tmp_path: Path) -> None:
    provider.script.append(delayed(1.0))
    with gateway_process(tmp_path, openai_config(provider.base_url), env=_keys()) as gw:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            replies = list(
                pool.map(
                    lambda _: httpx.post(
                        f"{gw.base_url}/images/generations",
                        json={**BODY, "response_format": "b64_json"},
                        headers=_auth(),
                        timeout=30,
                    ),
                    range(8),
                )
            )
        assert [r.status_code for r in replies] == [200] * 8
        assert len({r.json()["data"][0]["b64_json"] for r in replies}) == 1
        assert sorted(r.headers["x-imageshim-intent"] for r in replies).count("new") == 1
        assert provider.count("generate") == 1
        assert provider.billed == 1
        # another client key with the same body is another intent
        other = httpx.post(f"{gw.base_url}/images/generations", json=BODY, headers=_auth(KEY_B), timeout=30)
        assert other.status_code == 200
        assert provider.count("generate") == 2
        metrics = _metrics(gw.origin)
        assert _total(metrics, "imageshim_joined_requests_total") == 7
        assert _total(metrics, "imageshim_images_total") == 2  # once per generation, not per request


def test_an_sdk_that_times_out_gets_the_image_on_its_retry(provider: FaultServer, tmp_path: Path) -> None:
    provider.script.append(delayed(2.5))
    with gateway_process(tmp_path, openai_config(provider.base_url), env=_keys()) as gw:
        sdk = openai.OpenAI(api_key=KEY_A, base_url=gw.base_url, timeout=1.0, max_retries=5)
        try:
            reply = sdk.images.with_raw_response.generate(**BODY, response_format="b64_json")
        finally:
            sdk.close()
        assert reply.http_response.headers["x-imageshim-intent"] in ("joined", "replayed")
        assert reply.parse().data[0].b64_json
        assert provider.count("generate") == 1
        assert provider.billed == 1


def test_a_status_based_retrier_is_held_to_the_gateway_budget(provider: FaultServer, tmp_path: Path) -> None:
    """The AI SDK retries 5xx by status, ignoring x-should-retry: its tries join the stored failure."""
    provider.script.extend(status(500) for _ in range(10))
    config = openai_config(provider.base_url, retry={"max_retries": 2, "initial_backoff": 0.01})
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        statuses = []
        for _ in range(3):  # three tries, as the AI SDK makes by default
            reply = httpx.post(f"{gw.base_url}/images/generations", json=BODY, headers=_auth(), timeout=30)
            statuses.append(reply.status_code)
        assert statuses == [500, 500, 500]
        assert provider.count("generate") == 3  # the gateway's own budget: 1 try + 2 retries, once
        metrics = _metrics(gw.origin)
        assert _total(metrics, "imageshim_provider_calls_total") == 3
        assert _total(metrics, "imageshim_retries_total") == 2


def test_idempotency_key_replays_and_refuses_another_body(provider: FaultServer, tmp_path: Path) -> None:
    with gateway_process(
        tmp_path, openai_config(provider.base_url, gateway={"retry_window_seconds": 0}), env=_keys()
    ) as gw:
        url = f"{gw.base_url}/images/generations"
        first = httpx.post(url, json=BODY, headers=_auth(**{"Idempotency-Key": "order-1"}), timeout=30)
        again = httpx.post(url, json=BODY, headers=_auth(**{"Idempotency-Key": "order-1"}), timeout=30)
        assert first.json() == again.json()
        assert again.headers["idempotent-replayed"] == "true"
        changed = httpx.post(
            url,
            json={**BODY, "prompt": "another"},
            headers=_auth(**{"Idempotency-Key": "order-1"}),
            timeout=30,
        )
        assert changed.status_code == 422
        assert changed.json()["error"]["code"] == "idempotency_key_reused"
        plain = httpx.post(url, json=BODY, headers=_auth(), timeout=30)  # no key, window 0: a new intent
        assert plain.status_code == 200
        assert provider.count("generate") == 2


def test_the_concurrency_limit_per_key_is_a_429_with_retry_after(
    provider: FaultServer, tmp_path: Path
) -> None:
    provider.script.extend([delayed(2.0), delayed(2.0)])
    config = openai_config(provider.base_url, gateway={"max_concurrency_per_key": 1})
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        url = f"{gw.base_url}/images/generations"
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            slow = pool.submit(httpx.post, url, json=BODY, headers=_auth(), timeout=30)
            deadline = time.monotonic() + 10
            while provider.count("generate") < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            limited = httpx.post(url, json={**BODY, "prompt": "other"}, headers=_auth(), timeout=30)
            other_key = pool.submit(
                httpx.post, url, json={**BODY, "prompt": "other"}, headers=_auth(KEY_B), timeout=30
            )
            assert limited.status_code == 429
            assert limited.json()["error"]["code"] == "concurrency_limit_exceeded"
            assert int(limited.headers["retry-after"]) >= 1
            assert slow.result().status_code == 200
            assert other_key.result().status_code == 200  # another key has its own limit


# ----- hosted images -----------------------------------------------------------------------------------
def test_a_restart_keeps_file_store_urls(provider: FaultServer, tmp_path: Path) -> None:
    config = openai_config(
        provider.base_url, gateway={"store": "file", "store_dir": str(tmp_path / "hosted")}
    )
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        reply = httpx.post(
            f"{gw.base_url}/images/generations",
            json={**BODY, "response_format": "url"},
            headers=_auth(),
            timeout=30,
        )
        url = reply.json()["data"][0]["url"]
        first = httpx.get(url, timeout=5)
        port = gw.port
    assert first.status_code == 200
    with gateway_process(tmp_path, config, env=_keys(), port=port):
        again = httpx.get(url, timeout=5)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["content-type"] == "image/png"
    assert "max-age=" in again.headers["cache-control"]
    assert again.headers["expires"].endswith("GMT")


def _big_png(size: int) -> str:
    """A valid PNG signature and header followed by ``size`` bytes (what the gateway checks and hosts)."""
    return base64.b64encode(base64.b64decode(PNG) + bytes(size)).decode()


def test_one_clients_burst_does_not_expire_another_clients_url(provider: FaultServer, tmp_path: Path) -> None:
    big = _big_png(300_000)
    provider.script.extend((lambda conn: conn.send(200, success_body(conn, big))) for _ in range(10))
    # a key's share: three of these images; client A's burst overflows it, client B's URL must live on
    config = openai_config(
        provider.base_url, gateway={"store_max_bytes_per_key": 1 << 20, "retry_window_seconds": 0}
    )
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        url = f"{gw.base_url}/images/generations"
        kept = httpx.post(url, json={**BODY, "response_format": "url"}, headers=_auth(KEY_B), timeout=30)
        b_url = kept.json()["data"][0]["url"]
        outcomes = []
        for i in range(8):  # client A's burst
            reply = httpx.post(
                url,
                json={**BODY, "prompt": f"burst {i}", "response_format": "url"},
                headers=_auth(),
                timeout=30,
            )
            if reply.status_code == 503:
                assert reply.json()["error"]["code"] == "hosted_store_full"
                assert reply.headers["x-should-retry"] == "true"
                assert int(reply.headers["retry-after"]) >= 1
                outcomes.append("refused")
                break
            assert reply.status_code == 200
            image_url = reply.json()["data"][0]["url"]
            if image_url.startswith("data:"):  # paid for, no room left: inline, with a warning, never dropped
                assert "returned inline" in reply.headers["x-imageshim-warnings"]
                outcomes.append("inline")
            else:
                outcomes.append("hosted")
        # three fit the share; the fourth would not: refused before it is generated (nothing paid)
        assert outcomes == ["hosted"] * 3 + ["refused"]
        assert httpx.get(b_url, timeout=5).status_code == 200  # B's URL lives on
        assert _total(_metrics(gw.origin), "imageshim_store_bytes") >= 4 * 300_000
        assert provider.count("generate") == 4


# ----- operable ----------------------------------------------------------------------------------------
def test_access_lines_warnings_and_metrics_match_what_was_sent(provider: FaultServer, tmp_path: Path) -> None:
    with gateway_process(
        tmp_path, openai_config(provider.base_url), args=("--log-format", "json"), env=_keys()
    ) as gw:
        url = f"{gw.base_url}/images/generations"
        for i in range(3):
            assert (
                httpx.post(url, json={**BODY, "prompt": f"p{i}"}, headers=_auth(), timeout=30).status_code
                == 200
            )
        bad = httpx.post(url, json={**BODY, "size": "1792-by-1024"}, headers=_auth(), timeout=30)
        assert bad.status_code == 400
        assert httpx.get(f"{gw.origin}/readyz", timeout=5).status_code == 200
        metrics = _metrics(gw.origin)
        log = gw.log()
    assert _total(metrics, "imageshim_requests_total", route="/v1/images/generations", status="200") == 3
    assert _total(metrics, "imageshim_requests_total", route="/v1/images/generations", status="400") == 1
    assert _total(metrics, "imageshim_images_total", requested_model="dall-e-3") == 3
    assert _total(metrics, "imageshim_provider_calls_total") == 3
    assert _total(metrics, "imageshim_warnings_total", category="ModelRetiredWarning") == 3
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [
        line
        for line in lines
        if line.get("logger") == "imageshim.access" and line.get("route") == "/v1/images/generations"
    ]
    assert len(access) == 4
    assert {line["status"] for line in access} == {200, 400}
    assert all(KEY_A not in json.dumps(line) for line in lines)
    assert any("ModelRetiredWarning" in line["message"] for line in lines if line.get("level") == "WARNING")
    assert KEY_A not in log


def test_lifecycle_and_model_headers_and_cors(provider: FaultServer, tmp_path: Path) -> None:
    config = openai_config(provider.base_url, gateway={"cors_origins": ["https://app.example"]})
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        url = f"{gw.base_url}/images/generations"
        preflight = httpx.options(
            url,
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
            timeout=5,
        )
        assert preflight.status_code == 200  # no auth needed for a preflight
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        reply = httpx.post(url, json=BODY, headers=_auth(Origin="https://app.example"), timeout=30)
        assert reply.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-imageshim-model" in reply.headers["access-control-expose-headers"]
        assert reply.headers["x-imageshim-requested-model"] == "dall-e-3"
        assert reply.headers["x-imageshim-model"] == "gpt-image-2"
        assert reply.headers["deprecation"] == "@1763078400"  # 2025-11-14, the notice (RFC 9745)
        assert reply.headers["sunset"] == "Tue, 12 May 2026 00:00:00 GMT"  # RFC 8594
        assert 'rel="deprecation"' in reply.headers["link"]
        current = httpx.post(url, json={**BODY, "model": "gpt-image-2"}, headers=_auth(), timeout=30)
        assert "deprecation" not in current.headers
        assert "sunset" not in current.headers
        other = httpx.options(
            url,
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            timeout=5,
        )
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"


# ----- shutdown ----------------------------------------------------------------------------------------
def _post_in_thread(url: str, body: dict[str, Any], result: dict[str, Any]) -> threading.Thread:
    def go() -> None:
        try:
            result["reply"] = httpx.post(url, json=body, headers=_auth(), timeout=120)
        except httpx.HTTPError as exc:  # reported by the assertions
            result["reply"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def test_sigterm_lets_a_40_second_generation_finish(provider: FaultServer, tmp_path: Path) -> None:
    provider.script.append(delayed(40.0))
    with gateway_process(tmp_path, openai_config(provider.base_url), env=_keys()) as gw:
        result: dict[str, Any] = {}
        client = _post_in_thread(f"{gw.base_url}/images/generations", BODY, result)
        deadline = time.monotonic() + 10
        while provider.count("generate") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        gw.signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.ConnectError):  # no new connections while draining: the balancer moves on
            httpx.get(f"{gw.origin}/readyz", timeout=5)
        client.join(timeout=60)
        reply = result["reply"]
        assert isinstance(reply, httpx.Response), reply
        assert reply.status_code == 200
        assert reply.json()["data"][0]
        assert gw.process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "draining" in gw.log()


def test_a_request_cut_at_shutdown_says_do_not_retry(provider: FaultServer, tmp_path: Path) -> None:
    provider.script.append(delayed(30.0))
    config = openai_config(provider.base_url, gateway={"drain_seconds": 1})
    with gateway_process(tmp_path, config, env=_keys()) as gw:
        result: dict[str, Any] = {}
        client = _post_in_thread(f"{gw.base_url}/images/generations", BODY, result)
        deadline = time.monotonic() + 10
        while provider.count("generate") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        gw.signal(signal.SIGTERM)
        client.join(timeout=30)
        reply = result["reply"]
        assert isinstance(reply, httpx.Response), reply
        assert reply.status_code == 503
        assert reply.headers["x-should-retry"] == "false"
        assert reply.json()["error"]["code"] == "gateway_shutting_down"
        assert "unknown" in reply.json()["error"]["message"]
        gw.process.wait(timeout=30)


def test_a_second_signal_exits_at_once(provider: FaultServer, tmp_path: Path) -> None:
    provider.script.append(delayed(30.0))
    with gateway_process(tmp_path, openai_config(provider.base_url), env=_keys()) as gw:
        result: dict[str, Any] = {}
        _post_in_thread(f"{gw.base_url}/images/generations", BODY, result)
        deadline = time.monotonic() + 10
        while provider.count("generate") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        gw.signal(signal.SIGTERM)
        time.sleep(0.3)
        started = time.monotonic()
        gw.signal(signal.SIGTERM)
        code = gw.process.wait(timeout=10)
        assert time.monotonic() - started < 5
        assert code != 0
