"""Fairness report: hand-worked groups, agreement with fairlearn, CIs, tolerances, proxies."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_score

from stalkrisk.evaluate.proxy import proxy_auc
from stalkrisk.evaluate.fairness import (
    AUDIT_COLUMNS,
    LABELLED_METRICS,
    UNLABELLED_METRICS,
    _attribute_report,
    _bootstrap_group,
    age_band,
    audit_groups,
    check_tolerances,
    group_metrics,
)


def test_age_band_edges_and_missing():
    ages = pd.Series([None, 12, 17, 18, 24, 25, 34, 35, 44, 45, 54, 55, 90], dtype="Int64")
    assert age_band(ages).tolist() == [
        "unknown", "under 18", "under 18", "18-24", "18-24", "25-34", "25-34",
        "35-44", "35-44", "45-54", "45-54", "55+", "55+",
    ]


def test_audit_groups_fills_unknown_and_missing_columns():
    cases = pd.DataFrame(
        {
            "victim_sex": ["female", None, ""],
            "victim_age": pd.array([30, None, 70], dtype="Int64"),
            "suspect_sex": ["male", "male", "other"],
            "suspect_age": pd.array([None, 19, 16], dtype="Int64"),
            "victim_ethnicity": ["asian", None, "white"],
        },
        index=[10, 11, 12],
    )
    groups = audit_groups(cases)
    assert tuple(groups.columns) == AUDIT_COLUMNS
    assert groups.index.tolist() == [10, 11, 12]
    assert groups["victim_sex"].tolist() == ["female", "unknown", "unknown"]
    assert groups["victim_age_band"].tolist() == ["25-34", "unknown", "55+"]
    assert groups["suspect_age_band"].tolist() == ["unknown", "18-24", "under 18"]
    assert groups["victim_ethnicity"].tolist() == ["asian", "unknown", "white"]
    assert groups["suspect_ethnicity"].tolist() == ["unknown"] * 3  # column absent


# Hand-worked: group a and group b, four cases each.
#   a: y 1 1 0 0, flag 1 0 1 0, p .9 .4 .6 .1 -> flag .5, FNR 1/2, FPR 1/2, prec 1/2, mean .5, obs .5
#   b: y 1 0 0 0, flag 1 1 1 0, p .8 .7 .6 .3 -> flag .75, FNR 0, FPR 2/3, prec 1/3, mean .6, obs .25
GOLD_Y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
GOLD_F = np.array([1, 0, 1, 0, 1, 1, 1, 0])
GOLD_P = np.array([0.9, 0.4, 0.6, 0.1, 0.8, 0.7, 0.6, 0.3])
GOLD_G = pd.DataFrame({"grp": ["a"] * 4 + ["b"] * 4})


@pytest.fixture(scope="module")
def gold():
    return group_metrics(GOLD_Y, GOLD_P, GOLD_F, GOLD_G, min_group_size=1)


def test_hand_computed_groups(gold):
    table = gold.by_group.set_index("group")
    expected = {
        "a": dict(count=4, flag_rate=0.5, false_negative_rate=0.5, false_positive_rate=0.5,
                  precision=0.5, mean_score=0.5, observed_rate=0.5),
        "b": dict(count=4, flag_rate=0.75, false_negative_rate=0.0, false_positive_rate=2 / 3,
                  precision=1 / 3, mean_score=0.6, observed_rate=0.25),
    }
    for grp, metrics in expected.items():
        for name, value in metrics.items():
            assert table.loc[grp, name] == pytest.approx(value), (grp, name)
    gaps = gold.gaps.set_index("metric")
    assert gaps.loc["flag_rate", "difference"] == pytest.approx(0.25)
    assert gaps.loc["flag_rate", "ratio"] == pytest.approx(2 / 3)
    assert gaps.loc["flag_rate", "max_group"] == "b"
    assert gaps.loc["flag_rate", "min_group"] == "a"
    assert gaps.loc["false_negative_rate", "difference"] == pytest.approx(0.5)
    assert gaps.loc["false_negative_rate", "ratio"] == pytest.approx(0.0)
    assert "count" not in gaps.index
    assert gold.overall["flag_rate"] == pytest.approx(5 / 8)


def _random_data(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {
            "victim_sex": rng.choice(["female", "male", "unknown"], n, p=[0.6, 0.35, 0.05]),
            "victim_ethnicity": rng.choice(["white", "asian", "black", "mixed"], n),
        }
    )
    y = rng.integers(0, 2, n)
    p = np.clip(0.25 * y + rng.random(n) * 0.75, 0, 1)
    return y, p, (p >= 0.55).astype(int), groups


def test_agrees_with_fairlearn_metricframe():
    y, p, flag, groups = _random_data()
    report = group_metrics(y, p, flag, groups, min_group_size=1)
    for attribute in groups.columns:
        reference = MetricFrame(
            metrics={
                "count": count,
                "flag_rate": selection_rate,
                "false_negative_rate": false_negative_rate,
                "false_positive_rate": false_positive_rate,
                "precision": lambda a, b: precision_score(a, b, zero_division=np.nan),
                "mean_score": lambda a, b, score: float(np.mean(score)),
                "observed_rate": lambda a, b: float(np.mean(a)),
            },
            y_true=y,
            y_pred=flag,
            sensitive_features=groups[attribute],
            sample_params={"mean_score": {"score": p}},
        )
        ours = report.by_group[report.by_group["attribute"] == attribute].set_index("group")
        theirs = reference.by_group
        theirs.index = theirs.index.astype(str)
        for name in theirs.columns:
            np.testing.assert_allclose(ours.loc[theirs.index, name], theirs[name], rtol=1e-12, err_msg=name)
        gaps = report.gaps[report.gaps["attribute"] == attribute].set_index("metric")
        for name in theirs.columns.drop("count"):
            assert gaps.loc[name, "difference"] == pytest.approx(reference.difference()[name])
            assert gaps.loc[name, "ratio"] == pytest.approx(reference.ratio()[name])


def test_small_groups_are_named_and_left_out_of_gaps():
    n_big = 100
    groups = pd.DataFrame({"attr": ["a"] * n_big + ["b"] * n_big + ["c"] * 10})
    flag = np.r_[np.zeros(n_big // 2), np.ones(n_big // 2), np.zeros(n_big * 3 // 5),
                 np.ones(n_big * 2 // 5), np.ones(10)]
    p = flag * 0.5 + 0.25
    y = np.tile([0, 1], len(flag) // 2)
    report = group_metrics(y, p, flag, groups, min_group_size=50)
    assert report.small_groups == {"attr": ["c"]}
    table = report.by_group.set_index("group")
    assert table.loc["c", "small"] and not table.loc["a", "small"]
    assert table.loc["c", "flag_rate"] == 1.0  # still reported
    gap = report.gaps.set_index("metric").loc["flag_rate"]
    assert gap["difference"] == pytest.approx(0.5 - 0.4)  # c (1.0) not compared
    assert {gap["max_group"], gap["min_group"]} == {"a", "b"}


def test_group_without_positives_has_nan_fnr():
    groups = pd.DataFrame({"attr": ["a", "a", "b", "b"]})
    report = group_metrics([1, 0, 0, 0], [0.9, 0.1, 0.8, 0.2], [1, 0, 1, 0], groups, min_group_size=1)
    table = report.by_group.set_index("group")
    assert math.isnan(table.loc["b", "false_negative_rate"])
    assert report.gaps.set_index("metric").loc["false_negative_rate", "n_groups"] == 1


def test_bootstrap_intervals_contain_point_and_are_seeded():
    y, p, flag, groups = _random_data()
    report = group_metrics(y, p, flag, groups, n_boot=200, seed=3)
    table = report.by_group
    for name in ("flag_rate", "false_negative_rate", "false_positive_rate", "precision", "mean_score"):
        assert (table[f"{name}_ci_low"] <= table[name] + 1e-12).all(), name
        assert (table[name] <= table[f"{name}_ci_high"] + 1e-12).all(), name
    # Smaller groups get wider intervals.
    width = (table["flag_rate_ci_high"] - table["flag_rate_ci_low"]).to_numpy()
    by_sex = table["attribute"] == "victim_sex"
    sizes = table.loc[by_sex, "count"].to_numpy()
    assert width[by_sex.to_numpy()][np.argmin(sizes)] > width[by_sex.to_numpy()][np.argmax(sizes)]
    again = group_metrics(y, p, flag, groups, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(report.by_group, again.by_group)


def test_attributes_measured_on_two_threads_match_each_measured_alone_in_order():
    y, p, flag, groups = _random_data()
    report = group_metrics(y, p, flag, groups, n_boot=50, seed=5)
    names = list(LABELLED_METRICS)
    alone = [_attribute_report(i, a, groups[a], names, np.asarray(y).astype(np.int8),
                               np.asarray(flag).astype(np.int8), np.asarray(p, dtype=float),
                               min_group_size=50, n_boot=50, seed=5)
             for i, a in enumerate(groups.columns)]
    pd.testing.assert_frame_equal(report.by_group, pd.concat([t for t, *_ in alone], ignore_index=True))
    pd.testing.assert_frame_equal(report.gaps, pd.DataFrame([r for _, rows, *_ in alone for r in rows]))
    assert report.overall == alone[0][3]


def test_bootstrap_close_to_fairlearn_bootstrap():
    y, p, flag, groups = _random_data(n=1200, seed=5)
    ours = group_metrics(y, p, flag, groups[["victim_sex"]], n_boot=300, seed=0)
    theirs = MetricFrame(
        metrics={"flag_rate": selection_rate},
        y_true=y,
        y_pred=flag,
        sensitive_features=groups["victim_sex"],
        n_boot=100,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    table = ours.by_group.set_index("group")
    for grp in ("female", "male"):
        assert table.loc[grp, "flag_rate_ci_low"] == pytest.approx(theirs.by_group_ci[0].loc[grp, "flag_rate"], abs=0.03)
        assert table.loc[grp, "flag_rate_ci_high"] == pytest.approx(theirs.by_group_ci[1].loc[grp, "flag_rate"], abs=0.03)


def _slow_bootstrap(names, y, f, p, n_boot, rng):
    """The oracle: each resample's metrics computed one resample at a time, from its rows."""
    values = {name: [] for name in names}
    for _ in range(n_boot):  # the same draws as the code under test
        idx = rng.integers(0, len(y), size=len(y))
        ys, fs, ps = y[idx], f[idx], p[idx]
        pos, flagged = ys == 1, fs == 1
        row = {
            "flag_rate": flagged.sum() / len(idx),
            "mean_score": ps.mean(),
            "observed_rate": pos.sum() / len(idx),
            "false_negative_rate": (pos & ~flagged).sum() / pos.sum() if pos.any() else math.nan,
            "false_positive_rate": (~pos & flagged).sum() / (~pos).sum() if (~pos).any() else math.nan,
            "precision": (pos & flagged).sum() / flagged.sum() if flagged.any() else math.nan,
            "score_p10": np.quantile(ps, 0.1),
            "score_median": np.quantile(ps, 0.5),
            "score_p90": np.quantile(ps, 0.9),
        }
        for name in names:
            values[name].append(row[name])
    out = {}
    for name in names:
        v = np.array(values[name], dtype=float)
        v = v[~np.isnan(v)]
        out[name] = tuple(np.quantile(v, [0.025, 0.975])) if len(v) else (math.nan, math.nan)
    return out


@pytest.mark.parametrize("n", [7, 300])
@pytest.mark.parametrize("labelled", [True, False])
def test_bootstrap_matches_one_resample_at_a_time(n, labelled):
    rng = np.random.default_rng(n)
    y = (rng.random(n) < 0.1).astype(np.int8)  # n=7: some resamples without positives
    f = (rng.random(n) < 0.3).astype(np.int8)
    p = rng.random(n)
    names = [m for m in (LABELLED_METRICS if labelled else UNLABELLED_METRICS) if m != "count"]
    got = _bootstrap_group(names, y, f, p, 50, np.random.default_rng(1))
    want = _slow_bootstrap(names, y, f, p, 50, np.random.default_rng(1))
    for name in names:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, err_msg=name)


def test_unlabelled_report():
    groups = pd.DataFrame({"attr": ["a"] * 5 + ["b"] * 3})
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    report = group_metrics(None, p, p >= 0.45, groups, min_group_size=1, n_boot=20)
    assert not report.labelled
    assert report.metrics == ["count", "flag_rate", "mean_score", "score_p10", "score_median", "score_p90"]
    table = report.by_group.set_index("group")
    assert table.loc["a", "flag_rate"] == pytest.approx(0.2)
    assert table.loc["a", "score_median"] == pytest.approx(0.3)
    assert table.loc["b", "mean_score"] == pytest.approx(0.7)
    assert "false_negative_rate" not in table.columns
    # The labelled tolerance config still applies: error-rate rules are skipped.
    warnings = check_tolerances(report, {"max_difference": {"flag_rate": 0.5, "false_negative_rate": 0.0}})
    assert warnings == [f"attr: flag_rate differs by {1 - 0.2:.3f} between 'b' (1.000) and 'a' (0.200); tolerance 0.500"]


def test_report_is_json_serialisable(gold):
    data = json.loads(json.dumps(gold.to_dict(), allow_nan=False))
    assert data["by_group"][0]["group"] == "a"
    assert data["small_groups"] == {}
    _, _, _, groups = _random_data(n=200)
    rng = np.random.default_rng(0)
    report = group_metrics(rng.integers(0, 2, 200), rng.random(200), rng.integers(0, 2, 200), groups, n_boot=10)
    json.dumps(report.to_dict(), allow_nan=False)


def test_tolerances_fire_exactly_beyond_the_limit(gold):
    # flag_rate: difference 0.25, ratio 2/3; false_negative_rate: difference 0.5.
    assert check_tolerances(gold, {"max_difference": {"flag_rate": 0.25}}) == []
    (warning,) = check_tolerances(gold, {"max_difference": {"flag_rate": 0.2499}})
    assert "grp" in warning and "flag_rate" in warning and "'a'" in warning and "'b'" in warning
    assert "0.250" in warning
    assert check_tolerances(gold, {"min_ratio": {"flag_rate": 0.66}}) == []
    (warning,) = check_tolerances(gold, {"min_ratio": {"flag_rate": 0.67}})
    assert "ratio 0.667" in warning
    both = check_tolerances(gold, {"max_difference": {"flag_rate": 0.1, "false_negative_rate": 0.4}})
    assert len(both) == 2
    assert check_tolerances(gold, {"max_difference": {"flag_rate": 0.1}, "attributes": ["other"]}) == []
    with pytest.raises(ValueError):
        check_tolerances(gold, {"max_difference": {"flag_rte": 0.1}})
    with pytest.raises(ValueError):
        check_tolerances(gold, {"max_diff": {"flag_rate": 0.1}})


@settings(max_examples=40, deadline=None)
@given(limit=st.floats(0.0, 1.0))
def test_tolerance_property(gold, limit):
    warnings = check_tolerances(gold, {"max_difference": {"false_positive_rate": limit}})
    gap = 2 / 3 - 1 / 2
    assert (len(warnings) == 1) == (gap > limit + 1e-12) or abs(gap - limit) < 1e-12


def test_proxy_auc_independent_vs_leaked():
    rng = np.random.default_rng(0)
    n = 1500
    features = pd.DataFrame(
        {
            "threats_30d": rng.poisson(1.0, n),
            "days_since_first": rng.integers(0, 400, n),
            "prior_da": pd.array(rng.random(n) < 0.3, dtype="boolean"),
        }
    )
    independent = pd.Series(rng.choice(["female", "male"], n), name="victim_sex")
    result = proxy_auc(features, independent, seed=0)
    assert abs(result["auc"] - 0.5) < 0.08
    assert result["n"] == n and result["classes"] == ["female", "male"]

    leaked_values = np.where(features["days_since_first"] > 200, "asian", "white")
    leaked = pd.Series(leaked_values, name="victim_ethnicity")
    leaked[:50] = "unknown"  # excluded by default
    result = proxy_auc(features, leaked, seed=0)
    assert result["auc"] > 0.95
    assert result["n"] == n - 50 and "unknown" in result["excluded_classes"]

    three = pd.Series(np.select([features["threats_30d"] == 0, features["threats_30d"] == 1],
                                ["a", "b"], "c"), name="x")
    result = proxy_auc(features, three, seed=0)
    assert result["auc"] > 0.95 and set(result["per_class"]) == {"a", "b", "c"}


def test_proxy_auc_single_class_is_nan():
    features = pd.DataFrame({"x": np.arange(30)})
    result = proxy_auc(features, pd.Series(["a"] * 29 + ["b"]), cv=3)
    assert math.isnan(result["auc"]) and "b" in result["excluded_classes"]


# --- the stricter verdicts (issue 19) -----------------------------------------------------


def _block(n: int, positives: int, missed: int, flagged_negatives: int = 0):
    """``n`` cases: ``positives`` of them positive, ``missed`` of those unflagged; scores 0.5."""
    y = np.r_[np.ones(positives), np.zeros(n - positives)].astype(int)
    flag = np.r_[np.zeros(missed), np.ones(positives - missed), np.ones(flagged_negatives),
                 np.zeros(n - positives - flagged_negatives)].astype(int)
    return y, flag


def test_disjoint_intervals_read_as_a_clear_gap():
    # FNR 69/90 = 0.767 against 213/375 = 0.568: intervals about [0.68-0.86] and [0.52-0.62], apart;
    # the difference 0.199 is over the 0.15 tolerance, and its own interval straddles it.
    from stalkrisk.evaluate.fairness import breaches

    ya, fa = _block(90, 90, 69)
    yb, fb = _block(375, 375, 213)
    y, flag = np.r_[ya, yb], np.r_[fa, fb]
    groups = pd.DataFrame({"victim_sex": ["male"] * 90 + ["female"] * 375})
    report = group_metrics(y, np.full(len(y), 0.5), flag, groups, min_group_size=50, n_boot=400, seed=0)
    table = report.by_group.set_index("group")
    assert table.loc["male", "false_negative_rate"] == pytest.approx(0.767, abs=5e-4)
    assert table.loc["female", "false_negative_rate"] == pytest.approx(0.568, abs=5e-4)
    for grp, lo, hi in (("male", 0.68, 0.86), ("female", 0.52, 0.62)):
        assert table.loc[grp, "false_negative_rate_ci_low"] == pytest.approx(lo, abs=0.02)
        assert table.loc[grp, "false_negative_rate_ci_high"] == pytest.approx(hi, abs=0.02)
    gap = report.gaps.set_index("metric").loc["false_negative_rate"]
    assert not gap["intervals_overlap"] and gap["difference_ci_low"] < 0.15 < gap["difference_ci_high"]
    clear, uncertain = breaches(report, {"max_difference": {"false_negative_rate": 0.15}})
    assert len(clear) == 1 and clear[0].startswith("victim_sex: false_negative_rate differs by 0.199") and not uncertain


def test_a_flag_rate_ratio_of_0_28_between_suspect_groups_fails_the_packaged_gate():
    from stalkrisk.config import load_fairness_config
    from stalkrisk.evaluate.fairness_run import assess

    config = load_fairness_config()
    assert {"suspect_sex", "suspect_age_band", "victim_sex", "victim_ethnicity"} <= set(config["groups"])
    # male: 125 of 500 flagged (0.25); female: 14 of 200 (0.07): ratio 0.28 (no outcomes differ)
    y = np.zeros(700, dtype=int)
    flag = np.r_[np.ones(125), np.zeros(375), np.ones(14), np.zeros(186)].astype(int)
    cases = pd.DataFrame({"suspect_sex": ["male"] * 500 + ["female"] * 200})
    from stalkrisk.evaluate.fairness_run import slice_groups

    outcome = assess(y, np.full(700, 0.3), flag, slice_groups(cases, config), config)
    ratio = outcome.report.gaps.set_index(["attribute", "metric"]).loc[("suspect_sex", "flag_rate")]
    assert ratio["ratio"] == pytest.approx(0.28)
    assert any(w.startswith("suspect_sex: flag_rate ratio 0.280") for w in outcome.clear), outcome.clear


def test_an_overlapping_gap_whose_interval_straddles_the_tolerance_stays_uncertain():
    from stalkrisk.evaluate.fairness import breaches

    ya, fa = _block(60, 20, 12)  # FNR 0.60
    yb, fb = _block(60, 20, 8)  # FNR 0.40: the difference 0.20 > 0.15, but 20 positives each
    report = group_metrics(np.r_[ya, yb], np.full(120, 0.5), np.r_[fa, fb],
                           pd.DataFrame({"g": ["a"] * 60 + ["b"] * 60}), min_group_size=50, n_boot=300)
    clear, uncertain = breaches(report, {"max_difference": {"false_negative_rate": 0.15}})
    assert not clear and len(uncertain) == 1


def test_gap_intervals_pair_the_groups_resamples():
    from stalkrisk.evaluate.fairness import gap_intervals

    draws = {"a": {"flag_rate": np.array([0.5, 0.6, np.nan, 0.7])}, "b": {"flag_rate": np.array([0.1, 0.3, 0.2, 0.35])}}
    out = gap_intervals(draws, {"metric": "flag_rate", "max_group": "a", "min_group": "b"})
    diffs, ratios = np.array([0.4, 0.3, 0.35]), np.array([0.2, 0.5, 0.5])
    assert (out["difference_ci_low"], out["difference_ci_high"]) == pytest.approx(tuple(np.quantile(diffs, [0.025, 0.975])))
    assert (out["ratio_ci_low"], out["ratio_ci_high"]) == pytest.approx(tuple(np.quantile(ratios, [0.025, 0.975])))
    assert out["intervals_overlap"] is False


def test_calibration_by_group_is_observed_minus_predicted(gold):
    table = gold.by_group.set_index("group")
    assert table.loc["a", "calibration_gap"] == pytest.approx(0.0)
    assert table.loc["b", "calibration_gap"] == pytest.approx(0.25 - 0.6)


def test_intersections_and_forces_are_group_columns():
    from stalkrisk.evaluate.groups import force_groups, intersections

    groups = pd.DataFrame({"suspect_sex": ["male", "female"], "suspect_ethnicity": ["white", "unknown"]})
    both = intersections(groups, [["suspect_sex", "suspect_ethnicity"], ["suspect_sex", "absent"]])
    assert both.columns.tolist() == ["suspect_sex × suspect_ethnicity"]
    assert both.iloc[:, 0].tolist() == ["male / white", "female / unknown"]
    assert force_groups(pd.DataFrame({"force_code": ["F01", None]}))["force_code"].tolist() == ["f01", "unknown"]
