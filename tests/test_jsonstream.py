"""The streaming JSON writer: lazy parts written item by item, the same text json would give."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitstream.analyzers.base import LazyMapping, LazySequence, encode_json, materialize
from gitstream.report.jsonstream import iter_json, write_json

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=8))


def lazify(draw: st.DrawFn, value: Any) -> Any:
    """Wrap some containers of ``value`` in lazy types, as analyzer results do."""
    if isinstance(value, dict):
        inner = {k: lazify(draw, v) for k, v in value.items()}
        if draw(st.booleans()):
            items = list(inner.items())
            return LazyMapping(lambda: iter(items))
        return inner
    if isinstance(value, list):
        if value and draw(st.booleans()):  # rows already encoded, as couples' pairs are
            texts = [encode_json(v) for v in value]
            return LazySequence(lambda: iter(texts), encoded=True)
        inner_list = [lazify(draw, v) for v in value]
        if draw(st.booleans()):
            return LazySequence(lambda: iter(inner_list))
        return inner_list
    return value


@st.composite
def documents(draw: st.DrawFn) -> Any:
    plain = draw(
        st.recursive(
            scalars,
            lambda kids: (
                st.lists(kids, max_size=6) | st.dictionaries(st.text(max_size=5), kids, max_size=6)
            ),
            max_leaves=60,
        )
    )
    return lazify(draw, plain)


@given(documents())
def test_streamed_text_reads_back_as_the_materialized_document(doc: Any) -> None:
    """Whatever is lazy and wherever, the text parses to materialize(doc), compact or indented."""
    want = materialize(doc)
    assert json.loads("".join(iter_json(doc))) == want
    assert json.loads("".join(iter_json(doc, indent=2))) == want


def test_large_lazy_sequence_is_written_in_pieces() -> None:
    """A lazy sequence of 10k rows comes out as many pieces, never one string of everything."""

    def rows() -> Iterator[list[Any]]:
        return ([i, f"f{i}.py", i % 7] for i in range(10_000))

    pieces = list(iter_json({"pairs": LazySequence(rows)}))
    assert len(pieces) > 10
    assert max(len(p) for p in pieces) < 64 * 1024
    assert json.loads("".join(pieces))["pairs"][9_999] == [9_999, "f9999.py", 9_999 % 7]


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    """An error while streaming leaves neither the target nor a temporary file behind."""

    def boom() -> Iterator[int]:
        yield 1
        raise RuntimeError("analyzer failed mid-stream")

    target = tmp_path / "r.json"
    with pytest.raises(RuntimeError):
        write_json({"a": LazySequence(boom)}, target)
    assert list(tmp_path.iterdir()) == []


def test_top_pairs_read_from_encoded_rows() -> None:
    """The summary's couples table ranks encoded rows by their two trailing numbers, names with
    commas and brackets included, as it ranks plain rows."""
    from gitstream.report.terminal import _shared_and_degree

    rows = [["a,b", "c]", 3, 40], ["x", "y", 3, 75], ["p", "q", 12, 9]]
    for row in rows:
        assert _shared_and_degree(encode_json(row)) == _shared_and_degree(row) == (row[2], row[3])
