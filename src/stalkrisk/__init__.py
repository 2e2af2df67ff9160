"""stalkrisk: screen stalking caseloads for cases where an SPO should be considered.

The few functions a notebook user needs; everything else is internal::

    from stalkrisk import generate, load_and_validate, build_features, train_model, load_model, score_features
"""

from __future__ import annotations

import os

# Forces run closed networks and the data is sensitive: MLflow 3 sends usage telemetry
# unless told not to, so it stays off here unless the user sets the variable themselves.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Nothing from a model store is unpickled in a stalkrisk process: models are read as data
# (tracking.model_files), and MLflow's own deserialisation of pickles stays off.
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
# Loading a model downloads its few small files: stalkrisk shows its own progress, not MLflow's bar.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "build_features",
    "explain",
    "generate",
    "load_and_validate",
    "load_model",
    "score_features",
    "train_model",
]

_EXPORTS = {
    "build_features": "stalkrisk.features.build",
    "explain": "stalkrisk.explain.reasons",
    "generate": "stalkrisk.synth.caseload",
    "load_and_validate": "stalkrisk.validation.suite",
    "load_model": "stalkrisk.tracking.registry",
    "score_features": "stalkrisk.scoring",
    "train_model": "stalkrisk.training.fit",
}


def __getattr__(name: str):
    """Import on first use: the command line stays quick to start for `--help`."""
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'stalkrisk' has no attribute {name!r}")
