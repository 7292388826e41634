"""Tests for process-tree RSS, pressure levels and peak sampling (gitstream.streaming.memory).

These run on the real process and real child processes: the point of the module is what the
operating system reports, so nothing here is mocked.
"""

from __future__ import annotations

import gc
import platform
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator

import psutil
import pytest

from gitstream.streaming.memory import (
    MemorySnapshot,
    PeakSampler,
    PressureLevel,
    pressure,
    process_tree_rss,
    release_native_memory,
)

MiB = 1024 * 1024
ALLOC_MIB = 50

# Touches every page (bytes repetition writes them), says "ready", then waits for stdin to close.
ALLOCATE = (
    "import sys\n"
    f"data = bytes(range(256)) * ({ALLOC_MIB} * 1024 * 1024 // 256)\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)
# Runs ALLOCATE as a grandchild sharing this child's stdin and stdout.
NESTED = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {ALLOCATE!r}])\n"


def spawn(code: str) -> subprocess.Popen[str]:
    """Start ``python -c code`` and wait until it prints ready."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def finish(proc: subprocess.Popen[str]) -> None:
    """Let the child exit by closing its stdin, and reap it."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.wait(timeout=10)
    proc.stdout.close()


@pytest.fixture
def allocating_child() -> Iterator[subprocess.Popen[str]]:
    """A child process holding ~50 MiB of touched memory until the test ends."""
    proc = spawn(ALLOCATE)
    try:
        yield proc
    finally:
        finish(proc)


def test_own_process_rss_is_positive() -> None:
    """A process without children reports at least its own RSS."""
    own = psutil.Process().memory_info().rss
    assert process_tree_rss() >= own // 2 > 0


def test_child_memory_is_counted(allocating_child: subprocess.Popen[str]) -> None:
    """A child holding 50 MiB adds at least 50 MiB to this process's tree RSS."""
    own = psutil.Process().memory_info().rss
    assert process_tree_rss() - own >= ALLOC_MIB * MiB
    assert process_tree_rss(allocating_child.pid) >= ALLOC_MIB * MiB


def test_grandchild_memory_is_counted() -> None:
    """Descendants are summed recursively, not only direct children."""
    proc = spawn(NESTED)
    try:
        own = psutil.Process().memory_info().rss
        assert process_tree_rss() - own >= ALLOC_MIB * MiB
        assert process_tree_rss(proc.pid) >= ALLOC_MIB * MiB
    finally:
        finish(proc)


def test_zombie_child_is_skipped() -> None:
    """A child that exited but was not yet reaped does not break the walk."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        child = psutil.Process(proc.pid)
        deadline = time.monotonic() + 10
        while child.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process_tree_rss() > 0
    finally:
        proc.wait(timeout=10)


def test_missing_process_raises_lookup_error() -> None:
    """Asking for a process that has exited raises ProcessLookupError."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=10)
    with pytest.raises(ProcessLookupError):
        process_tree_rss(proc.pid)


@pytest.mark.parametrize(
    ("rss", "budget", "level"),
    [
        (0, 1000, PressureLevel.NONE),
        (799, 1000, PressureLevel.NONE),
        (800, 1000, PressureLevel.WARNING),
        (899, 1000, PressureLevel.WARNING),
        (900, 1000, PressureLevel.CRITICAL),
        (5000, 1000, PressureLevel.CRITICAL),
        (10**12, None, PressureLevel.NONE),
    ],
)
def test_pressure_levels(rss: int, budget: int | None, level: PressureLevel) -> None:
    """WARNING starts at 80% of the budget, CRITICAL at 90%, and no budget means NONE."""
    assert pressure(rss, budget) is level


def test_snapshot_against_budget() -> None:
    """A snapshot reports its level and the share of the budget used."""
    snap = MemorySnapshot(rss_bytes=900, budget_bytes=1000, taken_at=0.0)
    assert snap.level is PressureLevel.CRITICAL
    assert snap.used_pct == pytest.approx(90.0)


def test_snapshot_take_without_budget() -> None:
    """Taking a snapshot measures this process; unlimited gives no percentage."""
    snap = MemorySnapshot.take(None)
    assert snap.rss_bytes > 0
    assert snap.used_pct is None and snap.level is PressureLevel.NONE


def test_release_native_memory_collects_cycles() -> None:
    """release_native_memory runs the cycle collector."""

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    gc.disable()
    try:
        del a, b
        release_native_memory()
        assert ref() is None
    finally:
        gc.enable()


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
    reason="malloc_trim exists only in glibc",
)
def test_release_native_memory_trims_on_glibc() -> None:
    """On glibc, release_native_memory calls malloc_trim."""
    assert release_native_memory() is True


def sampler_threads() -> list[threading.Thread]:
    """Live sampler threads."""
    return [t for t in threading.enumerate() if t.name == "gitstream-peak-sampler"]


def test_peak_sampler_sees_a_short_allocation() -> None:
    """A 64 MiB block held for 150 ms shows in the peak after it is freed."""
    with PeakSampler(interval_ms=10) as sampler:
        baseline = process_tree_rss()
        block = b"\x01" * (64 * MiB)
        time.sleep(0.15)
        del block
        time.sleep(0.03)
    assert sampler.peak_bytes >= baseline + 60 * MiB
    assert sampler.samples >= 3
    assert sampler_threads() == []


def test_peak_sampler_survives_the_watched_process_exiting() -> None:
    """Watching a child that exits keeps the peak it reached and stops cleanly."""
    proc = spawn(ALLOCATE)
    sampler = PeakSampler(interval_ms=10, pid=proc.pid)
    sampler.start()
    time.sleep(0.05)
    finish(proc)
    time.sleep(0.05)
    assert sampler.stop() >= ALLOC_MIB * MiB
    assert sampler_threads() == []


def test_peak_sampler_cannot_start_twice() -> None:
    """Starting a running sampler again is an error."""
    with PeakSampler() as sampler, pytest.raises(RuntimeError):
        sampler.start()


def test_peak_sampler_rejects_non_positive_interval() -> None:
    """The sampling interval must be positive."""
    with pytest.raises(ValueError):
        PeakSampler(interval_ms=0)
