"""Tests for per-chunk telemetry records and their NDJSON file (gitstream.streaming.telemetry)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitstream.errors import UsageError
from gitstream.streaming.telemetry import (
    ChunkTelemetry,
    TelemetryWriter,
    format_line,
    read_telemetry,
)


def test_to_dict_round_trips() -> None:
    """A record survives to_dict, JSON and from_dict unchanged."""
    rec = ChunkTelemetry.for_test(chunk=2, start=200, end=300, replanned=True, chunks_total=5)
    assert ChunkTelemetry.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec


def test_to_dict_rounds_growth_to_whole_bytes() -> None:
    """Growth rates are written as whole bytes per commit."""
    data = ChunkTelemetry.for_test(growth_per_commit=1234.6, ema_growth=99.4).to_dict()
    assert (data["growth_per_commit"], data["ema_growth"]) == (1235, 99)


def test_writer_flushes_each_line(tmp_path: Path) -> None:
    """Each record is on disk as its own JSON line before the writer is closed."""
    path = tmp_path / "telemetry.ndjson"
    with TelemetryWriter(path) as writer:
        for i in range(3):
            writer.write(ChunkTelemetry.for_test(chunk=i, start=100 * i, end=100 * (i + 1)))
            lines = path.read_text(encoding="utf-8").splitlines()
            assert len(lines) == i + 1
            assert json.loads(lines[-1])["chunk"] == i
    assert writer.records == 3
    assert [r.chunk for r in read_telemetry(path)] == [0, 1, 2]


def test_writer_truncates_unless_appending(tmp_path: Path) -> None:
    """A new writer replaces an old file; append=True keeps its records."""
    path = tmp_path / "t.ndjson"
    for _ in range(2):
        with TelemetryWriter(path) as writer:
            writer.write(ChunkTelemetry.for_test())
    assert len(read_telemetry(path)) == 1
    with TelemetryWriter(path, append=True) as writer:
        writer.write(ChunkTelemetry.for_test(chunk=1))
    assert len(read_telemetry(path)) == 2


def test_unwritable_path_is_a_usage_error(tmp_path: Path) -> None:
    """A telemetry path in a missing directory fails at once with a UsageError naming it."""
    path = tmp_path / "missing" / "t.ndjson"
    with pytest.raises(UsageError, match="missing"):
        TelemetryWriter(path)


def test_write_after_close_raises(tmp_path: Path) -> None:
    """Writing to a closed writer is refused."""
    writer = TelemetryWriter(tmp_path / "t.ndjson")
    writer.close()
    with pytest.raises(ValueError):
        writer.write(ChunkTelemetry.for_test())


def test_format_line_is_one_plain_line() -> None:
    """The log form is a single line without escape codes and names the chunk and its range."""
    line = format_line(ChunkTelemetry.for_test(chunk=3, start=300, end=400, chunks_total=10))
    assert "\n" not in line and "\x1b" not in line
    assert line.startswith("chunk 4/10, commits [300, 400) (100)")
    assert "% of 1.0 GiB" in line
    assert "replanned" not in line


def test_format_line_marks_replans_and_unlimited_runs() -> None:
    """A replanned chunk says so, and a run without a budget says 'no budget'."""
    rec = ChunkTelemetry.for_test(replanned=True, budget_bytes=None, budget_used_pct=None)
    line = format_line(rec)
    assert line.endswith("replanned")
    assert "no budget" in line


def test_module_does_not_import_rich() -> None:
    """Importing the telemetry module leaves rich unloaded (rich stays at the CLI edge)."""
    code = "import sys, gitstream.streaming.telemetry; print('rich' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
