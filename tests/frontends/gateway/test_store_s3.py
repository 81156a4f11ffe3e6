"""The S3 store, against moto's standalone S3 server on 127.0.0.1: images shared by replicas, expired by
their metadata (wall clock) and by sweeps (``LastModified``), byte shares per replica, presigned URLs a
plain GET can fetch, and an object store that cannot be reached: the image comes back inline on a put
(StoreFull), the hosted route answers 503 (StoreUnavailable), and no message carries a credential."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("boto3", reason="the S3 store needs boto3 (pip install 'imageshim[s3]')")
pytest.importorskip("moto.server", reason="the S3 store is tested against moto's S3 server (moto[server])")

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer
from starlette.testclient import TestClient

from imageshim._core.config import load_config
from imageshim._core.errors import ConfigurationError
from imageshim._frontends.gateway import create_app, store_s3
from imageshim._frontends.gateway.app import make_store
from imageshim._frontends.gateway.store import Stored, StoreFull, StoreUnavailable
from imageshim._frontends.gateway.store_s3 import S3Store
from imageshim_adapters.mock.images import make_image

PNG = make_image(8, 8, "s3")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>'
OWNER = "owner-hash"
OTHER = "other-hash"
TTL = 60.0
SECRET = "s3-secret-DO-NOT-LEAK-7f3a9c1e5b"
ACCESS_KEY = "AKIAIMAGESHIMTEST01"
FAST = Config(connect_timeout=1, read_timeout=0.5, retries={"mode": "standard", "total_max_attempts": 1})
GENERATE = {"model": "gpt-image-2", "prompt": "an otter", "response_format": "url"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Dummy credentials; no profile files and no instance metadata: nothing outside the test is asked."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _client(endpoint: str, config: Config | None = None) -> Any:
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


@pytest.fixture(scope="module")
def admin(endpoint: str) -> Iterator[Any]:
    """A client of the tests' own (credentials of its own: made once), to look behind the store's back."""
    client = boto3.session.Session(
        aws_access_key_id="admin", aws_secret_access_key="admin", region_name="us-east-1"
    ).client("s3", endpoint_url=endpoint)
    yield client
    client.close()


@pytest.fixture
def bucket(admin: Any) -> str:
    name = f"imageshim-{uuid.uuid4().hex[:12]}"
    admin.create_bucket(Bucket=name)
    return name


@pytest.fixture
def stores(endpoint: str, bucket: str) -> Iterator[Callable[..., S3Store]]:
    made: list[S3Store] = []

    def make(**options: Any) -> S3Store:
        options.setdefault("bucket", bucket)
        options.setdefault("ttl_seconds", TTL)
        if "client" not in options:
            options.setdefault("endpoint", endpoint)
        made.append(S3Store(**options))
        return made[-1]

    yield make
    for store in made:
        store.close()


def _keys(admin: Any, bucket: str) -> set[str]:
    return {item["Key"] for item in admin.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _calls(client: Any, operation: str = "*") -> list[str]:
    """The operations ``client`` sends from now on (botocore's event hooks: no server involved)."""
    seen: list[str] = []
    client.meta.events.register(
        f"before-call.s3.{operation}", lambda model, **_: seen.append(model.name), unique_id=str(uuid.uuid4())
    )
    return seen


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: a connection to it is refused


@contextlib.contextmanager
def _silent_server() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


# ----- put, open, link --------------------------------------------------------------------------------


def test_an_image_put_by_one_replica_is_served_by_another(
    stores: Callable[..., S3Store], admin: Any, bucket: str
) -> None:
    wall = 1_900_000_000.25
    one, two = stores(wall=lambda: wall), stores(wall=lambda: wall)
    stored = one.put(OWNER, PNG, "image/png")
    assert stored.name.endswith(".png")
    assert stored.size == len(PNG)
    assert stored.expires_at == float(int(wall + TTL))
    head = admin.head_object(Bucket=bucket, Key="imageshim/" + stored.name)
    assert head["ContentType"] == "image/png"
    assert head["Metadata"] == {"owner": OWNER, "expires-at": str(int(wall + TTL))}
    for replica in (one, two):
        found = replica.open(stored.name)
        assert found is not None
        assert found == (stored, PNG)
    # the byte caps count what this replica stored: the bucket is the shared capacity
    assert one.bytes_used() == len(PNG)
    assert two.bytes_used() == 0
    assert one.link(stored, "http://gw") == f"http://gw/v1/imageshim/images/{stored.name}"


def test_an_image_expires_by_its_metadata_on_the_wall_clock(stores: Callable[..., S3Store]) -> None:
    wall = [1_900_000_000.0]
    writer, reader = stores(wall=lambda: wall[0]), stores(wall=lambda: wall[0])
    stored = writer.put(OWNER, PNG, "image/png")
    wall[0] += TTL - 1
    assert reader.open(stored.name) == (stored, PNG)
    wall[0] += 1
    assert reader.open(stored.name) is None
    assert writer.open(stored.name) is None


def test_unknown_and_foreign_objects_are_not_served(
    stores: Callable[..., S3Store], admin: Any, bucket: str
) -> None:
    store = stores()
    name = "A" * 32 + ".png"
    assert store.open(name) is None  # NoSuchKey
    admin.put_object(Bucket=bucket, Key="imageshim/" + name, Body=PNG, ContentType="image/png")
    assert store.open(name) is None  # no expires-at: not an image of this store
    other = "B" * 32 + ".png"
    admin.put_object(
        Bucket=bucket,
        Key="imageshim/" + other,
        Body=PNG,
        ContentType="text/html",
        Metadata={"expires-at": str(int(time.time() + TTL))},
    )
    assert store.open(other) is None  # a media type that is not the name's


def test_invalid_names_never_reach_the_server(endpoint: str, stores: Callable[..., S3Store]) -> None:
    client = _client(endpoint)
    store = stores(client=client)
    sent = _calls(client)
    for name in ("../x.png", "/etc/passwd", "a.png", "A" * 32 + ".exe", "A" * 32 + ".png\x00", "", "A" * 33):
        assert store.open(name) is None
    assert sent == []


# ----- sweeps -----------------------------------------------------------------------------------------


def test_a_sweep_deletes_expired_images_and_keeps_the_rest(
    stores: Callable[..., S3Store], admin: Any, bucket: str
) -> None:
    shift = [0.0]
    now = [0.0]
    store = stores(wall=lambda: time.time() + shift[0], now=lambda: now[0])
    old = store.put(OWNER, PNG, "image/png")
    old_modified = admin.head_object(Bucket=bucket, Key="imageshim/" + old.name)["LastModified"].timestamp()
    deadline = time.monotonic() + 3
    while time.time() < old_modified + 1.05 and time.monotonic() < deadline:  # LastModified: whole seconds
        time.sleep(0.05)
    fresh = store.put(OWNER, PNG, "image/png")
    fresh_modified = admin.head_object(Bucket=bucket, Key="imageshim/" + fresh.name)["LastModified"]
    assert fresh_modified.timestamp() >= old_modified + 1
    for key in ("imageshim/notes.txt", "imageshim/sub/" + "C" * 32 + ".png", "other/" + "D" * 32 + ".png"):
        admin.put_object(Bucket=bucket, Key=key, Body=b"not ours")
    # the wall clock half a second past the old image's TTL: the fresh one, a second younger, stays
    shift[0] = old_modified + TTL + 0.5 - time.time()
    assert store.sweep() == 1
    assert _keys(admin, bucket) == {
        "imageshim/" + fresh.name,
        "imageshim/notes.txt",
        "imageshim/sub/" + "C" * 32 + ".png",
        "other/" + "D" * 32 + ".png",
    }
    assert store.bytes_used() == 2 * len(PNG)  # the ledger runs on the monotonic clock
    now[0] = TTL
    assert store.sweep() == 0
    assert store.bytes_used() == 0


def test_a_sweep_pages_through_the_listing_and_deletes_in_batches(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, stores: Callable[..., S3Store], admin: Any, bucket: str
) -> None:
    monkeypatch.setattr(store_s3, "_DELETE_BATCH", 2)
    monkeypatch.setattr(store_s3, "_LIST_PAGE", 2)
    client = _client(endpoint)
    shift = [0.0]
    store = stores(client=client, wall=lambda: time.time() + shift[0])
    for _ in range(5):
        store.put(OWNER, PNG, "image/png")
    sent = _calls(client)
    shift[0] = TTL + 5
    assert store.sweep() == 5
    assert sent.count("ListObjectsV2") == 3
    assert sent.count("DeleteObjects") == 3
    assert _keys(admin, bucket) == set()


def test_a_sweep_that_fails_logs_a_warning_and_deletes_nothing(
    stores: Callable[..., S3Store], caplog: pytest.LogCaptureFixture
) -> None:
    store = stores(bucket="imageshim-no-such-bucket")
    with caplog.at_level("WARNING", logger="imageshim"):
        assert store.sweep() == 0
    assert [r.getMessage() for r in caplog.records if r.name == "imageshim"] == [
        "hosted images: sweeping the object store failed: NoSuchBucket"
    ]


# ----- shares -----------------------------------------------------------------------------------------


def test_a_full_share_refuses_its_owner_only(stores: Callable[..., S3Store], admin: Any, bucket: str) -> None:
    store = stores(max_bytes_per_key=2 * len(PNG), max_bytes=10 * len(PNG))
    store.put(OWNER, PNG, "image/png")
    store.put(OWNER, PNG, "image/png")
    assert store.room(OWNER) == TTL
    with pytest.raises(StoreFull, match="this client's share is full") as full:
        store.put(OWNER, PNG, "image/png")
    assert full.value.retry_after == TTL
    assert store.room(OTHER) is None
    store.put(OTHER, PNG, "image/png")
    assert len(_keys(admin, bucket)) == 3  # the refused image was never sent
    assert store.bytes_used() == 3 * len(PNG)


# ----- presigned URLs ---------------------------------------------------------------------------------


def test_a_presigned_link_is_fetched_from_the_object_store(
    endpoint: str, stores: Callable[..., S3Store], bucket: str
) -> None:
    store = stores(presigned=True)
    stored = store.put(OWNER, PNG, "image/png")
    url = store.link(stored, "http://gw")
    assert url.startswith(f"{endpoint}/{bucket}/imageshim/{stored.name}?")  # path-style
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert f"X-Amz-Expires={int(TTL)}" in url
    assert ACCESS_KEY in url  # a presigned URL names the key ID (in X-Amz-Credential), never the secret
    assert SECRET not in url
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.content == PNG


def test_a_presigned_svg_is_an_attachment(stores: Callable[..., S3Store]) -> None:
    store = stores(presigned=True)
    stored = store.put(OWNER, SVG, "image/svg+xml")
    fetched = httpx.get(store.link(stored, "http://gw"))
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/svg+xml"
    assert fetched.headers["content-disposition"] == "attachment"
    assert fetched.content == SVG


def test_without_credentials_to_sign_the_link_is_the_gateways(
    monkeypatch: pytest.MonkeyPatch, stores: Callable[..., S3Store], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = stores(presigned=True)
    stored = Stored("A" * 32 + ".png", "image/png", len(PNG), time.time() + TTL)
    with caplog.at_level("WARNING", logger="imageshim"):
        assert store.link(stored, "http://gw") == f"http://gw/v1/imageshim/images/{stored.name}"
    assert [r.getMessage() for r in caplog.records if r.name == "imageshim"] == [
        "hosted images: a presigned URL could not be made: NoCredentialsError"
    ]


# ----- an object store that cannot be reached ---------------------------------------------------------


def _assert_clean(exc: BaseException, caplog: pytest.LogCaptureFixture, *hidden: str) -> None:
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (SECRET, *hidden):
        assert text not in str(exc)
        assert text not in repr(exc)
        assert text not in logged


def test_a_refused_connection_fails_fast_and_says_only_what_kind(
    closed_port: int, stores: Callable[..., S3Store], caplog: pytest.LogCaptureFixture
) -> None:
    address = f"http://127.0.0.1:{closed_port}"
    store = stores(client=_client(address, FAST), max_bytes_per_key=len(PNG))
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="imageshim"), pytest.raises(StoreFull) as full:
        store.put(OWNER, PNG, "image/png")
    assert time.monotonic() - started < 5
    assert full.value.message == "the object store is unreachable: EndpointConnectionError"
    assert full.value.retry_after == 5
    assert store.room(OWNER) is None  # the reservation was released
    assert store.bytes_used() == 0
    with caplog.at_level("WARNING", logger="imageshim"), pytest.raises(StoreUnavailable) as unavailable:
        store.open("A" * 32 + ".png")
    assert unavailable.value.message == "the object store cannot be reached: EndpointConnectionError"
    for exc in (full.value, unavailable.value):
        _assert_clean(exc, caplog, str(closed_port), "A" * 32)


def test_a_server_that_never_answers_times_out(stores: Callable[..., S3Store]) -> None:
    with _silent_server() as address:
        store = stores(client=_client(address, FAST))
        started = time.monotonic()
        with pytest.raises(StoreFull, match="unreachable: ReadTimeoutError"):
            store.put(OWNER, PNG, "image/png")
        with pytest.raises(StoreUnavailable, match="cannot be reached: ReadTimeoutError"):
            store.open("A" * 32 + ".png")
        assert time.monotonic() - started < 5


def test_errors_name_the_s3_code_and_never_the_credentials(
    stores: Callable[..., S3Store], caplog: pytest.LogCaptureFixture
) -> None:
    store = stores(bucket="imageshim-no-such-bucket")
    with caplog.at_level("WARNING", logger="imageshim"):
        with pytest.raises(StoreFull) as full:
            store.put(OWNER, PNG, "image/png")
        with pytest.raises(StoreUnavailable) as unavailable:  # a missing bucket is a fault, not a 404
            store.open("A" * 32 + ".png")
    assert full.value.message == "the object store is unreachable: NoSuchBucket"
    assert unavailable.value.message == "the object store cannot be reached: NoSuchBucket"
    for exc in (full.value, unavailable.value):
        _assert_clean(exc, caplog, ACCESS_KEY)


def test_missing_credentials_are_a_kind_of_failure_too(
    monkeypatch: pytest.MonkeyPatch, stores: Callable[..., S3Store]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreFull, match=r"unreachable: NoCredentialsError$"):
        stores().put(OWNER, PNG, "image/png")


# ----- construction and configuration -----------------------------------------------------------------


def test_the_client_has_bounded_timeouts_and_retries(stores: Callable[..., S3Store]) -> None:
    config = stores()._client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (5, 30)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert config.signature_version == "s3v4"
    assert config.s3 == {"addressing_style": "path"}
    assert config.request_checksum_calculation == "when_required"


def test_without_boto3_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'imageshim\[s3\]'") as error:
        S3Store(bucket="imageshim-any")
    assert error.value.key == "gateway.store"


@pytest.mark.parametrize(
    ("gateway", "key"),
    [
        ({"store": "s3"}, "gateway.s3_bucket"),
        ({"urls": "presigned"}, "gateway.urls"),
        ({"store": "file", "urls": "presigned"}, "gateway.urls"),
    ],
)
def test_make_store_refuses_an_incomplete_s3_setup(gateway: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        make_store(load_config({"gateway": gateway}).gateway)
    assert error.value.key == key


def test_make_store_builds_the_s3_store(endpoint: str, bucket: str) -> None:
    policy = load_config(
        {
            "gateway": {
                "store": "s3",
                "s3_bucket": bucket,
                "s3_prefix": "shim/",
                "s3_endpoint": endpoint,
                "urls": "presigned",
                "ttl_seconds": 120,
            }
        }
    ).gateway
    store = make_store(policy)
    try:
        assert isinstance(store, S3Store)
        assert (store.bucket, store.prefix, store.presigned, store.ttl_seconds) == (
            bucket,
            "shim/",
            True,
            120,
        )
    finally:
        store.close()


# ----- through the gateway ----------------------------------------------------------------------------


def _config(bucket: str, endpoint: str, **gateway: Any) -> dict[str, Any]:
    settings = {"store": "s3", "s3_bucket": bucket, "s3_endpoint": endpoint, **gateway}
    return {"routes": {"*": ["mock:gpt-image-2"]}, "gateway": settings}


def test_the_gateway_serves_hosted_images_from_the_bucket(
    endpoint: str, bucket: str, admin: Any, clock: Any
) -> None:
    with TestClient(create_app(_config(bucket, endpoint), keys=[], clock=clock)) as client:
        reply = client.post("/v1/images/generations", json=GENERATE)
        assert reply.status_code == 200, reply.text
        url = reply.json()["data"][0]["url"]
        assert url.startswith("http://testserver/v1/imageshim/images/")
        assert _keys(admin, bucket) == {"imageshim/" + url.rpartition("/")[2]}
        image = client.get(url)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gateway_hands_out_presigned_urls(endpoint: str, bucket: str, clock: Any) -> None:
    config = _config(bucket, endpoint, urls="presigned")
    with TestClient(create_app(config, keys=[], clock=clock)) as client:
        reply = client.post("/v1/images/generations", json=GENERATE)
    assert reply.status_code == 200, reply.text
    url = reply.json()["data"][0]["url"]
    assert url.startswith(f"{endpoint}/{bucket}/imageshim/")
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unreachable_bucket_means_inline_images_and_503_for_hosted_urls(
    closed_port: int, stores: Callable[..., S3Store], clock: Any
) -> None:
    store = stores(client=_client(f"http://127.0.0.1:{closed_port}", FAST))
    config = {"routes": {"*": ["mock:gpt-image-2"]}}
    with TestClient(create_app(config, keys=[], clock=clock, store=store)) as client:
        reply = client.post("/v1/images/generations", json=GENERATE)
        hosted = client.get("/v1/imageshim/images/" + "A" * 32 + ".png")
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"][0]["url"].startswith("data:image/png;base64,")  # paid for: never dropped
    messages = [w["message"] for w in json.loads(reply.headers["x-imageshim-warnings"])]
    assert any("the object store is unreachable: EndpointConnectionError" in m for m in messages), messages
    assert hosted.status_code == 503
    assert hosted.headers["retry-after"] == "5"
    assert hosted.headers["x-should-retry"] == "true"
    assert hosted.json()["error"]["code"] == "store_unavailable"
    assert SECRET not in reply.text + hosted.text
