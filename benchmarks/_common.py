"""Shared by the benchmarks: run a child process and read its wall time and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ChildRun:
    seconds: float
    peak_rss_gib: float
    stdout: str


def run_child(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> ChildRun:
    """Run ``argv``; wall time and the peak RSS the child reports (see ``python_module``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or dict(os.environ), cwd=cwd)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode:
        sys.stderr.write(err[-4000:])
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(argv)}")
    peak = _peak_from_stderr(err)
    return ChildRun(seconds=seconds, peak_rss_gib=peak, stdout=out)


def _peak_from_stderr(err: str) -> float:
    for line in reversed(err.splitlines()):
        if line.startswith("PEAK_RSS_KIB="):
            return int(line.split("=", 1)[1]) / 2**20
    return float("nan")


#: The child's own peak: VmHWM of its address space. (Linux carries ``ru_maxrss`` across
#: fork and exec, so a child of a parent holding a generated caseload would report the
#: parent's peak; measured: 3.33 GiB reported for a run whose own peak was 1.59 GiB.)
PEAK_WRAPPER = (
    "import resource, runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    "except SystemExit as e:\n"
    "    code = e.code\n"
    "else:\n"
    "    code = 0\n"
    "try:\n"
    "    status = open('/proc/self/status').read()\n"
    "    peak = int(status.split('VmHWM:')[1].split()[0])\n"
    "except (OSError, IndexError):\n"
    "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "sys.stderr.write(f'\\nPEAK_RSS_KIB={peak}\\n')\n"
    "sys.exit(code)\n"
)


def python_module(module: str, *args: str) -> list[str]:
    """argv running ``python -m module args`` that reports its own peak RSS on stderr."""
    return [sys.executable, "-c", PEAK_WRAPPER, module, *args]
