"""Turning benchmark results into tables and into the issue targets' verdicts.

Everything here reads the plain results document ``run.py`` writes (the same dict it dumps to
``results.json``), so a finished run can be re-rendered: ``python -m benchmarks.report
benchmarks/results.json`` prints the rich tables, ``--markdown`` the tables for
``docs/benchmarks.md``, ``--update`` writes ratios and verdicts recomputed by this version
back into the file. Cells are built once (:func:`history_cells` and friends) and rendered
either way. This module measures nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

FLOOR_TARGET = 1.5
TWO_WORKER_TARGET = 1.0
SCALING_TARGET = 3.3
PYDRILLER_TARGET = 10.0
THESEUS_TARGET = 50.0
RSS_TARGET_BUDGETS = ("256MiB", "512MiB", "2GiB")
JUDGED_MIN_COMMITS = 10_000
"""The floor ratio is judged on histories of at least this many first-parent commits: below
that gitstream's fixed start-up (interpreter, imports, commit walk) is most of its time."""

PASS, FAIL, NA, PARTIAL = "PASS", "FAIL", "n/a", "PARTIAL"

Cells = tuple[list[str], list[list[str]]]


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.0f} MiB"


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def _status(row: dict[str, Any]) -> str:
    if row.get("ok"):
        return "ok"
    err = row.get("error") or "failed"
    return err if len(err) <= 70 else err[:67] + "..."


def history_cells(history: dict[str, Any]) -> Cells:
    headers = [
        "run",
        "budget",
        "wall s",
        "CPU s",
        "commits/s",
        "x floor",
        "x floor CPU",
        "x git cmd",
        "peak RSS",
        "% budget",
        "chunks",
        "hib+boot %",
        "replans",
        "load",
        "status",
    ]
    rows = []
    for r in history["rows"]:
        run = r.get("run") or {}
        rows.append(
            [
                r["name"],
                r.get("budget") or "-",
                _num(r.get("wall_s")),
                _num(r.get("cpu_s")),
                _num(r.get("commits_per_s"), "{:,.0f}"),
                _num(r.get("x_floor")),
                _num(r.get("x_floor_cpu")),
                _num(r.get("x_git")),
                _mib(r.get("peak_rss_bytes")),
                _num(r.get("budget_pct"), "{:.0f}%"),
                _num(run.get("chunks"), "{}"),
                _num(run.get("hib_boot_pct"), "{:.1f}"),
                _num(run.get("replans"), "{}"),
                _num(r.get("load_before"), "{:.1f}"),
                _status(r),
            ]
        )
    return headers, rows


def memory_check_cells(check: dict[str, Any]) -> Cells:
    headers = ["budget", "peak RSS", "% budget", "wall s", "chunks", "replans", "result"]
    rows = []
    for r in check["rows"]:
        if r.get("kind") != "gitstream":
            continue
        run = r.get("run") or {}
        rows.append(
            [
                r.get("budget") or "-",
                _mib(r.get("peak_rss_bytes")),
                _num(r.get("budget_pct"), "{:.0f}%"),
                _num(r.get("wall_s")),
                _num(run.get("chunks"), "{}"),
                _num(run.get("replans"), "{}"),
                r.get("verdict") or _status(r),
            ]
        )
    return headers, rows


def peers_cells(peers: dict[str, Any]) -> Cells:
    headers = ["tool", "wall s", "commits/s", "peak RSS", "gitstream is", "status"]
    rows = []
    for r in peers.get("rows", []):
        rows.append(
            [
                r["name"],
                _num(r.get("wall_s")),
                _num(r.get("commits_per_s"), "{:,.0f}"),
                _mib(r.get("peak_rss_bytes")),
                r.get("versus") or "",
                _status(r),
            ]
        )
    return headers, rows


def apply_floor(rows: list[dict[str, Any]]) -> None:
    """Set ``x_floor``, ``x_floor_cpu`` and ``x_git`` of ``rows`` against their history's
    floor and gitstream's own git command.

    The floor is the issue's: ``git diff-tree -p -U0`` at git's defaults (the faster run when it
    was measured twice). gitstream's own command (``-U1``, its caps at the speed budget, a
    larger delta cache among them) is the other reference: what git alone costs doing exactly
    gitstream's diffs, so ``x_git`` is gitstream's own overhead on top of its git.
    """

    def best(kind: str, key: str) -> float | None:
        values = [r[key] for r in rows if r.get("kind") == kind and r.get("ok") and r.get(key)]
        return min(values, default=None)

    wall, cpu, own = best("floor", "wall_s"), best("floor", "cpu_s"), best("git_cmd", "wall_s")
    for r in rows:
        ok = bool(r.get("ok")) and bool(r.get("wall_s"))
        r["x_floor"] = round(r["wall_s"] / wall, 3) if ok and wall else None
        r["x_floor_cpu"] = round(r["cpu_s"] / cpu, 3) if ok and cpu and r.get("cpu_s") else None
        r["x_git"] = round(r["wall_s"] / own, 3) if ok and own else None


# -- targets ---------------------------------------------------------------------------------


def _target(name: str, measured: str, status: str, detail: str = "") -> dict[str, str]:
    return {"target": name, "measured": measured, "status": status, "detail": detail}


def _judge(values: Sequence[float], limit: float, failures: int, *, at_most: bool) -> str:
    if not values and not failures:
        return NA
    ok = all((v <= limit) if at_most else (v >= limit) for v in values)
    if not ok:
        return FAIL
    return PARTIAL if failures else PASS


def _gitstream_rows(results: dict[str, Any]) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    for h in results.get("histories", []):
        for r in h["rows"]:
            if r.get("kind") == "gitstream":
                yield h["history"], r
    check = results.get("memory_check")
    if check:
        for r in check["rows"]:
            if r.get("kind") == "gitstream":
                yield check["history"], r


def _floor_ratios(
    results: dict[str, Any], keep: Callable[[dict[str, Any]], bool]
) -> tuple[list[float], str, int]:
    """x-floor ratios of the gitstream rows ``keep`` selects at the speed budget on the judged
    histories; the worst row's name, and how many such rows failed."""
    speed = results["meta"]["speed_budget"]
    values: list[float] = []
    worst, failed = "", 0
    for h in results.get("histories", []):
        if h["history"].get("first_parent_commits", 0) < JUDGED_MIN_COMMITS:
            continue
        for r in h["rows"]:
            if r.get("kind") != "gitstream" or r.get("budget") != speed or not keep(r):
                continue
            if r.get("x_floor") is None:
                failed += 1
                continue
            values.append(r["x_floor"])
            if r["x_floor"] >= max(values):
                worst = f"{r['name']} on {h['history']['label']}"
    return values, worst, failed


def _own_git_detail(results: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> str:
    """The same rows against gitstream's own git command: what gitstream adds to its git."""
    speed = results["meta"]["speed_budget"]
    ratios = [
        r["x_git"]
        for h in results.get("histories", [])
        if h["history"].get("first_parent_commits", 0) >= JUDGED_MIN_COMMITS
        for r in h["rows"]
        if r.get("kind") == "gitstream" and r.get("budget") == speed and keep(r)
        if r.get("x_git") is not None
    ]
    if not ratios:
        return ""
    return f"x gitstream's own git command: {min(ratios):.2f}-{max(ratios):.2f}"


def compute_targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """The issue's targets, each PASS, FAIL, PARTIAL (holds where measured, rows failed) or n/a."""
    out = []
    speed = results["meta"]["speed_budget"]

    # 1. every analyzer alone and all together, one worker, <= 1.5x git's diff floor
    one_worker = any(r.get("workers") == 1 for _, r in _gitstream_rows(results))

    def is_one(r: dict[str, Any]) -> bool:
        return not one_worker or r.get("workers") == 1

    def is_two(r: dict[str, Any]) -> bool:
        return r.get("workers") == 2 and r.get("analyzer") == "all"

    values, worst, failed = _floor_ratios(results, is_one)
    detail = [f"failed runs: {failed}" if failed else "", _own_git_detail(results, is_one)]
    out.append(
        _target(
            f"each analyzer and all, 1 worker, <= {FLOOR_TARGET}x git's diff floor "
            f"(histories >= {JUDGED_MIN_COMMITS // 1000}k commits, {speed})",
            f"worst {max(values):.2f}x ({worst})" if values else "-",
            _judge(values, FLOOR_TARGET, failed, at_most=True),
            "; ".join(d for d in detail if d),
        )
    )

    # 1b. all analyzers, two workers, <= 1.0x git's diff floor
    values, worst, failed = _floor_ratios(results, is_two)
    if values or failed:
        detail = [f"failed runs: {failed}" if failed else "", _own_git_detail(results, is_two)]
        out.append(
            _target(
                f"all analyzers, 2 workers, <= {TWO_WORKER_TARGET}x git's diff floor "
                f"(histories >= {JUDGED_MIN_COMMITS // 1000}k commits, {speed})",
                f"worst {max(values):.2f}x ({worst})" if values else "-",
                _judge(values, TWO_WORKER_TARGET, failed, at_most=True),
                "; ".join(d for d in detail if d),
            )
        )

    # 2. peak RSS <= budget
    for budget in (*RSS_TARGET_BUDGETS, "1GiB"):
        vals, who, failed = [], "", 0
        for h, r in _gitstream_rows(results):
            if r.get("budget") != budget:
                continue
            if r.get("budget_pct") is None:
                failed += 1
                continue
            vals.append(r["budget_pct"] / 100)
            if r["budget_pct"] / 100 >= max(vals):
                who = f"{r['name']} on {h['label']}, {_mib(r['peak_rss_bytes'])}"
        if not vals and not failed and budget == "1GiB":
            continue
        out.append(
            _target(
                f"peak RSS of the process tree <= budget at {budget}",
                f"max {max(vals) * 100:.0f}% ({who})" if vals else "-",
                _judge(vals, 1.0, failed, at_most=True),
                f"failed runs: {failed}" if failed else "",
            )
        )

    # 3. linear time: time(60k) / time(20k) <= 3.3
    by_commits = {
        h["history"]["spec"]["commits"]: h
        for h in results.get("histories", [])
        if h["history"].get("spec")
    }
    small, large = by_commits.get(20_000), by_commits.get(60_000)
    if small and large:
        t_small = {r["name"]: r for r in small["rows"] if r.get("budget") in (None, speed)}
        ratios, parts, failed = [], [], 0
        for name, r in ((r["name"], r) for r in large["rows"] if r.get("budget") in (None, speed)):
            s = t_small.get(name)
            if not (r.get("ok") and s and s.get("ok")):
                failed += r.get("kind") == "gitstream"
                continue
            ratio = r["wall_s"] / s["wall_s"]
            parts.append(f"{name} {ratio:.2f}")
            if r.get("kind") == "gitstream":
                ratios.append(ratio)
        out.append(
            _target(
                f"time(60k) / time(20k) <= {SCALING_TARGET} (gitstream rows at {speed})",
                f"worst {max(ratios):.3f}" if ratios else "-",
                _judge(ratios, SCALING_TARGET, failed, at_most=True),
                "; ".join(parts),
            )
        )
    else:
        out.append(_target(f"time(60k) / time(20k) <= {SCALING_TARGET}", "-", NA, "not run"))

    # 4./5. peers
    peers = results.get("peers") or {}
    cmp = peers.get("comparisons", {})
    for peer, target, label in (
        ("pydriller", PYDRILLER_TARGET, ">= {:.0f}x PyDriller's commits/s (all analyzers)"),
        ("theseus", THESEUS_TARGET, "burndown >= {:.0f}x faster than git-of-theseus"),
    ):
        speedup = cmp.get(f"{peer}_speedup")
        out.append(
            _target(
                label.format(target),
                "-" if speedup is None else f"{speedup:.1f}x",
                NA if speedup is None else (PASS if speedup >= target else FAIL),
                cmp.get(f"{peer}_detail", peers.get("status", "")),
            )
        )

    for more in results.get("more_peers") or []:
        speedup = more.get("comparisons", {}).get("pydriller_speedup")
        out.append(
            _target(
                f">= {PYDRILLER_TARGET:.0f}x PyDriller's commits/s on {more.get('history', '?')}",
                "-" if speedup is None else f"{speedup:.1f}x",
                NA if speedup is None else (PASS if speedup >= PYDRILLER_TARGET else FAIL),
                more.get("comparisons", {}).get("pydriller_detail", more.get("status", "")),
            )
        )

    # 6. issue 4's memory check
    check = results.get("memory_check")
    if check:
        qual = check.get("qualifies")
        for r in check["rows"]:
            if r.get("kind") != "gitstream":
                continue
            verdict = r.get("verdict") or FAIL
            out.append(
                _target(
                    f"memory check: {check['history']['label']} "
                    f"({check['history']['first_parent_commits']} first-parent commits, "
                    f"{check['history'].get('live_files')} files) at {r['budget']}",
                    _mib(r.get("peak_rss_bytes")),
                    verdict if qual else f"{verdict} (history too small)",
                )
            )
    return out


def targets_cells(targets: list[dict[str, str]]) -> Cells:
    headers = ["target", "measured", "status", "detail"]
    return headers, [[t["target"], t["measured"], t["status"], t["detail"]] for t in targets]


# -- rendering -------------------------------------------------------------------------------


def rich_table(title: str, cells: Cells) -> Table:
    headers, rows = cells
    table = Table(title=title, title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 or h in ("status", "detail") else "right")
    for row in rows:
        style = None
        if row and row[-1] not in ("ok", "PASS", "") and "FAIL" in " ".join(row[-2:]):
            style = "red"
        table.add_row(*row, style=style)
    return table


def markdown_table(cells: Cells) -> str:
    headers, rows = cells

    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def history_title(h: dict[str, Any]) -> str:
    info = h["history"]
    stats = info.get("stats") or {}
    parts = [f"{info['first_parent_commits']:,} first-parent commits"]
    if stats:
        parts.append(f"{stats['commits']:,} in all, {stats['merges']:,} merges")
    if info.get("live_files") is not None:
        parts.append(f"{info['live_files']:,} files at HEAD")
    seconds = (info.get("spec") or {}).get("seconds_per_commit")
    if seconds:
        parts.append(f"a commit every {seconds / 3600:g} h")
    return f"{info['label']}: " + ", ".join(parts)


def _peer_sections(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The peers on the smallest history (PyDriller and theseus), then PyDriller elsewhere."""
    first = [results["peers"]] if results.get("peers") else []
    return first + list(results.get("more_peers") or [])


def render(results: dict[str, Any], console: Console) -> None:
    for h in results.get("histories", []):
        console.print(rich_table(history_title(h), history_cells(h)))
    if results.get("memory_check"):
        c = results["memory_check"]
        console.print(rich_table(f"memory check, {history_title(c)}", memory_check_cells(c)))
    for p in _peer_sections(results):
        console.print(rich_table(f"peers on {p.get('history', '?')}", peers_cells(p)))
    console.print(rich_table("targets", targets_cells(compute_targets(results))))


def markdown(results: dict[str, Any]) -> str:
    out = []
    for h in results.get("histories", []):
        out += [f"### {history_title(h)}", "", markdown_table(history_cells(h)), ""]
    if results.get("memory_check"):
        c = results["memory_check"]
        out += [f"### Memory check, {history_title(c)}", ""]
        out += [markdown_table(memory_check_cells(c)), ""]
    for p in _peer_sections(results):
        out += [f"### Peers on {p.get('history', '?')}", "", markdown_table(peers_cells(p)), ""]
    out += ["### Targets", "", markdown_table(targets_cells(compute_targets(results))), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report")
    parser.add_argument("results", nargs="?", default="benchmarks/results.json")
    parser.add_argument("--markdown", action="store_true", help="markdown tables on stdout")
    parser.add_argument(
        "--update", action="store_true", help="write the recomputed ratios and targets back"
    )
    args = parser.parse_args(argv)
    with open(args.results) as fh:
        results = json.load(fh)
    for section in [*results.get("histories", []), results.get("memory_check") or {"rows": []}]:
        for r in section["rows"]:
            if r.get("name") == "git diff-tree (gitstream cmd)":
                r["kind"] = "git_cmd"  # files written before it had a kind of its own
        apply_floor(section["rows"])
    if args.update:
        results["targets"] = compute_targets(results)
        with open(args.results, "w") as fh:
            fh.write(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        sys.stdout.write(markdown(results))
    else:
        render(results, Console(width=200))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
