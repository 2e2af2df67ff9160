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
