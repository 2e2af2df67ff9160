"""shap, imported so that the import cannot keep its caller's data alive.

shap records the ImportError of each optional dependency it lacks (cv2, pyspark, ...) in
``shap.utils._general.import_errors`` for the life of the process, traceback included,
and a traceback holds every frame that led to the import. The first ``import shap``
inside one of our functions therefore pinned that function and all its callers: an
in-process training run kept the whole caseload alive until exit. Imported on a thread of its own, the
recorded tracebacks reach only that thread's frames.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType


def _import_quietly() -> None:
    try:
        importlib.import_module("shap")
    except ImportError:
        pass  # raised again by the caller's own import, in its own thread


def shap() -> ModuleType:
    """The ``shap`` module, imported on first use on a short-lived thread of its own."""
    if "shap" not in sys.modules:
        thread = threading.Thread(target=_import_quietly, name="stalkrisk-shap-import", daemon=True)
        thread.start()
        thread.join()
    return importlib.import_module("shap")
