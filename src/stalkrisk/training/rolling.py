"""Rolling-origin temporal validation: is the model's test figure a good year or the recipe?

One out-of-time split gives one number from one period. As dssg/triage's timechop does, the
same recipe (LightGBM with early stopping on a validation slice, Platt calibration and the flag
threshold on it) is fitted again at earlier origins, each trained only on the cases whose labels
closed a horizon before its test window opens (``timesplit.origin_slices``), and judged on that
window. The last origin is the registered model's own split: its figures are taken from the
registered model, not fitted again. The spread (min, median, max) over the origins is what the
model card and MLflow show; the registered model stays the one of the single split.

Each earlier origin costs one more LightGBM fit, on fewer rows than the registered one (the
training window expands up to each origin): an explicit cost, reported by ``bench_train.py``;
``evaluation.rolling.origins: 1`` turns it off.

The earlier origins are independent fits of the same arrays, so they are mapped by one seam,
``OriginMapper``: ``serial`` here, or a mapper that fans them out (``pipelines.spark_train``,
``stalkrisk train --engine spark``), chosen for a block of code with ``fanned_out`` so the
training run between the command and this module passes nothing along.
"""

from __future__ import annotations

import statistics
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from stalkrisk.config import flag_setting
from stalkrisk.evaluate import metrics as evaluate
from stalkrisk.explain.reasons import margins
from stalkrisk.features.registry import monotone_constraints
from stalkrisk.model.risk_model import fit_booster, fit_platt, sigmoid
from stalkrisk.model.thresholds import choose_threshold
from stalkrisk.training.timesplit import SEEN, Origin, origin_slices, rolling_origins

#: The metrics whose spread is reported, with their names on the card.
SPREAD_METRICS = (
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("recall_at_flag", "Recall at the flag"),
    ("ece", "Expected calibration error"),
)


@dataclass
class RollingReport:
    """Per-origin figures (oldest first) and their spread; ``skipped`` says why an origin was not fitted."""

    gap_days: int
    origins: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def spread(self) -> dict[str, dict[str, float]]:
        out = {}
        for key, _ in SPREAD_METRICS:
            values = [o[key] for o in self.origins if o.get(key) is not None and o[key] == o[key]]
            if values:
                out[key] = {"min": min(values), "median": float(statistics.median(values)), "max": max(values)}
        return out

    def mlflow_metrics(self) -> dict[str, float]:
        """``rolling_<metric>_<min|median|max>`` and ``rolling_origins`` (the origins measured)."""
        out = {"rolling_origins": float(len(self.origins))}
        for key, s in self.spread.items():
            out.update({f"rolling_{key}_{k}": float(v) for k, v in s.items()})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"gap_days": self.gap_days, "origins": self.origins, "skipped": self.skipped, "spread": self.spread}


def origin_metrics(y: np.ndarray, p: np.ndarray, conduct: np.ndarray, threshold: float) -> dict[str, float]:
    """The spread's metrics on one test window: ROC-AUC, PR-AUC, ECE and the recall of the flag
    (score at or over the threshold and the course-of-conduct test met)."""
    m = evaluate.classification_metrics(y, p, threshold)
    flag = (p >= threshold) & conduct
    positives = int(y.sum())
    recall = float((flag & (y == 1)).sum() / positives) if positives else float("nan")
    return {"roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"], "ece": m["ece"], "recall_at_flag": recall,
            "flag_rate": float(flag.mean()) if len(flag) else float("nan")}


def _fit_origin(X: np.ndarray, y: np.ndarray, slices: np.ndarray, names: list[str], config: dict,
                conduct: np.ndarray) -> dict[str, float]:
    """The recipe at one origin: fit, calibrate, threshold on its valid slice; measure on its test."""
    tr, va, te = (slices == s for s in ("train", "valid", "test"))
    mc = config["model"]
    booster = fit_booster(X[tr], y[tr], X[va], y[va], feature_names=names, monotone=monotone_constraints(names),
                          params=mc["params"], num_boost_round=int(mc["num_boost_round"]),
                          early_stopping_rounds=int(mc["early_stopping_rounds"]))
    method = config["explain"]["method"]
    margin_valid = margins(booster, X[va], method)
    a, b = fit_platt(margin_valid, y[va])
    threshold = choose_threshold(y[va], sigmoid(a * margin_valid + b), *flag_setting(config["flag"]))
    p_test = sigmoid(a * margins(booster, X[te], method) + b)
    return {**origin_metrics(y[te], p_test, conduct[te], threshold), "threshold": threshold,
            "trees": float(booster.num_trees())}


@dataclass(frozen=True)
class OriginArrays:
    """What every origin's fit reads: the prepared arrays and the recipe (shipped once to workers)."""

    days: np.ndarray
    X: np.ndarray
    y: np.ndarray
    conduct: np.ndarray
    names: list[str]
    config: dict
    gap_days: int
    suspects: np.ndarray | None = None


def fit_origin(arrays: OriginArrays, origin: Origin) -> dict[str, float]:
    """One earlier origin's figures: its slices of the arrays, then the recipe (``_fit_origin``)."""
    a = arrays
    slices = origin_slices(a.days, origin, a.config["split"], a.gap_days, a.suspects)
    return _fit_origin(a.X, a.y, slices, a.names, a.config, a.conduct)


#: Maps ``fit_origin`` over the origins, results in the origins' order.
OriginMapper = Callable[[OriginArrays, list[Origin]], list[dict[str, float]]]


def serial(arrays: OriginArrays, origins: list[Origin]) -> list[dict[str, float]]:
    """The origins one after another, in this process."""
    return [fit_origin(arrays, origin) for origin in origins]


_MAPPER: ContextVar[OriginMapper] = ContextVar("stalkrisk_origin_mapper", default=serial)


@contextmanager
def fanned_out(mapper: OriginMapper) -> Iterator[None]:
    """Within the block, ``rolling_validation`` maps its origins with ``mapper``."""
    token = _MAPPER.set(mapper)
    try:
        yield
    finally:
        _MAPPER.reset(token)


def rolling_validation(days: np.ndarray, X: np.ndarray, y: np.ndarray, conduct: np.ndarray, names: list[str],
                       config: dict, *, gap_days: int, test_from: int, registered: dict[str, float],
                       suspects: np.ndarray | None = None,
                       map_origins: OriginMapper | None = None) -> RollingReport:
    """The rolling-origin report of one caseload (rows as in ``Prepared``: ``days`` their assessment
    day numbers, ``conduct`` the course-of-conduct test, ``suspects`` their suspect ids: each suspect on
    one side at every origin, as in the registered split). ``registered`` holds the registered model's
    ``origin_metrics`` on its own test slice (which opens on day ``test_from``): the last origin.
    ``map_origins``: how the earlier origins' fits run (default: the one ``fanned_out`` set, else serial)."""
    rolling = config["evaluation"]["rolling"]
    report = RollingReport(gap_days=gap_days)
    todo: list[tuple[int, Origin]] = []  # (place in report.origins, origin) of the fits to run
    for k, origin in enumerate(rolling_origins(days, test_from, int(rolling["origins"]), rolling.get("window_days"))):
        last = origin.test_from == test_from
        slices = origin_slices(days, origin, config["split"], gap_days, suspects)
        counts = {s: int((slices == s).sum()) for s in ("train", "valid", "test")}
        positives = {s: int(y[slices == s].sum()) for s in ("train", "valid", "test")}
        row: dict[str, Any] = {"origin": k + 1, "test_from": origin.dates[0], "test_to": origin.dates[1],
                               "registered": last, **{f"{s}_cases": n for s, n in counts.items()},
                               "suspect_seen_cases": int((slices == SEEN).sum()),
                               "test_positives": positives["test"]}
        if last:
            report.origins.append({**row, **registered})
            continue
        lacking = [s for s in counts if counts[s] == 0 or positives[s] in (0, counts[s])]
        if lacking:
            report.skipped.append(f"origin {k + 1} (test {origin.dates[0]} to {origin.dates[1]}): the "
                                  f"{', '.join(lacking)} slice(s) lack one outcome or have no cases")
            continue
        todo.append((len(report.origins), origin))
        report.origins.append(row)
    if todo:
        arrays = OriginArrays(days=days, X=X, y=y, conduct=conduct, names=list(names), config=config,
                              gap_days=gap_days, suspects=suspects)
        fitted = (map_origins or _MAPPER.get())(arrays, [origin for _, origin in todo])
        for (place, _), figures in zip(todo, fitted, strict=True):
            report.origins[place] = {**report.origins[place], **figures}
    return report


__all__ = ["Origin", "OriginArrays", "OriginMapper", "RollingReport", "SPREAD_METRICS", "fanned_out", "fit_origin",
           "origin_metrics", "rolling_validation", "serial"]
