"""The diff stage as one continuous stream of records, optionally diffed by several gits at once.

The runner wants every selected commit's record, in order, and cuts the stream into chunks
itself; how the diffs are produced is this module's business. Commits are diffed in segments
(one capped ``git diff-tree`` per segment, so git's memory never grows with the walk).

With ``workers`` >= 2, up to ``workers`` segments are diffed at once, each by its own git
process, while the consumer parses the oldest one: git's diffing is what costs (it is the
floor the benchmarks measure), and separate processes spread it over the cores, where threads
in this process could not (the GIL). Each segment's output is read by a thread of its own into
a queue; the queues together are bounded in bytes (the schedule's in-flight share): a segment
ahead of the one being parsed waits when the bound is reached (its git then waits on its pipe),
while the segment being parsed never does, and a git started ahead runs at a lower CPU
priority (:data:`AHEAD_NICE`) than the one the parser waits on. The threads do no parsing
(that would only fight the consumer for the GIL); reading a pipe releases the GIL. With one
worker git is read directly. This module does not parse (``diff.py``) nor choose commits
(``walk.py``).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Generator

from gitstream.git.diff import DiffStage
from gitstream.git.repo import GIT_GROWTH_PER_COMMIT
from gitstream.git.walk import CommitList, CommitMeta
from gitstream.records import CommitRecord

_BLOCK = 1 << 20
_HANDOFF = 512 << 10
MIN_PREFETCH_BYTES = 4 << 20
MIN_PARALLEL_SEGMENT = 200
"""Below this many commits per segment, a git's start-up (~5-10 ms) is no longer negligible."""
AHEAD_NICE = 5
"""How much lower the CPU priority of a git started ahead of the segment being parsed is. The
parser waits on the head segment's git; an equal share for the git ahead of it slowed both on
two cores: all analyzers over the 20k benchmark history ran in 6.0 s with equal priorities,
5.4 s with this (nice 10 or 19: no better). A git keeps its priority when its segment becomes
the head (an unprivileged process cannot raise it again); it then competes with the parser
alone, or with gits as nice as itself."""
MIN_SEGMENT = 1000
MAX_SEGMENT = 16_000
"""Commits one git process diffs: at most this, and at most what a 32nd of the budget holds at
:data:`~gitstream.git.repo.GIT_GROWTH_PER_COMMIT` (git keeps every tree it has parsed, ~2 KB a
commit measured), so a fresh git per segment bounds its memory. Each fresh git maps the packs
and warms its delta cache again: ~0.1 s on the 20k history (one git for it all ran in 9.5 s,
six in 10.0 s)."""


def segment_size(total: int, workers: int, budget: int | None = None) -> int:
    """Commits per git process: as many as the budget allows, cut so ``workers`` gits share.

    With several workers the history is cut in one segment per worker (when the budget allows
    segments that long): every fresh git warms its delta base cache again, and on the 20k
    benchmark history, two gits with a 368 MiB cache each ran all analyzers in 7.8-8.5 s with
    one segment per worker, 9.0 s with four (and 15.8 s of CPU against 12.3 s). The segment
    being parsed is never the bottleneck's victim: the next git runs ahead into the bounded
    buffer and waits there. The segments do not follow the chunks: the runner cuts the record
    stream into chunks itself, and a git per chunk restarted 214 times over the 36k history
    under a 256 MiB budget.
    """
    size = MAX_SEGMENT
    if budget is not None:
        size = max(MIN_SEGMENT, min(size, budget // 32 // GIT_GROWTH_PER_COMMIT))
    if workers >= 2:
        size = min(size, max(MIN_PARALLEL_SEGMENT, -(-total // workers)))
    return max(1, min(size, total))


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
    producer = _Producer(stage, commits, bounds, max(MIN_PREFETCH_BYTES, max_buffer_bytes), workers)
    producer.start()
    try:
        for i, (start, end) in enumerate(bounds):
            metas = list(commits.range(start, end))
            yield from stage.parse(_SegmentReader(producer, i), metas)
            producer.finished(i)
    finally:
        producer.stop()


class _Stopped(Exception):
    """Raised inside a reader's git context when the consumer has gone: kill git at once."""


class _Producer:
    """Starts a git per segment, at most ``workers`` at a time, each read by its own thread."""

    def __init__(
        self,
        stage: DiffStage,
        commits: CommitList,
        bounds: list[tuple[int, int]],
        limit: int,
        workers: int,
    ) -> None:
        self.stage = stage
        self.commits = commits
        self.bounds = bounds
        self.limit = limit
        self.workers = workers
        self.queues: dict[int, collections.deque[bytes | BaseException | None]] = {}
        self.head = 0  # the segment the consumer is parsing
        self.running = 0  # gits started and not yet at the end of their output
        self.buffered = 0
        self.peak_buffered = 0
        self.cond = threading.Condition()
        self.stopping = False
        self.threads: list[threading.Thread] = []
        self.launcher = threading.Thread(target=self._launch, name="gitstream-diff-prefetch")
        self.launcher.daemon = True

    def start(self) -> None:
        self.launcher.start()

    def stop(self) -> None:
        """Stop every reader (killing its git) and wait for the threads to end."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.launcher.join()
        for thread in self.threads:
            thread.join()

    def finished(self, seg: int) -> None:
        """The consumer is done with ``seg``: the next segment becomes the head."""
        with self.cond:
            self.queues.pop(seg, None)
            self.head = seg + 1
            self.cond.notify_all()

    def _launch(self) -> None:
        # Start segments in order, one whenever fewer than `workers` gits are running.
        for i in range(len(self.bounds)):
            with self.cond:
                while not self.stopping and self.running >= self.workers:
                    self.cond.wait()
                if self.stopping:
                    return
                self.running += 1
                self.queues[i] = collections.deque()
                nice = 0 if i == self.head else AHEAD_NICE
            thread = threading.Thread(
                target=self._read, args=(i, nice), name=f"gitstream-diff-read-{i}", daemon=True
            )
            self.threads.append(thread)
            thread.start()

    def _put(self, seg: int, item: bytes | BaseException | None) -> None:
        size = len(item) if isinstance(item, bytes) else 0
        with self.cond:
            queue = self.queues[seg]
            # A segment ahead of the head waits for room; the head never waits on a queue the
            # consumer has emptied (it is waiting for exactly this block).
            while (
                not self.stopping
                and size
                and self.buffered + size > self.limit
                and (seg != self.head or queue)
            ):
                self.cond.wait()
            if self.stopping:
                raise _Stopped
            queue.append(item)
            self.buffered += size
            self.peak_buffered = max(self.peak_buffered, self.buffered)
            self.cond.notify_all()

    def _done_running(self) -> None:
        with self.cond:
            self.running -= 1
            self.cond.notify_all()

    def _read(self, seg: int, nice: int) -> None:
        start, end = self.bounds[seg]
        metas: list[CommitMeta] = list(self.commits.range(start, end))
        try:
            try:
                with self.stage.spawn(metas, nice=nice) as out:
                    read = out.read1
                    # git writes a few KiB at a time: hand its output on in larger pieces,
                    # with fewer wake-ups of the parser (join keeps a lone piece as it is)
                    pieces: list[bytes] = []
                    held = 0
                    while True:
                        data = read(_BLOCK)
                        pieces.append(data)
                        held += len(data)
                        if held >= _HANDOFF or not data:
                            if held:
                                self._put(seg, b"".join(pieces))
                            pieces, held = [], 0
                        if not data:
                            break
            finally:
                self._done_running()
            self._put(seg, None)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            try:
                self._put(seg, exc)
            except _Stopped:
                return

    def take(self, seg: int) -> bytes | None:
        """The next block of segment ``seg``; None at its end. Re-raises the reader's error."""
        with self.cond:
            while True:
                queue = self.queues.get(seg)
                if queue:
                    item = queue.popleft()
                    break
                self.cond.wait()
            if isinstance(item, bytes):
                self.buffered -= len(item)
            self.cond.notify_all()
        if isinstance(item, BaseException):
            raise item
        return item


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
