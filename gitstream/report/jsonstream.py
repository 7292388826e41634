"""Writing a result document as JSON, streaming its lazy parts, atomically.

Analyzer results may hold :class:`~gitstream.analyzers.base.LazyMapping` and
:class:`~gitstream.analyzers.base.LazySequence` values (and plain iterators); they are written
item by item, so a result larger than memory never exists as one object. The file appears at
its path only once complete (written to a temporary file beside it, then renamed): no partial
file is ever left at ``PATH``. This module does not decide what goes in the document.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from gitstream.analyzers.base import LazyMapping, LazySequence, encode_json
from gitstream.errors import GitstreamError

_encode = encode_json
_LAZY = (LazyMapping, LazySequence)


def iter_json(value: Any, indent: int | None = None, _level: int = 0) -> Iterator[str]:
    """JSON text for ``value`` in pieces; lazy parts are consumed a batch of items at a time.

    Plain values are left to json's C encoder: a container with no lazy part inside is one
    call, and the items of a lazy container are encoded :data:`_BATCH` at a time (a pair row, a
    file's history). Only containers that hold lazy values are walked here.
    """
    if indent is not None:
        yield from _iter_indented(value, indent, _level)
        return
    if type(value) is LazySequence and value.encoded:
        yield "["
        first = True
        for batch in _batches(iter(value)):
            yield ("" if first else ",") + ",".join(batch)
            first = False
        yield "]"
        return
    if type(value) not in _LAZY and not isinstance(value, Iterator):
        try:
            yield _encode(value)
            return
        except TypeError:
            pass  # a lazy value inside: walk this container
    if isinstance(value, LazyMapping | Mapping):
        items = iter(value) if isinstance(value, LazyMapping) else iter(value.items())
        yield "{"
        first = True
        for batch in _batches(items):
            plain = {str(k): v for k, v in batch}
            try:
                text = _encode(plain)[1:-1]
            except TypeError:
                text = ""
            if text or not plain:
                if text:
                    yield ("" if first else ",") + text
                    first = False
                continue
            for k, v in batch:
                yield ("" if first else ",") + _encode(str(k)) + ":"
                first = False
                yield from iter_json(v)
        yield "}"
    else:
        yield "["
        first = True
        for batch in _batches(iter(value)):
            try:
                text = _encode(batch)[1:-1]
            except TypeError:
                text = None
            if text is not None:
                if text:
                    yield ("" if first else ",") + text
                    first = False
                continue
            for v in batch:
                yield "" if first else ","
                first = False
                yield from iter_json(v)
        yield "]"


_BATCH = 512


def _batches(items: Iterator[Any]) -> Iterator[list[Any]]:
    while True:
        batch = list(itertools.islice(items, _BATCH))
        if not batch:
            return
        yield batch


def _iter_indented(value: Any, indent: int, level: int) -> Iterator[str]:
    nl = "\n" + " " * (indent * (level + 1))
    end_nl = "\n" + " " * (indent * level)
    if isinstance(value, LazyMapping | Mapping):
        items = iter(value) if isinstance(value, LazyMapping) else iter(value.items())
        first = True
        yield "{"
        for k, v in items:
            yield ("" if first else ",") + nl + _encode(str(k)) + ": "
            yield from _iter_indented(v, indent, level + 1)
            first = False
        yield ("" if first else end_nl) + "}"
    elif isinstance(value, LazySequence | list | tuple | Iterator):
        encoded = isinstance(value, LazySequence) and value.encoded
        first = True
        yield "["
        for v in value:
            yield ("" if first else ",") + nl
            if encoded:
                yield v  # one compact row per line
            else:
                yield from _iter_indented(v, indent, level + 1)
            first = False
        yield ("" if first else end_nl) + "]"
    else:
        yield _encode(value)


def write_json(document: Any, path: str | os.PathLike[str], *, indent: int | None = None) -> None:
    """Write ``document`` to ``path`` (``-`` for stdout) as JSON, atomically."""
    if str(path) == "-":
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="backslashreplace")
        _dump(document, sys.stdout, indent)
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or "."
        )
    except OSError as exc:
        raise GitstreamError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        # mkstemp creates the file 0600; a result file should follow the umask like any other.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        # Paths that are not UTF-8 carry lone surrogates (lossless decoding); written with
        # backslashreplace they become JSON's own \udcXX escapes, which read back the same.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            _dump(document, fh, indent)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise GitstreamError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise


def _dump(document: Any, fh: IO[str], indent: int | None) -> None:
    buf: list[str] = []
    size = 0
    for piece in iter_json(document, indent):
        buf.append(piece)
        size += len(piece)
        if size > 1 << 16:
            fh.write("".join(buf))
            buf.clear()
            size = 0
    fh.write("".join(buf))
