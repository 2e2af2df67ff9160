"""A brute-force exact Shapley reference for small LightGBM models, read from the model text.

Independent of ``stalkrisk.explain.treeshap``: its own parse of ``Booster.model_to_string()`` (exact
thresholds, ``decision_type`` bits, categorical bitsets, training counts), LightGBM's decision
rules written out, and Shapley values by enumerating every subset of features of the
path-dependent value function (Lundberg et al. 2020, Algorithm 1: follow the row at a split on
a known feature, else average the children weighted by their training counts). Exponential in
the number of features: for models of at most ~6 features.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

K_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold


def parse_trees(text: str) -> list[dict]:
    trees = []
    for block in text.partition("end of trees")[0].split("\nTree=")[1:]:
        kv = dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line)
        nums = {k: [float(v) for v in kv[k].split()] for k in
                ("threshold", "leaf_value", "leaf_count", "internal_count", "cat_threshold") if k in kv}
        ints = {k: [int(v) for v in kv[k].split()] for k in
                ("split_feature", "decision_type", "left_child", "right_child", "cat_boundaries") if k in kv}
        trees.append({"num_leaves": int(kv["num_leaves"]), **nums, **ints})
    return trees


def goes_left(tree: dict, node: int, x: float) -> bool:
    """LightGBM's ``Tree::Decision`` on a value its predictor has read (tiny values zeroed)."""
    dt = tree["decision_type"][node]
    if dt & 1:  # categorical: NaN, negatives and out-of-int values go right
        if math.isnan(x) or not (-1.0 < x < 2**31):
            return False
        v = int(x)
        idx = int(tree["threshold"][node])
        lo, hi = tree["cat_boundaries"][idx], tree["cat_boundaries"][idx + 1]
        words = [int(w) for w in tree["cat_threshold"][lo:hi]]
        return v // 32 < len(words) and bool((words[v // 32] >> (v % 32)) & 1)
    missing = (dt >> 2) & 3  # 0 None, 1 Zero, 2 NaN
    if math.isnan(x) and missing != 2:
        x = 0.0
    if (missing == 1 and -K_ZERO <= x <= K_ZERO) or (missing == 2 and math.isnan(x)):
        return bool(dt & 2)
    return x <= tree["threshold"][node]


def _count(tree: dict, child: int) -> float:
    return tree["leaf_count"][~child] if child < 0 else tree["internal_count"][child]


def tree_value(tree: dict, x: np.ndarray, known: int) -> float:
    """E[f(x) | x_S] of one tree, path-dependent; ``known`` is S as a bitmask of features."""
    if tree["num_leaves"] == 1:
        return tree["leaf_value"][0]

    def value(node: int) -> float:
        if node < 0:
            return tree["leaf_value"][~node]
        f = tree["split_feature"][node]
        left, right = tree["left_child"][node], tree["right_child"][node]
        if known >> f & 1:
            return value(left if goes_left(tree, node, x[f]) else right)
        return (_count(tree, left) * value(left) + _count(tree, right) * value(right)) / tree["internal_count"][node]

    return value(0)


def shapley(text: str, X: np.ndarray) -> np.ndarray:
    """``(n, p + 1)`` exact Shapley values of the model's raw margin, last column ``v({})``."""
    trees = parse_trees(text)
    n, p = X.shape
    weight = [math.factorial(s) * math.factorial(p - s - 1) / math.factorial(p) for s in range(p)]
    out = np.zeros((n, p + 1))
    for r in range(n):
        x = np.where(np.abs(X[r]) <= K_ZERO, 0.0, X[r])  # as LightGBM's predictor reads the row
        v = [sum(tree_value(t, x, s) for t in trees) for s in range(1 << p)]
        for i in range(p):
            for s in range(1 << p):
                if not s >> i & 1:
                    out[r, i] += weight[bin(s).count("1")] * (v[s | 1 << i] - v[s])
        out[r, p] = v[0]
    return out


# -- any depth: the Beta-integral form, summed over leaves -----------------------------------


@lru_cache(maxsize=None)
def _beta(k: int, b: int) -> float:
    """``integral_0^1 t^k (1 - t)^b dt = k! b! / (k + b + 1)!``, correctly rounded."""
    return math.factorial(k) * math.factorial(b) / math.factorial(k + b + 1)


def _leaf_shapley(z: list[float], o: list[int], v: float) -> np.ndarray:
    """The Shapley values of the leaf game ``f(S) = v prod_S o_j prod_(U-S) z_j``.

    ``phi_i = v (o_i - z_i) * integral_0^1 prod_(j != i) (z_j (1 - t) + o_j t) dt``. With ``A``
    the features the row follows (``o = 1``) and ``b`` the number of others, the integrand is
    ``Z_B / z_i^[i not in A] * (1 - t)^(b - [i not in A]) * prod_(A - i) (z_j + (1 - z_j) t)``: a
    polynomial of non-negative coefficients (built by convolving prefix and suffix products, no
    division) integrated term by term with the Beta function. Every term is non-negative, so the
    float sums are accurate to a few ulps at any depth: an independent check of the explainer's
    tables and quadrature where LightGBM's own ``pred_contrib`` loses digits (deep paths).
    """
    d = len(z)
    A = [j for j in range(d) if o[j]]
    b = d - len(A)
    zb = math.prod(z[j] for j in range(d) if not o[j])
    factors = [np.array([z[j], 1.0 - z[j]]) for j in A]
    prefix, suffix = [np.ones(1)], [np.ones(1)]
    for f in factors:
        prefix.append(np.convolve(prefix[-1], f))
    for f in reversed(factors):
        suffix.append(np.convolve(suffix[-1], f))
    suffix.reverse()
    out = np.zeros(d)
    for pos, i in enumerate(A):
        q = np.convolve(prefix[pos], suffix[pos + 1])
        out[i] = v * (1.0 - z[i]) * zb * sum(c * _beta(k, b) for k, c in enumerate(q))
    if b:
        off = -v * zb * sum(c * _beta(k, b - 1) for k, c in enumerate(prefix[-1]))  # -v z_i (Z_B / z_i)
        for i in range(d):
            if not o[i]:
                out[i] = off
    return out


def shapley_any_depth(text: str, X: np.ndarray) -> np.ndarray:
    """``shapley`` for trees of any depth: each leaf's share in closed form, summed over leaves."""
    trees = parse_trees(text)
    n, p = X.shape
    out = np.zeros((n, p + 1))
    for r in range(n):
        x = np.where(np.abs(X[r]) <= K_ZERO, 0.0, X[r])
        for t in trees:
            if t["num_leaves"] == 1:
                out[r, p] += t["leaf_value"][0]
                continue
            stack: list[tuple[int, dict, dict]] = [(0, {}, {})]  # node; per feature on the path: z, o
            while stack:
                node, z, o = stack.pop()
                if node < 0:
                    v = t["leaf_value"][~node]
                    feats = list(z)
                    out[r, p] += v * math.prod(z.values())
                    out[r, feats] += _leaf_shapley([z[f] for f in feats], [o[f] for f in feats], v)
                    continue
                f = t["split_feature"][node]
                left = goes_left(t, node, x[f])
                for child, is_left in ((t["left_child"][node], True), (t["right_child"][node], False)):
                    share = _count(t, child) / t["internal_count"][node]
                    stack.append((child, {**z, f: z.get(f, 1.0) * share},
                                  {**o, f: o.get(f, 1) & int(left == is_left)}))
    return out
