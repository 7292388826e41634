"""SpillStore and SpillCleanupGuard: round trips, privacy, damage detection, byte accounting.

Damaged files are made by hand (one flipped bit, a cut tail) and must come back as
:class:`~gitstream.errors.SpillError`, never as wrong values. Cleanup on SIGINT/SIGTERM is
tested against the real CLI in ``test_signals.py``.
"""

from __future__ import annotations

import random
import signal
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from gitstream.errors import SpillError
from gitstream.streaming.spill import SpillCleanupGuard, SpillStore

PAYLOAD = b"".join(b"line %d of a spilled state\n" % i for i in range(2000))


def _records(seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    records = [rng.randbytes(rng.randrange(0, 300)) for _ in range(200)]
    return [b"", *records, PAYLOAD]


@pytest.fixture
def store(tmp_path: Path) -> SpillStore:
    """A fresh store under the test's temporary directory."""
    return SpillStore.create(tmp_path)


def _write_records(store: SpillStore, key: str, records: list[bytes]) -> None:
    with store.open_records(key) as writer:
        for record in records:
            writer.write(record)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x00", PAYLOAD], ids=["empty", "one-byte", "large"])
def test_bytes_round_trip(store: SpillStore, data: bytes) -> None:
    """read_bytes returns exactly what write_bytes wrote, and the size it reports is on disk."""
    size = store.write_bytes("state", data)
    assert store.read_bytes("state") == data
    assert store.path("state").stat().st_size == size


def test_json_round_trip(store: SpillStore) -> None:
    """A JSON document with nesting, non-ASCII text and big ints comes back equal."""
    doc: dict[str, Any] = {
        "people": {"0": [1, 2, 3], "17": []},
        "name": "Zoë Ünïcode ✓",
        "big": 2**63 - 1,
        "nested": [[0, -1], {"x": None, "y": True, "z": 1.5}],
    }
    store.write_json("doc", doc)
    assert store.read_json("doc") == doc


def test_record_stream_round_trip(store: SpillStore) -> None:
    """Records, empty and large ones included, are read back in order and counted."""
    records = _records()
    with store.open_records("run") as writer:
        for record in records:
            writer.write(record)
    assert writer.records == len(records)
    assert list(store.read_records("run")) == records


def test_empty_record_stream(store: SpillStore) -> None:
    """A stream with no records reads back as no records, not as a truncated file."""
    _write_records(store, "run", [])
    assert list(store.read_records("run")) == []


def test_overwrite_replaces_value(store: SpillStore) -> None:
    """Writing a key again replaces its value and leaves no temporary file behind."""
    store.write_bytes("k", b"first")
    store.write_bytes("k", b"second")
    assert store.read_bytes("k") == b"second"
    assert sorted(p.name for p in store.root.iterdir()) == ["k.zst"]


def test_exists_and_delete(store: SpillStore) -> None:
    """delete removes a key (and is a no-op for a missing one); exists follows."""
    store.write_json("k", [1])
    assert store.exists("k")
    store.delete("k")
    store.delete("k")
    assert not store.exists("k")


def test_missing_key_is_spill_error(store: SpillStore) -> None:
    """Reading a key never written is a SpillError naming the file, not a bare OSError."""
    with pytest.raises(SpillError, match="never-written"):
        store.read_bytes("never-written")


def test_files_are_checksummed_zstd(store: SpillStore) -> None:
    """Every spill file is a zstd frame that carries a content checksum (no pickle, no raw)."""
    store.write_json("doc", {"a": 1})
    _write_records(store, "run", [b"x"])
    for key in ("doc", "run"):
        params = zstandard.get_frame_parameters(store.path(key).read_bytes())
        assert params.has_checksum, key


def test_keys_cannot_escape_the_directory(store: SpillStore) -> None:
    """Keys and namespace names with path separators stay inside the store's directory."""
    store.write_bytes("../../outside", b"x")
    sub = store.namespace("../up")
    sub.write_bytes("k", b"y")
    root = store.root.resolve()
    for path in (store.path("../../outside"), sub.path("k")):
        assert root in path.resolve().parents
    assert store.read_bytes("../../outside") == b"x"


# -- the private directory ---------------------------------------------------------------------


def test_directory_is_private(tmp_path: Path) -> None:
    """The store's directory, and each namespace's, is mode 0700 under the given parent."""
    store = SpillStore.create(tmp_path / "not" / "yet")
    assert store.root.parent == tmp_path / "not" / "yet"
    assert store.root.name.startswith("gitstream-spill-")
    assert _mode(store.root) == 0o700
    assert _mode(store.namespace("devs").root) == 0o700


def test_each_store_gets_its_own_directory(tmp_path: Path) -> None:
    """Two stores created under the same parent never share a directory."""
    assert SpillStore.create(tmp_path).root != SpillStore.create(tmp_path).root


def test_unusable_parent_is_spill_error(tmp_path: Path) -> None:
    """A parent that is a regular file cannot hold a spill directory: SpillError, not OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SpillError, match="spill directory"):
        SpillStore.create(blocker)


# -- damaged files ---------------------------------------------------------------------------------

Reader = Callable[[SpillStore, str], object]


def _read_bytes(store: SpillStore, key: str) -> object:
    return store.read_bytes(key)


def _read_records(store: SpillStore, key: str) -> object:
    return list(store.read_records(key))


def _write(store: SpillStore, kind: str) -> None:
    if kind == "bytes":
        store.write_bytes("k", PAYLOAD)
    else:
        _write_records(store, "k", _records())


READERS: dict[str, Reader] = {"bytes": _read_bytes, "records": _read_records}


def _cases(positions: list[str]) -> list[Any]:
    cases = []
    for kind in READERS:
        for where in positions:
            cases.append(pytest.param(kind, where, id=f"{kind}-{where}"))
    return cases


def _offset(size: int, where: str) -> int:
    return {"first": 0, "middle": size // 2, "last": size - 1}[where]


@pytest.mark.parametrize(("kind", "where"), _cases(["first", "middle", "last"]))
def test_flipped_bit_is_spill_error(store: SpillStore, kind: str, where: str) -> None:
    """A file with one bit flipped is reported as corrupted when read back."""
    _write(store, kind)
    path = store.path("k")
    data = bytearray(path.read_bytes())
    data[_offset(len(data), where)] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(SpillError, match=r"corrupted|truncated"):
        READERS[kind](store, "k")


@pytest.mark.parametrize(("kind", "where"), _cases(["first", "middle", "last"]))
def test_truncated_file_is_spill_error(store: SpillStore, kind: str, where: str) -> None:
    """A file cut short (to nothing, to half, or by its last byte) is an error when read."""
    _write(store, kind)
    path = store.path("k")
    data = path.read_bytes()
    path.write_bytes(data[: _offset(len(data), where)])
    with pytest.raises(SpillError, match=r"corrupted|truncated"):
        READERS[kind](store, "k")


def test_bad_json_is_spill_error(store: SpillStore) -> None:
    """A well-formed frame whose content is not JSON is a SpillError from read_json."""
    store.write_bytes("doc", b"{not json")
    with pytest.raises(SpillError, match="corrupted"):
        store.read_json("doc")


# -- accounting --------------------------------------------------------------------------------


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_namespace_bytes_count_towards_parents(store: SpillStore) -> None:
    """Bytes a namespace writes count in its own total and in every enclosing store's."""
    devs = store.namespace("devs")
    nested = devs.namespace("runs")
    other = store.namespace("other")
    n_top = store.write_bytes("top", PAYLOAD)
    n_devs = devs.write_json("state", {"x": list(range(100))})
    _write_records(nested, "run-0", _records())
    n_run = nested.path("run-0").stat().st_size
    n_other = other.write_bytes("x", b"abc")
    assert nested.bytes_written == n_run
    assert devs.bytes_written == n_devs + n_run
    assert other.bytes_written == n_other
    assert store.bytes_written == n_top + n_devs + n_run + n_other
    assert store.bytes_written == _disk_bytes(store.root)


def test_bytes_written_is_cumulative(store: SpillStore) -> None:
    """Rewriting or deleting a key does not lower bytes_written: it counts bytes written."""
    first = store.write_bytes("k", PAYLOAD)
    second = store.write_bytes("k", PAYLOAD[:100])
    store.delete("k")
    assert store.bytes_written == first + second


# -- the cleanup guard ---------------------------------------------------------------------------


def test_guard_removes_directory_on_normal_exit(store: SpillStore) -> None:
    """Leaving the guarded block removes the store's directory with everything in it."""
    with SpillCleanupGuard(store):
        store.namespace("devs").write_json("state", [1, 2])
        assert store.root.exists()
    assert not store.root.exists()


def test_guard_removes_directory_on_exception(store: SpillStore) -> None:
    """An exception leaving the guarded block still removes the directory and propagates."""
    with pytest.raises(ZeroDivisionError), SpillCleanupGuard(store):
        store.write_bytes("k", b"x")
        _ = 1 / 0
    assert not store.root.exists()


def test_guard_cleanup_is_idempotent(store: SpillStore) -> None:
    """Cleaning up twice (a signal during exit) is harmless."""
    guard = SpillCleanupGuard(store)
    with guard:
        guard.cleanup()
        assert not store.root.exists()
    guard.cleanup()
    assert not store.root.exists()


def test_guard_restores_signal_handlers(store: SpillStore) -> None:
    """Inside the block SIGINT/SIGTERM are handled by the guard; afterwards the old ones are back."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with SpillCleanupGuard(store):
        for sig, handler in before.items():
            assert signal.getsignal(sig) is not handler
    assert {sig: signal.getsignal(sig) for sig in before} == before
