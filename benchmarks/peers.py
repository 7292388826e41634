"""The peers' own virtualenv (PyDriller, git-of-theseus) and how they are invoked.

The peers are installed into ``benchmarks/.venv-peers``, never into gitstream's venv (their
pins, GitPython and matplotlib have no business next to gitstream), with ``python3 -m venv``
and ``pip install pydriller git-of-theseus`` from PyPI, on demand. If that fails (no network,
no pip) the peers are skipped with the reason; nothing else is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

PACKAGES = ("pydriller", "git-of-theseus")
_IMPORT_CHECK = "import pydriller, git_of_theseus"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _works(venv: Path) -> bool:
    python = _python(venv)
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", _IMPORT_CHECK], capture_output=True, check=False)
    return done.returncode == 0


def ensure_venv(venv: Path, log: Console) -> tuple[Path | None, str]:
    """The peers venv's python (created and filled if needed), or None and why not."""
    if _works(venv):
        return _python(venv), f"ok ({venv})"
    base = shutil.which("python3") or sys.executable
    log.log(f"  creating {venv} and installing {', '.join(PACKAGES)} from PyPI")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    try:
        subprocess.run(
            [base, "-m", "venv", str(venv)], check=True, capture_output=True, env=env, timeout=300
        )
        subprocess.run(
            [str(_python(venv)), "-m", "pip", "install", "--quiet", *PACKAGES],
            check=True,
            capture_output=True,
            env=env,
            timeout=1200,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:]
        return None, f"cannot install the peers: {' '.join(tail) or exc}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"cannot install the peers: {exc}"
    if not _works(venv):
        return None, f"the peers do not import in {venv} after installing"
    return _python(venv), f"ok (installed into {venv})"


def theseus_argv(venv: Path, repo: Path, outdir: Path, branch: str) -> list[str]:
    """``git-of-theseus-analyze`` at its defaults (weekly samples, 2 processes), every file.

    ``--all-filetypes`` because gitstream's burndown counts every text file, where theseus by
    default keeps only the extensions it knows; ``--branch`` because its default is master.
    """
    return [
        str(venv / "bin" / "git-of-theseus-analyze"),
        str(repo),
        "--outdir",
        str(outdir),
        "--branch",
        branch,
        "--all-filetypes",
        "--quiet",
    ]
