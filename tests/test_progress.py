"""Progress is shown on a terminal only, never with --quiet, and never changes a result."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from stalkrisk import progress
from stalkrisk.model.risk_model import fit_booster


class Terminal:
    """A stand-in for stderr that says whether it is a terminal and keeps what is written."""

    def __init__(self, tty: bool):
        self.tty, self.text = tty, []

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> int:
        self.text.append(s)
        return len(s)

    def flush(self) -> None:
        pass

    def __str__(self) -> str:
        return "".join(self.text)


CASES = ((True, False, True), (True, True, False), (False, False, False))


@pytest.mark.parametrize("tty,quiet,shown", CASES)
def test_scoring_bar_only_on_a_terminal_and_never_when_quiet(monkeypatch, tty, quiet, shown):
    stream = Terminal(tty)
    monkeypatch.setattr(sys, "stderr", stream)
    with progress.bar(10, quiet) as bar:
        bar.update(10)
    assert bool(str(stream)) is shown
    if shown:
        assert "10/10" in str(stream)


def _data(n: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + rng.normal(scale=2.0, size=n) > 0).astype(int)
    return X[: n // 2], y[: n // 2], X[n // 2 :], y[n // 2 :]


def _fit(callbacks=()):
    X, y, Xv, yv = _data()
    return fit_booster(X, y, Xv, yv, feature_names=["a", "b", "c"], monotone=[1, 0, 0],
                       params={"objective": "binary", "num_leaves": 4, "learning_rate": 0.3, "seed": 1,
                               "num_threads": 1},
                       num_boost_round=200, early_stopping_rounds=5, callbacks=callbacks)


@pytest.mark.parametrize("tty,quiet,shown", CASES)
def test_training_stages_and_rounds_only_on_a_terminal(monkeypatch, tty, quiet, shown):
    stream = Terminal(tty)
    monkeypatch.setattr(sys, "stderr", stream)
    stages = progress.Stages(2, quiet=quiet)
    stages.start("reading")
    stages.start("training LightGBM")
    booster = _fit(stages.rounds(200))
    stages.finish()
    text = str(stream)
    assert bool(text) is shown
    if shown:
        assert "[1/2] reading" in text and "[2/2] training LightGBM" in text
        assert "LightGBM" in text and "round" in text and "valid binary_logloss" in text
        # early stopping ended the rounds 5 after the best; the bar closed there, at the stage's end
        assert booster.best_iteration + 5 < 200
        assert f"{booster.best_iteration + 5}/200" in text
        assert text.rstrip().endswith(" s")
    assert not stages._bars


def test_progress_never_changes_the_model(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal(True))
    stages = progress.Stages(1)
    stages.start("training")
    shown = _fit(stages.rounds(200))
    stages.finish()
    assert shown.model_to_string() == _fit().model_to_string()


@pytest.mark.parametrize("quiet", [False, True])
def test_a_scoring_run_shows_its_stages_and_bar_on_a_terminal_unless_quiet(
        monkeypatch, tmp_path, trained, caseload_files, quiet):
    from stalkrisk.pipelines.score import run

    stream = Terminal(True)
    monkeypatch.setattr(sys, "stderr", stream)
    summary = run(caseload_files["cases"], caseload_files["events"], tmp_path / "out",
                  model=f"models:/stalkrisk/{trained.version}", review="none", quiet=quiet)
    text = str(stream)
    if quiet:
        assert text == ""
        return
    n = summary.counts["input_cases"]
    for line in ("[1/3] loading the model", "[2/3] reading cases.csv and events.csv into parts of 50,000 cases",
                 f"[3/3] validating, scoring and explaining {n:,} cases", f"{n}/{n}"):
        assert line in text, line
    ids = pd.read_csv(caseload_files["cases"], dtype=str)["case_id"]
    assert not any(case_id in text for case_id in ids)  # progress never names a case


def test_a_training_run_shows_its_stages_and_the_rounds_on_a_terminal(monkeypatch, tmp_path, mlflow_store,
                                                                             caseload_files):
    from stalkrisk.pipelines.train import run

    stream = Terminal(True)
    monkeypatch.setattr(sys, "stderr", stream)
    run(caseload_files["cases"], caseload_files["events"], out=tmp_path / "card", experiment="progress",
        register="progress", quiet=False)
    text = str(stream)
    # five stages (a sixth, the rolling-origin validation, only when a config asks for origins)
    for k, stage in enumerate(("reading cases.csv and events.csv", "validating 6,000 cases and",
                               "training LightGBM", "calibrating and evaluating", "logging to MLflow"), start=1):
        assert f"[{k}/5] {stage}" in text, stage
    assert "events; building features, labels and LightGBM's datasets" in text
    assert "LightGBM:" in text and "round" in text
