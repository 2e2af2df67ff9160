"""FastTreeShap against LightGBM's own TreeSHAP (``pred_contrib``) and hand-worked Shapley values.

LightGBM's C++ ``pred_contrib`` is the oracle: every model variant below (monotone,
categorical, NaN / zero-as-missing / no-missing, deep and shallow, one and many trees, a
single-leaf tree) must match it to 1e-9 on rows that include the awkward values, under
each evaluation path of the kernel (subtree tables, leaf tables, quadrature on the fly).
"""

from __future__ import annotations

import itertools
import math

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.explain import _kernels as K
from stalkrisk.explain.treeshap import FastTreeShap, _quadrature_tables, _Leaf, shapley_weights

TOL = 1e-9

# (max_unit_bits, max_leaf_bits): default subtree tables; leaf tables only; all on the fly.
PATHS = {"default": {}, "leaf_tables": {"max_unit_bits": 0}, "fly": {"max_unit_bits": 0, "max_leaf_bits": 0}}


def counts(n: int, p: int, seed: int, nan_rate: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Count-like features (Poisson, values repeat), some NaN, and a label that uses them."""
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.uniform(0.3, 3.0, p), (n, p)).astype(float)
    logit = 0.6 * X[:, 0] + 0.4 * X[:, 1] - 0.3 * X[:, 2] - 2.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X[rng.random((n, p)) < nan_rate] = np.nan
    return X, y


def train(X: np.ndarray, y: np.ndarray, rounds: int, cat: list[int] | None = None, **params) -> lgb.Booster:
    base = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5, "seed": 1}
    ds = lgb.Dataset(X, y, categorical_feature=cat or "auto", free_raw_data=False)
    return lgb.train(base | params, ds, rounds)


def awkward_rows(X: np.ndarray) -> np.ndarray:
    """Test rows: held-out-like rows plus NaN, zeros, +-1e-36, -0.0, negatives, huge, fractions."""
    specials = np.array([np.nan, 0.0, -0.0, 1e-36, -1e-36, -0.5, -1.0, -3.0, 2.7, 1e12, 3e9, 40.0, 64.0])
    rng = np.random.default_rng(7)
    extra = rng.choice(specials, size=(60, X.shape[1]))
    return np.vstack([X[:80], extra, np.full((1, X.shape[1]), np.nan), np.zeros((1, X.shape[1]))])


def models() -> dict[str, tuple[lgb.Booster, np.ndarray]]:
    X, y = counts(600, 6, seed=0)
    Xc, yc = counts(600, 6, seed=1)
    Xc[:, 0] = np.random.default_rng(2).integers(0, 40, len(Xc))  # a 40-level categorical
    yc = ((np.isin(Xc[:, 0], [3, 5, 7, 33]) + (np.nan_to_num(Xc[:, 1]) > 2)) > 0).astype(int)
    Xz, yz = counts(600, 6, seed=3, nan_rate=0.0)
    mono = {"monotone_constraints": [1, 1, -1, 0, 0, 0]}
    Xk = np.c_[X[:, :2], np.ones(len(X))]  # third feature constant: never split on
    return {
        "shallow_monotone": (train(X, y, 40, num_leaves=15, max_depth=4, learning_rate=0.1, **mono), X),
        "deep_unbounded": (train(X, y, 15, num_leaves=31, max_depth=-1, min_data_in_leaf=2), X),
        "one_tree": (train(X, y, 1, num_leaves=7), X),
        "categorical": (train(Xc, yc, 20, cat=[0], num_leaves=8, min_data_per_group=5, cat_smooth=1.0), Xc),
        "zero_as_missing": (train(Xz, yz, 20, num_leaves=8, zero_as_missing=True), Xz),
        "no_missing": (train(X, y, 20, num_leaves=8, use_missing=False), X),
        "constant_feature": (train(Xk, y, 10, num_leaves=4), Xk),
    }


MODELS = models()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", MODELS)
def test_matches_lightgbm_pred_contrib(name: str, path: str) -> None:
    booster, X = MODELS[name]
    rows = awkward_rows(X)
    fast = FastTreeShap(booster, **PATHS[path])
    got = fast.shap_values(rows)
    want = booster.predict(rows, pred_contrib=True)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    # local accuracy: each row adds up to the raw margin
    np.testing.assert_allclose(got.sum(axis=1), booster.predict(rows, raw_score=True), rtol=0, atol=TOL)
    assert fast.expected_value == pytest.approx(want[0, -1], abs=1e-12)
    # margins: the same sums, from the summed tables
    margins = fast.margins(rows)
    np.testing.assert_allclose(margins, booster.predict(rows, raw_score=True), rtol=0, atol=TOL)
    np.testing.assert_allclose(margins, got.sum(axis=1), rtol=0, atol=1e-12)
    assert fast.margins(rows[:0]).shape == (0,)


def test_model_kinds_exercise_what_they_claim() -> None:
    """Guards the fixtures: categorical splits, zero-missing splits, a deep path, a stump tree."""
    dumps = {k: b.dump_model() for k, (b, _) in MODELS.items()}

    def splits(node: dict, depth: int = 0):
        if "split_index" in node:
            yield node, depth
            yield from splits(node["left_child"], depth + 1)
            yield from splits(node["right_child"], depth + 1)

    def all_splits(name: str):
        return [s for t in dumps[name]["tree_info"] for s in splits(t["tree_structure"])]

    assert any(s["decision_type"] == "==" for s, _ in all_splits("categorical"))
    assert any(s["missing_type"] == "Zero" for s, _ in all_splits("zero_as_missing"))
    assert all(s["missing_type"] != "NaN" for s, _ in all_splits("no_missing"))
    assert max(d for _, d in all_splits("deep_unbounded")) >= 8  # deeper than the leaf tables
    assert all(s["split_feature"] != 2 for s, _ in all_splits("constant_feature"))
    assert len(dumps["one_tree"]["tree_info"]) == 1


def test_single_leaf_model_gives_only_the_expected_value() -> None:
    X = np.ones((50, 2))
    booster = train(X, np.r_[np.zeros(25), np.ones(25)].astype(int), 3)
    assert all(t["num_leaves"] == 1 for t in booster.dump_model()["tree_info"])
    got = FastTreeShap(booster).shap_values(X[:3])
    np.testing.assert_allclose(got, booster.predict(X[:3], pred_contrib=True), rtol=0, atol=TOL)
    assert np.all(got[:, :2] == 0.0)


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier")
def test_equals_shap_tree_explainer() -> None:
    shap = pytest.importorskip("shap")
    booster, X = MODELS["shallow_monotone"]
    rows = X[:50]
    want = shap.TreeExplainer(booster).shap_values(rows)
    got = FastTreeShap(booster).shap_values(rows)
    np.testing.assert_allclose(got[:, :-1], np.asarray(want).reshape(got[:, :-1].shape), rtol=0, atol=TOL)


def test_grouped_sums_contributions_per_group() -> None:
    booster, X = MODELS["shallow_monotone"]
    groups = np.array([1, 0, 1, 2, 0, 2])
    fast = FastTreeShap(booster)
    full = fast.shap_values(X[:40])
    got = fast.grouped(X[:40], groups)
    want = np.stack([full[:, :-1][:, groups == g].sum(axis=1) for g in range(3)] + [full[:, -1]], axis=1)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_rejects_bad_input() -> None:
    booster, X = MODELS["one_tree"]
    fast = FastTreeShap(booster)
    with pytest.raises(ValueError):
        fast.shap_values(X[:, :3])
    with pytest.raises(ValueError):
        fast.grouped(X, np.zeros(3, dtype=int))
    multi = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lgb.Dataset(X[:90], np.arange(90) % 3),
        2,
    )
    with pytest.raises(NotImplementedError):
        FastTreeShap(multi)


# --- the per-leaf formula, by hand and by brute force -------------------------------------


def brute_leaf_shapley(z: np.ndarray, o: np.ndarray, v: float) -> np.ndarray:
    """Shapley values of f(S) = v * prod_S o * prod_notS z, by enumerating subsets."""
    d = len(z)

    def f(S: set[int]) -> float:
        return v * math.prod(o[j] if j in S else z[j] for j in range(d))

    phi = np.zeros(d)
    for i in range(d):
        others = [j for j in range(d) if j != i]
        for s in range(d):
            for S in itertools.combinations(others, s):
                w = math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d)
                phi[i] += w * (f(set(S) | {i}) - f(set(S)))
    return phi


def leaf_by_table_formula(z: np.ndarray, o: np.ndarray, v: float) -> np.ndarray:
    d = len(z)
    out = np.zeros(d)
    K.leaf_contrib(z, d, o.astype(np.uint8), v, shapley_weights(d)[d], np.zeros(d + 1), out)
    return out


def leaf_by_quadrature(z: np.ndarray, o: np.ndarray, v: float) -> np.ndarray:
    d = len(z)
    q = _quadrature_tables([_Leaf([], list(range(d)), list(z), [], v)])
    f = np.where(o[:, None] == 1, q["f1"][0], q["f0"][0])
    g = np.where(o[:, None] == 1, q["g1"][0], q["g0"][0])
    return (f.prod(axis=0)[None, :] * g).sum(axis=1)


def test_leaf_worked_by_hand() -> None:
    # z = (1/2, 1/4), o = (1, 0), v = 1: f({})=1/8, f({1})=1/4, f({2})=0, f({1,2})=0
    # phi_1 = ((1/4 - 1/8) + (0 - 0)) / 2 = 1/16;  phi_2 = ((0 - 1/8) + (0 - 1/4)) / 2 = -3/16
    z, o = np.array([0.5, 0.25]), np.array([1, 0])
    for formula in (brute_leaf_shapley, leaf_by_table_formula, leaf_by_quadrature):
        np.testing.assert_allclose(formula(z, o, 1.0), [1 / 16, -3 / 16], rtol=0, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.01, 1.0), st.booleans()), min_size=1, max_size=7),
    st.floats(-2.0, 2.0),
)
def test_leaf_formulas_equal_brute_force(zo: list[tuple[float, bool]], v: float) -> None:
    z = np.array([a for a, _ in zo])
    o = np.array([int(b) for _, b in zo])
    want = brute_leaf_shapley(z, o, v)
    np.testing.assert_allclose(leaf_by_table_formula(z, o, v), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(leaf_by_quadrature(z, o, v), want, rtol=0, atol=1e-12)
    # efficiency: the values add up to f(U) - f({})
    assert want.sum() == pytest.approx(v * (np.prod(o) - np.prod(z)), abs=1e-12)
