"""The raw pygit2 hunk walk: what a plain Python loop over libgit2's diff costs.

``python -m benchmarks.pygit2_walk GIT_DIR PAIRS [--no-renames]`` diffs every pair of the
benchmark's stdin file (``<commit> [<first parent>]`` per line) with ``Repository.diff``
(``context_lines=0``, ``find_similar()`` for renames) and touches every hunk's four line
numbers, as design.md measured it. libgit2's caches are left at pygit2's defaults, which is
what a user's loop gets. It prints one JSON line: commits, files and hunks seen.
"""

from __future__ import annotations

import argparse
import json
import sys

import pygit2


def walk(git_dir: str, pairs: str, *, renames: bool = True) -> dict[str, int]:
    repo = pygit2.Repository(git_dir)
    commits = files = hunks = checksum = 0
    with open(pairs, "rb") as fh:
        for line in fh:
            ids = line.split()
            if not ids:
                continue
            if len(ids) > 1:
                diff = repo.diff(ids[1].decode(), ids[0].decode(), context_lines=0)
            else:  # a root commit: everything added
                commit = repo[ids[0].decode()].peel(pygit2.Commit)
                diff = commit.tree.diff_to_tree(context_lines=0, swap=True)
            if renames:
                diff.find_similar()
            for patch in diff:
                if patch is None:
                    continue
                files += 1
                for h in patch.hunks:
                    hunks += 1
                    checksum += h.old_start + h.old_lines + h.new_start + h.new_lines
            commits += 1
    return {"commits": commits, "files": files, "hunks": hunks, "checksum": checksum}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pygit2_walk")
    parser.add_argument("git_dir")
    parser.add_argument("pairs")
    parser.add_argument("--no-renames", action="store_true")
    args = parser.parse_args(argv)
    result = walk(args.git_dir, args.pairs, renames=not args.no_renames)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
