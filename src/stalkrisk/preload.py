"""Import libraries on a thread while the main thread reads the input files.

Why: ``stalkrisk train`` needs about 7 s of imports (Great Expectations alone 3.4 s, then
scikit-learn, LightGBM, MLflow, matplotlib, shap). Reading a large Parquet file is mostly
Arrow, which releases the GIL, so the two overlap. Imported on their own thread, shap's
recorded import errors pin no caller's frames either (see ``shap_import``).
"""

from __future__ import annotations

import importlib
import threading


def preload(*modules: str) -> threading.Thread:
    """Start importing ``modules`` in order on a thread; ``join()`` it before using them."""
    thread = threading.Thread(target=_import_all, args=(modules,), name="stalkrisk-preload", daemon=True)
    thread.start()
    return thread


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the caller's own import says what is wrong, where it matters
            pass
