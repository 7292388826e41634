"""Measuring and giving back memory: process-tree RSS, pressure levels, peak sampling.

The budget covers the whole process tree (the main process, git subprocesses, prefetch
workers, libgit2's native caches), so the one honest figure is the operating system's resident
set size summed over a process and all its descendants (:func:`process_tree_rss`). Python's
own allocator statistics miss native memory entirely. Pages shared between processes (a
forked worker's copy-on-write pages) are counted once per process, so the sum errs high,
which is the safe side for a promise.

:func:`pressure` grades a measurement against the budget (WARNING at 80%, CRITICAL at 90%);
:func:`release_native_memory` runs the collector and asks glibc to return freed heap pages to
the system; :class:`PeakSampler` keeps the highest tree RSS seen by a background thread, for
benchmarks and the run's ``peak_rss_bytes``. This module only measures and releases; what to
do under pressure (hibernate early, fail with ``BudgetExceeded``) is the runner's decision.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import functools
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import psutil

__all__ = [
    "CRITICAL_FRACTION",
    "WARNING_FRACTION",
    "MemorySnapshot",
    "PeakSampler",
    "PressureLevel",
    "physical_memory",
    "pressure",
    "process_tree_rss",
    "release_native_memory",
]

WARNING_FRACTION = 0.80
"""Share of the budget at which memory use is worth a warning."""
CRITICAL_FRACTION = 0.90
"""Share of the budget at which memory must be given back before going on."""


def physical_memory() -> int:
    """The machine's RAM in bytes: what an unlimited budget is bounded by all the same."""
    return int(psutil.virtual_memory().total)


def process_tree_rss(pid: int | None = None) -> int:
    """Resident bytes of process ``pid`` (default: this one) plus all its descendants.

    Descendants that exit, turn zombie or cannot be read while the tree is walked are skipped;
    a ``pid`` that does not exist (or cannot be read) raises ProcessLookupError
    (PermissionError).
    """
    if _PROC_CHILDREN:
        try:
            return _proc_tree_rss(os.getpid() if pid is None else pid)
        except _ProcUnavailable:
            pass
    return _psutil_tree_rss(pid)


class _ProcUnavailable(Exception):
    """The /proc fast path cannot answer; psutil takes over."""


def _proc_children_supported() -> bool:
    return sys.platform.startswith("linux") and os.path.exists(
        f"/proc/{os.getpid()}/task/{os.getpid()}/children"
    )


_PROC_CHILDREN = _proc_children_supported()
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _proc_tree_rss(root: int) -> int:
    # psutil finds children by scanning every process on the machine (ppid_map): measured at
    # ~8 ms a call, which made it the largest cost of a run sampled every few commits. The
    # kernel's per-thread ``children`` lists answer the same question in a few reads.
    total = 0
    stack = [root]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
            tasks = os.listdir(f"/proc/{p}/task")
        except (FileNotFoundError, ProcessLookupError) as exc:
            if p == root:
                raise ProcessLookupError(f"no process with pid {root}") from exc
            continue
        except PermissionError as exc:
            raise _ProcUnavailable from exc
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children", "rb") as fh:
                    stack.extend(int(c) for c in fh.read().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
    return total


def _psutil_tree_rss(pid: int | None) -> int:
    try:
        root = psutil.Process(pid)
        total = root.memory_info().rss
        children = root.children(recursive=True)
    except psutil.NoSuchProcess as exc:
        raise ProcessLookupError(f"no process with pid {pid}") from exc
    except psutil.AccessDenied as exc:
        raise PermissionError(f"cannot read the memory of process {pid}") from exc
    for child in children:
        try:
            total += child.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess is a NoSuchProcess
            continue
    return total


class PressureLevel(enum.Enum):
    """How close memory use is to the budget."""

    NONE = "none"
    WARNING = "warning"
    CRITICAL = "critical"


def pressure(rss: int, budget: int | None) -> PressureLevel:
    """The level of ``rss`` against ``budget``; always NONE without a budget."""
    if budget is None:
        return PressureLevel.NONE
    if rss >= CRITICAL_FRACTION * budget:
        return PressureLevel.CRITICAL
    if rss >= WARNING_FRACTION * budget:
        return PressureLevel.WARNING
    return PressureLevel.NONE


@dataclass(frozen=True, slots=True)
class MemorySnapshot:
    """One measurement of the process tree against the budget (None: unlimited)."""

    rss_bytes: int
    budget_bytes: int | None
    taken_at: float
    """``time.monotonic()`` when it was taken."""

    @classmethod
    def take(cls, budget_bytes: int | None, pid: int | None = None) -> MemorySnapshot:
        """Measure now."""
        return cls(process_tree_rss(pid), budget_bytes, time.monotonic())

    @property
    def level(self) -> PressureLevel:
        """The pressure level of this measurement."""
        return pressure(self.rss_bytes, self.budget_bytes)

    @property
    def used_pct(self) -> float | None:
        """RSS as a percentage of the budget; None when unlimited."""
        if self.budget_bytes is None:
            return None
        return 100.0 * self.rss_bytes / self.budget_bytes


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # glibc keeps freed heap pages mapped; malloc_trim(0) returns them. Other C libraries
    # (musl, macOS, Windows) either lack it or return memory on their own.
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The C library is already loaded: look it up among this process's own symbols rather
        # than with ctypes.util.find_library, which forks /sbin/ldconfig at start-up.
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_native_memory() -> bool:
    """Collect garbage, then give freed C heap back to the system; True if malloc_trim ran."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


class PeakSampler:
    """A daemon thread sampling :func:`process_tree_rss` every ``interval_ms`` and keeping the peak.

    Use it as a context manager (or :meth:`start` / :meth:`stop`). A sample is also taken on
    start and on stop, so even a short block is measured. If the watched process disappears
    the thread stops and the peak so far stays.
    """

    def __init__(self, interval_ms: float = 50, pid: int | None = None) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {interval_ms}")
        self.interval_ms = interval_ms
        self.pid = pid
        self._peak = 0
        self._samples = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def peak_bytes(self) -> int:
        """The highest tree RSS sampled so far."""
        with self._lock:
            return self._peak

    @property
    def samples(self) -> int:
        """How many samples were taken."""
        with self._lock:
            return self._samples

    def sample(self) -> int:
        """Measure now, update the peak and return the measurement."""
        rss = process_tree_rss(self.pid)
        with self._lock:
            self._samples += 1
            self._peak = max(self._peak, rss)
        return rss

    def start(self) -> None:
        """Take a first sample and start the thread."""
        if self._thread is not None:
            raise RuntimeError("PeakSampler already started")
        self.sample()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="gitstream-peak-sampler", daemon=True
        )
        self._thread.start()

    def stop(self) -> int:
        """Stop the thread, take a last sample and return the peak."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()
            # The watched process may be gone; its peak was recorded while it lived.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.sample()
        return self.peak_bytes

    def _run(self) -> None:
        while not self._stop.wait(self.interval_ms / 1000):
            try:
                self.sample()
            except (ProcessLookupError, PermissionError):
                return

    def __enter__(self) -> PeakSampler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
