"""Numba kernels for :mod:`stalkrisk.explain.treeshap`: the per-leaf Shapley formula and the row loop.

Kept apart from the model parsing so the hot loops read on their own. Every kernel is
compiled with ``cache=True``: the first import on a machine pays the compile time once,
later processes load the machine code from ``__pycache__``.

The maths (Lundberg et al. 2020, "path-dependent" TreeSHAP; Yu et al. 2022, Linear
TreeSHAP). For one leaf with value ``v`` whose root-to-leaf path tests ``d`` distinct
features, each feature ``j`` has

* ``z_j``: the share of the training rows that follow the path at the splits on ``j``
  (the product of ``count(child) / count(parent)`` over those splits), and
* ``o_j``: 1 when the explained row follows the path at every split on ``j``, else 0.

The leaf's contribution to feature ``i`` is the Shapley value of the set function
``f(S) = v * prod_{j in S} o_j * prod_{j not in S} z_j``:

    phi_i = v * (o_i - z_i) * sum_{S subset of U - {i}} W_d(|S|) * prod_{S} o_j * prod_{U - S - i} z_j

with ``W_d(s) = s! (d - 1 - s)! / d!``. Because ``o`` is 0/1, only subsets of
``A = {j : o_j = 1}`` survive. With ``Z_B`` the product of ``z`` over ``B = U - A`` and
``P(t) = prod_{j in A} (z_j + t)`` (coefficients ``c_s``):

* every ``i`` in ``B`` gets the same value ``-v * Z_B * sum_s W_d(s) c_s``;
* ``i`` in ``A`` gets ``v * (1 - z_i) * Z_B * sum_s W_d(s) q_s`` where ``q = P / (z_i + t)``.

That is ``O(d * |A|)`` per leaf and pattern; :func:`build_tables` uses it to tabulate units
once per model. Equivalently (Beta-function form of the weights)
``phi_i = v (o_i - z_i) * integral_0^1 prod_{j != i} (z_j (1 - t) + o_j t) dt``, a polynomial
of degree ``d - 1`` that Gauss-Legendre quadrature integrates exactly; :func:`explain_rows`
uses that form, vectorised over rows, for leaves too deep to tabulate.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: LightGBM's ``kZeroThreshold`` (a float literal ``1e-35f`` widened to double).
ZERO_THRESHOLD = float(np.float32(1e-35))

MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2

#: Rows per block: a tree is processed for all rows of a block at once (vectorised loops).
BLOCK_ROWS = 128


@njit(cache=True, inline="always")
def goes_left(
    fval: float,
    is_cat: int,
    missing: int,
    nan_left: int,
    threshold: float,
    cat_off: int,
    cat_len: int,
    cat_bits: np.ndarray,
) -> bool:
    """LightGBM's ``Tree::NumericalDecision`` / ``CategoricalDecision`` on a raw value.

    ``nan_left`` is the precomputed direction of NaN at a numerical split: ``default_left``
    when ``missing`` is NaN or Zero (NaN counts as zero), else the direction of 0.0.
    """
    if is_cat:
        # NaN, negatives and values beyond int range (INT_MIN after the C++ cast) go right.
        if not (fval > -1.0 and fval < 2147483648.0):
            return False
        iv = int(fval)  # truncates toward zero, as static_cast<int>
        word = iv >> 5
        if word >= cat_len:
            return False
        return ((cat_bits[cat_off + word] >> np.uint32(iv & 31)) & np.uint32(1)) == 1
    if np.isnan(fval):
        return nan_left == 1
    if missing == MISSING_ZERO and fval >= -ZERO_THRESHOLD and fval <= ZERO_THRESHOLD:
        return nan_left == 1
    return fval <= threshold


@njit(cache=True)
def leaf_contrib(
    z: np.ndarray, d: int, onehot: np.ndarray, v: float, w: np.ndarray, coef: np.ndarray, out: np.ndarray
) -> None:
    """Write the leaf's Shapley contribution for each of its ``d`` features into ``out[:d]``.

    ``z[:d]`` zero fractions, ``onehot[:d]`` the 0/1 pattern ``o``, ``w[:d]`` the weights
    ``W_d``; ``coef`` is scratch of length >= d + 1.
    """
    coef[0] = 1.0
    deg = 0
    zb = 1.0
    for j in range(d):
        if onehot[j]:
            zj = z[j]
            coef[deg + 1] = coef[deg]
            for s in range(deg, 0, -1):
                coef[s] = coef[s] * zj + coef[s - 1]
            coef[0] *= zj
            deg += 1
        else:
            zb *= z[j]
    g = 0.0
    for s in range(deg + 1):
        g += w[s] * coef[s]
    off_value = -v * zb * g
    for j in range(d):
        if onehot[j]:
            zj = z[j]
            q = coef[deg]
            acc = w[deg - 1] * q
            for s in range(deg - 1, 0, -1):
                q = coef[s] - zj * q
                acc += w[s - 1] * q
            out[j] = v * (1.0 - zj) * zb * acc
        else:
            out[j] = off_value


@njit(cache=True)
def build_tables(
    leaf_unit: np.ndarray,
    leaf_path_len: np.ndarray,
    path_node: np.ndarray,
    path_left: np.ndarray,
    path_u: np.ndarray,
    leaf_d: np.ndarray,
    leaf_slot: np.ndarray,
    leaf_z: np.ndarray,
    leaf_value: np.ndarray,
    unit_path_len: np.ndarray,
    unit_dpath: np.ndarray,
    unit_sub_start: np.ndarray,
    unit_sub_len: np.ndarray,
    unit_nfeat: np.ndarray,
    unit_table_off: np.ndarray,
    weights: np.ndarray,
    n_table: int,
) -> np.ndarray:
    """Fill every unit's table: for each index, the sum of its leaves' contributions.

    A unit's index has ``dpath + sub_len`` bits (see :func:`explain_rows`); for each index
    the pattern of a leaf below the unit follows from the path bits and the decisions at
    the leaf's splits inside the unit.
    """
    tables = np.zeros(n_table)
    maxd = leaf_z.shape[1]
    onehot = np.zeros(maxd, dtype=np.uint8)
    coef = np.zeros(maxd + 1)
    vals = np.zeros(maxd)
    for leaf in range(leaf_unit.shape[0]):
        u = leaf_unit[leaf]
        if u < 0:
            continue
        d = leaf_d[leaf]
        dp = unit_dpath[u]
        s0 = unit_sub_start[u]
        nf = unit_nfeat[u]
        for idx in range(1 << (dp + unit_sub_len[u])):
            for k in range(d):
                onehot[k] = (idx >> k) & 1 if k < dp else 1
            for k in range(unit_path_len[u], leaf_path_len[leaf]):
                went_left = (idx >> (dp + path_node[leaf, k] - s0)) & 1
                if went_left != path_left[leaf, k]:
                    onehot[path_u[leaf, k]] = 0
            leaf_contrib(leaf_z[leaf], d, onehot, leaf_value[leaf], weights[d], coef, vals)
            base = unit_table_off[u] + idx * nf
            for k in range(d):
                tables[base + leaf_slot[leaf, k]] += vals[k]
    return tables


@njit(cache=True, parallel=True)
def explain_rows(
    X: np.ndarray,
    ncols: int,
    tree_node_start: np.ndarray,
    tree_unit_start: np.ndarray,
    tree_fly_start: np.ndarray,
    node_feature: np.ndarray,
    node_threshold: np.ndarray,
    node_is_cat: np.ndarray,
    node_missing: np.ndarray,
    node_nan_left: np.ndarray,
    node_cat_off: np.ndarray,
    node_cat_len: np.ndarray,
    cat_bits: np.ndarray,
    unit_path_len: np.ndarray,
    unit_path_node: np.ndarray,
    unit_path_left: np.ndarray,
    unit_path_u: np.ndarray,
    unit_dpath: np.ndarray,
    unit_sub_start: np.ndarray,
    unit_sub_len: np.ndarray,
    unit_nfeat: np.ndarray,
    unit_col: np.ndarray,
    unit_table_off: np.ndarray,
    tables: np.ndarray,
    fly_path_len: np.ndarray,
    fly_path_node: np.ndarray,
    fly_path_left: np.ndarray,
    fly_path_u: np.ndarray,
    fly_d: np.ndarray,
    fly_col: np.ndarray,
    fly_nq: np.ndarray,
    fly_f0: np.ndarray,
    fly_f1: np.ndarray,
    fly_g0: np.ndarray,
    fly_g1: np.ndarray,
    max_nodes: int,
) -> np.ndarray:
    """Contributions of every row, added into the columns ``*_col``; shape ``(n, ncols)``.

    Rows are cut into blocks of ``BLOCK_ROWS`` run in parallel (``prange``). A block is
    transposed (feature-major) and processed tree by tree, each step a simple loop over the
    block's rows that LLVM vectorises:

    1. every split of the tree is evaluated once per row into ``dec`` (splits numbered in
       pre-order, so a subtree's splits are a contiguous range);
    2. for each *unit* (a subtree with a table) the row's index is built — low bits: which
       distinct features on the path down to the unit the row follows (a mismatch clears
       the feature's bit); high bits: the row's decisions at the unit's own splits — and
       the table row at that index is added to the block's output (a gather);
    3. leaves too deep to tabulate ("fly" leaves) use the integral form (module docstring)
       by Gauss-Legendre quadrature: with ``f_j(t) = z_j (1 - t) + o_j t`` at node ``t_q``,
       ``F_q = prod_j f_j(t_q)`` and ``phi_i = sum_q F_q * g_i(t_q)`` where
       ``g_i = w_q v (o_i - z_i) / f_i(t_q)``; ``f`` and ``g`` are tabulated for o = 0, 1.
    """
    n = X.shape[0]
    p = X.shape[1]
    n_trees = tree_node_start.shape[0] - 1
    maxd = max(fly_f0.shape[1], 1)
    out = np.zeros((n, ncols))
    B = BLOCK_ROWS
    n_blocks = (n + B - 1) // B
    for b in prange(n_blocks):
        r0 = b * B
        r1 = min(n, r0 + B)
        m = r1 - r0
        xb = np.empty((p, B))
        for r in range(m):
            for f in range(p):
                x = X[r0 + r, f]  # LightGBM's predictor reads |x| <= kZeroThreshold as 0
                xb[f, r] = 0.0 if abs(x) <= ZERO_THRESHOLD else x
        ob = np.zeros((ncols, B))
        dec = np.zeros((max(max_nodes, 1), B), dtype=np.int32)
        idx = np.zeros(B, dtype=np.int32)
        on = np.zeros((maxd, B), dtype=np.uint8)  # a fly leaf's pattern o, feature-major
        prod = np.zeros(B)
        acc = np.zeros((maxd, B))
        for t in range(n_trees):
            n0 = tree_node_start[t]
            n1 = tree_node_start[t + 1]
            if n1 == n0:
                continue
            for j in range(n0, n1):
                xf = xb[node_feature[j]]
                dj = dec[j - n0]
                if node_is_cat[j] == 0 and node_missing[j] != MISSING_ZERO:
                    thr = node_threshold[j]
                    nl = np.int32(node_nan_left[j])
                    for r in range(m):
                        x = xf[r]
                        dj[r] = np.int32(x <= thr) | (nl & np.int32(x != x))
                else:
                    for r in range(m):
                        dj[r] = goes_left(xf[r], node_is_cat[j], node_missing[j], node_nan_left[j],
                                          node_threshold[j], node_cat_off[j], node_cat_len[j], cat_bits)
            for u in range(tree_unit_start[t], tree_unit_start[t + 1]):
                dp = unit_dpath[u]
                nf = unit_nfeat[u]
                full = np.int32((1 << dp) - 1)
                for r in range(m):
                    idx[r] = full
                for k in range(unit_path_len[u]):
                    dk = dec[unit_path_node[u, k]]
                    dirk = np.int32(unit_path_left[u, k])
                    sh = np.int32(unit_path_u[u, k])
                    for r in range(m):
                        idx[r] &= ~((dk[r] ^ dirk) << sh)
                s0 = unit_sub_start[u]
                for i in range(unit_sub_len[u]):
                    di = dec[s0 + i]
                    sh = np.int32(dp + i)
                    for r in range(m):
                        idx[r] |= di[r] << sh
                base = unit_table_off[u]
                for r in range(m):
                    idx[r] = idx[r] * nf
                for k in range(nf):
                    ok = ob[unit_col[u, k]]
                    tk = tables[base + k:]
                    for r in range(m):
                        ok[r] += tk[idx[r]]
            for leaf in range(tree_fly_start[t], tree_fly_start[t + 1]):
                d = fly_d[leaf]
                for i in range(d):
                    on[i, :m] = 1
                for k in range(fly_path_len[leaf]):
                    dk = dec[fly_path_node[leaf, k]]
                    dirk = np.int32(fly_path_left[leaf, k])
                    ok = on[fly_path_u[leaf, k]]
                    for r in range(m):
                        ok[r] &= np.uint8(dk[r] == dirk)
                for i in range(d):
                    acc[i, :m] = 0.0
                for q in range(fly_nq[leaf]):
                    prod[:m] = 1.0
                    for i in range(d):
                        a0 = fly_f0[leaf, i, q]
                        a1 = fly_f1[leaf, i, q]
                        oi = on[i]
                        for r in range(m):
                            prod[r] *= a1 if oi[r] else a0
                    for i in range(d):
                        b0 = fly_g0[leaf, i, q]
                        b1 = fly_g1[leaf, i, q]
                        ai = acc[i]
                        oi = on[i]
                        for r in range(m):
                            ai[r] += prod[r] * (b1 if oi[r] else b0)
                for i in range(d):
                    oi = ob[fly_col[leaf, i]]
                    ai = acc[i]
                    for r in range(m):
                        oi[r] += ai[r]
        for r in range(m):
            for c in range(ncols):
                out[r0 + r, c] = ob[c, r]
    return out
