"""The training steps overlapped: the speed machinery behind ``train_steps.TrainSteps``.

Measured at a million cases (docs/design-notes.md has the figures and the history):
- the libraries training needs are imported on a thread while the files are read (Arrow
  releases the GIL), with the cyclic collector paused and what exists then frozen;
- validation runs in a forked child (it imports Great Expectations itself) while this process
  builds features and labels and bins LightGBM's datasets; that work is kept only when every row
  passed, otherwise it is done again on the validated tables, so dirty input gives the same model;
- a second child makes a new SQLite tracking store's tables meanwhile (never stopped half way);
- a child draws three charts while this process logs and registers the model.
Where ``fork`` is not offered the run uses ``Serial`` instead (``can_overlap``).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from stalkrisk._runtime.forked import in_child
from stalkrisk._runtime.preload import collector_paused, preload
from stalkrisk.data.readers import ReadResult, check_file, read_cases, read_events
from stalkrisk.pipelines.train_steps import (
    CHILD_FIGURES,
    Drawing,
    Inputs,
    read_truth,
    save_figures,
    shap_sample,
    use_experiment,
)
from stalkrisk.tracking.store_uri import store_modules
from stalkrisk.validation.suite import ValidationResult, Verdict, judge

if TYPE_CHECKING:
    from stalkrisk._runtime.forked import Pending
    from stalkrisk.training.fit import Ahead, Prepared, TrainResult

log = logging.getLogger(__name__)

#: Imported beside reading. Not Great Expectations: only the validating child needs it.
LIBRARIES = ("mlflow", "stalkrisk.training.fit", "stalkrisk.tracking.registry", "stalkrisk.report.charts",
             "stalkrisk.report.modelcard", "shap")


def can_overlap() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _judge_unfrozen(cases_r: ReadResult, events_r: ReadResult) -> Verdict:
    """``judge`` in a child forked while the parent's collector is paused: the objects it
    inherits are frozen (a collection does not write to the pages it shares with the parent)
    and its own are collected."""
    gc.freeze()
    gc.enable()
    return judge(cases_r, events_r)


class Overlapped:
    """``TrainSteps`` with the work overlapped; use as a context manager (it holds children and
    leaves the collector frozen until the run ends)."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._verdict: Pending[Verdict] | None = None

    def __enter__(self) -> Overlapped:
        self._stack.__enter__()
        self._stack.callback(gc.unfreeze)  # what ``read`` froze is collectable again at the end
        return self

    def __exit__(self, *exc) -> None:
        self._stack.__exit__(*exc)

    def read(self, cases: str | Path, events: str | Path, truth: str | Path | None) -> Inputs:
        for path in (cases, events):
            check_file(path)  # before anything starts: a wrong path fails at once
        with collector_paused():
            loading = preload(*LIBRARIES, *store_modules())
            cases_r, events_r = read_cases(cases), read_events(events)
            # Validation starts as soon as the tables are read, in a child that imports Great
            # Expectations beside this process's own imports (forked between two of them).
            with loading.paused():
                self._verdict = self._stack.enter_context(in_child(_judge_unfrozen, cases_r, events_r))
            truth_frame = read_truth(truth)
            loading.join()
        return Inputs(cases_r, events_r, truth_frame)

    def validate_and_prepare(self, inputs: Inputs, config: dict, experiment: str
                             ) -> tuple[ValidationResult, Prepared, Ahead | None]:
        from stalkrisk.tracking.registry import configure

        configure()
        # A new SQLite store's tables take seconds to make, so a child makes them (with the
        # experiment) while the tables read are validated. Forked after MLflow is imported and
        # the store configured here, it does neither again.
        store = in_child(use_experiment, experiment)
        try:
            def set_experiment() -> None:  # the store is ready by now (measured): this only reads it
                store.result()
                use_experiment(experiment)

            return _validate_and_prepare(inputs, self._verdict, config, meanwhile=set_experiment)
        finally:
            store.settle()  # never stopped half way: a store whose tables are half made cannot be opened

    def draw_beside(self, result: TrainResult, folder: Path) -> Drawing:
        sample, contributions = shap_sample(result)
        return self._stack.enter_context(in_child(save_figures, result, sample, contributions, folder, CHILD_FIGURES))


def _validate_and_prepare(inputs: Inputs, verdict: Pending[Verdict], config: dict,
                          meanwhile: Callable[[], None]) -> tuple[ValidationResult, Prepared, Ahead | None]:
    """Build the features and labels of the tables read while the forked child ``verdict``
    validates them, call ``meanwhile``, then bin LightGBM's datasets (``look_ahead``).

    That work is done before the verdict is known, so it is kept only when every row passed
    (the validated tables are then the tables read); otherwise, or when it failed on
    unvalidated rows, the features are built again from the validated tables and the rest is
    left to ``fit_and_evaluate`` (``None``).
    """
    from stalkrisk.training.fit import look_ahead, prepare

    cases_r, events_r = inputs.cases, inputs.events
    prepared: Prepared | None = None
    ahead: Ahead | None = None
    try:
        prepared = prepare(cases_r.frame, events_r.frame, config)
        ahead = look_ahead(prepared, config)
    except Exception:  # unvalidated rows may break either; the verdict decides below
        log.debug("features or datasets of the unvalidated tables failed", exc_info=True)
    meanwhile()
    judged = verdict.result()
    validation = judged.apply(cases_r, events_r)
    if prepared is None or not judged.clean:
        prepared, ahead = prepare(validation.cases, validation.events, config), None
    return validation, prepared, ahead
