"""Shared fixtures: small generated caseloads, and a trained model in a temporary MLflow store.

Training once per session keeps the suite inside its time budget; tests that
need their own store (promotion, registry errors) make one in ``tmp_path``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import chromium  # noqa: F401  (one session-wide browser for every browser test)
from hypothesis import settings

# CI replays the same examples every run (a red build is then a real regression, reproducible
# from the log); local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

TRAIN_CASES = 6000


@pytest.fixture(scope="session")
def caseload():
    from stalkrisk.synth import generate

    return generate(TRAIN_CASES, seed=11)


@pytest.fixture(scope="session")
def caseload_files(tmp_path_factory, caseload):
    from stalkrisk.synth import write_caseload

    out = tmp_path_factory.mktemp("caseload")
    return write_caseload(caseload, out, fmt="csv")


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """A session-wide SQLite tracking store in a temporary folder (artifacts beside it)."""
    root = tmp_path_factory.mktemp("mlflow")
    old_cwd, old_uri = Path.cwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    yield root
    os.chdir(old_cwd)
    if old_uri is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old_uri


@pytest.fixture(scope="session")
def trained(mlflow_store, caseload_files):
    """One `stalkrisk train` run into the session store: the TrainSummary. With three rolling
    origins (off by default), so the model card and the run show the spread."""
    from stalkrisk.pipelines.train import run

    config = mlflow_store / "rolling.yaml"
    config.write_text("evaluation:\n  rolling:\n    origins: 3\n", encoding="utf-8")
    return run(
        caseload_files["cases"], caseload_files["events"], truth=caseload_files["truth"],
        out=mlflow_store / "card", register="stalkrisk", config=config,
    )


@pytest.fixture(scope="session")
def scored_dir(trained, caseload_files, tmp_path_factory):
    """A scoring output folder made with the session's candidate model."""
    from stalkrisk.pipelines.score import run

    out = tmp_path_factory.mktemp("scored") / "out"
    run(caseload_files["cases"], caseload_files["events"], out,
        model=f"models:/stalkrisk/{trained.version}", review="flagged", quiet=True)
    return out


@pytest.fixture(scope="session")
def loaded_model(trained):
    """The session's registered model, loaded back through MLflow."""
    from stalkrisk.tracking.registry import load_model

    return load_model(f"models:/{trained.name}/{trained.version}")


@pytest.fixture(scope="session")
def features_sample(caseload):
    """As-of features of the first 1,500 generated cases."""
    from stalkrisk.features import build_features

    cases = caseload.cases.head(1500)
    events = caseload.events[caseload.events["case_id"].isin(set(cases["case_id"]))]
    return build_features(cases, events)
