"""A path that is not UTF-8 goes through every analyzer, the JSON file and the terminal intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gitrepo import build_repo

LATIN1 = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
GITSTREAM = str(Path(sys.executable).with_name("gitstream"))


def test_non_utf8_path_survives_the_whole_run(tmp_path: Path) -> None:
    """Every analyzer's result names the latin-1 file with JSON's \\udcXX escape, distinct from
    a UTF-8 name that looks like it, and the summary prints."""
    repo = tmp_path / "repo"
    build_repo(
        repo,
        [
            {"files": {LATIN1: "a\nb\n", "caf\\xe9.txt": "lookalike\n"}},
            {"files": {LATIN1: "a\nb\nc\n", "caf\\xe9.txt": "lookalike\n2\n"}},
        ],
    )
    out = tmp_path / "r.json"
    done = subprocess.run(
        [GITSTREAM, "analyze", "--burndown-files", "-o", str(out), str(repo)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "caf\\xe9.txt" in done.stderr  # the terminal shows the bytes as \xNN
    result = json.loads(out.read_text(encoding="utf-8"))
    analyzers = result["analyzers"]
    assert set(analyzers["burndown"]["files"]) == {LATIN1, "caf\\xe9.txt"}
    assert analyzers["couples"]["revisions"] == {LATIN1: 2, "caf\\xe9.txt": 2}
    assert analyzers["file_history"]["files"][LATIN1]["added"] == 3


def test_a_newline_in_a_path_or_a_name_stays_on_its_table_row(tmp_path: Path) -> None:
    """Control characters in paths and names are shown escaped, as git quotes them: a newline
    would otherwise cut a row of the summary in two. An empty history says nothing of lines."""
    from gitstream.report.terminal import _printable, burndown_line

    assert _printable("a\nb\tc\x01d\x7f") == "a\\nb\\tc\\x01d\\x7f"
    repo = tmp_path / "repo"
    build_repo(repo, [{"files": {"two\nlines.py": "1\n"}, "author": ("Ann\x1b[31m", "a@x")}])
    done = subprocess.run(
        [GITSTREAM, "analyze", "-o", str(tmp_path / "r.json"), str(repo)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "two\\nlines.py" in done.stderr and "Ann\\x1b[31m" in done.stderr
    assert "\x1b[31m" not in done.stderr
    empty = {"project": {"matrix": [[0]]}, "survival": {"half_life_days": None}}
    assert str(burndown_line(empty)) == "burndown: 0 lines alive at the end, 1 sample"
