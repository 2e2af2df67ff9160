"""Does the flag treat groups of victims and suspects alike?

A screening tool that flags one ethnic group's cases more often, or misses more of
one sex's dangerous cases, must show it before anyone relies on it. This module turns
the protected attributes of the data contract into audit groups, measures the flag per
group with fairlearn's ``MetricFrame``, names groups too small to judge, adds bootstrap
confidence intervals, checks gaps against configured tolerances, and measures how well
the model's features predict each attribute (hidden proxies).

Tolerances (``configs/fairness.yaml``) have this shape; every key is optional::

    max_difference:          # breach when max - min across groups > value
      flag_rate: 0.10
      false_negative_rate: 0.15
    min_ratio:               # breach when min / max across groups < value
      flag_rate: 0.80
    attributes: [victim_sex, victim_ethnicity]   # default: every attribute

Gaps are computed only over groups with at least ``min_group_size`` cases; metrics a
report does not hold (error rates on unlabelled data) are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from sklearn.metrics import precision_score

from stalkrisk.evaluate.groups import (  # noqa: F401  (fairness' public names, as before)
    AGE_BANDS,
    AUDIT_COLUMNS,
    UNKNOWN,
    age_band,
    audit_groups,
    force_groups,
    group_order,
    intersections,
)
from stalkrisk.evaluate.resample import resample_cells

LABELLED_METRICS = (
    "count",
    "flag_rate",
    "false_negative_rate",
    "false_positive_rate",
    "precision",
    "mean_score",
    "observed_rate",
)
UNLABELLED_METRICS = ("count", "flag_rate", "mean_score", "score_p10", "score_median", "score_p90")
_QUANTILES = {"score_p10": 0.1, "score_median": 0.5, "score_p90": 0.9}
CI_LEVEL = 0.95
#: Calibration by group: the observed rate minus the mean score (0: calibrated for the group).
CALIBRATION_GAP = "calibration_gap"


# --- metric functions for MetricFrame ------------------------------------------
#
# fairlearn stacks every input column element by element before each metric call,
# which costs per row and per metric (docs/design-notes.md). So the
# rows are first collapsed into cells of (group, label, flag) with their count and
# score sum, and the metrics run on the cells with the count as ``sample_weight``:
# exact for every metric but the score quantiles, which run on the raw rows.


def _count(y_true, y_pred, sample_weight) -> float:
    return float(np.sum(sample_weight))


def _flag_rate(y_true, y_pred, sample_weight) -> float:
    return float(selection_rate(y_true, y_pred, sample_weight=sample_weight))


def _fnr(y_true, y_pred, sample_weight) -> float:
    """fairlearn's FNR, but NaN (not 0) for a group without positives."""
    if not np.any(np.asarray(y_true) == 1):
        return math.nan
    return float(false_negative_rate(y_true, y_pred, sample_weight=sample_weight, pos_label=1))


def _fpr(y_true, y_pred, sample_weight) -> float:
    """fairlearn's FPR, but NaN (not 0) for a group without negatives."""
    if not np.any(np.asarray(y_true) == 0):
        return math.nan
    return float(false_positive_rate(y_true, y_pred, sample_weight=sample_weight, pos_label=1))


def _precision(y_true, y_pred, sample_weight) -> float:
    return float(precision_score(y_true, y_pred, sample_weight=sample_weight, zero_division=np.nan))


def _mean_score(y_true, y_pred, sample_weight, score_sum) -> float:
    return float(np.sum(score_sum) / np.sum(sample_weight))


def _observed_rate(y_true, y_pred, sample_weight) -> float:
    return float(np.average(y_true, weights=sample_weight))


def _score_quantile(q: float):
    def metric(y_true, y_pred, score) -> float:
        return float(np.quantile(score, q))

    return metric


_CELL_METRICS = {
    "count": _count,
    "flag_rate": _flag_rate,
    "false_negative_rate": _fnr,
    "false_positive_rate": _fpr,
    "precision": _precision,
    "mean_score": _mean_score,
    "observed_rate": _observed_rate,
}


def _metric_frames(names: list[str], y: np.ndarray, flag: np.ndarray, p: np.ndarray, g: np.ndarray):
    """MetricFrames over (label, flag, group) cells, plus one over raw rows for quantiles."""
    frames = []
    cell_names = [n for n in names if n in _CELL_METRICS]
    rows = pd.DataFrame({"group": g, "y": y, "flag": flag, "score": p})
    cells = rows.groupby(["group", "y", "flag"], sort=True, observed=True)["score"].agg(["size", "sum"])
    cells = cells.reset_index()
    weight = cells["size"].to_numpy(dtype=float)
    params = {n: {"sample_weight": weight} for n in cell_names}
    if "mean_score" in params:
        params["mean_score"]["score_sum"] = cells["sum"].to_numpy()
    frames.append(
        MetricFrame(
            metrics={n: _CELL_METRICS[n] for n in cell_names},
            y_true=cells["y"].to_numpy(),
            y_pred=cells["flag"].to_numpy(),
            sensitive_features=cells["group"].to_numpy(),
            sample_params=params,
        )
    )
    raw_names = [n for n in names if n in _QUANTILES]
    if raw_names:
        frames.append(
            MetricFrame(
                metrics={n: _score_quantile(_QUANTILES[n]) for n in raw_names},
                y_true=y,
                y_pred=flag,
                sensitive_features=g,
                sample_params={n: {"score": p} for n in raw_names},
            )
        )
    return frames


def _by_group(frames) -> pd.DataFrame:
    return pd.concat([mf.by_group for mf in frames], axis=1).astype(float)


# --- bootstrap ----------------------------------------------------------------------


def _boot_stats(name: str, counts: np.ndarray, sums: np.ndarray, quantiles: dict[str, np.ndarray]) -> np.ndarray:
    """One metric per resample, from its (label, flag) cell counts, score sum or quantiles."""
    tn, fp, fn, tp = counts.T
    n = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "flag_rate":
            return (fp + tp) / n
        if name == "mean_score":
            return sums / n
        if name == "observed_rate":
            return (fn + tp) / n
        if name == "false_negative_rate":
            return fn / (fn + tp)
        if name == "false_positive_rate":
            return fp / (tn + fp)
        if name == "precision":
            return tp / (fp + tp)
        if name in quantiles:
            return quantiles[name]
    raise KeyError(name)


def _bootstrap_group(
    names: list[str], y: np.ndarray, f: np.ndarray, p: np.ndarray, n_boot: int, rng: np.random.Generator,
    draws: dict[str, np.ndarray] | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile CI per metric, resampling within the group (its size held fixed).

    Every rate is a ratio of (label, flag) cell counts, so a resample is kept as its count
    in each cell ``2 * y + f``, its score sum and the score quantiles asked for
    (``resample.resample_cells``). ``draws``, when given, receives each metric's value on each
    resample (NaN kept), for the intervals of gaps between groups; with the labels, also
    ``calibration_gap``: the observed rate minus the mean score.
    """
    cell = (2 * np.asarray(y) + np.asarray(f)).astype(np.int8)
    wanted = [name for name in names if name in _QUANTILES]
    counts, sums, qv = resample_cells(rng, cell, np.ascontiguousarray(p, dtype=np.float64), n_boot,
                                      np.array([_QUANTILES[name] for name in wanted], dtype=np.float64))
    quantiles = {name: qv[:, k] for k, name in enumerate(wanted)}
    alpha = (1 - CI_LEVEL) / 2
    out = {}
    if "observed_rate" in names and "mean_score" in names:
        names = [*names, CALIBRATION_GAP]
    for name in names:
        if name == CALIBRATION_GAP:
            values = _boot_stats("observed_rate", counts, sums, quantiles) - _boot_stats("mean_score", counts, sums, quantiles)
        else:
            values = _boot_stats(name, counts, sums, quantiles)
        if draws is not None:
            draws[name] = values
        values = values[~np.isnan(values)]
        if len(values) == 0:
            out[name] = (math.nan, math.nan)
        else:
            lo, hi = np.quantile(values, [alpha, 1 - alpha])
            out[name] = (float(lo), float(hi))
    return out


def gap_intervals(draws: dict[str, dict[str, np.ndarray]], gap: dict[str, Any]) -> dict[str, Any]:
    """95% intervals of one gap's difference (max - min group) and ratio (min / max group), and
    whether the two groups' own intervals overlap.

    The groups' resamples are drawn independently of each other, so pairing the b-th resample of
    one group with the b-th of the other is a draw of the two-group bootstrap.
    """
    out = {"difference_ci_low": math.nan, "difference_ci_high": math.nan, "ratio_ci_low": math.nan,
           "ratio_ci_high": math.nan, "intervals_overlap": None}
    hi_grp, lo_grp, metric = gap.get("max_group"), gap.get("min_group"), gap["metric"]
    if hi_grp not in draws or lo_grp not in draws or metric not in draws[hi_grp]:
        return out
    high, low = draws[hi_grp][metric], draws[lo_grp][metric]
    alpha = (1 - CI_LEVEL) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        difference, ratio = high - low, low / high
    for name, values in (("difference", difference), ("ratio", ratio)):
        values = values[np.isfinite(values)]
        if len(values):
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (float(v) for v in np.quantile(values, [alpha, 1 - alpha]))
    h, lo = high[~np.isnan(high)], low[~np.isnan(low)]
    if len(h) and len(lo):
        out["intervals_overlap"] = bool(np.quantile(h, alpha) <= np.quantile(lo, 1 - alpha))
    return out


# --- the report ---------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


@dataclass
class FairnessReport:
    """Per-group metrics and gaps for each audited attribute.

    by_group: one row per (attribute, group): ``small`` (fewer than min_group_size
              cases), each metric, and ``<metric>_ci_low``/``_ci_high`` when bootstrapped.
    gaps:     one row per (attribute, metric) except count: ``difference`` (max - min)
              and ``ratio`` (min / max) from MetricFrame over the groups large enough to
              judge, the groups holding the max and min, and how many were compared.
    """

    labelled: bool
    metrics: list[str]
    min_group_size: int
    n_boot: int
    seed: int
    overall: dict[str, float]
    by_group: pd.DataFrame
    gaps: pd.DataFrame
    small_groups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def attributes(self) -> list[str]:
        return list(dict.fromkeys(self.by_group["attribute"]))

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(
            {
                "labelled": self.labelled,
                "metrics": self.metrics,
                "min_group_size": self.min_group_size,
                "n_boot": self.n_boot,
                "ci_level": CI_LEVEL if self.n_boot else None,
                "seed": self.seed,
                "overall": self.overall,
                "by_group": self.by_group.to_dict(orient="records"),
                "gaps": self.gaps.to_dict(orient="records"),
                "small_groups": self.small_groups,
            }
        )


def _gap_rows(attribute: str, names, y, flag, p, g: np.ndarray, table: pd.DataFrame, big: list[str], frames):
    """MetricFrame difference() and ratio() over the rows of the groups large enough.

    ``frames`` are the MetricFrames over every group, reused when no group is too small.
    """
    rows = []
    judged = table.loc[big]
    if 2 <= len(big) < len(table):
        keep = np.isin(g, big)
        frames = _metric_frames(names, y[keep], flag[keep], p[keep], g[keep])
    if len(big) >= 2:
        difference = pd.concat([mf.difference() for mf in frames])
        ratio = pd.concat([mf.ratio() for mf in frames])
    for name in names:
        if name == "count":
            continue
        values = judged[name].dropna()
        row = {"attribute": attribute, "metric": name, "difference": math.nan, "ratio": math.nan,
               "max_group": None, "max_value": math.nan, "min_group": None, "min_value": math.nan,
               "n_groups": int(len(values))}
        if len(big) >= 2 and len(values) >= 2:
            row.update(
                difference=float(difference[name]),
                ratio=float(ratio[name]),
                max_group=str(values.idxmax()),
                max_value=float(values.max()),
                min_group=str(values.idxmin()),
                min_value=float(values.min()),
            )
        rows.append(row)
    return rows


def _attribute_report(i: int, attribute: str, column: pd.Series, names: list[str], y_arr: np.ndarray,
                      f_arr: np.ndarray, p_arr: np.ndarray, *, min_group_size: int, n_boot: int, seed: int):
    """One attribute's table (with intervals), gap rows, small groups and overall metrics."""
    g = column.astype("str").to_numpy()
    frames = _metric_frames(names, y_arr, f_arr, p_arr, g)
    overall = {k: float(v) for mf in frames for k, v in mf.overall.items()}
    table = _by_group(frames)[names]
    table.index = table.index.astype(str)
    table = table.loc[group_order(table.index)]
    small = table.index[table["count"] < min_group_size].tolist()
    big = [grp for grp in table.index if grp not in small]
    gaps = _gap_rows(attribute, names, y_arr, f_arr, p_arr, g, table, big, frames)

    if "observed_rate" in table and "mean_score" in table:
        table[CALIBRATION_GAP] = table["observed_rate"] - table["mean_score"]
    draws: dict[str, dict[str, np.ndarray]] = {}
    if n_boot > 0:
        rng = np.random.default_rng([seed, i])
        ci_names = [n for n in names if n != "count"]
        for grp in table.index:
            rows = np.flatnonzero(g == grp)
            draws[grp] = {}
            ci = _bootstrap_group(ci_names, y_arr[rows], f_arr[rows], p_arr[rows], n_boot, rng, draws[grp])
            for name, (lo, hi) in ci.items():
                table.loc[grp, f"{name}_ci_low"] = lo
                table.loc[grp, f"{name}_ci_high"] = hi
        for row in gaps:
            row.update(gap_intervals(draws, row))
    table["count"] = table["count"].astype(np.int64)
    table.insert(0, "small", table.index.isin(small))
    table.insert(0, "group", table.index)
    table.insert(0, "attribute", attribute)
    return table.reset_index(drop=True), gaps, small, overall


def group_metrics(
    y,
    p,
    flag,
    groups: pd.DataFrame,
    *,
    min_group_size: int = 50,
    n_boot: int = 0,
    seed: int = 0,
) -> FairnessReport:
    """Flag and error rates per group of each column of ``groups`` (``y=None``: unlabelled).

    Rows are matched by position. With ``n_boot > 0``, each group gets percentile
    95% intervals from ``n_boot`` resamples of its own rows (its size held fixed).
    """
    labelled = y is not None
    p_arr = np.asarray(p, dtype=float)
    f_arr = np.asarray(flag).astype(np.int8)
    y_arr = np.asarray(y).astype(np.int8) if labelled else np.zeros(len(p_arr), dtype=np.int8)
    if not (len(p_arr) == len(f_arr) == len(y_arr) == len(groups)):
        raise ValueError("y, p, flag and groups must have the same length")
    names = list(LABELLED_METRICS if labelled else UNLABELLED_METRICS)

    def one(i: int, attribute: str):
        return _attribute_report(i, attribute, groups[attribute], names, y_arr, f_arr, p_arr,
                                 min_group_size=min_group_size, n_boot=n_boot, seed=seed)

    # Attributes on two threads: the bootstrap is numpy work that releases the GIL, and
    # each attribute draws from its own generator, so the intervals do not depend on the order
    # the threads run in.
    with ThreadPoolExecutor(2, thread_name_prefix="stalkrisk-fairness") as pool:
        parts = list(pool.map(one, range(len(groups.columns)), groups.columns))
    tables = [table for table, _, _, _ in parts]
    gaps = [row for _, rows, _, _ in parts for row in rows]
    small_groups = {attribute: small for attribute, (_, _, small, _) in zip(groups.columns, parts) if small}
    overall = parts[0][3] if parts else {}

    by_group = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return FairnessReport(
        labelled=labelled,
        metrics=names,
        min_group_size=min_group_size,
        n_boot=n_boot,
        seed=seed,
        overall=overall,
        by_group=by_group,
        gaps=pd.DataFrame(gaps),
        small_groups=small_groups,
    )


# --- tolerances ----------------------------------------------------------------------


def check_tolerances(report: FairnessReport, tolerances: Mapping[str, Any]) -> list[str]:
    """One readable warning per gap beyond tolerance (format in the module docstring)."""
    unknown_keys = set(tolerances) - {"max_difference", "min_ratio", "attributes"}
    if unknown_keys:
        raise ValueError(f"unknown tolerance keys: {sorted(unknown_keys)}")
    known = set(LABELLED_METRICS) | set(UNLABELLED_METRICS)
    for kind in ("max_difference", "min_ratio"):
        bad = set(tolerances.get(kind) or {}) - known
        if bad:
            raise ValueError(f"unknown metrics under {kind}: {sorted(bad)}")
    attributes = tolerances.get("attributes") or report.attributes
    warnings = []
    if report.gaps.empty:
        return warnings
    gaps = report.gaps.set_index(["attribute", "metric"])
    for attribute in attributes:
        for metric, limit in (tolerances.get("max_difference") or {}).items():
            if (attribute, metric) not in gaps.index:
                continue
            row = gaps.loc[(attribute, metric)]
            if row["difference"] > limit:
                warnings.append(
                    f"{attribute}: {metric} differs by {row['difference']:.3f} between "
                    f"'{row['max_group']}' ({row['max_value']:.3f}) and '{row['min_group']}' "
                    f"({row['min_value']:.3f}); tolerance {limit:.3f}"
                )
        for metric, limit in (tolerances.get("min_ratio") or {}).items():
            if (attribute, metric) not in gaps.index:
                continue
            row = gaps.loc[(attribute, metric)]
            if row["ratio"] < limit:
                warnings.append(
                    f"{attribute}: {metric} ratio {row['ratio']:.3f} between "
                    f"'{row['min_group']}' ({row['min_value']:.3f}) and '{row['max_group']}' "
                    f"({row['max_value']:.3f}); minimum {limit:.3f}"
                )
    return warnings


def _ci(report: FairnessReport, attribute: str, group: str, metric: str) -> tuple[float, float] | None:
    low, high = f"{metric}_ci_low", f"{metric}_ci_high"
    if low not in report.by_group.columns:
        return None
    row = report.by_group.loc[(report.by_group["attribute"] == attribute) & (report.by_group["group"] == group)]
    if row.empty or pd.isna(row[low].iloc[0]) or pd.isna(row[high].iloc[0]):
        return None
    return float(row[low].iloc[0]), float(row[high].iloc[0])


def breaches(report: FairnessReport, tolerances: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Tolerance breaches split into ``clear`` and ``uncertain`` ones.

    A point-estimate gap beyond tolerance is *clear* when sampling noise cannot explain it:
    the two groups' 95% bootstrap intervals do not overlap, or the 95% interval of the gap
    itself (``gap_intervals``: of the difference for ``max_difference``, of the ratio for
    ``min_ratio``) lies wholly beyond the tolerance. Otherwise it is *uncertain*: reported,
    but not a reason to block a model. Without bootstrap intervals every breach is clear.
    Each text ends with the intervals that decided it.
    """
    clear, uncertain = [], []
    if report.gaps.empty:
        return clear, uncertain
    gaps = report.gaps.set_index(["attribute", "metric"])
    single = {k: v for k, v in tolerances.items() if k == "attributes"}
    for kind in ("max_difference", "min_ratio"):
        for metric, limit in (tolerances.get(kind) or {}).items():
            for text in check_tolerances(report, {**single, kind: {metric: limit}}):
                attribute = text.split(":", 1)[0]
                row = gaps.loc[(attribute, metric)]
                hi, lo = _ci(report, attribute, row["max_group"], metric), _ci(report, attribute, row["min_group"], metric)
                if hi is None or lo is None:
                    clear.append(text)
                    continue
                disjoint = hi[0] > lo[1]
                name = "difference" if kind == "max_difference" else "ratio"
                low, high = row.get(f"{name}_ci_low", math.nan), row.get(f"{name}_ci_high", math.nan)
                beyond = (low > limit) if kind == "max_difference" else (high < limit)
                evidence = (f" [95% intervals: '{row['max_group']}' {hi[0]:.3f}-{hi[1]:.3f}, '{row['min_group']}' "
                            f"{lo[0]:.3f}-{lo[1]:.3f}{', apart' if disjoint else ', overlapping'}; "
                            f"{name} {low:.3f}-{high:.3f}]")
                (clear if disjoint or beyond else uncertain).append(text + evidence)
    return clear, uncertain


# --- proxies -------------------------------------------------------------------------


