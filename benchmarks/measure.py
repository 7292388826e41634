"""Running one measured command: wall time, CPU time and peak RSS of its whole process tree.

The budget gitstream promises covers the process tree (gitstream and its git subprocesses), so
the benchmark measures it the way a user's ``/usr/bin/time`` cannot: from outside, by summing
the RSS of the child and every descendant every 50 ms (:class:`TreeSampler`). A spike shorter
than the interval can be missed. The kernel's ``ru_maxrss`` cannot stand in for it: it is per
process, not per tree, and on Linux a child's high-water mark starts at the RSS of the process
that forked it (the benchmark itself), so it is not used.

This module runs commands and measures them; it does not know what they are (``run.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from gitstream.streaming.memory import process_tree_rss

SAMPLE_INTERVAL_S = 0.05


class TreeSampler:
    """A daemon thread that samples the tree RSS of ``pid`` and keeps the peak."""

    def __init__(self, pid: int, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = process_tree_rss(self.pid)
            except (ProcessLookupError, PermissionError):
                return  # exited (and reaped) between two samples
            self.samples += 1
            self.peak = max(self.peak, rss)
            self._stop.wait(self.interval_s)


@dataclass
class Measurement:
    """One run of one command (the best of the repeats once merged by :func:`best_of`)."""

    name: str
    argv: list[str]
    wall_s: float | None = None
    cpu_s: float | None = None
    """User plus system CPU of the child and the descendants it waited for."""
    peak_rss_bytes: int | None = None
    """The highest sampled RSS of the whole process tree."""
    samples: int = 0
    returncode: int | None = None
    error: str | None = None
    load_before: float | None = None
    """The 1-minute load average just before the run (the machine is shared)."""
    repeats: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.returncode == 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def _kill_tree(pid: int) -> None:
    try:
        root = psutil.Process(pid)
        victims = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for p in victims:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue


def _tail(data: bytes, lines: int = 3) -> str:
    text = data.decode("utf-8", "replace").strip().splitlines()
    return " | ".join(text[-lines:])[-500:]


def measure(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    stdin_path: Path | None = None,
    stdout_path: Path | None = None,
    cwd: Path | None = None,
    timeout_s: float = 3600.0,
) -> Measurement:
    """Run ``argv`` once, stdout to ``stdout_path`` (default discarded), and measure it."""
    m = Measurement(name=name, argv=list(argv), load_before=round(os.getloadavg()[0], 2))
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as err, open(os.devnull, "wb") as devnull:
        stdin = open(stdin_path, "rb") if stdin_path is not None else subprocess.DEVNULL
        out = open(stdout_path, "wb") if stdout_path is not None else devnull
        try:
            started = time.perf_counter()
            try:
                proc = subprocess.Popen(
                    list(argv), stdin=stdin, stdout=out, stderr=err, env=dict(env), cwd=cwd
                )
            except OSError as exc:
                m.error = f"cannot start: {exc}"
                return m
            sampler = TreeSampler(proc.pid)
            sampler.start()

            def on_timeout() -> None:
                timed_out.set()
                _kill_tree(proc.pid)

            timer = threading.Timer(timeout_s, on_timeout)
            timer.daemon = True
            timer.start()
            try:
                # wait4, not Popen.wait: its rusage carries the CPU time of the tree.
                _, status, usage = os.wait4(proc.pid, 0)
            except BaseException:  # interrupted: leave no measured process behind
                _kill_tree(proc.pid)
                proc.wait()
                raise
            finally:
                timer.cancel()
            m.wall_s = round(time.perf_counter() - started, 3)
            proc.returncode = os.waitstatus_to_exitcode(status)
            sampler.stop()
        finally:
            if stdin_path is not None:
                stdin.close()  # type: ignore[union-attr]
            if stdout_path is not None:
                out.close()
        m.returncode = proc.returncode
        m.cpu_s = round(usage.ru_utime + usage.ru_stime, 3)
        m.samples = sampler.samples
        m.peak_rss_bytes = sampler.peak
        if timed_out.is_set():
            m.error = f"timed out after {timeout_s:.0f} s"
        elif proc.returncode != 0:
            err.seek(0)
            m.error = f"exit {proc.returncode}: {_tail(err.read())}"
    return m


def best_of(runs: Sequence[Measurement]) -> Measurement:
    """The fastest successful run, carrying the highest peak RSS seen over all repeats.

    Time keeps the best (noise on a shared machine only ever adds); memory keeps the worst,
    because the budget is a promise about every run.
    """
    ok = [r for r in runs if r.ok]
    if not ok:
        worst = runs[-1]
        worst.repeats = len(runs)
        return worst
    best = min(ok, key=lambda r: r.wall_s or 0.0)
    best.peak_rss_bytes = max(r.peak_rss_bytes or 0 for r in ok)
    best.repeats = len(runs)
    return best
