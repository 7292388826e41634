"""PyDriller over the benchmark's first-parent commits (run by the peers venv's python).

``python benchmarks/peer_pydriller.py REPO PAIRS`` iterates, oldest first, the commits named in
the first column of PAIRS (gitstream's first-parent selection; PyDriller has no first-parent
walk, ``only_commits`` is the closest it allows) and reads every modified file's added and
deleted line counts. PyDriller reports no files for a merge commit, where gitstream diffs a
merge against its first parent, so PyDriller does less work per merge. Prints one JSON line.

This file runs outside gitstream's venv: it imports nothing from gitstream or benchmarks.
"""

from __future__ import annotations

import json
import sys

from pydriller import Repository


def main() -> int:
    repo, pairs = sys.argv[1], sys.argv[2]
    with open(pairs, "rb") as fh:
        wanted = [line.split()[0].decode() for line in fh if line.strip()]
    commits = files = added = deleted = 0
    for commit in Repository(repo, only_commits=wanted).traverse_commits():
        commits += 1
        for mf in commit.modified_files:
            files += 1
            added += mf.added_lines
            deleted += mf.deleted_lines
    print(json.dumps({"commits": commits, "files": files, "added": added, "deleted": deleted}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
