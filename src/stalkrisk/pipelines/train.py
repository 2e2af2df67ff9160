"""The training pipeline: read, validate, train, evaluate, log to MLflow, register.

``stalkrisk train`` and the MLproject ``train`` entry point call ``run``. It reads as its
steps; how the steps run (one after the other, or overlapped with forks and preloading for
speed) is chosen at the edge, ``steps_for``, behind the ``train_steps.TrainSteps`` seam.
Libraries are imported inside functions: the overlapped steps import them on a thread while
the files are read.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from stalkrisk import __version__
from stalkrisk.config import load_fairness_config, load_train_config
from stalkrisk.data.readers import check_file
from stalkrisk.io_utils import atomic_write_text
from stalkrisk.pipelines.train_steps import (
    PARENT_FIGURES,
    Serial,
    TrainSteps,
    closing,
    save_figures,
)
from stalkrisk.progress import Stages
from stalkrisk.validation.suite import ValidationResult, write_report

if TYPE_CHECKING:
    from stalkrisk.training.fit import TrainResult

log = logging.getLogger(__name__)


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


def steps_for(overlap: bool | None = None) -> TrainSteps:
    """The overlapped steps where the platform forks (Linux), unless ``overlap`` is False or
    ``STALKRISK_SERIAL_TRAIN`` is set; else the plain ``Serial`` steps."""
    from stalkrisk.pipelines.train_overlapped import Overlapped, can_overlap

    if overlap is None:
        overlap = not os.environ.get("STALKRISK_SERIAL_TRAIN")
    return Overlapped() if overlap and can_overlap() else Serial()


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
    steps: TrainSteps | None = None,
    orders: str | Path | None = None,
    history: str | Path | None = None,
    engine: str = "local",
    spark_master: str | None = None,
) -> TrainSummary:
    """Train on two contract files, log everything to MLflow and register a ``candidate``.

    Unless ``quiet``, each stage is shown on a terminal as it starts (``progress.Stages``).
    ``steps`` says how the steps run (``steps_for``: overlapped where the platform forks).
    ``orders``: the optional orders table (contract v2), applied to the validated tables; ``history``:
    the optional history table, which rebuilds the prior counts as of each assessment day.
    ``engine="spark"``: the rolling validation's earlier origins are fitted on Spark (``spark_master``,
    default ``local[*]``); the same figures as the serial run.
    """
    started = datetime.now(timezone.utc)
    cfg = load_train_config(config)
    stages = Stages(5 + (int(cfg["evaluation"]["rolling"]["origins"]) > 1), quiet=quiet)
    fair = load_fairness_config(fairness_config)
    for extra in (orders, history):
        if extra is not None:
            check_file(extra)  # before anything starts: a wrong path fails at once
    fan_out = _origin_mapper(engine, spark_master)  # no pyspark: refused now, in one line
    with closing(steps or steps_for()) as steps:
        stages.start(f"reading {Path(cases).name} and {Path(events).name}")
        inputs = steps.read(cases, events, truth)
        stages.start(f"validating {len(inputs.cases.frame):,} cases and {len(inputs.events.frame):,} events; "
                     "building features, labels and LightGBM's datasets")
        validation, prepared, ahead = steps.validate_and_prepare(inputs, cfg, experiment)
        truth_frame = inputs.truth
        del inputs  # the tables as read: validation holds what is kept
        if orders is not None or history is not None:  # they change case columns as of each day: features again
            validation, prepared, ahead = _with_orders(validation, orders, cfg, history)

        from stalkrisk.training.fit import fit_and_evaluate

        from stalkrisk.training.rolling import fanned_out

        try:
            with fanned_out(fan_out):
                result = fit_and_evaluate(prepared, cfg, truth=truth_frame, fairness_config=fair, stages=stages,
                                          ahead=ahead)
        finally:
            getattr(fan_out, "close", lambda: None)()  # Spark stops before the figures' forks
        del prepared, ahead
        summary = _log_and_register(result, validation, steps, cfg, register=register, started=started,
                                    cases=cases, events=events, synthetic=truth is not None, out=out,
                                    stages=stages)
    stages.finish()
    for warning in result.warnings + result.domain_warnings:
        log.warning(warning)
    return summary


def _origin_mapper(engine: str, spark_master: str | None):
    """How the rolling validation's origins run: serially, or fanned out over Spark."""
    from stalkrisk.errors import ConfigError
    from stalkrisk.training.rolling import serial

    if engine not in ("local", "spark"):
        raise ConfigError(f"--engine must be local or spark (got {engine})")
    if engine == "local" and spark_master is None:
        return serial
    from stalkrisk.pipelines.spark_train import SparkOrigins

    return SparkOrigins(spark_master)


def _with_orders(validation: ValidationResult, orders: str | Path | None, cfg: dict,
                 history: str | Path | None = None):
    """The validation result with the orders and the history applied (``validation.orders``,
    ``validation.history``), and the features and labels prepared again from it (no LightGBM
    datasets ahead)."""
    from stalkrisk.training.fit import prepare
    from stalkrisk.validation.suite import SuiteRunner, apply_tables, load_suites

    validation = apply_tables(validation, SuiteRunner(load_suites()), orders=orders, history=history)
    return validation, prepare(validation.cases, validation.events, cfg), None


def _log_and_register(result: TrainResult, validation: ValidationResult, steps: TrainSteps, cfg: dict, *,
                      register: str, started: datetime, cases: str | Path, events: str | Path,
                      synthetic: bool, out: str | Path | None, stages: Stages) -> TrainSummary:
    """Log the run to MLflow, register the model as ``candidate`` and write the model card."""
    import mlflow

    from stalkrisk.features.registry import registry_markdown
    from stalkrisk.report.modelcard import (
        card_context,
        fairness_markdown,
        render_html,
        render_markdown,
    )
    from stalkrisk.tracking import registry as tracking

    uri = tracking.configure()
    stages.start("logging to MLflow: plots, model, registration, model card")

    with mlflow.start_run() as active, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_id = active.info.run_id
        mlflow.log_params(tracking.flatten("", cfg))
        mlflow.log_metrics({k: float(v) for k, v in result.metrics.items()})
        for row in result.rolling.origins if result.rolling else ():  # one step per origin, oldest first
            mlflow.log_metrics({f"rolling_{key}": float(row[key]) for key in ("roc_auc", "pr_auc", "recall_at_flag", "ece")
                                if row.get(key) is not None}, step=int(row["origin"]))
        tags = {
            "stalkrisk.version": __version__,
            "git_commit": tracking.git_commit(),
            "input.cases.sha256": validation.inputs["cases"]["sha256"],
            "input.events.sha256": validation.inputs["events"]["sha256"],
            **({"input.orders.sha256": str(validation.inputs["orders"]["sha256"])}
               if "orders" in validation.inputs else {}),
            "rows.cases": str(len(validation.cases_all)),
            "rows.events": str(validation.counts.get("events", "")),
            "cases.quarantined": str(len(validation.quarantine)),
            "cases.censored": str(result.counts["censored"]),
            "beats_baselines": str(not result.warnings).lower(),
            "fairness_warnings": str(len(result.fairness_warnings)),
            "synthetic": str(synthetic).lower(),
        }
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
            "baseline_comparisons": [vars(c) for c in result.comparisons],
            "fairness_views": result.fairness_views.to_dict() if result.fairness_views else None,
            "rolling": result.rolling.to_dict() if result.rolling else None,
        }
        (tmp / "metrics.json").write_text(json.dumps(metrics_doc, indent=2, default=str), encoding="utf-8")
        result.baselines.to_csv(tmp / "baselines.csv", index=False)
        figures = steps.draw_beside(result, tmp / "plots")

        result.model.meta = result.model.meta.with_trained_at(started.strftime("%Y-%m-%d"))
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
            warnings=result.warnings, comparisons=result.comparisons, rolling=result.rolling,
            capacity=cfg.get("capacity"), fairness_views=result.fairness_views,
            flag_by_relationship=result.flag_by_relationship,
            inputs={Path(cases).name: validation.inputs["cases"]["sha256"], Path(events).name: validation.inputs["events"]["sha256"]},
            synthetic=synthetic, stalkrisk_version=__version__,
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
    return TrainSummary(
        run_id=run_id, name=register, version=version, metrics=result.metrics,
        baselines=result.baselines, warnings=result.warnings,
        fairness_warnings=result.fairness_warnings, fairness_uncertain=result.fairness_uncertain,
        model_card=card_dir / "model_card.html",
        tracking_uri=uri, quarantined=len(validation.quarantine), censored=result.counts["censored"],
    )
