"""The diff stage as one continuous stream of records, optionally running ahead in a thread.

The runner wants every selected commit's record, in order, and cuts the stream into chunks
itself; how the diffs are produced is this module's business. Commits are diffed in segments
(one capped ``git diff-tree`` per segment, so git's memory never grows with the walk).

With ``workers`` >= 2 a producer thread keeps git busy ahead of the consumer: it reads git's
output in large blocks into a queue bounded in bytes (the schedule's in-flight share), starting
the next segment's git as soon as the previous one finishes, so git keeps working while the
analyzers consume, hibernate and boot. The thread does no parsing (that would only fight the
consumer for the GIL); reading a pipe releases the GIL. With one worker git is read directly.
This module does not parse (``diff.py``) nor choose commits (``walk.py``).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Generator

from gitstream.git.diff import DiffStage
from gitstream.git.walk import CommitList, CommitMeta
from gitstream.records import CommitRecord

_BLOCK = 1 << 20
MIN_PREFETCH_BYTES = 4 << 20


def diff_stream(
    stage: DiffStage,
    commits: CommitList,
    *,
    segment: int,
    workers: int = 1,
    max_buffer_bytes: int = 64 << 20,
) -> Generator[CommitRecord, None, None]:
    """Every commit's record, oldest first, diffed ``segment`` commits per git process."""
    bounds = [(s, min(s + segment, len(commits))) for s in range(0, len(commits), segment)]
    if workers < 2:
        for start, end in bounds:
            yield from stage.records(commits.range(start, end))
        return
    producer = _Producer(stage, commits, bounds, max(MIN_PREFETCH_BYTES, max_buffer_bytes))
    producer.start()
    try:
        for i, (start, end) in enumerate(bounds):
            metas = list(commits.range(start, end))
            yield from stage.parse(_SegmentReader(producer, i), metas)
        producer.join()
    finally:
        producer.stop()


class _Producer:
    """Reads each segment's git output into a byte-bounded queue, segment after segment."""

    def __init__(
        self,
        stage: DiffStage,
        commits: CommitList,
        bounds: list[tuple[int, int]],
        limit: int,
    ) -> None:
        self.stage = stage
        self.commits = commits
        self.bounds = bounds
        self.limit = limit
        self.queue: collections.deque[tuple[int, bytes | BaseException | None]] = (
            collections.deque()
        )
        self.buffered = 0
        self.peak_buffered = 0
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="gitstream-diff-prefetch")
        self.thread.daemon = True

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.thread.join()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.thread.join()

    def _put(self, seg: int, item: bytes | BaseException | None) -> bool:
        size = len(item) if isinstance(item, bytes) else 0
        with self.cond:
            while not self.stopping and size and self.buffered + size > self.limit and self.queue:
                self.cond.wait()
            if self.stopping:
                return False
            self.queue.append((seg, item))
            self.buffered += size
            self.peak_buffered = max(self.peak_buffered, self.buffered)
            self.cond.notify_all()
            return True

    def take(self, seg: int) -> bytes | None:
        """The next block of segment ``seg``; None at its end. Re-raises the producer's error."""
        with self.cond:
            while not self.queue:
                self.cond.wait()
            got_seg, item = self.queue.popleft()
            if isinstance(item, bytes):
                self.buffered -= len(item)
            self.cond.notify_all()
        if isinstance(item, BaseException):
            raise item
        if got_seg != seg:  # pragma: no cover - the queue is strictly ordered
            raise RuntimeError(f"prefetch out of order: segment {got_seg}, expected {seg}")
        return item

    def _run(self) -> None:
        try:
            for i, (start, end) in enumerate(self.bounds):
                metas: list[CommitMeta] = list(self.commits.range(start, end))
                with self.stage.spawn(metas) as out:
                    read = out.read1
                    while True:
                        data = read(_BLOCK)
                        if not data:
                            break
                        if not self._put(i, data):
                            return
                if not self._put(i, None):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(-1, exc)


class _SegmentReader:
    """A file-like view of one segment's blocks, for :meth:`DiffStage.parse`."""

    def __init__(self, producer: _Producer, seg: int) -> None:
        self.producer = producer
        self.seg = seg
        self.done = False

    def read1(self, n: int = -1) -> bytes:
        if self.done:
            return b""
        block = self.producer.take(self.seg)
        if block is None:
            self.done = True
            return b""
        return block

    read = read1
