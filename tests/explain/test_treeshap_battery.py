"""The exactness battery: FastTreeShap across the whole supported space, off the beaten path, and
every model outside that space refused (stalkrisk.model.supported), at config time and at booster time.

Oracles: LightGBM's own ``pred_contrib`` (1e-9) and, for these small models (6 features), a
brute-force Shapley reference of the path-dependent value function read independently from
the model text (tests/shapley_reference.py); for paths too deep for both (LightGBM's own
``pred_contrib`` loses digits there), that module's closed form summed over leaves.
"""

from __future__ import annotations

import itertools
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from shapley_reference import shapley, shapley_any_depth
from stalkrisk.config import ConfigError, DEFAULT_TRAIN_CONFIG, load_train_config
from stalkrisk.model.supported import (MAX_PATH_FEATURES, PARAM_ALIASES, UnsupportedModelError, ZERO_THRESHOLD,
                                   check_booster, check_params)
from stalkrisk.explain.treeshap import FastTreeShap

TOL = 1e-9
PATHS = {"default": {}, "leaf_tables": {"max_unit_bits": 0}, "fly": {"max_unit_bits": 0, "max_leaf_bits": 0}}
#: Values LightGBM reads specially: tiny (zeroed), huge, infinite, missing, negative, fractional.
SPECIALS = np.array([np.nan, 0.0, -0.0, 1e-36, -1e-36, ZERO_THRESHOLD, -ZERO_THRESHOLD, 2e-35, -0.5, -1.0,
                     2.7, 40.0, 1e12, 1e300, -1e300, 1e301, -1e301, 1.7e308, np.inf, -np.inf])


def data(seed: int, n: int = 400, p: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Count-like features with NaN, the last one a 12-level categorical, and a label using them."""
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.uniform(0.3, 3.0, p), (n, p)).astype(float)
    X[:, 2] -= 1.0  # negatives and zeros around a split
    X[:, -1] = rng.integers(0, 12, n)
    logit = 0.7 * X[:, 0] - 0.5 * X[:, 1] + 0.4 * X[:, 2] + np.isin(X[:, -1], [2, 5, 7]) - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    X[rng.random((n, p)) < 0.1] = np.nan
    return X, y


def rows(X: np.ndarray, seed: int, n_special: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    return np.vstack([X[:20], rng.choice(SPECIALS, size=(n_special, X.shape[1])), np.full((1, X.shape[1]), np.inf)])


def train(params: dict, X: np.ndarray, y: np.ndarray, rounds: int, cat: list[int] | str = "auto") -> lgb.Booster:
    base = {"verbose": -1, "num_threads": 1, "seed": 1, "min_data_in_leaf": 5, "min_data_per_group": 5,
            "cat_smooth": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lgb.train(base | params, lgb.Dataset(X, y, categorical_feature=cat), rounds)


DEPTHS = [(2, 4), (4, 12), (-1, 24)]  # (max_depth, num_leaves)
MISSING = [{}, {"zero_as_missing": True}, {"use_missing": False}]
SPACE = list(itertools.product(("binary", "regression"), ("gbdt", "goss", "dart"), range(3)))


def space_booster(objective: str, boosting: str, seed: int) -> tuple[lgb.Booster, np.ndarray]:
    X, y = data(seed)
    depth, leaves = DEPTHS[seed]
    params = {"objective": objective, "boosting": boosting, "max_depth": depth, "num_leaves": leaves,
              "learning_rate": 0.3, "seed": seed, **MISSING[seed]}
    if boosting == "goss":
        params |= {"top_rate": 0.3, "other_rate": 0.3}
    return train(params, X, y, 10, cat=[X.shape[1] - 1]), X


@pytest.fixture(scope="module")
def boosters() -> dict:
    return {key: space_booster(*key) for key in SPACE}


def assert_exact(booster: lgb.Booster, R, **kw) -> np.ndarray:
    fast = FastTreeShap(booster, **kw)
    got = fast.shap_values(R)
    np.testing.assert_allclose(got, booster.predict(R, pred_contrib=True), rtol=0, atol=TOL)
    raw = booster.predict(R, raw_score=True)
    np.testing.assert_allclose(got.sum(axis=1), raw, rtol=0, atol=TOL)
    np.testing.assert_allclose(fast.margins(R), raw, rtol=0, atol=TOL)
    return got


@pytest.mark.parametrize("key", SPACE, ids=lambda k: "-".join(map(str, k)))
def test_supported_space_matches_pred_contrib_and_brute_force(boosters, key) -> None:
    booster, X = boosters[key]
    R = rows(X, key[2])
    for kw in PATHS.values():
        got = assert_exact(booster, R, **kw)
    np.testing.assert_allclose(got[::3], shapley(booster.model_to_string(), R[::3]), rtol=0, atol=TOL)


def test_the_space_holds_what_it_claims(boosters) -> None:
    """Guards the fixtures: categorical and numerical splits, each missing type, every depth."""
    kinds = set()
    for (_, _, seed), (booster, _) in boosters.items():
        for tree in booster.dump_model()["tree_info"]:
            stack = [tree["tree_structure"]]
            while stack:
                nd = stack.pop()
                if "split_index" in nd:
                    kinds.add((nd["decision_type"], nd["missing_type"]))
                    stack += [nd["left_child"], nd["right_child"]]
    assert {("==", "None"), ("==", "NaN"), ("<=", "None"), ("<=", "Zero"), ("<=", "NaN")} <= kinds
    texts = {key: b.model_to_string() for key, (b, _) in boosters.items()}
    assert all(("objective=regression" in t) == (key[0] == "regression") for key, t in texts.items())
    assert all(("[data_sample_strategy: goss]" in t) == (key[1] == "goss") for key, t in texts.items())
    assert all(("[boosting: dart]" in t) == (key[1] == "dart") for key, t in texts.items())
    most_splits = {seed: max(len(ln.split("=")[1].split()) for ln in t.splitlines() if ln.startswith("split_feature="))
               for (_, _, seed), t in texts.items()}
    assert most_splits[0] <= 3 and most_splits[2] > 15  # depth 2 (3 splits a tree) against unbounded (24 leaves)
    assert all(check_booster(b) is None for b, _ in boosters.values())


# -- item 10: off the beaten path -----------------------------------------------------------


def test_plus_inf_thresholds_and_infinite_or_huge_values() -> None:
    """A missing-vs-present split has threshold +inf in the model (1e300 in dump_model()):
    rows of +-inf and |x| >= 1e300 follow LightGBM's side of it."""
    rng = np.random.default_rng(0)
    X = rng.poisson(2, (400, 3)).astype(float)
    missing = rng.random(400) < 0.3
    X[missing, 0] = np.nan
    booster = train({"objective": "binary", "num_leaves": 4}, X, (missing ^ (rng.random(400) < 0.1)).astype(int), 3)
    assert "threshold=inf" in booster.model_to_string()
    assert booster.dump_model()["tree_info"][0]["tree_structure"]["threshold"] == 1e300
    R = np.array(list(itertools.product([np.inf, -np.inf, 1e300, 1e301, -1e301, 1.7e308, np.nan, 1.0, 2.0], repeat=2)))
    R = np.c_[R, np.full(len(R), 2.0)]
    for kw in PATHS.values():
        assert_exact(booster, R, **kw)


def model_text(trees: list[str], p: int, objective: str = "binary sigmoid:1") -> str:
    """A LightGBM model text of hand-written ``Tree=`` blocks."""
    head = (f"tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx={p - 1}\n"
            f"objective={objective}\nfeature_names={' '.join(f'f{i}' for i in range(p))}\n"
            f"feature_infos={' '.join(['[-1:1]'] * p)}\n\n")
    return head + "".join(f"Tree={i}\n{t}\n\n" for i, t in enumerate(trees)) + "end of trees\n\npandas_categorical:null\n"


def chain_tree(features: list[int], n: int = 100_000) -> str:
    """A caterpillar: split k tests ``features[k] <= 0.5``; its left child is leaf k."""
    m = len(features)
    counts = [n]
    for _ in range(m):
        counts.append(counts[-1] * 9 // 10)
    leaf_count = [counts[k] - counts[k + 1] for k in range(m)] + [counts[m]]
    values = np.random.default_rng(m).normal(0, 0.3, m + 1)
    right = [str(k + 1) for k in range(m - 1)] + [str(-(m + 1))]
    return "\n".join([
        f"num_leaves={m + 1}", "num_cat=0", "split_feature=" + " ".join(map(str, features)),
        "split_gain=" + " ".join(["1"] * m), "threshold=" + " ".join(["0.5"] * m),
        "decision_type=" + " ".join(["2"] * m), "left_child=" + " ".join(str(-(k + 1)) for k in range(m)),
        "right_child=" + " ".join(right), "leaf_value=" + " ".join(repr(float(v)) for v in values),
        "leaf_weight=" + " ".join(map(str, leaf_count)), "leaf_count=" + " ".join(map(str, leaf_count)),
        "internal_value=" + " ".join(["0"] * m), "internal_weight=" + " ".join(map(str, counts[:m])),
        "internal_count=" + " ".join(map(str, counts[:m])), "is_linear=0", "shrinkage=1",
    ])


@pytest.mark.parametrize("distinct", [20, 63, 64, 70])
def test_a_path_through_64_or_more_distinct_features(distinct) -> None:
    """Past 63 distinct features an int64 bitmask of the path overflowed (0.08 off at 70).

    The oracle is the closed-form reference: LightGBM's own ``pred_contrib`` loses digits on
    paths this deep (its rows miss the raw score by ~1e-4 at 60 features, ~6 at 70).
    """
    features = list(range(distinct)) + [3, distinct - 2]  # two features tested twice
    booster = lgb.Booster(model_str=model_text([chain_tree(features)], distinct))
    rng = np.random.default_rng(distinct)
    R = (rng.random((16, distinct)) < 0.97).astype(float)
    R[::4] = 1.0  # rows that reach the deepest leaves
    R[1::4] = rng.choice(SPECIALS, (len(R[1::4]), distinct))
    want = shapley_any_depth(booster.model_to_string(), R)
    for kw in PATHS.values():
        fast = FastTreeShap(booster, **kw)
        np.testing.assert_allclose(fast.shap_values(R), want, rtol=0, atol=TOL)
        np.testing.assert_allclose(fast.margins(R), booster.predict(R, raw_score=True), rtol=0, atol=TOL)


def test_the_any_depth_reference_is_the_brute_force_one(boosters) -> None:
    booster, X = boosters[("binary", "gbdt", 2)]
    R = rows(X, 2)[::4]
    np.testing.assert_allclose(shapley_any_depth(booster.model_to_string(), R),
                               shapley(booster.model_to_string(), R), rtol=0, atol=1e-12)


def test_a_path_beyond_the_limit_is_refused() -> None:
    m = MAX_PATH_FEATURES + 1
    booster = lgb.Booster(model_str=model_text([chain_tree(list(range(m)))], m))
    with pytest.raises(UnsupportedModelError, match=f"path through {m} distinct features"):
        FastTreeShap(booster)


def stump(threshold: float, decision_type: int) -> str:
    """shap's test_singletree_lightgbm_basic tree: one split of feature 1 at ``threshold``."""
    return "\n".join([
        "num_leaves=2", "num_cat=0", "split_feature=1", "split_gain=0.001471", f"threshold={threshold!r}",
        f"decision_type={decision_type}", "left_child=-1", "right_child=-2", "leaf_value=0.0667 -0.0667",
        "leaf_weight=33 67", "leaf_count=33 67", "internal_value=0", "internal_weight=100", "internal_count=100",
        "is_linear=0", "shrinkage=0.1",
    ])


@pytest.mark.parametrize("threshold", [0.0, -0.0, 1e-36, -1e-36, ZERO_THRESHOLD, -5e-36])
@pytest.mark.parametrize("decision_type", [0, 2, 4, 6, 8, 10], ids=lambda d: f"missing{d >> 2}-left{d >> 1 & 1}")
def test_values_below_the_zero_threshold_next_to_a_split_at_zero(threshold, decision_type) -> None:
    booster = lgb.Booster(model_str=model_text([stump(threshold, decision_type), chain_tree([0, 1])], 2))
    tiny = [0.0, -0.0, 1e-36, -1e-36, 5e-36, -5e-36, ZERO_THRESHOLD, -ZERO_THRESHOLD, 1.1e-35, -1.1e-35,
            1e-30, -1e-30, np.nan, 1.0, -1.0]
    R = np.array(list(itertools.product(tiny, repeat=2)))
    for kw in PATHS.values():
        got = assert_exact(booster, R, **kw)
    np.testing.assert_allclose(got, shapley(booster.model_to_string(), R), rtol=0, atol=TOL)


def categorical_frame(n: int = 400, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """A frame whose category values (10, 20, ..., 120) are not their codes (0, 1, ..., 11)."""
    rng = np.random.default_rng(seed)
    level = rng.integers(1, 13, n) * 10
    frame = pd.DataFrame({"count": rng.poisson(2, n).astype(float), "kind": pd.Categorical(level),
                          "flag": rng.random(n) < 0.4, "days": rng.exponential(30, n).round()})
    y = (np.isin(level, [20, 70, 110]) ^ (rng.random(n) < 0.1)).astype(int)
    return frame, y


def test_a_dataframe_with_integer_valued_categories() -> None:
    frame, y = categorical_frame()
    booster = train({"objective": "binary", "num_leaves": 8}, frame, y, 10)
    assert booster.pandas_categorical == [list(range(10, 130, 10))]
    rng = np.random.default_rng(9)
    new = pd.DataFrame({"count": [0.0, 2.0, np.nan, 5.0], "kind": [110, 20, 999, 70], "flag": [True, False, True, True],
                        "days": [1.0, np.inf, 3.0, 1e-36]})
    other_order = pd.Categorical(new["kind"], categories=[999, 110, 70, 20])  # other categories, other codes
    for test in (frame.iloc[:40], new.assign(kind=pd.Categorical(new["kind"])), new.assign(kind=other_order),
                 frame.sample(30, random_state=1).assign(kind=lambda f: f["kind"].cat.reorder_categories(
                     rng.permutation(f["kind"].cat.categories)))):
        for b in (booster, lgb.Booster(model_str=booster.model_to_string())):  # pandas_categorical kept in the text
            got = FastTreeShap(b).shap_values(test)
            np.testing.assert_allclose(got, b.predict(test, pred_contrib=True), rtol=0, atol=TOL)
            np.testing.assert_allclose(FastTreeShap(b).margins(test), b.predict(test, raw_score=True), rtol=0, atol=TOL)
    with pytest.raises(ValueError, match="categorical columns"):
        FastTreeShap(booster).shap_values(frame.assign(kind=frame["kind"].astype(float)))
    with pytest.raises(ValueError, match="not: flag"):
        FastTreeShap(booster).shap_values(frame.assign(flag=frame["flag"].astype(str)))


def test_a_frame_of_integer_categories_on_a_booster_trained_on_numbers() -> None:
    """No pandas_categorical in the model: LightGBM (and so FastTreeShap) reads the frame's own codes."""
    X, y = data(4)
    booster = train({"objective": "binary", "num_leaves": 8}, X, y, 8, cat=[5])
    frame = pd.DataFrame(X[:50], columns=[f"c{i}" for i in range(6)])
    frame["c5"] = pd.Categorical(frame["c5"].fillna(3) * 10)
    np.testing.assert_allclose(FastTreeShap(booster).shap_values(frame), booster.predict(frame, pred_contrib=True),
                               rtol=0, atol=TOL)


# -- outside the space: refused at config time and at booster time --------------------------

REFUSED_PARAMS = [
    {"linear_tree": True}, {"linear_trees": "true"}, {"linear_tree": "+"},
    {"objective": "multiclass", "num_class": 3}, {"application": "multiclassova"}, {"objective": "softmax"},
    {"objective": "poisson"}, {"loss": "lambdarank"}, {"objective": "cross_entropy"}, {"objective": "huber"},
    {"boosting": "rf"}, {"boosting_type": "random_forest"}, {"boost": "gblinear"}, {"num_class": 3}, {"num_classes": 2},
]


@pytest.mark.parametrize("params", REFUSED_PARAMS, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_options_outside_the_space_are_refused_at_config_time(params, tmp_path) -> None:
    with pytest.raises(ConfigError) as info:
        check_params(params, prefix="model.params.")
    message = str(info.value)
    assert "\n" not in message
    assert any(f"model.params.{k}={v!r}" in message for k, v in params.items()), message
    path = tmp_path / "cfg.yaml"
    path.write_text("model:\n  params:\n" + "".join(f"    {k}: {v!r}\n" for k, v in params.items()))
    with pytest.raises(ConfigError, match=f"^{path}: model.params."):
        load_train_config(path)


@pytest.mark.parametrize("params", [
    DEFAULT_TRAIN_CONFIG["model"]["params"], {"objective": "MSE"}, {"app": "binary"}, {"objective": "l2_root"},
    {"boosting": "gbrt"}, {"boosting": "goss"}, {"boosting_type": "dart"}, {"linear_tree": False},
    {"linear_tree": "false"}, {"num_class": 1}, {"zero_as_missing": True, "max_depth": -1, "num_leaves": 255},
])
def test_options_inside_the_space_pass(params) -> None:
    check_params(params)


def test_the_alias_table_is_lightgbms() -> None:
    for name, aliases in PARAM_ALIASES.items():
        assert set(aliases) == set(lgb.basic._ConfigAliases.get(name)), name


@pytest.fixture(scope="module")
def outside() -> dict[str, lgb.Booster]:
    X, y = data(6, n=300)
    Xf = np.nan_to_num(X)
    multi = (np.nan_to_num(X[:, 0]) % 3).astype(int)
    return {
        "linear_tree": train({"objective": "regression", "linear_tree": True, "num_leaves": 4}, Xf, y, 3),
        "multiclass": train({"objective": "multiclass", "num_class": 3, "num_leaves": 4}, X, multi, 2),
        "multiclassova": train({"objective": "multiclassova", "num_class": 3, "num_leaves": 4}, X, multi, 2),
        "rf": train({"objective": "binary", "boosting": "rf", "bagging_fraction": 0.5, "bagging_freq": 1,
                     "num_leaves": 4}, X, y, 3),
        "poisson": train({"objective": "poisson", "num_leaves": 4}, X, y, 3),
        "cross_entropy": train({"objective": "cross_entropy", "num_leaves": 4}, X, y, 3),
    }


@pytest.mark.parametrize("kind", ["linear_tree", "multiclass", "multiclassova", "rf", "poisson", "cross_entropy"])
def test_boosters_outside_the_space_are_refused_at_booster_time(outside, kind) -> None:
    booster = outside[kind]
    for given in (booster, booster.model_to_string()):
        with pytest.raises(UnsupportedModelError) as info:
            check_booster(given)
        assert "\n" not in str(info.value)
    with pytest.raises(UnsupportedModelError):
        FastTreeShap(booster)
    with pytest.raises(NotImplementedError):  # what the explainer raised before: callers still catch it
        FastTreeShap(booster)


def test_a_linear_tree_in_the_model_text_alone_is_refused(outside) -> None:
    """``is_linear=1`` per tree is what the model holds, whatever its parameter section says."""
    text = outside["linear_tree"].model_to_string().replace("[linear_tree: 1]", "[linear_tree: 0]")
    with pytest.raises(UnsupportedModelError, match="tree 0 with is_linear=1"):
        check_booster(text.partition("parameters:")[0])
    with pytest.raises(UnsupportedModelError, match="is_linear"):
        check_booster(text)


def test_train_with_an_option_outside_the_space_exits_2_and_registers_nothing(tmp_path, monkeypatch, capsys) -> None:
    from stalkrisk.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "cases.csv").write_text("case_id\n")
    (tmp_path / "events.csv").write_text("case_id\n")
    for option, value in (("linear_tree", "true"), ("objective", "multiclass"), ("boosting", "rf")):
        (tmp_path / "train.yaml").write_text(f"model:\n  params:\n    {option}: {value}\n")
        code = main(["train", "--cases", "cases.csv", "--events", "events.csv", "--config", "train.yaml", "--quiet"])
        err = capsys.readouterr().err
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and f"model.params.{option}=" in lines[0] and value in lines[0].lower(), err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
