"""The steps of a training run that can overlap, and the plain way to take them.

``pipelines.train.run`` reads as its steps: read, validate and prepare, fit, log. Three of them
can run beside other work (validation in a forked child while features are built, imports on a
thread while files are read, charts drawn in a child while the model is logged). That machinery
lives in ``pipelines.train_overlapped.Overlapped`` (over ``_runtime``'s forks and preloading);
``Serial`` here takes the same steps one after the
other, with nothing but the library calls. Both give the same model: a test holds them equal.
The run picks one at its edge (``pipelines.train.steps_for``).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

import pandas as pd

from stalkrisk.data.readers import ReadResult, check_file, read_cases, read_events
from stalkrisk.validation.suite import ValidationResult, judge

if TYPE_CHECKING:
    from stalkrisk.training.fit import Ahead, Prepared, TrainResult


@dataclass
class Inputs:
    """The two tables as read (not yet validated) and the generator's truth, when given."""

    cases: ReadResult
    events: ReadResult
    truth: pd.DataFrame | None


class Drawing(Protocol):
    def result(self) -> list[Path]: ...


class TrainSteps(Protocol):
    """What a training run does, in order; an implementation may overlap the work."""

    def read(self, cases: str | Path, events: str | Path, truth: str | Path | None) -> Inputs: ...

    def validate_and_prepare(self, inputs: Inputs, config: dict, experiment: str
                             ) -> tuple[ValidationResult, Prepared, Ahead | None]: ...

    def draw_beside(self, result: TrainResult, folder: Path) -> Drawing: ...


def read_truth(truth: str | Path | None) -> pd.DataFrame | None:
    return pd.read_csv(truth, dtype={"case_id": str}, engine="pyarrow") if truth else None


def use_experiment(experiment: str) -> None:
    """Make ``experiment`` MLflow's active one (created if need be), unless inside ``mlflow run``,
    where the run and its experiment exist already."""
    import mlflow

    if not os.environ.get("MLFLOW_RUN_ID"):
        mlflow.set_experiment(experiment)


class Serial:
    """Each step in turn, in this process: the reference the overlapped run is held to."""

    def read(self, cases: str | Path, events: str | Path, truth: str | Path | None) -> Inputs:
        for path in (cases, events):
            check_file(path)  # before anything starts: a wrong path fails at once
        return Inputs(read_cases(cases), read_events(events), read_truth(truth))

    def validate_and_prepare(self, inputs: Inputs, config: dict, experiment: str
                             ) -> tuple[ValidationResult, Prepared, None]:
        from stalkrisk.tracking.registry import configure
        from stalkrisk.training.fit import prepare

        validation = judge(inputs.cases, inputs.events).apply(inputs.cases, inputs.events)
        configure()
        use_experiment(experiment)
        return validation, prepare(validation.cases, validation.events, config), None

    def draw_beside(self, result: TrainResult, folder: Path) -> Drawing:
        return _Later(lambda: draw_child_figures(result, folder))


@dataclass
class _Later:
    work: Callable[[], list[Path]]

    def result(self) -> list[Path]:
        return self.work()


#: The charts that may be drawn beside the logging (``draw_beside``); the run draws the rest.
CHILD_FIGURES = ("roc_pr.png", "shap_summary.png", "shap_importance.png")
PARENT_FIGURES = ("calibration.png", "score_distribution.png", "fairness.png")
SHAP_SAMPLE = 2000


def save_figures(result: TrainResult, shap_sample: pd.DataFrame | None, contributions, folder: Path,
                 names: tuple[str, ...] = CHILD_FIGURES + PARENT_FIGURES) -> list[Path]:
    """Draw the run's charts ``names`` and write them as PNG files in ``folder``.

    ``contributions`` are the explanation of ``shap_sample`` (computed by the caller, so this
    can run in a forked child that never starts a thread pool).
    """
    from stalkrisk.report import charts as plots

    test = result.test
    y = test["label"].to_numpy()
    figs = {
        "roc_pr.png": lambda: plots.roc_pr_curves(
            y, {"stalkrisk": test["score"].to_numpy(), "S-DASH count": test["sdash_count"].to_numpy(),
                "logistic regression": test["logistic"].to_numpy()}
        ),
        "calibration.png": lambda: plots.calibration_plot(y, test["score"].to_numpy()),
        "score_distribution.png": lambda: plots.score_distribution(test["score"].to_numpy(), y,
                                                                   result.model.threshold),
        "fairness.png": lambda: plots.fairness_chart(result.fairness),
        "shap_summary.png": lambda: plots.shap_summary(contributions, shap_sample),
        "shap_importance.png": lambda: plots.shap_importance(contributions, shap_sample),
    }
    return [plots.save_figure(figs[name](), folder / name) for name in names]


def shap_sample(result: TrainResult) -> tuple[pd.DataFrame, object]:
    """The test cases the SHAP charts show, and their contributions."""
    from stalkrisk.explain.reasons import explain

    sample = result.test_features.head(SHAP_SAMPLE)
    return sample, explain(result.model, sample, method=result.model.meta.explain_method).contributions


def draw_child_figures(result: TrainResult, folder: Path) -> list[Path]:
    sample, contributions = shap_sample(result)
    return save_figures(result, sample, contributions, folder, CHILD_FIGURES)


@contextmanager
def closing(steps: TrainSteps) -> Iterator[TrainSteps]:
    """Enter ``steps`` when it holds process state (children, a paused collector) to release."""
    if hasattr(steps, "__enter__"):
        with steps:  # type: ignore[attr-defined]
            yield steps
    else:
        yield steps
