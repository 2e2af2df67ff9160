"""Training: features and labels in, a calibrated model and its evidence out.

Pure: frames and a resolved config in, a ``TrainResult`` out. MLflow logging
is the caller's edge (``stalkrisk.tracking.registry``). Steps, as design.md agreed:

1. as-of features; labels from later events (censored cases left out, counted);
2. out-of-time split by assessment date: train | gap | valid | gap | test, each gap the label
   horizon (``timesplit``): no training label reads events of the validation period, no
   validation label those of the test period; each suspect on one side (a suspect's cases in
   a later slice than its first are left out, counted as ``suspect_seen_cases``);
3. LightGBM with the registry's monotone constraints, early stopping on valid: one booster for
   ``risk`` and one per risk domain (``training.domains``);
4. Platt calibration (each outcome), flag threshold (policy) and band cut-points (``risk``) on valid;
5. on test: metrics, baselines (the S-DASH form's count, ``features.sdash``; logistic
   regression; base rate), each compared by the paired bootstrap interval of the ROC-AUC
   difference (``evaluate.compare``), fairness by group, and on generated data the ceiling
   of the true probabilities;
6. rolling-origin validation (``rolling``): the recipe again at earlier origins, as a spread.
   The logistic-regression baseline is fitted on a seeded stratified sample of at
   most ``BASELINE_MAX_ROWS`` training cases (logged as ``baseline_logistic_rows``):
   at a million cases the full fit took longer than LightGBM and moved the test
   ROC-AUC by about 1e-4.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import resample
from threadpoolctl import threadpool_limits

from stalkrisk.evaluate.fairness_run import FairnessOutcome, assess, slice_groups
from stalkrisk.evaluate.groups import AUDIT_COLUMNS
from stalkrisk.evaluate.mitigation import threshold_optimizer_options
from stalkrisk.evaluate import metrics as evaluate
from stalkrisk.evaluate.drift import reference_profile
from stalkrisk.explain.reasons import margins
from stalkrisk.config import flag_setting
from stalkrisk.model.meta import ModelMeta
from stalkrisk.model.supported import check_booster, check_params
from stalkrisk.model.thresholds import choose_threshold
from stalkrisk.features import build_features
from stalkrisk.features.registry import monotone_constraints
from stalkrisk.features.sdash import sdash_count
from stalkrisk.evaluate.compare import GATED_BASELINES, auc_differences, baseline_slug
from stalkrisk.model.labels import describe_label, make_labels
from stalkrisk.model.risk_model import (
    RiskModel,
    booster_datasets,
    choose_band_edges,
    fit_platt,
    sigmoid,
    train_booster,
)
from stalkrisk.progress import Stages
from stalkrisk.errors import TrainingError
from stalkrisk.training.domains import ceiling as outcome_ceiling
from stalkrisk.training.domains import domain_scores, fit_domains, flag_by_group, outcome_metrics
from stalkrisk.training.rolling import RollingReport, origin_metrics, rolling_validation
from stalkrisk.training.timesplit import GAP, SEEN, SLICES, day_numbers, split_by_date  # noqa: F401  (split_by_date: fit's public name)

log = logging.getLogger(__name__)

BASELINE_MAX_ROWS = 100_000


@dataclass
class TrainResult:
    model: RiskModel
    config: dict
    metrics: dict[str, float]
    baselines: pd.DataFrame
    fairness: Any
    fairness_warnings: list[str]
    fairness_uncertain: list[str]
    split: dict[str, dict[str, Any]]
    counts: dict[str, int]
    test: pd.DataFrame  # case_id, label, score, flag, baseline scores, audit groups
    test_features: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    ceiling: dict[str, float] = field(default_factory=dict)
    comparisons: list = field(default_factory=list)  # evaluate.compare.Difference per baseline
    fairness_views: FairnessOutcome | None = None  # intersections, per force, mitigation options
    rolling: RollingReport | None = None
    flag_by_relationship: list[dict[str, Any]] = field(default_factory=list)  # the real flag per relationship
    domain_warnings: list[str] = field(default_factory=list)  # a risk domain that could not be fitted


def stratified_sample(y: np.ndarray, max_rows: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of a seeded sample of at most ``max_rows`` rows, class shares kept."""
    rows = np.arange(len(y))
    if len(rows) <= max_rows:
        return rows
    return np.sort(resample(rows, replace=False, n_samples=max_rows, stratify=y, random_state=seed))


def median_or_zero(values: np.ndarray) -> float:
    """The median of a column's present values, 0 when it has none: ``SimpleImputer``'s
    ``strategy="median"`` with ``keep_empty_features=True``, without its masked-array median,
    which was most of the fit's time (the same statistics)."""
    return float(np.median(values)) if len(values) else 0.0


def logistic_baseline(
    X: np.ndarray, y: np.ndarray, train: np.ndarray, X_test: np.ndarray, max_rows: int = BASELINE_MAX_ROWS
) -> tuple[np.ndarray, int]:
    """Probabilities for ``X_test`` of a logistic regression on the same features, and the rows it used.

    Median imputation, scaling, then the regression, fitted on a stratified sample of
    the ``train`` rows. Newton-Cholesky, not sklearn's default L-BFGS: it converges in a few
    steps, where L-BFGS stopped early with probabilities far from the optimum, and an
    under-fitted baseline would flatter the model.
    """
    rows = np.flatnonzero(train)[stratified_sample(y[train], max_rows)]
    logistic = make_pipeline(
        SimpleImputer(strategy=median_or_zero, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(solver="newton-cholesky", tol=1e-8, max_iter=200, C=1.0),
    )
    logistic.fit(X[rows], y[rows])
    return logistic.predict_proba(X_test)[:, 1], len(rows)


def _on_one_thread(fn):
    """``fn`` with BLAS and OpenMP held to one thread: beside the evaluation's main thread a
    second BLAS thread only spins, costing CPU and giving nothing."""
    def run(*args, **kwargs):
        with threadpool_limits(1):
            return fn(*args, **kwargs)
    return run


def _date_range(dates: pd.Series) -> dict[str, str]:
    if len(dates) == 0:
        return {"from": "", "to": ""}
    return {"from": str(dates.min().date()), "to": str(dates.max().date())}


def gap_days(config: dict) -> int:
    """Days left between slices: ``split.gap_days`` when set, else the label horizon."""
    gap = config["split"].get("gap_days")
    return int(config["label"].get("horizon_days", 90) if gap is None else gap)


@dataclass
class Prepared:
    """Features, labels and the out-of-time split of one caseload: what a model is fitted on.

    Censored cases are left out of every array; ``keep`` marks the rows of ``cases`` kept.
    """

    cases: pd.DataFrame
    feature_names: list[str]
    X_all: pd.DataFrame
    y_all: np.ndarray
    keep: np.ndarray
    case_ids: pd.Series
    slices: np.ndarray
    split: dict[str, dict[str, Any]]
    counts: dict[str, int]
    days: np.ndarray | None = None  # assessment day numbers of the kept rows (``timesplit``)
    gap_days: int = 0
    suspects: np.ndarray | None = None  # suspect ids of the kept rows: the split keeps each on one side
    y_domains: dict[str, np.ndarray] = field(default_factory=dict)  # label per risk domain, kept rows


def prepare(cases: pd.DataFrame, events: pd.DataFrame, config: dict) -> Prepared:
    """As-of features and labels of validated ``cases`` and ``events``, split by date.

    Raises ``TrainingError`` when a slice lacks either outcome.
    """
    protected = tuple(config["features"].get("protected", ()))
    feats = build_features(cases, events, protected=protected)
    feature_names = [c for c in feats.columns if c != "case_id"]
    labels = make_labels(cases, events, config["label"])

    keep = ~labels["censored"].to_numpy()
    counts = {"cases": int(len(cases)), "censored": int((~keep).sum())}
    dates = cases["assessment_date"].reset_index(drop=True)[keep].reset_index(drop=True)
    X_all = feats.loc[keep, feature_names].reset_index(drop=True)
    y_all = labels.loc[keep, "label"].to_numpy(dtype=np.int64)
    y_domains = {c[len("label_"):]: labels.loc[keep, c].to_numpy(dtype=np.int64)
                 for c in labels.columns if c.startswith("label_")}
    case_ids = cases["case_id"].reset_index(drop=True)[keep].reset_index(drop=True)
    gap = gap_days(config)
    suspects = (cases["suspect_id"].astype(object).to_numpy()[keep] if "suspect_id" in cases else None)
    slices = split_by_date(dates, config["split"], gap, suspects)  # each suspect on one side
    counts["gap_cases"] = int((slices == GAP).sum())
    counts["suspect_seen_cases"] = int((slices == SEEN).sum())

    split: dict[str, dict[str, Any]] = {}
    for name in SLICES:
        m = slices == name
        split[name] = {**_date_range(dates[m]), "cases": int(m.sum()), "positives": int(y_all[m].sum())}
        counts[f"{name}_cases"] = int(m.sum())
        if m.sum() == 0 or len(np.unique(y_all[m])) < 2:
            raise TrainingError(
                f"the {name} slice has {int(m.sum())} cases and {int(y_all[m].sum())} positives: "
                "both outcomes are needed in every slice; supply more cases or change split"
            )
    return Prepared(cases=cases, feature_names=feature_names, X_all=X_all, y_all=y_all, keep=keep,
                    case_ids=case_ids, slices=slices, split=split, counts=counts, days=day_numbers(dates),
                    gap_days=gap, suspects=suspects, y_domains=y_domains)


@dataclass
class Ahead:
    """What fitting needs before boosting: the validation and test matrices and LightGBM's
    binned datasets. ``look_ahead`` computes it; training computes it while the input is
    still being validated."""

    X_train: np.ndarray
    X_valid: np.ndarray
    X_test: np.ndarray
    datasets: tuple[Any, Any]


def look_ahead(prepared: Prepared, config: dict) -> Ahead:
    """``Ahead`` of ``prepared`` (binning the datasets takes LightGBM's threads)."""
    X = prepared.X_all.to_numpy(dtype=np.float64)
    y, names = prepared.y_all, prepared.feature_names
    tr, va, te = (prepared.slices == s for s in SLICES)
    # The training rows column by column (X_all's own layout), kept for the drift reference:
    # LightGBM bins either layout alike (the same model) and the reference reads columns.
    X_train = X.T.take(np.flatnonzero(tr), axis=1).T if X.flags.f_contiguous else X[tr]
    X_valid, X_test = X[va], X[te]
    datasets = booster_datasets(X_train, y[tr], X_valid, y[va], feature_names=names,
                                monotone=monotone_constraints(names), params=config["model"]["params"])
    return Ahead(X_train=X_train, X_valid=X_valid, X_test=X_test, datasets=datasets)


def train_model(
    cases: pd.DataFrame,
    events: pd.DataFrame,
    config: dict,
    *,
    truth: pd.DataFrame | None = None,
    fairness_config: dict | None = None,
    stages: Stages | None = None,
) -> TrainResult:
    """Fit, calibrate and evaluate a model on validated ``cases`` and ``events``.

    ``stages`` shows progress (three stages: features, LightGBM, evaluation; the last ends
    at the caller's next ``start`` or ``finish``); quiet by default.
    """
    check_params(config["model"].get("params") or {}, prefix="model.params.")
    stages = stages or Stages(0, quiet=True)
    stages.start(f"building features and labels for {len(cases):,} cases")
    return fit_and_evaluate(prepare(cases, events, config), config, truth=truth,
                            fairness_config=fairness_config, stages=stages)


def fit_and_evaluate(
    prepared: Prepared,
    config: dict,
    *,
    truth: pd.DataFrame | None = None,
    fairness_config: dict | None = None,
    stages: Stages | None = None,
    ahead: Ahead | None = None,
) -> TrainResult:
    """Fit, calibrate and evaluate a model on ``prepared`` features and labels (``train_model``
    without the features); shows two stages: LightGBM, evaluation. ``ahead`` is
    ``look_ahead(prepared, config)`` when the caller has it already; else it is computed here."""
    stages = stages or Stages(0, quiet=True)
    protected = tuple(config["features"].get("protected", ()))
    cases, feature_names, X_all, y_all = prepared.cases, prepared.feature_names, prepared.X_all, prepared.y_all
    keep, case_ids, slices = prepared.keep, prepared.case_ids, prepared.slices
    split, counts = prepared.split, prepared.counts

    tr, va, te = (slices == s for s in SLICES)
    ahead = ahead or look_ahead(prepared, config)
    X_valid, X_test = ahead.X_valid, ahead.X_test
    mc = config["model"]
    stages.start(f"training LightGBM on {int(tr.sum()):,} cases, stopping early on {int(va.sum()):,}")
    booster = train_booster(
        ahead.datasets,
        num_boost_round=int(mc["num_boost_round"]),
        early_stopping_rounds=int(mc["early_stopping_rounds"]),
        callbacks=stages.rounds(int(mc["num_boost_round"])),
    )
    check_booster(booster)  # whatever the explain method: no model the exact explainer cannot explain
    method = config["explain"]["method"]
    domains, domain_warnings = fit_domains(
        ahead.datasets, {name: (y[tr], y[va]) for name, y in prepared.y_domains.items()}, X_valid, mc, method,
        rounds=stages.rounds)
    stages.start(f"calibrating and evaluating on {int(te.sum()):,} test cases: baselines, fairness")
    # The logistic baseline and the drift reference do not need the booster: they run on the
    # second core (BLAS and numpy release the GIL) while this thread predicts, calibrates and
    # measures fairness. Results do not depend on the order: both are pure functions.
    X = X_all.to_numpy(dtype=np.float64)
    beside = ThreadPoolExecutor(1, thread_name_prefix="stalkrisk-evaluate")
    logistic = beside.submit(_on_one_thread(logistic_baseline), X, y_all, tr, X_test)
    drift_reference = beside.submit(
        lambda: reference_profile(pd.DataFrame(ahead.X_train, columns=feature_names, copy=False)))
    beside.shutdown(wait=False)  # the two tasks still run; ``result()`` waits for each
    margin_valid = margins(booster, X_valid, method)  # as scoring will compute them, and faster
    a, b = fit_platt(margin_valid, y_all[va])
    p_valid = sigmoid(a * margin_valid + b)
    model = RiskModel(
        booster=booster,
        feature_names=feature_names,
        platt_a=a,
        platt_b=b,
        threshold=choose_threshold(y_all[va], p_valid, *flag_setting(config["flag"])),
        band_edges=choose_band_edges(p_valid, config["bands"]["quantiles"]),
        domains=domains,
    )

    # -- evaluation on the latest slice ---------------------------------------
    p_test = sigmoid(a * margins(booster, X_test, method) + b)
    conduct = X_all.loc[te, "course_of_conduct"].to_numpy() >= 1.0
    flag = (p_test >= model.threshold) & conduct
    metrics = evaluate.classification_metrics(y_all[te], p_test, model.threshold)
    metrics["flag_rate_with_conduct_gate"] = float(flag.mean())
    metrics["recall_at_flag"] = float((flag & (y_all[te] == 1)).sum() / max(int(y_all[te].sum()), 1))
    metrics["precision_at_flag"] = float((flag & (y_all[te] == 1)).sum() / max(int(flag.sum()), 1))
    metrics["best_iteration"] = float(booster.best_iteration or booster.num_trees())
    metrics.update(outcome_metrics("risk", y_all[te], p_test))
    p_domains = domain_scores(domains, X_test, method)
    for name, p in p_domains.items():
        metrics.update(outcome_metrics(name, prepared.y_domains[name][te], p))

    sdash_score = sdash_count(pd.DataFrame(X_test, columns=feature_names, copy=False))
    # The ceiling and fairness first: the logistic baseline is still being fitted beside.
    ceiling: dict[str, float] = {}
    test_cases = cases.iloc[np.flatnonzero(keep)[te]].reset_index(drop=True)
    if truth is not None:
        ceiling = outcome_ceiling(truth, test_cases["case_id"], "risk", y_all[te], metrics["roc_auc"])
        for name in p_domains:
            ceiling.update(outcome_ceiling(truth, test_cases["case_id"], name, prepared.y_domains[name][te],
                                           metrics[f"{name}_roc_auc"]))

    fair_cfg = fairness_config or {}
    all_groups = slice_groups(test_cases, fair_cfg)
    groups = all_groups[list(AUDIT_COLUMNS)]
    judged = assess(y_all[te], p_test, flag, all_groups, fair_cfg, seed=0)
    report, fairness_warnings, fairness_uncertain = judged.report, judged.clear, judged.uncertain
    valid_cases = cases.iloc[np.flatnonzero(keep)[va]].reset_index(drop=True)
    judged.mitigation = threshold_optimizer_options(
        y_all[va], p_valid, slice_groups(valid_cases, fair_cfg), y_all[te], p_test, all_groups, flag, conduct,
        fair_cfg.get("mitigation") or {}, min_group_size=int(fair_cfg.get("min_group_size", 50)))

    p_logistic, logistic_rows = logistic.result()
    metrics["baseline_logistic_rows"] = float(logistic_rows)
    base_rate = np.full(te.sum(), y_all[tr].mean())
    scores = {
        "stalkrisk": p_test,
        "S-DASH count": sdash_score,
        "logistic regression": p_logistic,
        "base rate": base_rate,
    }
    baselines = evaluate.baseline_table(y_all[te], scores, probabilities={"stalkrisk", "logistic regression", "base rate"})

    warnings: list[str] = []
    auc = metrics["roc_auc"]
    n_boot = int(config["evaluation"]["n_boot"])
    comparisons = auc_differences(y_all[te], p_test, {name: scores[name] for name in GATED_BASELINES},
                                  n_boot=n_boot, seed=0, margins=GATED_BASELINES)
    for comparison in comparisons:
        name = comparison.baseline
        other = float(baselines.loc[baselines["score"] == name, "roc_auc"].iloc[0])
        slug = baseline_slug(name)
        metrics[f"baseline_roc_auc_{slug}"] = other
        metrics[f"auc_diff_{slug}"] = comparison.difference
        metrics[f"auc_diff_{slug}_ci_low"] = comparison.ci_low
        metrics[f"auc_diff_{slug}_ci_high"] = comparison.ci_high
        if not comparison.passes:
            bound = "zero" if comparison.margin == 0 else f"-{comparison.margin:.2f}"
            warnings.append(
                f"THE MODEL {comparison.failure().upper()} "
                f"({auc:.3f} vs {other:.3f}; difference {comparison.text()}, a {n_boot}-resample paired "
                f"bootstrap 95% interval that does not lie above {bound}): do not promote it"
            )
    metrics["beats_baselines"] = float(not warnings)

    metrics.update(ceiling)
    metrics["fairness_warnings"] = float(len(fairness_warnings))
    metrics["fairness_uncertain_gaps"] = float(len(fairness_uncertain))
    metrics["fairness_noted_gaps"] = float(len(judged.noted))

    test = pd.DataFrame(
        {
            "case_id": case_ids[te].to_numpy(),
            "label": y_all[te],
            "score": p_test,
            "flag": flag,
            "sdash_count": sdash_score,
            "logistic": p_logistic,
            **{f"score_{name}": p for name, p in p_domains.items()},
            **{f"label_{name}": prepared.y_domains[name][te] for name in p_domains},
        }
    )
    test = pd.concat([test, groups.reset_index(drop=True)], axis=1)

    rolling = None
    if int(config["evaluation"]["rolling"]["origins"]) > 1 and prepared.days is not None:
        stages.start(f"rolling-origin validation: up to {int(config['evaluation']['rolling']['origins']) - 1} "
                     "more fits at earlier origins")
        registered = {**origin_metrics(y_all[te], p_test, conduct, model.threshold), "threshold": model.threshold,
                      "trees": float(booster.num_trees()), "train_cases": split["train"]["cases"],
                      "valid_cases": split["valid"]["cases"], "test_cases": split["test"]["cases"],
                      "test_positives": split["test"]["positives"]}
        rolling = rolling_validation(prepared.days, X, y_all, X_all["course_of_conduct"].to_numpy() >= 1.0,
                                     feature_names, config, gap_days=prepared.gap_days,
                                     test_from=int(prepared.days[te].min()), registered=registered,
                                     suspects=prepared.suspects)
        metrics.update(rolling.mlflow_metrics())

    model.meta = ModelMeta(
        label=dict(config["label"]),
        label_description=describe_label(config["label"]),
        horizon_days=int(config["label"].get("horizon_days", 90)),
        flag_policy=dict(config["flag"]),
        split=split,
        gap_days=prepared.gap_days,
        counts=counts,
        metrics={k: float(v) for k, v in metrics.items()},
        protected_features=tuple(protected),
        explain_method=method,
        max_depth=int(mc["params"].get("max_depth", -1)),
        drift_reference=drift_reference.result(),
        data_to=split["test"]["to"],
        outcomes=model.outcomes,
    )
    return TrainResult(
        model=model,
        config=config,
        metrics=metrics,
        baselines=baselines,
        fairness=report,
        fairness_warnings=fairness_warnings,
        fairness_uncertain=fairness_uncertain,
        split=split,
        counts=counts,
        test=test,
        test_features=pd.DataFrame(X_test, columns=feature_names),  # X_all's test rows, not copied again
        warnings=warnings,
        ceiling=ceiling,
        comparisons=comparisons,
        rolling=rolling,
        fairness_views=judged,
        domain_warnings=domain_warnings,
        flag_by_relationship=(flag_by_group(y_all[te], flag, test_cases["relationship"])
                              if "relationship" in test_cases.columns else []),
    )
