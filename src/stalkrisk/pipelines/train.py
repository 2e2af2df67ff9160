"""The training pipeline: validate, train, evaluate, log to MLflow, register.

``stalkrisk train`` and the MLproject ``train`` entry point call ``run``.

The libraries training needs (``LIBRARIES``) are imported on a thread while the input
files are read, so this module imports them inside its functions, not at the top.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pandas as pd
import yaml

from stalkrisk import __version__
from stalkrisk.config import load_fairness_config, load_train_config
from stalkrisk._runtime.forked import in_child
from stalkrisk.io_utils import atomic_write_text
from stalkrisk._runtime.preload import collector_paused, preload, thawed_after
from stalkrisk.progress import Stages
from stalkrisk.data.readers import ReadResult, check_file, read_cases, read_events
from stalkrisk.tracking.store_uri import store_modules
from stalkrisk.validation.suite import ValidationResult, Verdict, judge, write_report

if TYPE_CHECKING:
    from stalkrisk._runtime.forked import Pending
    from stalkrisk.training.fit import Ahead, Prepared, TrainResult

#: Imported beside reading: 4 s at start-up otherwise, measured at 1M cases. Not Great
#: Expectations (3.3 s): only the validating child needs it, and imports it there, while
#: this process builds features (measured at 1M cases: 2.7 s less reading, 1 s more validating).
LIBRARIES = ("mlflow", "stalkrisk.training.fit", "stalkrisk.tracking.registry", "stalkrisk.report.charts",
             "stalkrisk.report.modelcard", "shap")
# (and MLflow's database store modules, when tracking goes to a database: ``store_modules``)

log = logging.getLogger(__name__)

SHAP_SAMPLE = 2000


@dataclass
class TrainSummary:
    run_id: str
    name: str
    version: str
    metrics: dict[str, float]
    baselines: pd.DataFrame
    warnings: list[str]
    fairness_warnings: list[str]
    fairness_uncertain: list[str]
    model_card: Path
    tracking_uri: str
    quarantined: int
    censored: int

    def table(self) -> str:
        """The metrics table with the baselines, for the terminal."""
        rows = [f"{'score':<22}{'ROC-AUC':>9}{'PR-AUC':>9}{'Brier':>9}"]
        for r in self.baselines.itertuples(index=False):
            brier = "" if pd.isna(r.brier) else f"{r.brier:.3f}"
            rows.append(f"{r.score:<22}{r.roc_auc:>9.3f}{r.pr_auc:>9.3f}{brier:>9}")
        m = self.metrics
        rows.append(
            f"at threshold: precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
            f"flag rate {m['flag_rate']:.3f}  recall@10% {m['recall_at_10pct']:.3f}"
        )
        if "ceiling_roc_auc" in m:
            rows.append(f"ceiling ROC-AUC {m['ceiling_roc_auc']:.3f}; model reaches {m['share_of_ceiling']:.1%} of it")
        return "\n".join(rows)


#: The charts a forked child draws while this process logs the model; this process draws the
#: rest (``PARENT_FIGURES``) once that is done. Measured at 1M cases: about 2.5 s each side;
#: with every chart in the child, the logging waited 2.5 s for it.
CHILD_FIGURES = ("roc_pr.png", "shap_summary.png", "shap_importance.png")
PARENT_FIGURES = ("calibration.png", "score_distribution.png", "fairness.png")


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


def _figures_beside(result: TrainResult, folder: Path) -> Pending[list[Path]]:
    """``save_figures`` of ``CHILD_FIGURES`` started in a forked child."""
    from stalkrisk.explain.reasons import explain

    sample = result.test_features.head(SHAP_SAMPLE)
    exp = explain(result.model, sample, method=result.model.meta["explain_method"])
    return in_child(save_figures, result, sample, exp.contributions, folder, CHILD_FIGURES)


def _judge_unfrozen(cases_r: ReadResult, events_r: ReadResult) -> Verdict:
    """``judge`` in a child forked while the parent's collector is paused: the objects it
    inherits are frozen (a collection does not write to the pages it shares with the parent)
    and its own are collected."""
    gc.freeze()
    gc.enable()
    return judge(cases_r, events_r)


def _validate_and_prepare(cases_r: ReadResult, events_r: ReadResult, verdict: Pending[Verdict], cfg: dict,
                          meanwhile: Callable[[], None]) -> tuple[ValidationResult, Prepared, Ahead | None]:
    """Build the features and labels of the tables read while the forked child ``verdict``
    validates them, call ``meanwhile``, then bin LightGBM's datasets (``look_ahead``).

    That work is done before the verdict is known, so it is kept only when every row passed
    (the validated tables are then the tables read); otherwise, or when it failed on
    unvalidated rows, the features are built again from the validated tables and the rest is
    left to ``fit_and_evaluate`` (``None``). Measured at 1M cases: the child takes about 8 s
    (importing Great Expectations, then validating); features and labels 3 s, ``look_ahead``
    3 s; ``meanwhile`` (the store, made by then) under 1 s. With the logistic baseline and the
    drift reference also computed here, it was 6 s and the stage took 4 s longer.
    """
    from stalkrisk.training.fit import look_ahead, prepare

    prepared: Prepared | None = None
    ahead: Ahead | None = None
    try:
        prepared = prepare(cases_r.frame, events_r.frame, cfg)
        ahead = look_ahead(prepared, cfg)
    except Exception:  # unvalidated rows may break either; the verdict decides below
        log.debug("features or datasets of the unvalidated tables failed", exc_info=True)
    meanwhile()
    judged = verdict.result()
    validation = judged.apply(cases_r, events_r)
    if prepared is None or not judged.clean:
        prepared, ahead = prepare(validation.cases, validation.events, cfg), None
    return validation, prepared, ahead


def _use_experiment(experiment: str) -> None:
    """Make ``experiment`` MLflow's active one (created if need be), unless inside ``mlflow run``,
    where the run and its experiment exist already."""
    import mlflow

    if not os.environ.get("MLFLOW_RUN_ID"):
        mlflow.set_experiment(experiment)


@thawed_after
def run(
    cases: str | Path,
    events: str | Path,
    *,
    config: str | Path | None = None,
    fairness_config: str | Path | None = None,
    experiment: str = "stalkrisk",
    register: str = "stalkrisk",
    truth: str | Path | None = None,
    out: str | Path | None = None,
    quiet: bool = True,
    orders: str | Path | None = None,
) -> TrainSummary:
    """Train on two contract files, log everything to MLflow and register a ``candidate``.

    Unless ``quiet``, each stage is shown on a terminal as it starts (``progress.Stages``).
    """
    started = datetime.now(timezone.utc)
    stages = Stages(5, quiet=quiet)
    cfg = load_train_config(config)
    fair = load_fairness_config(fairness_config)

    stages.start(f"reading {Path(cases).name} and {Path(events).name}")
    for path in (cases, events) + ((orders,) if orders is not None else ()):
        check_file(path)  # before anything starts: a wrong path fails at once
    with ExitStack() as judged:
        with collector_paused():
            loading = preload(*LIBRARIES, *store_modules())
            cases_r, events_r = read_cases(cases), read_events(events)
            # Validation starts as soon as the tables are read, in a child that imports Great
            # Expectations beside this process's own imports (forked between two of them).
            with loading.paused():
                verdict = judged.enter_context(in_child(_judge_unfrozen, cases_r, events_r))
            truth_frame = pd.read_csv(truth, dtype={"case_id": str}, engine="pyarrow") if truth else None
            loading.join()

        import mlflow

        from stalkrisk.tracking import registry as tracking
        from stalkrisk.features.registry import registry_markdown
        from stalkrisk.report.modelcard import card_context, fairness_markdown, render_html, render_markdown
        from stalkrisk.training.fit import fit_and_evaluate

        uri = tracking.configure()
        # A new SQLite store's tables take about 4 s to make, so a child makes them (with the
        # experiment) while the tables read are validated. Forked after MLflow is imported and
        # the store configured here, it does neither again.
        store = in_child(_use_experiment, experiment)
        try:
            def set_experiment() -> None:  # the store is ready by now (measured): this only reads it
                store.result()
                _use_experiment(experiment)

            stages.start(f"validating {len(cases_r.frame):,} cases and {len(events_r.frame):,} events; "
                         "building features, labels and LightGBM's datasets beside")
            validation, prepared, ahead = _validate_and_prepare(cases_r, events_r, verdict, cfg,
                                                                meanwhile=set_experiment)
        finally:
            store.settle()  # never stopped half way: a store whose tables are half made cannot be opened
    if orders is not None:  # the orders fill protective_order_in_force as of each day: features again
        from stalkrisk.training.fit import prepare
        from stalkrisk.validation.orders import apply_orders, read_and_check
        from stalkrisk.validation.suite import SuiteRunner, load_suites, sort_failures

        check = read_and_check(orders, SuiteRunner(load_suites()))
        validation = apply_orders(validation, check)
        validation.failures = sort_failures(pd.concat([validation.failures, check.failures], ignore_index=True))
        validation.inputs["orders"] = {"path": str(check.path), "sha256": check.sha256, "rows": check.rows}
        prepared, ahead = prepare(validation.cases, validation.events, cfg), None
    result = fit_and_evaluate(prepared, cfg, truth=truth_frame, fairness_config=fair, stages=stages, ahead=ahead)
    stages.start("logging to MLflow: plots, model, registration, model card")

    with mlflow.start_run() as active, tempfile.TemporaryDirectory() as tmp, ExitStack() as beside:
        tmp = Path(tmp)
        run_id = active.info.run_id
        mlflow.log_params(tracking.flatten("", cfg))
        mlflow.log_metrics({k: float(v) for k, v in result.metrics.items()})
        tags = {
            "stalkrisk.version": __version__,
            "git_commit": tracking.git_commit(),
            "input.cases.sha256": validation.inputs["cases"]["sha256"],
            "input.events.sha256": validation.inputs["events"]["sha256"],
            "rows.cases": str(len(validation.cases_all)),
            "rows.events": str(validation.counts.get("events", "")),
            "cases.quarantined": str(len(validation.quarantine)),
            "cases.censored": str(result.counts["censored"]),
            "beats_baselines": str(not result.warnings).lower(),
            "fairness_warnings": str(len(result.fairness_warnings)),
            "synthetic": str(truth is not None).lower(),
        }
        if "orders" in validation.inputs:
            tags["input.orders.sha256"] = str(validation.inputs["orders"]["sha256"])
        for name, s in result.split.items():
            tags[f"dates.{name}"] = f"{s['from']}..{s['to']}"
        tags.update({f"package.{k}": v for k, v in tracking.package_versions().items()})
        mlflow.set_tags(tags)

        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        write_report(validation, tmp / "validation_report.json")
        (tmp / "features.md").write_text(registry_markdown(), encoding="utf-8")
        metrics_doc = {
            "metrics": result.metrics,
            "baselines": result.baselines.to_dict(orient="records"),
            "split": result.split,
            "counts": result.counts,
            "warnings": result.warnings,
            "fairness": result.fairness.to_dict(),
            "fairness_warnings": result.fairness_warnings,
            "fairness_uncertain": result.fairness_uncertain,
        }
        (tmp / "metrics.json").write_text(json.dumps(metrics_doc, indent=2, default=str), encoding="utf-8")
        result.baselines.to_csv(tmp / "baselines.csv", index=False)
        figures = beside.enter_context(_figures_beside(result, tmp / "plots"))

        result.model.meta["trained_at"] = started.strftime("%Y-%m-%d")
        example = pd.concat([result.test[["case_id"]].head(5), result.test_features.head(5)], axis=1)
        info = tracking.log_pyfunc(result.model, example, register)
        version = str(info.registered_model_version)
        tracking.set_alias(register, "candidate", version)
        client = mlflow.MlflowClient()
        client.set_model_version_tag(register, version, "beats_baselines", tags["beats_baselines"])
        client.set_model_version_tag(register, version, "fairness_warnings", tags["fairness_warnings"])

        context = card_context(
            model=result.model, name=register, version=version, run_id=run_id,
            trained_at=started.strftime("%Y-%m-%d %H:%M UTC"), metrics=result.metrics,
            baselines=result.baselines, fairness_markdown=fairness_markdown(result.fairness),
            fairness_warnings=result.fairness_warnings, fairness_uncertain=result.fairness_uncertain,
            warnings=result.warnings,
            inputs={Path(cases).name: validation.inputs["cases"]["sha256"], Path(events).name: validation.inputs["events"]["sha256"]},
            synthetic=truth is not None, stalkrisk_version=__version__,
        )
        card_md = render_markdown(context)
        card_dir = Path(out) if out else Path(f"train-output/{register}-v{version}")
        atomic_write_text(card_dir / "model_card.md", card_md)
        atomic_write_text(card_dir / "model_card.html", render_html(card_md, f"Model card: {register} v{version}"))
        atomic_write_text(card_dir / "features.md", registry_markdown())
        save_figures(result, None, None, tmp / "plots", PARENT_FIGURES)
        figures.result()
        mlflow.log_artifacts(str(tmp), artifact_path=None)
        mlflow.log_artifact(str(card_dir / "model_card.md"), artifact_path="model_card")
        mlflow.log_artifact(str(card_dir / "model_card.html"), artifact_path="model_card")
    stages.finish()

    for warning in result.warnings:
        log.warning(warning)
    return TrainSummary(
        run_id=run_id, name=register, version=version, metrics=result.metrics,
        baselines=result.baselines, warnings=result.warnings,
        fairness_warnings=result.fairness_warnings, fairness_uncertain=result.fairness_uncertain,
        model_card=card_dir / "model_card.html",
        tracking_uri=uri, quarantined=len(validation.quarantine), censored=result.counts["censored"],
    )
