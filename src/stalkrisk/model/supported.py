"""What the exact explainer supports, stated as data, and the two checks that hold models to it.

Why: ``FastTreeShap`` is exact (to ~1e-14 against LightGBM's ``pred_contrib``) only for the
models it was built and tested for. Outside that space it used to return numbers that look
right and are not (a ``linear_tree`` model explained as if its leaves were constants, up to
14.8 off in the margin). So the space is written down once, here, and checked twice:

* :func:`check_params` when a training config is read (``stalkrisk train --config`` stops with
  exit 2 and one line naming the parameter, before any work, registering nothing);
* :func:`check_booster` when a booster is handed to the explainer: it reads what the model
  really holds from ``Booster.model_to_string()`` (``is_linear`` per tree, the objective, the
  boosting parameters), not from ``dump_model()``, which writes no ``is_linear`` and clamps
  +inf thresholds to 1e300.

:func:`split_thresholds` gives the explainer those exact thresholds, and :func:`frame_matrix`
turns a DataFrame into the matrix LightGBM itself would predict on (pandas categoricals as
codes of the training categories), so the explainer sees what LightGBM sees.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stalkrisk.errors import ConfigError, UnsupportedModelError

#: Objectives explained exactly, each with the LightGBM names that mean it.
OBJECTIVES: dict[str, tuple[str, ...]] = {
    "binary": ("binary",),
    "regression": ("regression", "regression_l2", "l2", "mean_squared_error", "mse",
                   "l2_root", "root_mean_squared_error", "rmse"),
}
#: Boosting types explained exactly (``goss`` is LightGBM's old name for gbdt with GOSS sampling).
BOOSTING: dict[str, tuple[str, ...]] = {"gbdt": ("gbdt", "gbrt"), "goss": ("goss",), "dart": ("dart",)}
#: The LightGBM parameter names (aliases included) that the checks read.
PARAM_ALIASES: dict[str, tuple[str, ...]] = {
    "objective": ("objective", "objective_type", "app", "application", "loss"),
    "boosting": ("boosting", "boosting_type", "boost"),
    "linear_tree": ("linear_tree", "linear_trees"),
    "num_class": ("num_class", "num_classes"),
}
#: Splits: numerical (``<=``) and categorical (``==``), with missing values None / Zero / NaN.
SPLITS = ("numerical", "categorical")
MISSING_TYPES = ("None", "Zero", "NaN")
#: One output per iteration: binary or regression, never multiclass.
NUM_CLASS = 1
#: Most distinct features one root-to-leaf path may test. Any depth or ``num_leaves`` is
#: explained; a leaf this deep is integrated on the fly with quadrature tables that grow with
#: the square of this count (the battery tests paths of 70). Beyond it the model is refused.
MAX_PATH_FEATURES = 128
#: Not supported, and why (the reason is part of each refusal's one line).
REFUSED = {
    "linear_tree": "linear trees (leaves hold a linear model, not a constant)",
    "num_class": "more than one output per iteration (multiclass)",
    "rf": "random-forest averaging (boosting rf)",
}
#: LightGBM's ``kZeroThreshold`` (``1e-35f``): its predictor reads |x| <= this as 0.
ZERO_THRESHOLD = float(np.float32(1e-35))


def supported_space() -> str:
    """One line for messages and docs: what the exact explainer explains."""
    return (f"objective {' or '.join(OBJECTIVES)}, boosting {'/'.join(BOOSTING)}, num_class {NUM_CLASS}, "
            f"no linear_tree, at most {MAX_PATH_FEATURES} distinct features on a path")


def _canonical(value: Any, names: dict[str, tuple[str, ...]]) -> str | None:
    if not isinstance(value, str):
        return None
    low = value.strip().lower()
    return next((canon for canon, aliases in names.items() if low in aliases), None)


def _false(value: Any) -> bool:
    """LightGBM reads a bool parameter as false only from false / ``-`` (any case)."""
    return value is False or (isinstance(value, str) and value.strip().lower() in ("false", "-"))


def check_params(params: dict, *, prefix: str = "") -> None:
    """Refuse LightGBM training ``params`` whose model the exact explainer cannot explain.

    Raises ``ConfigError`` with one line naming the parameter (``prefix`` + its key) and value.
    """
    for key, value in (params or {}).items():
        name = str(key).strip().lower()
        shown = f"{prefix}{key}={value!r}"
        if name in PARAM_ALIASES["objective"] and _canonical(value, OBJECTIVES) is None:
            raise ConfigError(f"{shown}: exact explanations support objective {' or '.join(OBJECTIVES)} only "
                              f"(aliases {', '.join(a for v in OBJECTIVES.values() for a in v if a not in OBJECTIVES)})")
        if name in PARAM_ALIASES["boosting"] and _canonical(value, BOOSTING) is None:
            what = REFUSED["rf"] if str(value).strip().lower() in ("rf", "random_forest") else f"boosting {value!r}"
            raise ConfigError(f"{shown}: exact explanations do not support {what}; use {', '.join(BOOSTING)}")
        if name in PARAM_ALIASES["linear_tree"] and not _false(value):
            raise ConfigError(f"{shown}: exact explanations do not support {REFUSED['linear_tree']}; remove it")
        if name in PARAM_ALIASES["num_class"] and str(value).strip() != str(NUM_CLASS):
            raise ConfigError(f"{shown}: exact explanations do not support {REFUSED['num_class']}; "
                              f"use num_class {NUM_CLASS}")


# -- the model text ------------------------------------------------------------------------


def model_text(booster_or_model_text: Any) -> str:
    """``Booster.model_to_string()`` of a booster, or the text itself."""
    if isinstance(booster_or_model_text, str):
        return booster_or_model_text
    return booster_or_model_text.model_to_string()


def parse_model_text(text: str) -> tuple[dict[str, str], list[dict[str, str]], dict[str, str]]:
    """LightGBM's model text as (header keys, one dict of keys per tree, training parameters).

    A key without ``=`` in the header (``average_output``) maps to ``""``.
    """
    head, _, rest = text.partition("\nTree=")
    trees_part, _, tail = ("Tree=" + rest).partition("end of trees") if rest else ("", "", text)
    header = {k: v for k, _, v in (ln.partition("=") for ln in head.splitlines()) if k}
    trees = []
    for block in trees_part.split("Tree=")[1:]:
        trees.append({k: v for k, _, v in (ln.partition("=") for ln in block.splitlines()[1:]) if k})
    params = {}
    body = tail.partition("parameters:")[2].partition("end of parameters")[0]
    for ln in body.splitlines():
        if ln.startswith("[") and ln.endswith("]") and ": " in ln:
            k, _, v = ln[1:-1].partition(": ")
            params[k] = v
    return header, trees, params


def _ints(tree: dict[str, str], key: str) -> list[int]:
    return [int(v) for v in tree.get(key, "").split()]


def max_path_features(tree: dict[str, str]) -> int:
    """The most distinct features any root-to-leaf path of one parsed tree tests."""
    if int(tree.get("num_leaves", "1")) <= 1:
        return 0
    feature, left, right = _ints(tree, "split_feature"), _ints(tree, "left_child"), _ints(tree, "right_child")
    best = 0
    stack: list[tuple[int, frozenset[int]]] = [(0, frozenset())]
    while stack:
        node, seen = stack.pop()
        if node < 0:  # a leaf (~leaf index)
            best = max(best, len(seen))
            continue
        seen = seen | {feature[node]}
        stack += [(left[node], seen), (right[node], seen)]
    return best


def check_booster(booster_or_model_text: Any) -> None:
    """Refuse a booster (or its model text) outside the supported space: ``UnsupportedModelError``
    with one line saying what the model holds."""
    header, trees, params = parse_model_text(model_text(booster_or_model_text))

    def refuse(what: str) -> None:
        raise UnsupportedModelError(f"this LightGBM model has {what}, which exact explanations do not support "
                                    f"(supported: {supported_space()})")

    for key in ("num_class", "num_tree_per_iteration"):
        if header.get(key, str(NUM_CLASS)).strip() != str(NUM_CLASS):
            refuse(f"{key}={header[key]}: {REFUSED['num_class']}")
    objective = header.get("objective", "regression").split()
    if not objective or objective[0] not in OBJECTIVES:
        refuse(f"objective={' '.join(objective) or '(none)'}")
    if "average_output" in header or params.get("boosting", "gbdt") in ("rf", "random_forest"):
        refuse(REFUSED["rf"])
    if params.get("boosting", "gbdt") not in BOOSTING:
        refuse(f"boosting={params['boosting']}")
    if params.get("linear_tree", "0") not in ("0", "false"):
        refuse(f"linear_tree={params['linear_tree']}: {REFUSED['linear_tree']}")
    for t, tree in enumerate(trees):
        if tree.get("is_linear", "0").strip() != "0":
            refuse(f"tree {t} with is_linear={tree['is_linear']}: {REFUSED['linear_tree']}")
        d = max_path_features(tree)
        if d > MAX_PATH_FEATURES:
            refuse(f"tree {t} with a path through {d} distinct features (limit {MAX_PATH_FEATURES})")


def split_thresholds(dump: dict, text: str) -> np.ndarray:
    """The numerical thresholds of ``dump``'s splits, tree by tree in pre-order (the order the
    explainer numbers them), as the model text holds them: +inf where ``dump_model()`` wrote 1e300.
    Categorical splits get 0.0 (their categories are read from the dump)."""
    _, trees, _ = parse_model_text(text)
    if len(trees) != len(dump["tree_info"]):
        raise UnsupportedModelError(f"the model text holds {len(trees)} trees and its dump "
                                    f"{len(dump['tree_info'])}: cannot read exact thresholds")
    out: list[float] = []
    for tree, info in zip(trees, dump["tree_info"]):
        thresholds = [float(v) for v in tree.get("threshold", "").split()]
        stack = [info["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node:
                continue
            out.append(0.0 if node["decision_type"] == "==" else thresholds[node["split_index"]])
            stack += [node["right_child"], node["left_child"]]  # left first: pre-order
    return np.array(out, dtype=np.float64)


# -- inputs --------------------------------------------------------------------------------


def frame_matrix(frame: Any, pandas_categorical: list | None) -> np.ndarray:
    """A DataFrame as the float matrix LightGBM predicts on (``lightgbm.basic._data_from_pandas``).

    Categorical columns become the codes of the categories the booster was trained with
    (``Booster.pandas_categorical``; the frame's own categories when it has none), unknown
    values NaN; other columns must be numbers or booleans, as LightGBM requires.
    """
    import pandas as pd

    frame = frame.copy(deep=False)
    cat_cols = [c for c, dt in zip(frame.columns, frame.dtypes) if isinstance(dt, pd.CategoricalDtype)]
    if pandas_categorical is not None:
        if len(cat_cols) != len(pandas_categorical):
            raise ValueError(f"the frame has {len(cat_cols)} categorical columns and the model was trained "
                             f"with {len(pandas_categorical)}")
        for col, categories in zip(cat_cols, pandas_categorical):
            if list(frame[col].cat.categories) != list(categories):
                frame[col] = frame[col].cat.set_categories(categories)
    for col in cat_cols:
        frame[col] = frame[col].cat.codes.astype(np.float64).replace(-1.0, np.nan)
    bad = [str(c) for c, dt in zip(frame.columns, frame.dtypes)
           if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt))]
    if bad:
        raise ValueError(f"columns must be numbers, booleans or pandas categoricals, not: {', '.join(bad[:5])}")
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)
