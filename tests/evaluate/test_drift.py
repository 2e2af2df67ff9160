"""Drift: profile bins and PSI worked out by hand, and invariants."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.evaluate.drift import EPSILON, compare, psi, reference_profile


def test_psi_by_hand_on_a_count():
    ref = pd.DataFrame({"x": [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]})
    profile = reference_profile(ref)
    col = profile["columns"]["x"]
    assert col["cuts"] == [0.0, 1.0, 2.0, 3.0, 4.0]  # 5 distinct values: one bin each
    assert col["proportions"] == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.2, 0.0])
    new = pd.DataFrame({"x": [0, 0, 0, 0, 1, 1, 2, 2, 3, 4]})
    # (.4-.2)ln2 + 0 + 0 + (.1-.2)ln(.5) + (.1-.2)ln(.5) = 0.4 ln 2
    row = compare(profile, new).iloc[0]
    assert row["psi"] == pytest.approx(0.4 * math.log(2))
    assert row["drifted"]  # 0.277 > 0.2
    assert not compare(profile, new, psi_threshold=0.3).iloc[0]["drifted"]


def test_constant_column_that_starts_to_vary_drifts():
    profile = reference_profile(pd.DataFrame({"k": np.zeros(20)}))
    assert profile["columns"]["k"]["cuts"] == [0.0]
    assert profile["columns"]["k"]["proportions"] == [1.0, 0.0]
    same = compare(profile, pd.DataFrame({"k": np.zeros(7)})).iloc[0]
    assert same["psi"] == 0.0 and not same["drifted"]
    half = compare(profile, pd.DataFrame({"k": [0, 1] * 10})).iloc[0]
    expected = (0.5 - 1) * math.log(0.5) + (0.5 - EPSILON) * math.log(0.5 / EPSILON)
    assert half["psi"] == pytest.approx(expected)
    assert half["drifted"]


def test_quantile_cut_points_for_continuous_values():
    profile = reference_profile(pd.DataFrame({"v": np.arange(1.0, 101.0)}), bins=4)
    col = profile["columns"]["v"]
    assert col["cuts"] == [25.0, 50.0, 75.0, 100.0]
    assert col["proportions"] == pytest.approx([0.25, 0.25, 0.25, 0.25, 0.0])
    above = compare(profile, pd.DataFrame({"v": np.arange(101.0, 111.0)})).iloc[0]
    assert above["psi"] == pytest.approx(
        4 * (EPSILON - 0.25) * math.log(EPSILON / 0.25) + (1 - EPSILON) * math.log(1 / EPSILON)
    )


def test_many_zeros_deduplicate_edges():
    values = np.r_[np.zeros(80), np.arange(1, 21)]
    cuts = reference_profile(pd.DataFrame({"c": values}))["columns"]["c"]["cuts"]
    assert cuts[0] == 0.0 and cuts[-1] == 20.0
    assert np.all(np.diff(cuts) > 0)
    assert reference_profile(pd.DataFrame({"c": values}))["columns"]["c"]["proportions"][0] == 0.8


def test_missing_rate_change_and_missing_column():
    ref = pd.DataFrame({"m": [1.0, 2.0, np.nan, 4.0, 5.0], "gone": [1, 2, 3, 4, 5]})
    profile = reference_profile(ref)
    now = pd.DataFrame({"m": [1.0, np.nan, np.nan, 4.0, 5.0, np.nan]})
    table = compare(profile, now).set_index("feature")
    assert table.loc["m", "missing_ref"] == pytest.approx(0.2)
    assert table.loc["m", "missing_now"] == pytest.approx(0.5)
    assert table.loc["m", "missing_change"] == pytest.approx(0.3)
    assert table.loc["m", "drifted"]
    assert not table.loc["gone", "present"] and table.loc["gone", "drifted"]
    assert math.isnan(table.loc["gone", "psi"])


def test_text_and_boolean_columns():
    ref = pd.DataFrame(
        {
            "rel": ["ex_partner", "stranger", "ex_partner", "family"],
            "flag": pd.array([True, False, None, True], dtype="boolean"),
        }
    )
    profile = reference_profile(ref)
    assert profile["columns"]["rel"]["categories"] == ["ex_partner", "family", "stranger"]
    assert profile["columns"]["flag"]["cuts"] == [0.0, 1.0]
    now = pd.DataFrame({"rel": ["colleague", "colleague"], "flag": pd.array([True, True], dtype="boolean")})
    table = compare(profile, now).set_index("feature")
    # rel: all mass moves to the unseen bin.
    e = np.maximum([0.5, 0.25, 0.25, 0.0], EPSILON)
    a = np.maximum([0.0, 0.0, 0.0, 1.0], EPSILON)
    assert table.loc["rel", "psi"] == pytest.approx(float(np.sum((a - e) * np.log(a / e))))
    # flag: 1/3 false, 2/3 true -> all true.
    assert table.loc["flag", "psi"] == pytest.approx(psi([1 / 3, 2 / 3, 0], [0, 1, 0]))


def test_profile_round_trips_through_json():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "c": rng.poisson(0.5, 300), "t": rng.choice(["a", "b"], 300)})
    profile = reference_profile(frame)
    restored = json.loads(json.dumps(profile, allow_nan=False))
    later = frame.assign(x=frame["x"] + 0.3)
    pd.testing.assert_frame_equal(compare(profile, later), compare(restored, later))


def test_same_distribution_is_stable_and_a_shift_drifts():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=5000), "n": rng.poisson(2.0, 5000)})
    profile = reference_profile(ref)
    fresh = pd.DataFrame({"x": rng.normal(size=5000), "n": rng.poisson(2.0, 5000)})
    assert (compare(profile, fresh)["psi"] < 0.02).all()
    shifted = pd.DataFrame({"x": rng.normal(0.7, 1, 5000), "n": rng.poisson(3.5, 5000)})
    assert (compare(profile, shifted)["psi"] > 0.2).all()


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.none(), st.integers(0, 5), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=60
    ),
    bins=st.integers(2, 12),
)
def test_psi_against_own_profile_is_zero(values, bins):
    frame = pd.DataFrame({"x": pd.Series([np.nan if v is None else float(v) for v in values])})
    row = compare(reference_profile(frame, bins=bins), frame).iloc[0]
    if frame["x"].notna().any():
        assert row["psi"] == pytest.approx(0.0, abs=1e-12)
    else:
        assert math.isnan(row["psi"])
    assert row["missing_change"] == 0.0 and not row["drifted"]


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(0, 30), min_size=2, max_size=80), data=st.data())
def test_psi_invariant_to_row_order(values, data):
    frame = pd.DataFrame({"x": values})
    profile = reference_profile(frame)
    perm = data.draw(st.permutations(range(len(values))))
    new = pd.DataFrame({"x": np.asarray(values)[perm][: max(1, len(values) // 2)]})
    shuffled = new.sample(frac=1.0, random_state=0)
    assert compare(profile, new)["psi"].iloc[0] == pytest.approx(compare(profile, shuffled)["psi"].iloc[0])


@given(
    values=st.lists(st.one_of(st.integers(-3, 3), st.floats(-1e3, 1e3, allow_nan=False)), max_size=60),
    cuts=st.lists(st.one_of(st.integers(-3, 3), st.floats(-1e3, 1e3, allow_nan=False)), max_size=12, unique=True),
)
def test_profile_counts_from_sorted_values_are_scorings_counts(values, cuts):
    """The profile bins sorted values by searching them for the edges; scoring bins each value
    by searching the edges. Both must give the same proportions."""
    from stalkrisk.evaluate.drift import _numeric_proportions, _sorted_proportions

    v, c = np.asarray(values, dtype=float), np.sort(np.asarray(cuts, dtype=float))
    np.testing.assert_array_equal(_sorted_proportions(np.sort(v), c), _numeric_proportions(v, c))
