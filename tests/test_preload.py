"""Libraries imported on a thread: every importable one is loaded, a missing one is silent."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import sys
from stalkrisk.preload import preload
assert "fractions" not in sys.modules and "wave" not in sys.modules
thread = preload("fractions", "no_such_module_for_stalkrisk", "wave")
thread.join()
print(thread.name, thread.daemon, "fractions" in sys.modules, "wave" in sys.modules)
"""


def test_every_importable_module_is_loaded_and_a_missing_one_stops_nothing():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["stalkrisk-preload", "True", "True", "True"]
    assert done.stderr == ""  # no thread traceback for the missing module: its real import reports it


def test_training_preloads_only_modules_that_exist():
    from importlib.util import find_spec

    from stalkrisk.pipelines.train import LIBRARIES

    assert [name for name in LIBRARIES if find_spec(name) is None] == []


GC_CHILD = """
import gc
from stalkrisk.preload import collector_paused, thawed_after

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
