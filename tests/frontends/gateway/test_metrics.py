"""The gateway's metrics, read back through Prometheus' own parser."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from imageshim._frontends.gateway.metrics import DURATION_BUCKETS, OTHER, GatewayMetrics
from imageshim._frontends.gateway.record import AccessRecord, Generation, client_hash

ROUTE = "/v1/images/generations"
ALICE = client_hash("alice-key")
BOB = client_hash("bob-key")

Labels = tuple[tuple[str, str], ...]


def _samples(metrics: GatewayMetrics) -> dict[str, dict[Labels, float]]:
    """sample name -> sorted labels -> value, from the rendered exposition text."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    out: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return _samples(metrics).get(name, {}).get(tuple(sorted(labels.items())))


def _fresh(**kwargs: object) -> AccessRecord:
    values: dict[str, object] = {
        "method": "POST",
        "route": ROUTE,
        "status": 200,
        "duration_s": 12.0,
        "client": ALICE,
        "requested_model": "dall-e-3",
        "generation": Generation(
            "openai:gpt-image-2",
            images=2,
            cost_usd=0.42,
            provider_calls=3,
            retries=1,
            recoveries=1,
            warnings=("OptionMappedWarning", "ModelRetiredWarning"),
        ),
        "intent": "new",
    }
    values.update(kwargs)
    return AccessRecord(**values)  # type: ignore[arg-type]


def test_one_fresh_generation() -> None:
    metrics = GatewayMetrics()
    metrics.observe(_fresh())
    s = _samples(metrics)
    served = "openai:gpt-image-2"
    assert s["imageshim_requests_total"] == {
        (("requested_model", "dall-e-3"), ("route", ROUTE), ("served_model", served), ("status", "200")): 1.0
    }
    assert s["imageshim_images_total"] == {(("requested_model", "dall-e-3"), ("served_model", served)): 2.0}
    assert s["imageshim_provider_calls_total"] == {(("served_model", served),): 3.0}
    assert s["imageshim_retries_total"] == {(("served_model", served),): 1.0}
    assert s["imageshim_recoveries_total"] == {(("served_model", served),): 1.0}
    assert s["imageshim_warnings_total"] == {
        (("category", "OptionMappedWarning"),): 1.0,
        (("category", "ModelRetiredWarning"),): 1.0,
    }
    assert s["imageshim_cost_usd_total"] == {
        (("client", ALICE), ("served_model", served)): pytest.approx(0.42)
    }
    assert "imageshim_joined_requests_total" not in s


def test_joined_and_replayed_requests_do_not_count_the_generation_again() -> None:
    metrics = GatewayMetrics()
    metrics.observe(_fresh())
    metrics.observe(_fresh(joined=True, intent="joined", client=BOB, duration_s=11.0))
    metrics.observe(_fresh(joined=True, intent="replayed", duration_s=0.02))
    metrics.observe(_fresh(joined=True, intent="replayed", duration_s=0.03))
    served = "openai:gpt-image-2"
    assert (
        _value(
            metrics,
            "imageshim_requests_total",
            route=ROUTE,
            requested_model="dall-e-3",
            served_model=served,
            status="200",
        )
        == 4.0
    )
    assert _value(metrics, "imageshim_joined_requests_total", intent="joined") == 1.0
    assert _value(metrics, "imageshim_joined_requests_total", intent="replayed") == 2.0
    assert _value(metrics, "imageshim_images_total", requested_model="dall-e-3", served_model=served) == 2.0
    assert _value(metrics, "imageshim_provider_calls_total", served_model=served) == 3.0
    assert _value(metrics, "imageshim_retries_total", served_model=served) == 1.0
    assert _value(metrics, "imageshim_recoveries_total", served_model=served) == 1.0
    assert _value(metrics, "imageshim_warnings_total", category="OptionMappedWarning") == 1.0
    assert _value(metrics, "imageshim_cost_usd_total", client=ALICE, served_model=served) == pytest.approx(
        0.42
    )
    assert _value(metrics, "imageshim_cost_usd_total", client=BOB, served_model=served) is None
    assert _value(metrics, "imageshim_request_duration_seconds_count", route=ROUTE) == 4.0
    assert _value(metrics, "imageshim_request_duration_seconds_sum", route=ROUTE) == pytest.approx(23.05)


def test_sums_over_several_generations_and_clients() -> None:
    metrics = GatewayMetrics()
    metrics.observe(_fresh())
    metrics.observe(_fresh(client=BOB))
    metrics.observe(_fresh(generation=Generation("runware:openai:gpt-image@2", images=4, cost_usd=0.1)))
    served = "openai:gpt-image-2"
    assert _value(metrics, "imageshim_images_total", requested_model="dall-e-3", served_model=served) == 4.0
    assert (
        _value(
            metrics,
            "imageshim_images_total",
            requested_model="dall-e-3",
            served_model="runware:openai:gpt-image@2",
        )
        == 4.0
    )
    assert _value(metrics, "imageshim_cost_usd_total", client=ALICE, served_model=served) == pytest.approx(
        0.42
    )
    assert _value(metrics, "imageshim_cost_usd_total", client=BOB, served_model=served) == pytest.approx(0.42)
    assert (
        _value(metrics, "imageshim_provider_calls_total", served_model="runware:openai:gpt-image@2") is None
    )


def test_requests_without_a_generation_or_model() -> None:
    metrics = GatewayMetrics()
    metrics.observe(AccessRecord("GET", "/metrics", 401, 0.001, "anonymous"))
    metrics.observe(_fresh(status=400, generation=None))
    metrics.observe(
        _fresh(status=502, generation=Generation(None, images=0, cost_usd=None, provider_calls=2))
    )
    s = _samples(metrics)
    assert s["imageshim_requests_total"] == {
        (("requested_model", ""), ("route", "/metrics"), ("served_model", ""), ("status", "401")): 1.0,
        (("requested_model", "dall-e-3"), ("route", ROUTE), ("served_model", ""), ("status", "400")): 1.0,
        (("requested_model", "dall-e-3"), ("route", ROUTE), ("served_model", ""), ("status", "502")): 1.0,
    }
    assert s["imageshim_provider_calls_total"] == {(("served_model", ""),): 2.0}
    assert "imageshim_images_total" not in s
    assert "imageshim_cost_usd_total" not in s


def test_duration_histogram_buckets() -> None:
    metrics = GatewayMetrics()
    metrics.observe(_fresh(duration_s=0.004))
    metrics.observe(_fresh(duration_s=7.5))
    metrics.observe(_fresh(duration_s=400.0))
    buckets = _samples(metrics)["imageshim_request_duration_seconds_bucket"]
    by_le = {dict(labels)["le"]: value for labels, value in buckets.items() if dict(labels)["route"] == ROUTE}
    assert [float(le) for le in by_le] == [*DURATION_BUCKETS, math.inf]
    assert by_le["0.005"] == 1.0
    assert by_le["5.0"] == 1.0
    assert by_le["10.0"] == 2.0
    assert by_le["300.0"] == 2.0
    assert by_le["+Inf"] == 3.0


def test_requested_model_cap() -> None:
    metrics = GatewayMetrics(max_values=3)
    for model in ("dall-e-3", "m1", "m2", "m3", "m4", "dall-e-3", "x" * 101):
        metrics.observe(_fresh(requested_model=model, generation=None))
    counts: dict[str, float] = {}
    for labels, value in _samples(metrics)["imageshim_requests_total"].items():
        counts[dict(labels)["requested_model"]] = value
    assert counts == {"dall-e-3": 2.0, "m1": 1.0, "m2": 1.0, OTHER: 3.0}


def test_default_cap_is_about_two_hundred() -> None:
    metrics = GatewayMetrics()
    for i in range(250):
        metrics.observe(_fresh(requested_model=f"model-{i}", generation=None))
    models = {dict(labels)["requested_model"] for labels in _samples(metrics)["imageshim_requests_total"]}
    assert len(models) == 201
    assert OTHER in models
    assert "model-199" in models
    assert "model-200" not in models


def test_known_models_keeps_unknown_ones_out() -> None:
    catalog = {"dall-e-3", "gpt-image-2"}
    metrics = GatewayMetrics(known_models=catalog.__contains__)
    metrics.observe(_fresh(requested_model="dall-e-3"))
    metrics.observe(_fresh(requested_model="'; DROP TABLE models; --"))
    metrics.observe(_fresh(requested_model="random-42"))
    served = "openai:gpt-image-2"
    assert _value(metrics, "imageshim_images_total", requested_model="dall-e-3", served_model=served) == 2.0
    assert _value(metrics, "imageshim_images_total", requested_model=OTHER, served_model=served) == 4.0
    models = {dict(labels)["requested_model"] for labels in _samples(metrics)["imageshim_requests_total"]}
    assert models == {"dall-e-3", OTHER}


def test_other_labels_are_capped_too() -> None:
    metrics = GatewayMetrics(max_values=2)
    for i in range(4):
        metrics.observe(_fresh(route=f"/unmatched/{i}", client=f"client{i}", generation=None))
    routes = {dict(labels)["route"] for labels in _samples(metrics)["imageshim_requests_total"]}
    assert routes == {"/unmatched/0", "/unmatched/1", OTHER}


def test_in_flight_gauge() -> None:
    metrics = GatewayMetrics()
    assert _value(metrics, "imageshim_in_flight_requests") == 0.0
    with metrics.in_flight():
        assert _value(metrics, "imageshim_in_flight_requests") == 1.0
        metrics.request_started()
        assert _value(metrics, "imageshim_in_flight_requests") == 2.0
        metrics.request_finished()
    assert _value(metrics, "imageshim_in_flight_requests") == 0.0
    with pytest.raises(RuntimeError), metrics.in_flight():
        raise RuntimeError("request failed")
    assert _value(metrics, "imageshim_in_flight_requests") == 0.0


def test_store_bytes_is_read_at_each_scrape() -> None:
    size = [1024]
    metrics = GatewayMetrics(store_bytes=lambda: size[0])
    assert _value(metrics, "imageshim_store_bytes") == 1024.0
    size[0] = 5 * 1024 * 1024
    assert _value(metrics, "imageshim_store_bytes") == 5 * 1024 * 1024


def test_a_failing_store_does_not_fail_the_scrape() -> None:
    def broken() -> int:
        raise OSError("store unreachable")

    value = _value(GatewayMetrics(store_bytes=broken), "imageshim_store_bytes")
    assert value is not None
    assert math.isnan(value)


def test_no_store_no_store_gauge() -> None:
    assert "imageshim_store_bytes" not in _samples(GatewayMetrics())


def test_apps_in_one_process_do_not_collide() -> None:
    """Each instance has its own registry: no 'Duplicated timeseries' error, no shared counts."""
    first, second = GatewayMetrics(), GatewayMetrics(store_bytes=lambda: 1)
    first.observe(_fresh())
    served = "openai:gpt-image-2"
    assert _value(first, "imageshim_images_total", requested_model="dall-e-3", served_model=served) == 2.0
    assert _value(second, "imageshim_images_total", requested_model="dall-e-3", served_model=served) is None
    body, _ = first.render()
    assert b"imageshim_requests_total" in body
    assert b"# TYPE imageshim_cost_usd_total counter" in body or b"# TYPE imageshim_cost_usd counter" in body
