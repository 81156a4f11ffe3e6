"""The gateway's hosted-image stores: an image stays until its TTL and no client can push out another's;
full shares and a full store say when room is expected; names are the only way in; the file store
survives restarts and never leaves a half-written image behind. Clocks are injected: nothing sleeps."""

from __future__ import annotations

import concurrent.futures
import errno
import json
import math
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from imageshim._core.media import MEDIA_EXTENSIONS
from imageshim._frontends.gateway.store import FileStore, MemoryStore, Stored, StoreFull, is_name

WALL0 = 1_800_000_000.0  # the wall clock when the monotonic test clock reads 0
TTL = 100.0
PNG = "image/png"


class Clock:
    """A monotonic clock the test moves, and the wall clock that goes with it."""

    def __init__(self, wall_at_zero: float = WALL0) -> None:
        self.t = 0.0
        self.wall_at_zero = wall_at_zero

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.wall_at_zero + self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


Store = MemoryStore | FileStore


@pytest.fixture
def clock() -> Clock:  # shadows the conftest's date clock: these stores want seconds
    return Clock()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "hosted"


@pytest.fixture(params=["memory", "file"])
def make(request: pytest.FixtureRequest, clock: Clock, directory: Path) -> Callable[..., Store]:
    """``make(**limits)``: a store of either kind on the test clock (TTL 100 s unless given)."""

    def factory(**options: Any) -> Store:
        options = {"ttl_seconds": TTL, "now": clock, "wall": clock.wall, **options}
        if request.param == "memory":
            return MemoryStore(**options)
        return FileStore(directory, **options)

    return factory


def content(found: tuple[Stored, bytes | Path] | None) -> bytes:
    assert found is not None
    payload = found[1]
    return payload.read_bytes() if isinstance(payload, Path) else payload


def files(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


# -- names


@pytest.mark.parametrize(("media_type", "ext"), sorted(MEDIA_EXTENSIONS.items()))
def test_names_are_random_tokens_with_the_extension_of_the_media_type(
    make: Callable[..., Store], media_type: str, ext: str
) -> None:
    store = make()
    names = {store.put("a", b"x", media_type).name for _ in range(20)}
    assert len(names) == 20
    for name in names:
        token, _, suffix = name.partition(".")
        assert suffix == ext
        assert len(token) == 32
        assert is_name(name)
        found = store.open(name)
        assert found is not None
        assert found[0].media_type == media_type


def test_the_extension_table_has_the_hosted_types() -> None:
    assert set(MEDIA_EXTENSIONS.values()) >= {"png", "jpg", "webp", "gif", "svg"}


def test_a_media_type_that_is_not_hosted_is_refused(make: Callable[..., Store]) -> None:
    store = make()
    with pytest.raises(ValueError, match="text/html"):
        store.put("a", b"<html>", "text/html")
    assert store.bytes_used() == 0
    assert store.room("a") is None


BAD_NAMES = [
    "",
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "/" + "a" * 32 + ".png",
    "a" * 32 + ".png\x00",
    "a" * 31 + "\x00.png",
    "a" * 32 + ".png\n",
    "a" * 31 + ".png",
    "a" * 33 + ".png",
    "a" * 32 + ".PNG",
    "a" * 32 + ".json",
    "a" * 32 + ".png.json",
    "a" * 32 + ".html",
    "a" * 32,
    "a" * 30 + "/." + ".png",
    "a" * 29 + "/.." + ".png",
    "a" * 31 + "é.png",
    "a" * 31 + "٣.png",  # a digit, but not an ASCII one
    ".tmp-" + "a" * 27 + ".png",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_not_of_the_exact_form_are_refused(make: Callable[..., Store], name: str) -> None:
    store = make()
    store.put("a", b"x", PNG)
    assert not is_name(name)
    assert store.open(name) is None


def test_open_refuses_a_traversal_to_an_existing_file(clock: Clock, tmp_path: Path) -> None:
    (tmp_path / "secret.png").write_bytes(b"secret")
    store = FileStore(tmp_path / "hosted", now=clock, wall=clock.wall)
    assert store.open("../secret.png") is None
    assert store.open(str(tmp_path / "secret.png")) is None


def test_a_file_store_serves_only_what_it_indexed(clock: Clock, directory: Path) -> None:
    store = FileStore(directory, now=clock, wall=clock.wall)
    planted = "b" * 32 + ".png"
    (directory / planted).write_bytes(b"planted")
    assert store.open(planted) is None


@pytest.mark.parametrize("value", [None, 1, b"a" * 32 + b".png"])
def test_is_name_refuses_what_is_not_a_string(value: object) -> None:
    assert not is_name(value)


# -- put, open, expiry


def test_put_then_open(make: Callable[..., Store], clock: Clock) -> None:
    store = make()
    clock.advance(5)
    stored = store.put("a", b"image bytes", PNG)
    assert stored.media_type == PNG
    assert stored.size == len(b"image bytes")
    assert stored.expires_at == WALL0 + 5 + TTL
    found = store.open(stored.name)
    assert found is not None
    assert found[0] == stored
    assert content(found) == b"image bytes"
    assert store.bytes_used() == len(b"image bytes")


def test_an_image_lives_exactly_its_ttl(make: Callable[..., Store], clock: Clock) -> None:
    store = make()
    stored = store.put("a", b"12345", PNG)
    clock.advance(TTL - 0.001)
    assert content(store.open(stored.name)) == b"12345"
    assert store.bytes_used() == 5
    clock.advance(0.001)
    assert store.open(stored.name) is None
    assert store.bytes_used() == 0


def test_unknown_names_are_none(make: Callable[..., Store]) -> None:
    assert make().open("c" * 32 + ".png") is None


def test_sweep_drops_expired_images_and_counts_them(make: Callable[..., Store], clock: Clock) -> None:
    store = make()
    first = [store.put("a", b"1", PNG), store.put("b", b"22", PNG)]
    clock.advance(50)
    later = store.put("a", b"333", PNG)
    assert store.sweep() == 0
    clock.advance(50)
    assert store.sweep() == 2
    assert store.sweep() == 0
    assert all(store.open(stored.name) is None for stored in first)
    assert content(store.open(later.name)) == b"333"
    clock.advance(50)
    assert store.sweep() == 1


def test_expired_images_are_dropped_without_a_sweep(make: Callable[..., Store], clock: Clock) -> None:
    store = make(max_bytes_per_key=10)
    store.put("a", b"x" * 10, PNG)
    with pytest.raises(StoreFull):
        store.put("a", b"y", PNG)
    clock.advance(TTL)
    store.put("a", b"y" * 10, PNG)  # the put itself made room: the first image has expired
    assert store.bytes_used() == 10
    assert store.sweep() == 0


def test_ttl_seconds_is_the_protocol_attribute(make: Callable[..., Store]) -> None:
    assert make(ttl_seconds=60.0).ttl_seconds == 60.0


def test_close_keeps_the_images(make: Callable[..., Store]) -> None:
    store = make()
    stored = store.put("a", b"kept", PNG)
    store.close()
    assert content(store.open(stored.name)) == b"kept"
    assert store.bytes_used() == 4


@pytest.mark.parametrize(
    "options",
    [
        {"ttl_seconds": 0},
        {"ttl_seconds": -1},
        {"ttl_seconds": float("nan")},
        {"max_bytes": 0},
        {"max_bytes_per_key": 0},
    ],
)
def test_nonsense_limits_are_refused(make: Callable[..., Store], options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        make(**options)


# -- fairness and limits


def test_one_owner_filling_its_share_cannot_push_out_or_block_another(
    make: Callable[..., Store], clock: Clock
) -> None:
    store = make(max_bytes_per_key=100, max_bytes=1000)
    victim = store.put("b", b"b" * 50, PNG)
    for _ in range(10):
        store.put("a", b"a" * 10, PNG)
    assert store.room("a") == TTL
    for _ in range(50):  # the burst: every one refused, nothing of b's touched
        with pytest.raises(StoreFull, match="share is full") as refused:
            store.put("a", b"a" * 10, PNG)
        assert refused.value.retry_after == math.ceil(TTL - clock.t)  # a's first image, put at 0
        clock.advance(0.1)
    assert content(store.open(victim.name)) == b"b" * 50
    assert store.room("b") is None
    store.put("b", b"b" * 50, PNG)
    assert store.bytes_used() == 200


def test_a_full_store_refuses_everyone_until_anyones_images_expire(
    make: Callable[..., Store], clock: Clock
) -> None:
    store = make(max_bytes_per_key=60, max_bytes=100)
    store.put("a", b"a" * 40, PNG)
    clock.advance(10)
    store.put("b", b"b" * 40, PNG)
    clock.advance(10)
    store.put("c", b"c" * 20, PNG)
    assert store.bytes_used() == 100
    assert store.room("d") == 80  # d has no image yet, so 1 byte: a's image, the first to expire, at 100
    with pytest.raises(StoreFull, match="store is full") as refused:
        store.put("d", b"d" * 50, PNG)
    assert refused.value.retry_after == 90  # a's and b's must go: b's expires at 110
    assert store.room("d") == 90  # the refused image sets the size of d's next one: 50 bytes
    clock.advance(80)
    assert store.room("d") == 10  # a's 40 bytes are gone, but 60 + 50 > 100 until b's expire
    assert store.room("c") is None  # c's next image is 20 bytes: 80 of 100
    clock.advance(10)
    assert store.room("d") is None  # 20 + 50 of 100
    store.put("d", b"d" * 50, PNG)


def test_retry_after_counts_the_owners_images_that_must_expire(
    make: Callable[..., Store], clock: Clock
) -> None:
    store = make(max_bytes_per_key=10, max_bytes=1000)
    store.put("a", b"1234", PNG)  # expires at 100
    clock.advance(10)
    store.put("a", b"5678", PNG)  # expires at 110
    clock.advance(10)
    assert store.room("a") == 80  # 8 of 10, and another 4 bytes are 2 too many: the first image must expire
    with pytest.raises(StoreFull) as first:
        store.put("a", b"x" * 4, PNG)  # as room said
    assert first.value.retry_after == 80
    with pytest.raises(StoreFull) as both:
        store.put("a", b"x" * 9, PNG)  # 7 too many: both must expire
    assert both.value.retry_after == 90
    assert store.room("a") == 90  # the next image is expected to be 9 bytes, like the refused one
    store.put("a", b"xy", PNG)  # 10 of 10: fits exactly
    assert store.room("a") == 80  # another 2 bytes: the first image must expire
    clock.advance(79.5)
    assert store.room("a") == 1  # half a second, rounded up
    clock.advance(0.4)
    assert store.room("a") == 1  # never less than a second
    clock.advance(0.1)
    assert store.room("a") is None


def test_room_refuses_an_owner_below_its_share_when_an_image_of_the_last_size_would_not_fit(
    make: Callable[..., Store], clock: Clock
) -> None:
    store = make(max_bytes_per_key=10, max_bytes=1000)
    store.put("a", b"x" * 4, PNG)  # expires at 100
    assert store.room("a") is None  # 4 + 4 of 10
    clock.advance(10)
    store.put("a", b"x" * 4, PNG)  # expires at 110
    assert store.bytes_used() == 8  # below the share of 10, but another 4 bytes would be 12
    assert store.room("a") == 90  # the image that expires at 100 must go first
    with pytest.raises(StoreFull) as refused:  # room would have spared this paid image
        store.put("a", b"x" * 4, PNG)
    assert refused.value.retry_after == 90
    clock.advance(89.5)
    assert store.room("a") == 1
    clock.advance(0.5)  # the first image expires: 4 + 4 of 10
    assert store.room("a") is None


def test_room_expects_the_last_image_size_not_the_largest(make: Callable[..., Store], clock: Clock) -> None:
    store = make(max_bytes_per_key=10, max_bytes=1000)
    store.put("a", b"x" * 3, PNG)  # expires at 100
    clock.advance(10)
    store.put("a", b"x" * 6, PNG)  # expires at 110
    assert store.room("a") == 100  # 9 + 6 of 10: both must expire, the second at 110
    store.put("a", b"x", PNG)  # 10 of 10, fits although room refused: room only predicts
    assert store.room("a") == 90  # now 1 byte: the first image (3 bytes) frees enough
    clock.advance(90)
    assert store.room("a") is None  # 7 + 1 of 10


def test_an_owner_with_no_image_yet_needs_one_byte(make: Callable[..., Store], clock: Clock) -> None:
    store = make(max_bytes_per_key=50, max_bytes=50)
    store.put("b", b"b" * 30, PNG)  # expires at 100
    clock.advance(10)
    store.put("b", b"b" * 19, PNG)  # expires at 110: 49 of 50
    assert store.room("a") is None  # 1 byte fits
    assert store.room("a", 2) == 90  # 1 byte each: the store must free 1 byte, at 100
    assert store.room("b") == 90  # b's own next image, 19 bytes: its 30-byte image must expire
    store.put("a", b"a", PNG)  # 50 of 50
    assert store.room("a") == 90
    assert store.room("c") == 90


def test_images_multiplies_the_last_size(make: Callable[..., Store], clock: Clock) -> None:
    store = make(max_bytes_per_key=20, max_bytes=30)
    store.put("a", b"a" * 5, PNG)  # expires at 100
    clock.advance(10)
    assert store.room("a", 3) is None  # 5 + 15 of 20: fits exactly
    assert store.room("a", 4) == 90  # 5 + 20 of 20: a's image must expire
    store.put("b", b"b" * 12, PNG)  # 17 of the store's 30, expires at 110
    assert store.room("a", 2) is None  # 17 + 10 of 30
    assert store.room("a", 3) == 90  # 17 + 15 of 30: a's image frees enough of the store
    clock.advance(10)
    assert store.room("a", 4) == 90  # a's share is free at 100, the store only at 110
    clock.advance(90)
    assert store.room("a", 4) is None  # nothing held: 20 of 20 and of 30
    assert store.room("a", 5) == TTL  # 25 bytes never fit a share of 20: the TTL is the hint


def test_an_empty_last_image_still_needs_one_byte(make: Callable[..., Store]) -> None:
    store = make(max_bytes_per_key=10, max_bytes=10)
    store.put("b", b"b" * 10, PNG)
    store.put("a", b"", PNG)  # 0 bytes fit a full store
    assert store.room("a") == TTL  # but the next image is counted as 1 byte: b's must expire
    assert store.room("a", 3) == TTL


def test_an_image_too_large_for_any_room_does_not_set_the_next_size(
    make: Callable[..., Store], clock: Clock
) -> None:
    store = make(max_bytes_per_key=10, max_bytes=100)
    store.put("a", b"a" * 3, PNG)
    with pytest.raises(StoreFull, match="larger than"):
        store.put("a", b"a" * 11, PNG)
    assert store.room("a") is None  # still 3 + 3: an 11-byte image would never fit, however long
    assert store.room("a", 2) is None  # 3 + 6 of 10
    assert store.room("a", 3) == TTL  # 3 + 9 of 10: a's image must expire
    clock.advance(TTL)
    assert store.room("a", 3) is None  # nothing held: 9 of 10
    with pytest.raises(StoreFull, match="larger than"):
        store.put("b", b"b" * 11, PNG)
    assert store.room("b") is None  # an owner with no image yet: 1 byte


def test_both_limits_full_waits_for_the_later(make: Callable[..., Store], clock: Clock) -> None:
    store = make(max_bytes_per_key=10, max_bytes=15)
    store.put("b", b"b" * 5, PNG)  # expires at 100
    clock.advance(20)
    store.put("a", b"a" * 10, PNG)  # expires at 120
    with pytest.raises(StoreFull, match=r"share is full.* and the store is full") as refused:
        store.put("a", b"a", PNG)
    assert refused.value.retry_after == 100  # a's share frees at 120 (in 100 s), the store at 100
    assert store.room("a") == 100
    assert store.room("b") == 80


@pytest.mark.parametrize(
    ("options", "whose"),
    [({"max_bytes_per_key": 10, "max_bytes": 100}, "a client's share"), ({"max_bytes": 10}, "the store")],
)
def test_an_image_larger_than_the_limit_itself_is_refused_with_the_ttl(
    make: Callable[..., Store], options: dict[str, int], whose: str
) -> None:
    store = make(**options)
    with pytest.raises(StoreFull, match=f"larger than {whose}") as refused:
        store.put("a", b"x" * 11, PNG)
    assert refused.value.retry_after == TTL
    assert refused.value.message == str(refused.value)
    assert store.bytes_used() == 0
    assert store.room("a") is None
    store.put("a", b"x" * 10, PNG)


def test_a_fractional_ttl_is_rounded_up_for_the_too_large_hint(make: Callable[..., Store]) -> None:
    with pytest.raises(StoreFull) as refused:
        make(ttl_seconds=0.25, max_bytes_per_key=1).put("a", b"xx", PNG)
    assert refused.value.retry_after == 1


def test_empty_images_are_held_and_expire(make: Callable[..., Store], clock: Clock) -> None:
    store = make(max_bytes_per_key=1)
    stored = store.put("a", b"", PNG)
    assert content(store.open(stored.name)) == b""
    assert store.bytes_used() == 0
    clock.advance(TTL)
    assert store.sweep() == 1


@pytest.mark.parametrize(
    ("options", "held"),
    [
        ({"max_bytes_per_key": 370, "max_bytes": 10_000}, 3 * 370),
        ({"max_bytes_per_key": 10_000, "max_bytes": 68 * 37}, 68 * 37),
    ],
)
def test_concurrent_puts_never_overfill_a_share_or_the_store(
    make: Callable[..., Store], options: dict[str, int], held: int
) -> None:
    store = make(**options)

    def put(index: int) -> int:
        try:
            return store.put("abc"[index % 3], b"x" * 37, PNG).size
        except StoreFull:
            return 0

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(put, range(300))) == held  # 10 images per owner, or 68 in all
    assert store.bytes_used() == held
    for owner in "abc":
        assert store.room(owner) is not None


# -- the file store


def test_a_file_store_writes_private_files_atomically(clock: Clock, tmp_path: Path) -> None:
    directory = tmp_path / "new" / "hosted"
    store = FileStore(directory, now=clock, wall=clock.wall)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    stored = store.put("a" * 12, b"\x89PNG bytes", PNG)
    assert files(directory) == {stored.name, stored.name + ".json"}
    for name in files(directory):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    found = store.open(stored.name)
    assert found is not None
    assert found[1] == directory.resolve() / stored.name
    assert found[1].is_absolute()
    assert json.loads((directory / (stored.name + ".json")).read_text()) == {
        "owner": "a" * 12,
        "media_type": PNG,
        "size": 10,
        "expires_at": WALL0 + 3600,  # the default TTL
    }


def test_a_file_store_deletes_expired_files_lazily(clock: Clock, directory: Path) -> None:
    store = FileStore(directory, ttl_seconds=TTL, now=clock, wall=clock.wall)
    old = store.put("a", b"old", PNG)
    clock.advance(TTL)
    new = store.put("a", b"new", PNG)
    assert files(directory) == {new.name, new.name + ".json"}
    assert store.open(old.name) is None


def test_a_restart_keeps_live_images_and_their_accounting(clock: Clock, directory: Path) -> None:
    options: dict[str, Any] = {"ttl_seconds": TTL, "max_bytes_per_key": 10, "now": clock, "wall": clock.wall}
    store = FileStore(directory, **options)
    old = store.put("c", b"c" * 4, PNG)  # expires at 100
    clock.advance(30)
    kept = {  # expire at 130
        store.put("a", b"a" * 6, "image/webp"): b"a" * 6,
        store.put("a", b"A" * 4, "image/jpeg"): b"A" * 4,
        store.put("b", b"b" * 3, "image/gif"): b"b" * 3,
    }
    store.close()

    boot = Clock(wall_at_zero=WALL0 + 110)  # the monotonic clock starts again; the wall clock goes on
    restarted = FileStore(directory, **{**options, "now": boot, "wall": boot.wall})
    assert restarted.open(old.name) is None
    assert files(directory) == {name for stored in kept for name in (stored.name, stored.name + ".json")}
    assert restarted.bytes_used() == 13
    for stored, data in kept.items():
        found = restarted.open(stored.name)
        assert found is not None
        assert found[0] == stored
        assert content(found) == data
    assert restarted.room("a") == 20  # a's 10 bytes fill its share: they expire 20 s from now
    with pytest.raises(StoreFull, match="share is full") as refused:
        restarted.put("a", b"a", PNG)
    assert refused.value.retry_after == 20
    assert restarted.room("b") is None
    assert restarted.room("c") is None
    boot.advance(19.5)
    assert all(restarted.open(stored.name) is not None for stored in kept)
    boot.advance(0.5)
    assert all(restarted.open(stored.name) is None for stored in kept)
    assert restarted.bytes_used() == 0
    assert files(directory) == set()


def test_a_restart_deletes_what_a_crash_left_behind(clock: Clock, directory: Path) -> None:
    store = FileStore(directory, now=clock, wall=clock.wall)
    good = store.put("a", b"good", PNG)
    images = [store.put("a", b"image %d" % index, PNG) for index in range(7)]
    torn, orphan, no_image, not_json, wrong_type, bad_owner, wrong_kind = (stored.name for stored in images)
    (directory / torn).write_bytes(b"ima")  # cut short: the size no longer matches
    (directory / (orphan + ".json")).unlink()  # the sidecar never made it
    (directory / no_image).unlink()
    (directory / (not_json + ".json")).write_bytes(b"{not json")
    _edit_sidecar(directory / (wrong_type + ".json"), media_type="image/jpeg")  # a .png name
    _edit_sidecar(directory / (bad_owner + ".json"), owner=7)
    (directory / wrong_kind).unlink()
    (directory / wrong_kind).mkdir()  # not a regular file
    (directory / ".tmp-abandoned").write_bytes(b"half")
    (directory / "README.txt").write_text("the operator's own file")

    restarted = FileStore(directory, now=clock, wall=clock.wall)
    assert files(directory) == {good.name, good.name + ".json", "README.txt", wrong_kind}
    assert restarted.bytes_used() == 4
    assert content(restarted.open(good.name)) == b"good"
    for stored in images:
        assert restarted.open(stored.name) is None


def _edit_sidecar(path: Path, **changes: object) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("garbage", [b"[]", b"null", b"\xff\xfe", json.dumps({"size": True}).encode()])
def test_a_restart_survives_any_sidecar(clock: Clock, directory: Path, garbage: bytes) -> None:
    stored = FileStore(directory, now=clock, wall=clock.wall).put("a", b"x", PNG)
    (directory / (stored.name + ".json")).write_bytes(garbage)
    restarted = FileStore(directory, now=clock, wall=clock.wall)
    assert restarted.bytes_used() == 0
    assert files(directory) == set()


def test_a_wall_clock_set_back_does_not_stretch_an_image_beyond_one_ttl(
    clock: Clock, directory: Path
) -> None:
    stored = FileStore(directory, ttl_seconds=TTL, now=clock, wall=clock.wall).put("a", b"x", PNG)
    restarted = FileStore(directory, ttl_seconds=TTL, now=clock, wall=lambda: WALL0 - 86400 + clock.t)
    found = restarted.open(stored.name)
    assert found is not None
    assert found[0].expires_at == WALL0 - 86400 + TTL
    clock.advance(TTL)
    assert restarted.open(stored.name) is None


def test_a_restart_with_lower_limits_keeps_everything_until_it_expires(clock: Clock, directory: Path) -> None:
    store = FileStore(directory, ttl_seconds=TTL, now=clock, wall=clock.wall)
    stored = store.put("a", b"x" * 50, PNG)
    restarted = FileStore(
        directory, ttl_seconds=TTL, max_bytes_per_key=20, max_bytes=40, now=clock, wall=clock.wall
    )
    assert content(restarted.open(stored.name)) == b"x" * 50
    assert restarted.room("a") == TTL
    assert restarted.room("b") == TTL
    clock.advance(TTL)
    assert restarted.room("a") is None


@pytest.fixture
def file_store(clock: Clock, directory: Path) -> FileStore:
    return FileStore(directory, ttl_seconds=TTL, now=clock, wall=clock.wall)


def _disk_full(*args: object) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_is_store_full_and_leaves_nothing_behind(
    file_store: FileStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(os, "write", _disk_full)
        with pytest.raises(StoreFull, match="No space left on device") as refused:
            file_store.put("a", b"x" * 10, PNG)
    assert refused.value.retry_after == 60
    assert isinstance(refused.value.__cause__, OSError)
    assert files(directory) == set()
    assert file_store.bytes_used() == 0
    assert file_store.room("a") is None
    stored = file_store.put("a", b"x" * 10, PNG)  # the reservation was given back
    assert content(file_store.open(stored.name)) == b"x" * 10


@pytest.mark.parametrize("failing_call", [1, 2])
def test_a_failed_rename_leaves_no_temporary_and_no_half_image(
    file_store: FileStore, directory: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    real_replace = os.replace
    calls: list[object] = []

    def replace(source: str, target: Path) -> None:
        calls.append(target)
        if len(calls) == failing_call:  # 1: the image, 2: its sidecar
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        real_replace(source, target)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace)
        with pytest.raises(StoreFull, match="Permission denied"):
            file_store.put("a", b"x" * 10, PNG)
    assert files(directory) == set()
    assert file_store.bytes_used() == 0


def test_a_directory_that_refuses_files_is_store_full(
    file_store: FileStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mkstemp(**options: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(directory))

    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", mkstemp)
        with pytest.raises(StoreFull, match="Permission denied") as refused:
            file_store.put("a", b"x", PNG)
    assert str(directory) not in refused.value.message
    assert file_store.bytes_used() == 0
    assert file_store.room("a") is None


def test_an_error_that_is_not_the_disks_passes_through_and_gives_back_the_room(
    file_store: FileStore, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> int:
        raise RuntimeError("boom")

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", broken)
        with pytest.raises(RuntimeError, match="boom"):
            file_store.put("a", b"x", PNG)
    assert files(directory) == set()
    assert file_store.room("a") is None


def test_the_file_store_module_can_be_imported_first() -> None:
    code = (
        "from imageshim._frontends.gateway.store_file import FileStore as A\n"
        "from imageshim._frontends.gateway.store import FileStore as B\n"
        "assert A is B\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- properties: random sequences against a model


OWNERS = st.sampled_from(["a", "b", "c"])
SHARE, TOTAL = 40, 100


class StoreModel(RuleBasedStateMachine):
    """Random puts, opens, rooms, sweeps and clock moves against a model of what must be held."""

    kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.temp = tempfile.TemporaryDirectory()
        self.directory = Path(self.temp.name) / "hosted"
        self.store = self.make()
        self.held: dict[str, tuple[str, bytes, float]] = {}  # name -> owner, bytes, expiry
        self.names: list[str] = []  # every name ever handed out
        #: owner -> the size of its last image that could fit at all (held or refused as full)
        self.last: dict[str, int] = {}

    def make(self) -> Store:
        options: dict[str, Any] = {"ttl_seconds": TTL, "max_bytes_per_key": SHARE, "max_bytes": TOTAL}
        options.update(now=self.clock, wall=self.clock.wall)
        return MemoryStore(**options) if self.kind == "memory" else FileStore(self.directory, **options)

    def teardown(self) -> None:
        self.store.close()
        self.temp.cleanup()

    def expired(self) -> list[str]:
        """What the store must drop at the next call: the model does the same."""
        gone = [name for name, (_, _, expires) in self.held.items() if expires <= self.clock.t]
        for name in gone:
            del self.held[name]
        return gone

    def used(self, owner: str | None = None) -> int:
        return sum(len(data) for who, data, _ in self.held.values() if owner in (None, who))

    def wait(self, owner: str, size: int) -> float | None:
        """None when ``size`` more bytes of ``owner`` fit; else the whole seconds (at least 1) until the
        earliest expiries free enough of its share and of the store; the TTL when no expiry ever does."""
        waits: list[float] = []
        for whose, limit in ((owner, SHARE), (None, TOTAL)):
            excess = self.used(whose) + size - limit
            if excess > 0:
                freed = 0
                for who, data, expires in sorted(self.held.values(), key=lambda held: held[2]):
                    if whose in (None, who):
                        freed += len(data)
                        if freed >= excess:
                            waits.append(max(1, math.ceil(expires - self.clock.t)))
                            break
                else:
                    waits.append(TTL)
        return max(waits) if waits else None

    def need(self, owner: str, images: int) -> int:
        """``images`` more images of the size of the owner's last one; 1 byte each before any."""
        return max(1, self.last.get(owner, 1) * images)

    @rule(owner=OWNERS, size=st.integers(0, 50), media_type=st.sampled_from(sorted(MEDIA_EXTENSIONS)))
    def put(self, owner: str, size: int, media_type: str) -> None:
        self.expired()
        data = (b"%d:" % len(self.names) * size)[:size]
        too_large = size > SHARE
        if not too_large:  # held or refused as full, it is what the owner's next image is expected to be
            self.last[owner] = size
        expected = TTL if too_large else self.wait(owner, size)
        if expected is not None:
            with pytest.raises(StoreFull) as refused:
                self.store.put(owner, data, media_type)
            assert refused.value.retry_after == expected
            return
        stored = self.store.put(owner, data, media_type)
        assert stored.expires_at == self.clock.wall() + TTL
        assert stored.name.endswith("." + MEDIA_EXTENSIONS[media_type])
        self.held[stored.name] = (owner, data, self.clock.t + TTL)
        self.names.append(stored.name)

    @precondition(lambda self: self.names)
    @rule(data=st.data())
    def open(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self.names))
        self.expired()
        found = self.store.open(name)
        if name in self.held:  # never lost before its expiry
            assert content(found) == self.held[name][1]
        else:  # never returned after it
            assert found is None

    @rule(owner=OWNERS, images=st.integers(1, 3))
    def room(self, owner: str, images: int) -> None:
        self.expired()
        assert self.store.room(owner, images) == self.wait(owner, self.need(owner, images))

    @rule(seconds=st.sampled_from([0, 0.5, 1, 10, 30, 50, 99, 99.5, 100, 101, 150]), sweep=st.booleans())
    def advance(self, seconds: float, sweep: bool) -> None:
        self.clock.advance(seconds)
        if sweep:
            assert self.store.sweep() == len(self.expired())

    @precondition(lambda self: self.kind == "file")
    @rule(reboot=st.booleans())
    def restart(self, reboot: bool) -> None:
        self.store.close()
        if reboot:  # the monotonic clock starts again; the wall clock goes on
            offset = self.clock.t
            self.held = {
                name: (who, data, expires - offset) for name, (who, data, expires) in self.held.items()
            }
            self.clock = Clock(wall_at_zero=self.clock.wall())
        self.store = self.make()
        self.last = {}  # not written down: after a restart an owner starts again at 1 byte an image

    @invariant()
    def accounting(self) -> None:
        self.expired()
        assert self.store.bytes_used() == self.used()
        if self.kind == "file":
            on_disk = files(self.directory)
            assert on_disk == {name for held in self.held for name in (held, held + ".json")}


class FileStoreModel(StoreModel):
    kind = "file"


TestMemoryStoreModel = StoreModel.TestCase
TestMemoryStoreModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestFileStoreModel = FileStoreModel.TestCase
TestFileStoreModel.settings = settings(max_examples=75, stateful_step_count=40, deadline=None)
