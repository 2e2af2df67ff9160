"""Libraries imported on a thread: every importable one is loaded, a missing one is silent."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import sys
from stalkrisk._runtime.preload import preload
assert "fractions" not in sys.modules and "wave" not in sys.modules
loading = preload("fractions", "no_such_module_for_stalkrisk", "wave")
loading.join()
print(loading.thread.name, loading.thread.daemon, "fractions" in sys.modules, "wave" in sys.modules)
"""


def test_every_importable_module_is_loaded_and_a_missing_one_stops_nothing():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["stalkrisk-preload", "True", "True", "True"]
    assert done.stderr == ""  # no thread traceback for the missing module: its real import reports it


def test_training_preloads_only_modules_that_exist():
    from importlib.util import find_spec

    from stalkrisk.pipelines.train_overlapped import LIBRARIES

    assert [name for name in LIBRARIES if find_spec(name) is None] == []


GC_CHILD = """
import gc
from stalkrisk._runtime.preload import collector_paused, thawed_after

class Cycle:
    def __init__(self):
        self.me = self

before = gc.get_freeze_count()
with collector_paused():
    paused = gc.isenabled()
    kept = [Cycle() for _ in range(3)]
frozen = gc.get_freeze_count() > before
after = gc.isenabled()
del kept
unreached = gc.collect()  # the frozen cycles are not collected

@thawed_after
def fails():
    raise ValueError("x")

try:
    fails()
except ValueError:
    pass
thawed = gc.get_freeze_count()
reached = gc.collect()  # now they are
gc.disable()
with collector_paused():
    pass
print(paused, frozen, after, unreached, thawed, reached >= 3, gc.isenabled())
"""


def test_the_collector_is_paused_then_spares_what_exists_until_thawed():
    done = subprocess.run([sys.executable, "-c", GC_CHILD], capture_output=True, text=True, check=True)
    # paused inside; frozen and enabled after; the cycles made inside survive a collection until
    # thawed (even by a raise), then are collected; a collector off before stays off.
    assert done.stdout.split() == ["False", "True", "True", "0", "0", "True", "False"]


PAUSE_CHILD = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from stalkrisk._runtime.preload import preload
loading = preload("slow_a", "quick_b")
time.sleep(0.1)  # slow_a is being imported
with loading.paused():
    inside = ("slow_a" in sys.modules and getattr(sys.modules["slow_a"], "DONE", False), "quick_b" in sys.modules)
    time.sleep(0.3)
    still = "quick_b" in sys.modules
    pid = os.fork()
    if pid == 0:  # the child imports what the held thread has not: no lock is left held
        import quick_b
        os._exit(0 if quick_b.DONE else 1)
    _, status = os.waitpid(pid, 0)
loading.join()
print(inside, still, os.waitstatus_to_exitcode(status), "quick_b" in sys.modules)
"""


def test_a_paused_preload_holds_between_whole_modules(tmp_path):
    (tmp_path / "slow_a.py").write_text("import time\ntime.sleep(0.4)\nDONE = True\n")
    (tmp_path / "quick_b.py").write_text("DONE = True\n")
    done = subprocess.run([sys.executable, "-c", PAUSE_CHILD, str(tmp_path)], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.split() == ["(True,", "False)", "False", "0", "True"]


FROZEN_CHILD = """
import gc
from stalkrisk._runtime.preload import collector_frozen

class Cycle:
    def __init__(self):
        self.me = self

old = [Cycle() for _ in range(3)]
try:
    with collector_frozen() as settled:
        set_up = [Cycle() for _ in range(4)]
        settled()
        del old, set_up
        inside = gc.collect()  # all seven were alive when frozen: none is collected
        churn = [Cycle() for _ in range(5)]
        del churn
        churned = gc.collect()  # what the loop makes and drops still is
        raise ValueError("x")
except ValueError:
    pass
print(inside, churned >= 5, gc.get_freeze_count(), gc.collect() >= 7)
"""


def test_the_collector_frozen_spares_the_set_up_collects_the_rest_and_thaws_even_on_a_raise():
    done = subprocess.run([sys.executable, "-c", FROZEN_CHILD], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "True", "0", "True"]
