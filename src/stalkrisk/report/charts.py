"""Figures for the model card, the audit and the review pages.

Each chart is a pure function from arrays or report frames to a matplotlib ``Figure``
built without pyplot (no global figure registry, no GUI backend), so library users'
notebooks are not touched. The serialisers at the bottom are the only IO: a file
(PNG or SVG by extension) or a string to inline in self-contained HTML. SVG output
is byte-deterministic: fixed ``svg.hashsalt`` for element ids, no date metadata, text
as paths, and a fixed global seed around shap's beeswarm (which jitters with numpy's
global random state).
"""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

from stalkrisk.report import shap_import
from stalkrisk.evaluate.metrics import calibration_table, expected_calibration_error

#: Okabe-Ito colour-blind-safe palette; the first named score (the model) gets blue.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
STYLE = {
    "svg.hashsalt": "stalkrisk",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "savefig.bbox": None,
    "path.simplify": True,
}
_METADATA = {"svg": {"Date": None}, "png": {"Software": None}}


@contextmanager
def _style():
    with matplotlib.rc_context(STYLE):
        yield


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


# --- model quality -------------------------------------------------------------------


def roc_pr_curves(y, scores: Mapping[str, np.ndarray]) -> Figure:
    """ROC and precision-recall curves side by side, one line per named score.

    Both curves drop the points a plot cannot show (sklearn's ``drop_intermediate``);
    the ROC-AUC is the area under the drawn curve, as ``roc_auc_score`` computes it.
    """
    y_arr = np.asarray(y, dtype=int)
    with _style():
        fig = _new_figure(9, 4)
        roc_ax, pr_ax = fig.subplots(1, 2)
        for i, (name, score) in enumerate(scores.items()):
            s = np.asarray(score, dtype=float)
            colour = PALETTE[i % len(PALETTE)]
            width = 2.0 if i == 0 else 1.2
            fpr, tpr, _ = roc_curve(y_arr, s)
            roc_ax.plot(fpr, tpr, color=colour, lw=width, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
            precision, recall, _ = precision_recall_curve(y_arr, s, drop_intermediate=True)
            pr_ax.plot(recall, precision, color=colour, lw=width, drawstyle="steps-post",
                       label=f"{name} (AP {average_precision_score(y_arr, s):.3f})")
        roc_ax.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--")
        roc_ax.set(xlabel="False positive rate", ylabel="True positive rate (recall)",
                   title="ROC", xlim=(0, 1), ylim=(0, 1.01))
        base = y_arr.mean() if len(y_arr) else 0.0
        pr_ax.axhline(base, color="#999999", lw=0.8, ls="--")
        pr_ax.set(xlabel="Recall", ylabel="Precision", title=f"Precision-recall (base rate {base:.1%})",
                  xlim=(0, 1), ylim=(0, 1.01))
        roc_ax.legend(loc="lower right")
        pr_ax.legend(loc="upper right")
    return fig


def calibration_plot(y, p, n_bins: int = 10) -> Figure:
    """Reliability diagram (equal-width bins) over the count of cases per bin."""
    table = calibration_table(y, p, n_bins)
    ece = expected_calibration_error(y, p, n_bins)
    used = table[table["count"] > 0]
    with _style():
        fig = _new_figure(5, 5.5)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        top.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls="--", label="perfect calibration")
        top.plot(used["mean_predicted"], used["observed_rate"], marker="o", color=PALETTE[0],
                 label="model")
        top.set(ylabel="Observed rate", title=f"Calibration (ECE {ece:.3f})", xlim=(0, 1), ylim=(0, 1))
        top.legend(loc="upper left")
        centres = (table["bin_lower"] + table["bin_upper"]) / 2
        bottom.bar(centres, table["count"], width=1 / n_bins * 0.9, color=PALETTE[4])
        bottom.set(xlabel="Predicted probability", ylabel="Cases")
    return fig


def score_distribution(p, y=None, threshold: float | None = None, bins: int = 50) -> Figure:
    """Histogram of scores, split by outcome when labels are given, with the threshold."""
    p_arr = np.asarray(p, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    with _style():
        fig = _new_figure(6, 3.5)
        ax = fig.subplots()
        if y is None:
            ax.hist(p_arr, bins=edges, color=PALETTE[0], label="all cases")
            ax.set_ylabel("Cases")
        else:
            y_arr = np.asarray(y, dtype=int)
            for value, name, colour in ((0, "no outcome", PALETTE[4]), (1, "outcome", PALETTE[5])):
                part = p_arr[y_arr == value]
                ax.hist(part, bins=edges, density=True, histtype="step", lw=1.5, color=colour,
                        label=f"{name} (n={len(part):,})")
            ax.set_ylabel("Density")
        if threshold is not None:
            share = float(np.mean(p_arr >= threshold)) if len(p_arr) else 0.0
            ax.axvline(threshold, color="#000000", lw=1, ls="--",
                       label=f"threshold {threshold:.3f} (flags {share:.1%})")
        ax.set(xlabel="Score", title="Score distribution", xlim=(0, 1))
        ax.legend(loc="upper right")
    return fig


# --- fairness and drift --------------------------------------------------------------


def fairness_chart(report, metrics: tuple[str, ...] | None = None) -> Figure:
    """Per attribute, bars of flag rate (and false negative rate) by group, with 95% CIs.

    Groups too small to judge are drawn pale and hatched.
    """
    table = report.by_group
    if metrics is None:
        metrics = ("flag_rate", "false_negative_rate") if report.labelled else ("flag_rate",)
    attributes = report.attributes
    heights = [max(1.0, 0.28 * (table["attribute"] == a).sum() + 0.6) for a in attributes]
    with _style():
        fig = _new_figure(4 * len(metrics) + 1.5, sum(heights) + 0.4)
        axes = np.asarray(fig.subplots(len(attributes), len(metrics), squeeze=False,
                                       height_ratios=heights))
        for r, attribute in enumerate(attributes):
            rows = table[table["attribute"] == attribute].reset_index(drop=True)
            pos = np.arange(len(rows))[::-1]
            labels = [f"{g} (n={n:,})" for g, n in zip(rows["group"], rows["count"])]
            for c, metric in enumerate(metrics):
                ax = axes[r, c]
                values = rows[metric].to_numpy(dtype=float)
                colours = ["#BBBBBB" if small else PALETTE[c] for small in rows["small"]]
                bars = ax.barh(pos, np.nan_to_num(values), color=colours, height=0.7)
                for bar, small in zip(bars, rows["small"]):
                    if small:
                        bar.set_hatch("//")
                low, high = f"{metric}_ci_low", f"{metric}_ci_high"
                if low in rows and high in rows:
                    err = np.vstack([values - rows[low].to_numpy(float), rows[high].to_numpy(float) - values])
                    ax.errorbar(values, pos, xerr=np.clip(np.nan_to_num(err), 0, None), fmt="none",
                                ecolor="#333333", elinewidth=0.8, capsize=2)
                ax.set_yticks(pos, labels if c == 0 else [""] * len(pos))
                ax.set_xlim(0, 1)
                if r == 0:
                    ax.set_title(metric.replace("_", " "))
                if c == 0:
                    ax.set_ylabel(attribute.replace("_", " "))
    return fig


def psi_chart(drift_table: pd.DataFrame, threshold: float = 0.2, max_features: int = 30) -> Figure:
    """Population stability index per feature, largest first, drifted ones highlighted."""
    table = drift_table.assign(psi_plot=drift_table["psi"].fillna(0.0))
    table = table.sort_values(["psi_plot", "feature"], ascending=[False, True]).head(max_features)
    pos = np.arange(len(table))[::-1]
    with _style():
        fig = _new_figure(6, 0.25 * len(table) + 1.2)
        ax = fig.subplots()
        colours = [PALETTE[5] if d else PALETTE[0] for d in table["drifted"]]
        ax.barh(pos, table["psi_plot"], color=colours, height=0.7)
        ax.axvline(0.1, color="#999999", lw=0.8, ls=":")
        ax.axvline(threshold, color="#000000", lw=0.8, ls="--", label=f"drift threshold {threshold}")
        ax.set_yticks(pos, table["feature"].tolist())
        ax.set(xlabel="PSI", title="Feature drift (PSI)")
        ax.legend(loc="lower right")
    return fig


# --- explanations --------------------------------------------------------------------


def _explanation(contributions: np.ndarray, X: pd.DataFrame, max_rows: int | None, seed: int):
    shap = shap_import.shap()

    values = np.asarray(contributions, dtype=float)
    if values.shape != X.shape:
        raise ValueError(f"contributions {values.shape} do not match features {X.shape}")
    data = np.column_stack(
        [pd.to_numeric(X[c], errors="coerce").astype("float64").to_numpy() for c in X.columns]
    ) if X.shape[1] else np.empty(X.shape)
    if max_rows is not None and len(values) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(values), size=max_rows, replace=False))
        values, data = values[rows], data[rows]
    return shap.Explanation(values=values, data=data, feature_names=[str(c) for c in X.columns])


@contextmanager
def _seeded_global_numpy(seed: int):
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def shap_summary(contributions: np.ndarray, X: pd.DataFrame, *, max_display: int = 15,
                 max_rows: int = 2000, seed: int = 0) -> Figure:
    """shap's beeswarm of per-case contributions, on a seeded sample of at most max_rows."""
    shap = shap_import.shap()

    explanation = _explanation(contributions, X, max_rows, seed)
    with _style(), _seeded_global_numpy(seed):
        fig = _new_figure(8, 6)
        ax = fig.subplots()
        shap.plots.beeswarm(explanation, max_display=max_display, ax=ax, show=False, plot_size=None)
        ax.set_xlabel("Contribution to the log-odds of the score")
    return fig


def shap_importance(contributions: np.ndarray, X: pd.DataFrame, *, max_display: int = 15) -> Figure:
    """shap's bar chart of mean absolute contribution per feature."""
    shap = shap_import.shap()

    explanation = _explanation(contributions, X, None, 0)
    with _style():
        fig = _new_figure(7, 0.3 * min(max_display, X.shape[1]) + 1.5)
        ax = fig.subplots()
        shap.plots.bar(explanation.abs.mean(0), max_display=max_display, ax=ax, show=False,
                       show_data=False)
        ax.set_xlabel("Mean |contribution| (log-odds)")
    return fig


# --- serialising ---------------------------------------------------------------------


def _close(fig: Figure) -> None:
    """Release a pyplot-managed figure; figures built here are freed with their last reference."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)


def _render(fig: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format=fmt, metadata=_METADATA[fmt])
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG or SVG (by extension), then close it."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in _METADATA:
        raise ValueError(f"unsupported figure format {path.suffix!r}: use .png or .svg")
    data = _render(fig, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    _close(fig)
    return path


def figure_to_svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element (no XML prolog), ready to inline in HTML."""
    text = _render(fig, "svg").decode("utf-8")
    _close(fig)
    return text[text.index("<svg"):]


def figure_to_png_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI for an ``<img src>``."""
    data = _render(fig, "png")
    _close(fig)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
