"""Shared by the benchmarks: run a child process and read its wall time and peak memory."""

from __future__ import annotations

import os
import resource
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
    peak_tree_gib: float = float("nan")  # with ``tree_memory``: the child and its own children
    cpu_seconds: float = float("nan")  # user + system of the child and every process it waited for


def run_child(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
              tree_memory: bool = False) -> ChildRun:
    """Run ``argv``; wall time and the peak RSS the child reports (see ``python_module``).

    With ``tree_memory``, also the peak of the memory of the child and every process it
    forks: their proportional set sizes (PSS: a page shared by k processes counts 1/k to
    each, so pages a forked child shares with its parent are counted once), summed, sampled
    every ``TREE_SAMPLE_SECONDS``. Sampling can miss a peak shorter than that.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or dict(os.environ), cwd=cwd)
    sampler = _TreeSampler(proc.pid) if tree_memory else None
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    tree = sampler.stop() if sampler else float("nan")
    if proc.returncode:
        sys.stderr.write(err[-4000:])
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(argv)}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak = _peak_from_stderr(err)
    return ChildRun(seconds=seconds, peak_rss_gib=peak, stdout=out, peak_tree_gib=tree, cpu_seconds=cpu)


#: One sample of a training run at 1M cases takes about 45 ms (the kernel walks the page
#: tables), and the run's memory stays on plateaus of many seconds: every 2 s costs the
#: measured run about 2% of one core, where every 0.25 s cost it 18%.
TREE_SAMPLE_SECONDS = 2.0


class _TreeSampler:
    """Samples the summed PSS of a process and its descendants on a thread, keeping the peak."""

    def __init__(self, pid: int):
        import threading

        self._pid, self._peak_kib, self._done = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self._peak_kib / 2**20

    def _run(self) -> None:
        while not self._done.wait(TREE_SAMPLE_SECONDS):
            self._peak_kib = max(self._peak_kib, sum(_pss_kib(p) for p in _tree(self._pid)))


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:  # it ended meanwhile
            continue
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


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
