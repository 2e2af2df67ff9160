"""The seam: the plain steps and the overlapped ones train the same model from the same files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stalkrisk.pipelines.train import run, steps_for
from stalkrisk.pipelines.train_overlapped import Overlapped
from stalkrisk.pipelines.train_steps import CHILD_FIGURES, PARENT_FIGURES, Serial
from stalkrisk.tracking.registry import load_model


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    from stalkrisk.synth import generate, write_caseload

    return write_caseload(generate(2500, seed=21), tmp_path_factory.mktemp("seam"), fmt="csv")


def _train(files, folder: Path, steps):
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    try:
        summary = run(files["cases"], files["events"], truth=files["truth"], out=folder / "card",
                      experiment="seam", register="seam", steps=steps)
        from mlflow import MlflowClient

        plots = sorted(Path(a.path).name for a in MlflowClient().list_artifacts(summary.run_id, "plots"))
        return summary, load_model(f"models:/seam/{summary.version}").model, plots
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI")
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old


def test_plain_and_overlapped_steps_give_the_same_model(small_files, tmp_path):
    (tmp_path / "serial").mkdir()
    (tmp_path / "overlapped").mkdir()
    plain, plain_model, plain_plots = _train(small_files, tmp_path / "serial", Serial())
    fast, fast_model, fast_plots = _train(small_files, tmp_path / "overlapped", Overlapped())
    assert plain_model.booster.model_to_string() == fast_model.booster.model_to_string()
    a, b = plain_model.to_json_dict(), fast_model.to_json_dict()
    a["meta"].pop("trained_at", None), b["meta"].pop("trained_at", None)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert plain.metrics == fast.metrics
    assert (plain.quarantined, plain.censored) == (fast.quarantined, fast.censored)
    assert plain_plots == fast_plots == sorted(CHILD_FIGURES + PARENT_FIGURES)


def test_the_edge_chooses(monkeypatch):
    assert isinstance(steps_for(overlap=False), Serial)
    assert isinstance(steps_for(overlap=True), Overlapped)  # Linux forks
    monkeypatch.setenv("STALKRISK_SERIAL_TRAIN", "1")
    assert isinstance(steps_for(), Serial)
