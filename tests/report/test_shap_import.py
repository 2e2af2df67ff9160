"""Importing shap must not keep the caller's data alive (``stalkrisk.report.shap_import``).

shap keeps the traceback of each optional dependency it fails to import, and with it
every frame that led to its import. Each check runs in a fresh interpreter: shap's first
import is the one that matters, and pytest's own process has long imported it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

FIRST_IMPORT = """
import gc, weakref

class Caseload:
    pass

def work():
    caseload = Caseload()
    {load}
    return weakref.ref(caseload)

ref = work()
gc.collect()
print("freed" if ref() is None else "pinned")
"""


def _fresh(code: str, **kwargs) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300, check=True, **kwargs)
    return done.stdout.strip().splitlines()[-1]


def test_a_plain_first_import_of_shap_pins_its_caller():
    """The hazard itself: if shap stops recording tracebacks, ``shap_import`` can go."""
    assert _fresh(FIRST_IMPORT.format(load="import shap")) == "pinned"


def test_shap_import_leaves_its_caller_free():
    load = "from stalkrisk.report import shap_import; shap = shap_import.shap(); assert shap.Explanation"
    assert _fresh(FIRST_IMPORT.format(load=load)) == "freed"


@pytest.mark.parametrize("name", ["shap_summary", "shap_importance"])
def test_first_shap_chart_leaves_its_caller_free(name):
    load = (
        "import numpy as np, pandas as pd; from stalkrisk.report import charts as plots; "
        f"plots.{name}(np.zeros((4, 2)), pd.DataFrame({{'a': [0., 1, 2, 3], 'b': [1., 0, 1, 0]}}))"
    )
    assert _fresh(FIRST_IMPORT.format(load=load)) == "freed"


def test_training_in_process_lets_go_of_the_caseload(tmp_path, caseload_files):
    """After ``pipelines.train.run`` returns, none of its frames or validated frames live on.

    Before the fix the model card's shap charts pinned the run's frame, and with it the
    validated caseload: 3 GiB after a million cases, freed only at exit.
    """
    code = f"""
    import gc, types
    from stalkrisk.pipelines import train
    from stalkrisk.validation.suite import ValidationResult
    train.run({str(caseload_files['cases'])!r}, {str(caseload_files['events'])!r},
              out={str(tmp_path / 'card')!r}, experiment="t", register="t")
    gc.collect()
    live = gc.get_objects()
    frames = sum(isinstance(o, types.FrameType) and o.f_code is train.run.__code__ for o in live)
    results = sum(isinstance(o, ValidationResult) for o in live)
    print(f"frames={{frames}} results={{results}}")
    """
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "PATH": "/usr/bin:/bin",
           "MPLBACKEND": "Agg", "HOME": str(tmp_path)}
    assert _fresh(code, env=env, cwd=tmp_path) == "frames=0 results=0"
