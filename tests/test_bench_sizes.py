"""The benchmark's history sizes: ``commits[:files][@hours per commit]``."""

from __future__ import annotations

import pytest

from benchmarks.histories import parse_size, parse_sizes
from benchmarks.report import history_title


def test_a_cadence_sets_the_spec_and_the_cache_name_but_not_the_label() -> None:
    plain, daily = parse_sizes("2k,2k@24h")
    assert (plain.label, daily.label) == ("2k", "2k")
    assert plain.spec().seconds_per_commit == 3600
    assert daily.spec().seconds_per_commit == 24 * 3600
    assert daily.spec().commits == plain.spec().commits == 2000
    assert plain.cache_name() == "synth-2000c-1000f-s0-real"
    assert daily.cache_name() == "synth-2000c-1000f-s0-real-24h"


def test_files_and_cadence_combine() -> None:
    size = parse_size("20k:8000@3h", content="small")
    assert (size.label, size.commits, size.files, size.hours_per_commit) == (
        "20k:8000-small",
        20_000,
        8000,
        3,
    )
    assert size.cache_name() == "synth-20000c-8000f-s0-3h"


@pytest.mark.parametrize("bad", ["2k@0h", "2k@h", "2k@3", "0", "k"])
def test_bad_sizes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="bad size"):
        parse_size(bad)


def test_the_history_title_names_the_cadence() -> None:
    h = {
        "history": {
            "label": "2k",
            "first_parent_commits": 1700,
            "spec": {"seconds_per_commit": 86400},
        }
    }
    assert history_title(h) == "2k: 1,700 first-parent commits, a commit every 24 h"
