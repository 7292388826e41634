"""Spill files: zstd frames with content checksums in a private directory, never pickle.

A :class:`SpillStore` owns one directory (mode 0700) created under ``--spill-dir`` or the system
temp dir; :meth:`SpillStore.namespace` hands each analyzer a sub-store of its own. Values are
bytes, JSON documents (:meth:`write_json`), or streams of length-prefixed records for sorted
aggregator runs (:meth:`open_records` / :meth:`read_records`). Every file is one or more zstd
frames written with a content checksum, so a truncated or altered file is reported as a
:class:`~gitstream.errors.SpillError` when read back rather than yielding wrong numbers.

:class:`SpillCleanupGuard` removes the directory exactly once: on normal exit, on an error, and
on SIGINT/SIGTERM (then the process exits 130/143). This module does not decide *when* to
spill; the runner and the analyzers do.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, cast

import zstandard

from gitstream.errors import SpillError

_LEVEL = 3  # zstd's default: 200-400 MB/s on one core, ~3-5x on analyzer state
_LEN = struct.Struct("<I")
_END = 0xFFFFFFFF  # length value that marks the end of a record stream
_READ_BLOCK = 1 << 12  # compressed bytes a step: bounds the decompressed buffer of a run


@contextlib.contextmanager
def _mapped(action: str, path: Path) -> Iterator[None]:
    """Turn zstd and OS errors about ``path`` into SpillError naming the action."""
    try:
        yield
    except zstandard.ZstdError as exc:
        raise SpillError(f"spill file {path} is corrupted ({action}: {exc})") from exc
    except OSError as exc:
        raise SpillError(
            f"cannot {action} spill file {path}: {exc.strerror or exc} "
            "(free disk space or point --spill-dir elsewhere)"
        ) from exc


class RecordWriter:
    """Appends length-prefixed byte records to one compressed spill file."""

    def __init__(self, path: Path, raw: IO[bytes] | _CountingFile) -> None:
        self._path = path
        self._raw = raw
        # A 128 KiB window (not level 3's 2 MiB) keeps each open reader of a k-way merge at
        # ~0.6 MiB instead of ~2.4 MiB, at the same ratio on sorted runs (measured).
        params = zstandard.ZstdCompressionParameters.from_level(
            _LEVEL, window_log=17, write_checksum=True
        )
        cctx = zstandard.ZstdCompressor(compression_params=params)
        self._sink = cctx.stream_writer(cast(IO[bytes], raw), closefd=False)
        self.records = 0

    def write(self, record: bytes) -> None:
        if len(record) >= _END:
            raise SpillError(f"a record of {len(record)} bytes is too large for {self._path}")
        with _mapped("write", self._path):
            self._sink.write(_LEN.pack(len(record)))
            self._sink.write(record)
        self.records += 1

    def close(self) -> None:
        with _mapped("write", self._path):
            self._sink.write(_LEN.pack(_END))
            self._sink.close()  # type: ignore[no-untyped-call]  # zstandard's stub lacks it
            self._raw.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SpillStore:
    """A private directory of zstd-compressed spill files, keyed by simple names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bytes_written = 0

    @classmethod
    def create(cls, parent: str | os.PathLike[str] | None = None) -> SpillStore:
        """Make a fresh private (0700) directory under ``parent`` or the system temp dir."""
        try:
            if parent is not None:
                Path(parent).mkdir(parents=True, exist_ok=True)
            root = Path(tempfile.mkdtemp(prefix="gitstream-spill-", dir=parent))
            root.chmod(0o700)
        except OSError as exc:
            raise SpillError(f"cannot create a spill directory under {parent}: {exc}") from exc
        return cls(root)

    def namespace(self, name: str) -> SpillStore:
        """A sub-store for one analyzer; its bytes count towards this store's total too."""
        sub = _ChildStore(self.root / _safe(name), self)
        sub.root.mkdir(mode=0o700, exist_ok=True)
        return sub

    def path(self, key: str) -> Path:
        return self.root / f"{_safe(key)}.zst"

    def count_written(self, n: int) -> None:
        """Add ``n`` bytes to the total; for files an analyzer writes under :attr:`root` itself."""
        self.bytes_written += n

    def write_bytes(self, key: str, data: bytes) -> int:
        """Write ``data`` as one checksummed frame; returns the compressed size."""
        path = self.path(key)
        frame = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True).compress(data)
        tmp = path.with_suffix(".tmp")
        with _mapped("write", path):
            tmp.write_bytes(frame)
            tmp.replace(path)
        self.count_written(len(frame))
        return len(frame)

    def read_bytes(self, key: str) -> bytes:
        path = self.path(key)
        with _mapped("read", path):
            # One-shot decompression checks the frame is whole and its checksum matches.
            return zstandard.ZstdDecompressor().decompress(path.read_bytes())

    def write_json(self, key: str, obj: Any) -> int:
        return self.write_bytes(key, json.dumps(obj, separators=(",", ":")).encode())

    def read_json(self, key: str) -> Any:
        data = self.read_bytes(key)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise SpillError(f"spill file {self.path(key)} is corrupted: {exc}") from exc

    def open_records(self, key: str) -> RecordWriter:
        """A writer of length-prefixed records, for sorted runs read back as a stream."""
        path = self.path(key)
        with _mapped("create", path):
            raw = path.open("wb")
        writer = RecordWriter(path, _CountingFile(raw, self))
        return writer

    def read_records(self, key: str) -> Iterator[bytes]:
        """Yield the records of ``key`` one at a time, holding only a small buffer.

        zstd's stream reader stops quietly at a cut frame, so the file is fed to a
        decompression object by hand: the run must end with the end marker *and* a complete
        frame (whose content checksum zstd then verifies), or it is reported as damaged.
        """
        path = self.path(key)
        with _mapped("read", path), path.open("rb") as fh:
            dobj = zstandard.ZstdDecompressor().decompressobj()
            buf = bytearray()
            pos = 0
            ended = False
            while True:
                raw = fh.read(_READ_BLOCK)
                if raw:
                    if dobj.eof:
                        raise SpillError(f"spill file {path} has data after its end")
                    buf += dobj.decompress(raw)
                while not ended and len(buf) - pos >= _LEN.size:
                    (n,) = _LEN.unpack_from(buf, pos)
                    if n == _END:
                        ended = True
                        pos += _LEN.size
                        break
                    if len(buf) - pos - _LEN.size < n:
                        break
                    start = pos + _LEN.size
                    yield bytes(buf[start : start + n])
                    pos = start + n
                if pos > _READ_BLOCK:
                    del buf[:pos]
                    pos = 0
                if not raw:
                    break
            if not (ended and dobj.eof and pos == len(buf)):
                raise SpillError(f"spill file {path} is truncated")

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def remove(self) -> None:
        """Delete the whole directory; safe to call more than once."""
        shutil.rmtree(self.root, ignore_errors=True)


class _ChildStore(SpillStore):
    def __init__(self, root: Path, parent: SpillStore) -> None:
        super().__init__(root)
        self._parent = parent

    def count_written(self, n: int) -> None:
        super().count_written(n)
        self._parent.count_written(n)


class _CountingFile:
    """A write-only file wrapper that adds what it writes to a store's byte count."""

    def __init__(self, raw: IO[bytes], store: SpillStore) -> None:
        self._raw = raw
        self._store = store

    def write(self, data: bytes) -> int:
        n = self._raw.write(data)
        self._store.count_written(n)
        return n

    def flush(self) -> None:
        self._raw.flush()

    def close(self) -> None:
        self._raw.close()

    @property
    def closed(self) -> bool:
        return self._raw.closed


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


class SpillCleanupGuard:
    """Removes a spill store once: on exit of the ``with`` block, or on SIGINT/SIGTERM.

    On a signal the directory is removed and the process exits with 128 + the signal number
    (130 for SIGINT, 143 for SIGTERM). Handlers are installed only from the main thread and
    the previous ones are restored on exit.
    """

    def __init__(self, store: SpillStore) -> None:
        self._store = store
        self._done = False
        self._lock = threading.Lock()
        self._previous: dict[int, Any] = {}

    def cleanup(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._store.remove()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.cleanup()
        # os._exit: the interpreter may be deep inside a C call holding a git pipe; exiting at
        # once with the conventional code is what a shell and a CI runner expect.
        os._exit(128 + signum)

    def __enter__(self) -> SpillCleanupGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
