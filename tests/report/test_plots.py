"""Plots: every chart renders non-empty, byte-identical SVG from the same inputs."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from stalkrisk.report import charts as plots
from stalkrisk.evaluate.drift import compare, reference_profile
from stalkrisk.evaluate.fairness import group_metrics


def _data(seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)
    X = pd.DataFrame({"threats_30d": rng.poisson(1.0, n), "days_since_first": rng.integers(0, 400, n),
                      "prior_da": rng.random(n) < 0.3})
    contributions = rng.normal(size=X.shape)
    groups = pd.DataFrame({"victim_sex": rng.choice(["female", "male", "other"], n, p=[0.6, 0.38, 0.02])})
    return y, p, X, contributions, groups


def _builders():
    y, p, X, contributions, groups = _data()
    report = group_metrics(y, p, p >= 0.6, groups, n_boot=20)
    later = X.assign(threats_30d=X["threats_30d"] + 2)
    drift_table = compare(reference_profile(X), later)
    return {
        "roc_pr": lambda: plots.roc_pr_curves(y, {"model": p, "S-DASH": X["threats_30d"].to_numpy()}),
        "calibration": lambda: plots.calibration_plot(y, p),
        "scores_labelled": lambda: plots.score_distribution(p, y, threshold=0.6),
        "scores": lambda: plots.score_distribution(p),
        "fairness": lambda: plots.fairness_chart(report),
        "fairness_unlabelled": lambda: plots.fairness_chart(group_metrics(None, p, p >= 0.6, groups)),
        "shap_summary": lambda: plots.shap_summary(contributions, X),
        "shap_importance": lambda: plots.shap_importance(contributions, X),
        "psi": lambda: plots.psi_chart(drift_table),
    }


BUILDERS = _builders()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_chart_svg_is_non_empty_and_deterministic(name):
    first = BUILDERS[name]()
    assert isinstance(first, Figure)
    svg = plots.figure_to_svg(first)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<path" in svg and len(svg) > 5000
    assert "dc:date" not in svg
    assert plots.figure_to_svg(BUILDERS[name]()) == svg


def test_shap_beeswarm_leaves_global_random_state_alone():
    _, _, X, contributions, _ = _data()
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    plots.shap_summary(contributions, X)
    assert np.random.random() == expected


def test_chart_labels_carry_the_numbers():
    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    fig = plots.roc_pr_curves(y, {"model": p})
    roc_ax = fig.axes[0]
    assert roc_ax.get_legend().get_texts()[0].get_text() == "model (AUC 0.889)"
    fig = plots.score_distribution(p, threshold=0.65)
    assert "flags 50.0%" in fig.axes[0].get_legend().get_texts()[-1].get_text()


def test_save_figure_png_and_svg(tmp_path):
    y, p, *_ = _data()
    png = plots.save_figure(plots.calibration_plot(y, p), tmp_path / "sub" / "cal.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = plots.save_figure(plots.calibration_plot(y, p), tmp_path / "cal.svg")
    again = plots.save_figure(plots.calibration_plot(y, p), tmp_path / "cal2.svg")
    assert svg.read_bytes() == again.read_bytes()
    assert svg.read_text().startswith("<?xml")
    with pytest.raises(ValueError):
        plots.save_figure(plots.calibration_plot(y, p), tmp_path / "cal.pdf")


def test_png_data_uri_decodes_to_png():
    y, p, *_ = _data()
    uri = plots.figure_to_png_data_uri(plots.score_distribution(p, y))
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1])[:4] == b"\x89PNG"


def test_shap_rejects_mismatched_shapes():
    _, _, X, contributions, _ = _data()
    with pytest.raises(ValueError):
        plots.shap_summary(contributions[:, :2], X)
