"""``python -m benchmarks.run`` (``make bench``): gitstream against git's diff floor and its peers.

For every history (generated ones of ``--sizes``, cached under ``--cache``, and each real
``--repo``), in one run so that ratios are measured side by side on a shared, noisy machine:

- git's diff floor: ``git diff-tree --stdin -r --root -M -p -U0`` fed the same
  commit/first-parent pairs gitstream diffs, output discarded; and gitstream's own command
  line (:func:`gitstream.git.diff.diff_tree_command`, with the caches a run at the speed budget
  gives it) on the same input;
- ``git log --first-parent --numstat`` and a raw pygit2 hunk walk (``benchmarks.pygit2_walk``);
- ``gitstream analyze`` for each analyzer alone at the speed budget (default: the largest of
  ``--budgets``), and with all analyzers at every budget (``--full-matrix``: every analyzer at
  every budget), with the peak RSS of the whole process tree sampled from outside every 50 ms.

Then issue 4's memory check (all analyzers on a history of >= 30k first-parent commits and >= 5k
files, at 256 MiB and 1 GiB: PASS/FAIL) and the peers on the smallest history (PyDriller and
git-of-theseus, from a separate venv made on demand). Each measured command runs ``--repeats``
times (round-robin) and keeps its best time and its worst peak RSS. A failing command is a
failed row, never a failed run. Results go to ``--out`` as JSON after every section; the tables
and the targets' verdicts come from ``benchmarks.report``.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pygit2
from rich.console import Console

from benchmarks import histories, peers, report
from benchmarks.histories import History, Size
from benchmarks.measure import Measurement, best_of, measure
from gitstream.config import AnalysisConfig, parse_size
from gitstream.errors import UsageError
from gitstream.git.diff import diff_tree_command
from gitstream.git.repo import GitCaps
from gitstream.pipeline import prepare
from gitstream.synth import hermetic_git_env

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = "2k@24h,20k,60k"
"""The 2k history, where the peers run, has a small project's cadence (a commit a day, ~5.5
years): git-of-theseus's cost follows the weeks of history. The larger ones keep an hour."""
QUICK_SIZE = "2k@24h"
PYDRILLER_SIZE = "20k"
"""PyDriller runs here too (~100 s), as the issue's targets are measured on 20k and 60k;
git-of-theseus re-blames every changed file at every weekly sample and stays on the 2k."""
DEFAULT_BUDGETS = "256MiB,512MiB,1GiB,2GiB"
MEMORY_CHECK_SIZE = "36k"
"""36k generated commits give about 30.4k first-parent ones, and 6000 files (>= 5k live)."""
MEMORY_CHECK_BUDGETS = "256MiB,1GiB"
PEER_COMPARISON_REPEATS = 3
"""gitstream's runs in the peers' comparison, best kept (the peers run ``--repeats`` times)."""
MEMORY_CHECK_MIN_COMMITS = 30_000
MEMORY_CHECK_MIN_FILES = 5_000

FLOOR = "git diff-tree (floor)"
FLOOR_OWN = "git diff-tree (gitstream cmd)"


@dataclass
class Job:
    """One command to measure and how to read what it did."""

    name: str
    kind: str
    argv: list[str]
    commits: int | None = None
    stdin: Path | None = None
    capture: bool = False
    analyzer: str | None = None
    budget: str | None = None
    result_path: Path | None = None
    workers: int | None = None
    min_repeats: int = 1
    """Runs at least this many times whatever ``--repeats`` says (the best one is kept)."""
    runs: list[Measurement] = field(default_factory=list)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark gitstream against git's diff floor, pygit2 and its peers.",
    )
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="generated histories: 2k,20k:8000,...")
    p.add_argument(
        "--content",
        choices=histories.CONTENTS,
        default="real",
        help="generated files and edits: real (source-code sized) or small (tens of lines)",
    )
    p.add_argument("--repo", action="append", default=[], help="a real repository (repeatable)")
    p.add_argument("--budgets", default=DEFAULT_BUDGETS, help="memory budgets for gitstream")
    p.add_argument("--speed-budget", help="budget of the per-analyzer rows (default: largest)")
    p.add_argument("--analyzers", help="comma-separated (default: `gitstream analyzers --names`)")
    p.add_argument("--out", default="benchmarks/results.json", help="results JSON")
    p.add_argument("--quick", action="store_true", help="2k only, no memory check: a smoke run")
    p.add_argument("--cache", default="benchmarks/.cache", help="generated repositories")
    p.add_argument("--repeats", type=int, default=1, help="runs per command; best time kept")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per command")
    p.add_argument(
        "--memory-check",
        default=MEMORY_CHECK_SIZE,
        help="history of issue 4's memory check ('off' to skip)",
    )
    p.add_argument("--memory-check-budgets", default=MEMORY_CHECK_BUDGETS)
    p.add_argument("--full-matrix", action="store_true", help="every analyzer at every budget")
    p.add_argument("--no-pygit2", action="store_true", help="skip the (slow) pygit2 walk")
    p.add_argument("--no-peers", action="store_true", help="skip PyDriller and git-of-theseus")
    p.add_argument("--peers-venv", default="benchmarks/.venv-peers")
    p.add_argument(
        "--pydriller-on",
        default=PYDRILLER_SIZE,
        help="also run PyDriller on this generated size, where the targets are measured "
        "('off' to skip; git-of-theseus stays on the smallest history)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = QUICK_SIZE
        args.memory_check = "off"
        args.pydriller_on = "off"
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    try:
        args.size_list = histories.parse_sizes(args.sizes, args.content)
        args.check_size = (
            None
            if args.memory_check.lower() == "off"
            else histories.parse_size(args.memory_check, args.content)
        )
        args.pydriller_label = (
            None
            if args.pydriller_on.lower() == "off"
            else histories.parse_size(args.pydriller_on, args.content).label
        )
        args.budget_list = _budgets(args.budgets)
        args.check_budgets = _budgets(args.memory_check_budgets)
    except (ValueError, UsageError) as exc:
        p.error(str(exc))
    if args.speed_budget is None:
        args.speed_budget = max(args.budget_list, key=lambda b: b[1] or 1 << 62)[0]
    elif all(b != args.speed_budget for b, _ in args.budget_list):
        args.budget_list.append((args.speed_budget, _budgets(args.speed_budget)[0][1]))
    return args


def _budgets(text: str) -> list[tuple[str, int | None]]:
    return [(b.strip(), parse_size(b.strip())) for b in text.split(",") if b.strip()]


def _git_out(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "gitstream_commit": _git_out("-C", str(ROOT), "rev-parse", "--short", "HEAD"),
        "worktree_dirty": bool(_git_out("-C", str(ROOT), "status", "--porcelain")),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_total_bytes": psutil.virtual_memory().total,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "git": _git_out("--version"),
        "pygit2": getattr(pygit2, "__version__", "?"),
        "libgit2": pygit2.LIBGIT2_VERSION,
        "argv": sys.argv,
    }


class Bench:
    """One benchmark run: its options, environment, scratch directory and results."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], tmp: Path) -> None:
        self.args = args
        self.env = env
        self.tmp = tmp
        self.out = Path(args.out)
        self.log = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
        self.gitstream = self._gitstream_cmd()
        self.has_workers = self._supports("--workers")
        self.analyzers: list[str] = []
        self.results: dict[str, Any] = {"meta": _machine(), "histories": []}

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _gitstream_cmd() -> list[str]:
        script = Path(sys.executable).with_name("gitstream")
        if script.exists():
            return [str(script)]
        found = shutil.which("gitstream")
        if found:
            return [found]
        return [sys.executable, "-c", "from gitstream.cli import main; main()"]

    def _supports(self, option: str) -> bool:
        done = subprocess.run(
            [*self.gitstream, "analyze", "--help"],
            capture_output=True,
            text=True,
            env={**self.env, "COLUMNS": "200"},
            check=False,
        )
        return option in done.stdout

    def list_analyzers(self) -> list[str]:
        if self.args.analyzers:
            return [a.strip() for a in self.args.analyzers.split(",") if a.strip()]
        done = subprocess.run(
            [*self.gitstream, "analyzers", "--names"],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"cannot list analyzers: {done.stderr.strip()}")
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    def save(self) -> None:
        self.results["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        self.results["targets"] = report.compute_targets(self.results)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.results, indent=2) + "\n")
        os.replace(tmp, self.out)

    def _one(self, job: Job) -> Measurement:
        stdout = self.tmp / "stdout.txt" if job.capture else None
        try:
            m = measure(
                job.name,
                job.argv,
                env=self.env,
                stdin_path=job.stdin,
                stdout_path=stdout,
                cwd=ROOT,
                timeout_s=self.args.timeout,
            )
        except Exception as exc:  # a benchmark bug in one row must not lose the others
            m = Measurement(name=job.name, argv=job.argv, error=f"{type(exc).__name__}: {exc}")
        if m.ok and stdout is not None:
            try:
                m.extra["output"] = json.loads(stdout.read_text().strip().splitlines()[-1])
            except (OSError, ValueError, IndexError) as exc:
                m.error = f"unreadable output: {exc}"
        if job.result_path is not None:
            if m.ok:
                try:
                    with open(job.result_path) as fh:
                        m.extra["run"] = json.load(fh).get("run") or {}
                except (OSError, ValueError) as exc:
                    m.error = f"unreadable result: {exc}"
            with contextlib.suppress(OSError):
                job.result_path.unlink()
        rss = "-" if m.peak_rss_bytes is None else f"{m.peak_rss_bytes / 2**20:.0f} MiB"
        took = "-" if m.wall_s is None else f"{m.wall_s:.2f} s"
        state = "ok" if m.ok else f"[red]{m.error}[/red]"
        self.log.log(f"  {job.name}: {took}, peak {rss}, load {m.load_before} {state}")
        return m

    def run_jobs(self, jobs: list[Job]) -> list[dict[str, Any]]:
        """Measure ``jobs`` round-robin ``--repeats`` times (or a job's ``min_repeats``); one
        row per job, floor-relative."""
        wanted = [max(self.args.repeats, job.min_repeats) for job in jobs]
        for k in range(max(wanted, default=0)):
            for job, runs in zip(jobs, wanted, strict=True):
                if k < runs:
                    job.runs.append(self._one(job))
        rows = [_row(job, best_of(job.runs)) for job in jobs]
        report.apply_floor(rows)
        return rows

    # -- jobs -------------------------------------------------------------------------------

    def speed_caps(self, h: History) -> GitCaps:
        """The caps gitstream plans for one git at the speed budget (delta cache included)."""
        config = AnalysisConfig(
            repo=h.path, memory_bytes=parse_size(self.args.speed_budget), workers=1
        )
        return prepare(config).git

    def floor_jobs(self, h: History, *, full: bool = True) -> list[Job]:
        gd = str(h.git_dir)
        plain = ["git", "--git-dir", gd, "diff-tree", "--stdin", "-r", "--root", "-M", "-p"]
        jobs = [Job(FLOOR, "floor", [*plain, "-U0"], h.first_parent_commits, stdin=h.pairs)]
        if not full:
            return jobs
        jobs.append(
            Job(
                FLOOR_OWN,
                "git_cmd",
                # the caps a 1-worker run at the speed budget gives its git
                diff_tree_command(gd, renames=True, caps=self.speed_caps(h)),
                h.first_parent_commits,
                stdin=h.pairs,
            )
        )
        jobs.append(
            Job(
                "git log --numstat",
                "git_log",
                ["git", "--git-dir", gd, "log", "--first-parent", "--numstat", "HEAD"],
                h.first_parent_commits,
            )
        )
        if not self.args.no_pygit2:
            jobs.append(
                Job(
                    "pygit2 hunk walk",
                    "pygit2",
                    [sys.executable, "-m", "benchmarks.pygit2_walk", gd, str(h.pairs)],
                    h.first_parent_commits,
                    capture=True,
                )
            )
        return jobs

    def gitstream_job(
        self, h: History, analyzers: list[str], budget: str, workers: int | None = None
    ) -> Job:
        """``gitstream analyze`` with ``analyzers`` (all of them: the "all" row) at ``budget``.

        ``workers`` None leaves gitstream's default (2 when it has two cores and room).
        """
        if analyzers == self.analyzers:
            analyzer, name = "all", "gitstream all"
            if len(analyzers) == 1:
                name += f" (= {analyzers[0]})"
        else:
            analyzer, name = ",".join(analyzers), f"gitstream -a {','.join(analyzers)}"
        extra: list[str] = []
        if workers is not None and self.has_workers:
            extra = ["--workers", str(workers)]
            name += f", {workers} worker{'s' if workers > 1 else ''}"
        else:
            workers = None
        out = self.tmp / f"result-{len(os.listdir(self.tmp))}.json"
        argv = [*self.gitstream, "analyze", "-q", "-o", str(out), "--memory", budget, *extra]
        argv += ["-a", ",".join(analyzers), str(h.path)]
        return Job(
            name,
            "gitstream",
            argv,
            h.first_parent_commits,
            analyzer=analyzer,
            budget=budget,
            result_path=out,
            workers=workers,
        )

    def history_jobs(self, h: History) -> list[Job]:
        """Baselines; each analyzer alone and all together with one worker at the speed
        budget (the floor target's rows), all together with two workers there (the two-core
        target's row); all together at every budget, default workers."""
        jobs = self.floor_jobs(h)
        speed = self.args.speed_budget
        singles = self.analyzers if len(self.analyzers) > 1 else []
        budgets = [b for b, _ in self.args.budget_list]
        for a in singles:
            for b in budgets if self.args.full_matrix else [speed]:
                jobs.append(self.gitstream_job(h, [a], b, workers=1))
        if self.has_workers:
            jobs.append(self.gitstream_job(h, self.analyzers, speed, workers=1))
            jobs.append(self.gitstream_job(h, self.analyzers, speed, workers=2))
        jobs += [self.gitstream_job(h, self.analyzers, b) for b in budgets]
        return jobs

    def warm_up(self, h: History) -> None:
        """One unrecorded floor run, so the first measured command does not pay a cold cache."""
        self.log.log(f"  warm-up: {FLOOR}")
        self._one(self.floor_jobs(h, full=False)[0])

    # -- sections ---------------------------------------------------------------------------

    def prepare_generated(self, size: Size) -> History:
        self.log.log(f"[bold]{size.label}[/bold]: {size.commits} commits, {size.files} files")
        path, build_s, reused = histories.ensure_generated(size, Path(self.args.cache))
        self.log.log(f"  repository {path} ({'reused' if reused else f'built in {build_s} s'})")
        h = histories.prepare(size.label, path, self.tmp, generated=True)
        h.build_s, h.reused = build_s, reused
        return h

    def bench_history(self, h: History, console: Console) -> dict[str, Any]:
        self.log.log(f"[bold]{h.label}[/bold]: {h.first_parent_commits} first-parent commits")
        self.warm_up(h)
        section = {"history": h.to_dict(), "rows": self.run_jobs(self.history_jobs(h))}
        self.results["histories"].append(section)
        self.save()
        title = report.history_title(section)
        console.print(report.rich_table(title, report.history_cells(section)))
        return section

    def memory_check(self, h: History, console: Console) -> None:
        self.log.log(f"[bold]memory check[/bold] on {h.label}")
        self.warm_up(h)
        jobs = self.floor_jobs(h, full=False)
        jobs += [self.gitstream_job(h, self.analyzers, b) for b, _ in self.args.check_budgets]
        rows = self.run_jobs(jobs)
        qualifies = (
            h.first_parent_commits >= MEMORY_CHECK_MIN_COMMITS
            and (h.live_files or 0) >= MEMORY_CHECK_MIN_FILES
        )
        for r in rows:
            if r["kind"] == "gitstream":
                fits = r["ok"] and r["budget_pct"] is not None and r["budget_pct"] <= 100
                r["verdict"] = "PASS" if fits else ("FAIL" if r["ok"] else "FAIL (run failed)")
                self.log.log(f"  memory check at {r['budget']}: {r['verdict']}")
        check = {"history": h.to_dict(), "rows": rows, "qualifies": qualifies}
        self.results["memory_check"] = check
        self.save()
        console.print(
            report.rich_table(
                f"memory check, {report.history_title(check)}", report.memory_check_cells(check)
            )
        )

    def peers(self, h: History, console: Console, *, theseus: bool = True) -> None:
        """PyDriller (and git-of-theseus) against gitstream on ``h``: ``results["peers"]`` for
        the smallest history, ``results["more_peers"]`` for the others (PyDriller only)."""
        self.log.log(f"[bold]peers[/bold] on {h.label}")
        section: dict[str, Any] = {"history": h.label, "rows": [], "comparisons": {}}
        if theseus:
            self.results["peers"] = section
        else:
            self.results.setdefault("more_peers", []).append(section)
        venv = Path(self.args.peers_venv)
        python, status = peers.ensure_venv(venv, self.log)
        section["status"] = status
        if python is None:
            self.log.log(f"  [yellow]peers skipped: {status}[/yellow]")
            self.save()
            return
        theseus_out = self.tmp / "theseus"
        h_args = [str(h.path), str(h.pairs)]
        theseus_out.mkdir(exist_ok=True)
        jobs = [
            Job(
                "PyDriller",
                "pydriller",
                [str(python), str(ROOT / "benchmarks" / "peer_pydriller.py"), *h_args],
                capture=True,
            )
        ]
        if theseus:
            jobs.append(
                Job(
                    "git-of-theseus-analyze",
                    "theseus",
                    peers.theseus_argv(venv, h.path, theseus_out, h.branch),
                )
            )
        speed = self.args.speed_budget
        ours = [self.gitstream_job(h, self.analyzers, speed)]
        if theseus and "burndown" in self.analyzers and len(self.analyzers) > 1:
            ours.append(self.gitstream_job(h, ["burndown"], speed))
        for job in ours if theseus else ():
            # A second on the smallest history, where a busy moment of this shared machine is
            # a large part of one run; the peers' runs take a minute or more and vary far less.
            job.min_repeats = PEER_COMPARISON_REPEATS
        jobs += ours
        rows = self.run_jobs(jobs)
        by_kind = {(r["kind"], r.get("analyzer")): r for r in rows}
        pd = by_kind.get(("pydriller", None))
        th = by_kind.get(("theseus", None))
        all_row = by_kind.get(("gitstream", "all"))
        bd_row = by_kind.get(("gitstream", "burndown"))
        if bd_row is None and self.analyzers == ["burndown"]:
            bd_row = all_row
        cmp = section["comparisons"]
        if pd and pd["ok"]:
            pd["commits"] = (pd.get("output") or {}).get("commits")
            if pd["commits"] and pd["wall_s"]:
                pd["commits_per_s"] = round(pd["commits"] / pd["wall_s"], 1)
        if pd and all_row and pd.get("commits_per_s") and all_row.get("commits_per_s"):
            x = all_row["commits_per_s"] / pd["commits_per_s"]
            cmp["pydriller_speedup"] = round(x, 2)
            cmp["pydriller_detail"] = (
                f"gitstream all {all_row['commits_per_s']:,.0f} vs PyDriller "
                f"{pd['commits_per_s']:,.0f} commits/s"
            )
            pd["versus"] = f"{x:.1f}x faster (all analyzers)"
        else:
            cmp["pydriller_detail"] = "PyDriller or gitstream run failed"
        if theseus:
            cmp["theseus_detail"] = _theseus_comparison(th, bd_row, cmp)
        section["rows"] = rows
        self.save()
        console.print(report.rich_table(f"peers on {h.label}", report.peers_cells(section)))


def _theseus_comparison(
    th: dict[str, Any] | None, bd_row: dict[str, Any] | None, cmp: dict[str, Any]
) -> str:
    """The theseus comparison's detail; its speed-up goes into ``cmp`` when both ran."""
    if th and th["ok"] and bd_row and bd_row["ok"]:
        x = th["wall_s"] / bd_row["wall_s"]
        cmp["theseus_speedup"] = round(x, 2)
        th["versus"] = f"{x:.1f}x faster (burndown)"
        return f"gitstream -a burndown {bd_row['wall_s']:.2f} s vs theseus {th['wall_s']:.2f} s"
    if bd_row is None:
        return "no burndown analyzer registered"
    return "git-of-theseus or gitstream burndown failed"


def _row(job: Job, m: Measurement) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": job.kind,
        "analyzer": job.analyzer,
        "budget": job.budget,
        "workers": job.workers,
    }
    row.update(m.to_dict())
    row["commits"] = job.commits
    row["commits_per_s"] = (
        round(job.commits / m.wall_s, 1) if m.ok and job.commits and m.wall_s else None
    )
    row["budget_bytes"] = parse_size(job.budget) if job.budget else None
    row["budget_pct"] = (
        round(100 * m.peak_rss_bytes / row["budget_bytes"], 1)
        if m.ok and row["budget_bytes"] and m.peak_rss_bytes
        else None
    )
    extra = row.pop("extra", {})
    if "output" in extra:
        row["output"] = extra["output"]
    run = extra.get("run")
    if run:
        duration = run.get("duration_s") or 0
        hib_boot_ms = (run.get("hibernate_ms") or 0) + (run.get("boot_ms") or 0)
        row["run"] = {
            "duration_s": duration,
            "chunks": run.get("chunks"),
            "hibernations": run.get("hibernations"),
            "emergency_hibernations": run.get("emergency_hibernations"),
            "hibernate_ms": run.get("hibernate_ms"),
            "boot_ms": run.get("boot_ms"),
            "hib_boot_pct": round(100 * hib_boot_ms / 1000 / duration, 2) if duration else None,
            "replans": (run.get("adaptive") or {}).get("replan_count"),
            "chunk_size": (run.get("schedule") or {}).get("chunk_size"),
            "spill_bytes": run.get("spill_bytes"),
            "self_reported_peak_rss_bytes": run.get("peak_rss_bytes"),
        }
    return row


@contextlib.contextmanager
def _environment() -> Iterator[tuple[dict[str, str], Path]]:
    """A hermetic git environment (no user or system config) and a scratch directory."""
    with hermetic_git_env() as env, tempfile.TemporaryDirectory(prefix="gitstream-bench-") as t:
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        yield env, Path(t)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # measure() then kills the command it is waiting for


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    console = Console(width=None if sys.stdout.isatty() else 200)
    # gitstream measured as installed: an editable install has no bytecode until a run writes
    # it, and none is written where PYTHONDONTWRITEBYTECODE is set (~30 ms on every start).
    compileall.compile_dir(ROOT / "gitstream", quiet=1)
    with _environment() as (env, tmp):
        bench = Bench(args, env, tmp)
        bench.analyzers = bench.list_analyzers()
        meta = bench.results["meta"]
        meta.update(
            analyzers=bench.analyzers,
            budgets=[b for b, _ in args.budget_list],
            speed_budget=args.speed_budget,
            workers_option=bench.has_workers,
            repeats=args.repeats,
            sample_interval_s=0.05,
        )
        bench.log.log(
            f"gitstream {meta['gitstream_commit']}{' (dirty)' if meta['worktree_dirty'] else ''}"
            f", {meta['nproc']} CPUs, load {meta['loadavg_start']}, analyzers {bench.analyzers}"
        )
        prepared: dict[str, History] = {}
        smallest: History | None = None
        for size in sorted(args.size_list, key=lambda s: s.commits):
            try:
                h = prepared[size.label] = bench.prepare_generated(size)
            except Exception as exc:  # one broken history must not stop the others
                bench.log.log(f"[red]{size.label}: cannot prepare: {exc}[/red]")
                bench.results["histories"].append(
                    {"history": {"label": size.label, "error": str(exc)}, "rows": []}
                )
                continue
            bench.bench_history(h, console)
            if smallest is None:
                smallest = h
                if not args.no_peers:
                    bench.peers(h, console)
            elif size.label == args.pydriller_label and not args.no_peers:
                bench.peers(h, console, theseus=False)
        for repo in args.repo:
            path = Path(repo)
            try:
                h = histories.prepare(path.resolve().name, path, tmp, generated=False)
            except Exception as exc:
                bench.log.log(f"[red]{repo}: cannot prepare: {exc}[/red]")
                continue
            bench.bench_history(h, console)
            if smallest is None and not args.no_peers:
                smallest = h
                bench.peers(h, console)
        if args.check_size is not None:
            size = args.check_size
            try:
                h = prepared.get(size.label) or bench.prepare_generated(size)
                bench.memory_check(h, console)
            except Exception as exc:
                bench.log.log(f"[red]memory check: cannot prepare {size.label}: {exc}[/red]")
        bench.save()
        console.print(report.rich_table("targets", report.targets_cells(bench.results["targets"])))
        end = bench.results["meta"]["loadavg_end"]
        console.print(f"load average: start {meta['loadavg_start']}, end {end}")
        console.print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
