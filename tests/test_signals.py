"""SIGTERM and SIGINT during a real ``gitstream analyze``: exit code, spill files, git children.

The CLI runs as a subprocess on a generated history large enough to take several seconds in
chunks of 50 commits. Once its first spill file exists (so it is past start-up and between or
inside chunks, with a ``git diff-tree`` child), the test records the process tree, sends the
signal and checks the conventional exit code (128 + signal), that the private spill directory
is gone and that no ``git`` child outlives the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from gitrepo import git_env

from gitstream.synth import SynthSpec, build_repo

GITSTREAM = Path(sys.executable).with_name("gitstream")
SPEC = SynthSpec(commits=6000, files=400)
STARTUP_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0
GIT_GRACE_S = 5.0


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6000-commit generated repository, built once for the module."""
    if not GITSTREAM.exists():
        pytest.skip(f"no gitstream console script beside {sys.executable}")
    return build_repo(tmp_path_factory.mktemp("signals") / "repo", SPEC, bare=True)


def _has_spilled(spill_parent: Path, telemetry: Path) -> bool:
    """A spill file exists now, or the telemetry shows a chunk that spilled.

    Analyzers such as devs delete their spill file when they boot, so a file can exist for
    only a few milliseconds between two chunks; the telemetry line written after each chunk is
    the lasting trace of that.
    """
    # os.walk ignores directories that vanish under it (the run may end meanwhile).
    if any(files for _, _, files in os.walk(spill_parent)):
        return True
    try:
        lines = telemetry.read_text().splitlines()
    except FileNotFoundError:
        return False
    return any(json.loads(line).get("spill_bytes", 0) > 0 for line in lines[:-1])


def _git_children(pid: int) -> list[tuple[psutil.Process, str]]:
    """The ``git`` processes under ``pid`` with their command lines (gone ones left out)."""
    found = []
    try:
        for child in psutil.Process(pid).children(recursive=True):
            try:
                command = " ".join(child.cmdline()) if child.name() == "git" else ""
            except psutil.NoSuchProcess:
                continue
            if command:  # an exited (zombie) child has an empty command line
                found.append((child, command))
    except psutil.NoSuchProcess:
        pass
    return found


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes still running; a zombie (exited, not yet reaped) does not count."""
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def _interrupt(history: Path, tmp_path: Path, sig: signal.Signals) -> tuple[int, list[str]]:
    """Run analyze, send ``sig`` once a spill file exists; (exit code, git children's cmdlines)."""
    spill_parent = tmp_path / "spill"
    spill_parent.mkdir()
    telemetry = tmp_path / "telemetry.ndjson"
    args = [
        os.fspath(GITSTREAM),
        "analyze",
        "-a",
        "devs",
        "--chunk-size",
        "50",
        "--spill-dir",
        os.fspath(spill_parent),
        "--telemetry",
        os.fspath(telemetry),
        "-o",
        os.fspath(tmp_path / "result.json"),
        os.fspath(history),
    ]
    with (
        (tmp_path / "stdout").open("wb") as out,
        (tmp_path / "stderr").open("wb") as err,
    ):
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=git_env())
    try:
        # Wait until the run is past its first hibernation *and* a git diff stage is running,
        # so the signal lands mid-run and the check on git children means something.
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        found: list[tuple[psutil.Process, str]] = []
        spilled = False
        while not found:
            if proc.poll() is not None:
                pytest.fail(
                    f"analyze exited {proc.returncode} before the signal: "
                    + (tmp_path / "stderr").read_text(errors="replace")[-2000:]
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no spill, or no git child after it, within {STARTUP_TIMEOUT_S} s")
            spilled = spilled or _has_spilled(spill_parent, telemetry)
            if spilled:
                found = _git_children(proc.pid)
            time.sleep(0.005)
        proc.send_signal(sig)
        code = proc.wait(timeout=EXIT_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    gits = [p for p, _ in found]
    commands = [c for _, c in found]
    psutil.wait_procs(gits, timeout=GIT_GRACE_S)
    left = _alive(gits)
    for stray in left:
        stray.kill()
    assert not left, f"git children still running after {sig.name}: {commands}"
    assert not list(spill_parent.glob("gitstream-spill-*")), "spill directory left behind"
    assert not list(tmp_path.glob("*result.json*")), "a partial result was left at -o PATH"
    return code, commands


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_signal_exits_cleanly(
    history: Path, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """The signal ends the run with 128 + its number, removing spill files and git children."""
    got, commands = _interrupt(history, tmp_path, sig)
    assert got == code
    assert any("diff-tree" in c for c in commands), commands
