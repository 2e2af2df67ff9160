"""Exact TreeSHAP for a LightGBM booster, many times faster than ``pred_contrib``.

Why: ``booster.predict(X, pred_contrib=True)`` (and ``shap.TreeExplainer``, which gives the
same numbers) walks every tree recursively per row and costs ~100-200 predictions per
explained row. Reasons are needed for every scored case, so that was the slowest stage.

How: the path-dependent TreeSHAP value of a tree is a sum over its leaves, and a leaf's
share depends on the row only through which of the splits on its path the row follows.
We parse ``booster.dump_model()`` once and cut each tree into *units* — the largest
subtrees whose (path features + own splits) fit in a few bits — and tabulate each unit's
summed contributions for every index (FastTreeSHAP v2, Yang 2022, extended from leaves to
subtrees). Leaves too deep to tabulate use an exact Gauss-Legendre form of the Shapley
integral (Linear TreeSHAP, Yu et al. 2022). The numba kernel in
:mod:`stalkrisk.explain._kernels` then evaluates each split once per row and gathers table
rows, vectorised over blocks of rows: about the cost of one prediction. The values equal
LightGBM's (missing-value rules, ``default_left``, ``zero_as_missing``, categorical bitsets
and the expected-value column included) to floating-point rounding (~1e-14).
See docs/fast-treeshap.md for the maths and the measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import lightgbm
import numpy as np
import pandas as pd

from stalkrisk.explain import _kernels as K
from stalkrisk.model.supported import check_booster, frame_matrix, split_thresholds

#: A subtree gets one table when (distinct features on the path to it) + (its splits) <= this.
MAX_UNIT_BITS = 7
#: A leaf with more distinct features on its path than this is computed on the fly.
MAX_LEAF_BITS = 8
#: Upper bound on the number of float64 table values for a model (beyond it: on the fly).
MAX_TABLE_VALUES = 16 * 1024 * 1024

_MISSING = {"None": K.MISSING_NONE, "Zero": K.MISSING_ZERO, "NaN": K.MISSING_NAN}

__all__ = ["FastTreeShap", "shapley_weights"]


def shapley_weights(max_d: int) -> np.ndarray:
    """``W[d, s] = s! (d-1-s)! / d!`` for ``0 <= s < d <= max_d`` (zeros elsewhere)."""
    w = np.zeros((max_d + 1, max(max_d, 1)))
    for d in range(1, max_d + 1):
        for s in range(d):
            w[d, s] = 1.0 / (d * math.comb(d - 1, s))
    return w


def _cat_bitset(threshold: str) -> np.ndarray:
    """The ``a||b||c`` category list of a dumped split as LightGBM's uint32 bitset."""
    cats = [int(c) for c in str(threshold).split("||") if c != ""]
    bits = np.zeros(max(cats) // 32 + 1 if cats else 1, dtype=np.uint32)
    for c in cats:
        bits[c // 32] |= np.uint32(1) << np.uint32(c % 32)
    return bits


def _is_split(node: dict) -> bool:
    return "split_index" in node


def _count(node: dict) -> int:
    return node["internal_count"] if _is_split(node) else node["leaf_count"]


def _tree_expected(root: dict) -> float:
    """``Tree::ExpectedValue``: leaf values weighted by training count, in leaf-index order."""
    if not _is_split(root):
        return float(root["leaf_value"])
    leaves: list[tuple[int, int, float]] = []
    stack = [root]
    while stack:
        nd = stack.pop()
        if _is_split(nd):
            stack += [nd["left_child"], nd["right_child"]]
        else:
            leaves.append((nd["leaf_index"], nd["leaf_count"], nd["leaf_value"]))
    total = root["internal_count"]
    exp = 0.0
    for _, count, value in sorted(leaves):
        exp += (count / total) * value
    return exp


@dataclass
class _Leaf:
    """A leaf: its path (local node, went left), distinct features (first-seen order) and z."""

    path: list[tuple[int, bool]]
    feats: list[int]
    z: list[float]
    uidx: list[int]  # per path node: index of its feature in ``feats``
    value: float
    unit: int = -1  # the table unit holding it, or -1: computed on the fly
    slot: list[int] = field(default_factory=list)  # per feature: column in the unit's table


@dataclass
class _Unit:
    """A subtree (or single leaf) whose contributions are one table lookup."""

    tree: int
    path: list[tuple[int, bool]]
    path_u: list[int]
    dpath: int
    sub_start: int
    sub_len: int
    feats: list[int]
    offset: int = 0


def _leaf(node: dict, path: list[tuple[int, bool, dict]]) -> _Leaf:
    feats: list[int] = []
    z: list[float] = []
    uidx: list[int] = []
    for _, left, nd in path:
        frac = _count(nd["left_child"] if left else nd["right_child"]) / nd["internal_count"]
        f = nd["split_feature"]
        if f in feats:
            u = feats.index(f)
            z[u] *= frac
        else:
            u = len(feats)
            feats.append(f)
            z.append(frac)
        uidx.append(u)
    return _Leaf([(m, left) for m, left, _ in path], feats, z, uidx, float(node["leaf_value"]))


class _TreeWalk:
    """One tree in pre-order: split records, leaves, and each split's subtree size."""

    def __init__(self, root: dict) -> None:
        self.splits: list[dict] = []
        self.leaves: list[_Leaf] = []
        self.size: list[int] = []
        self.root = self._walk(root, [])

    def _walk(self, nd: dict, path: list[tuple[int, bool, dict]]) -> tuple:
        """Returns ("leaf", i) or ("split", local, left ref, right ref, path)."""
        if not _is_split(nd):
            self.leaves.append(_leaf(nd, path))
            return ("leaf", len(self.leaves) - 1)
        m = len(self.splits)
        self.splits.append(nd)
        self.size.append(0)
        left = self._walk(nd["left_child"], path + [(m, True, nd)])
        right = self._walk(nd["right_child"], path + [(m, False, nd)])
        self.size[m] = len(self.splits) - m
        return ("split", m, left, right, path)


def _assign_units(
    walk: _TreeWalk, tree: int, units: list[_Unit], budget: list[int], unit_bits: int, leaf_bits: int
) -> None:
    """Cut the tree into table units top-down: the largest subtrees whose index fits."""

    def leaves_under(ref: tuple) -> list[int]:
        return [ref[1]] if ref[0] == "leaf" else leaves_under(ref[2]) + leaves_under(ref[3])

    def make_unit(ref: tuple, path: list[tuple[int, bool]], sub_start: int, sub_len: int) -> bool:
        leaf_ids = leaves_under(ref)
        first = walk.leaves[leaf_ids[0]]
        npath = len(path)
        dpath = len(set(first.feats[u] for u in first.uidx[:npath]))
        feats = first.feats[:dpath]
        for i in leaf_ids:
            feats += [f for f in walk.leaves[i].feats if f not in feats]
        size = (1 << (dpath + sub_len)) * len(feats)
        if size > budget[0]:
            return False
        budget[0] -= size
        units.append(_Unit(tree, path, first.uidx[:npath], dpath, sub_start, sub_len, feats))
        for i in leaf_ids:
            lf = walk.leaves[i]
            lf.unit = len(units) - 1
            lf.slot = [feats.index(f) for f in lf.feats]
        return True

    def visit(ref: tuple, path: list[tuple[int, bool]]) -> None:
        if ref[0] == "leaf":
            lf = walk.leaves[ref[1]]
            if len(lf.feats) <= leaf_bits:
                make_unit(ref, lf.path, 0, 0)
            return
        _, m, left, right, _ = ref
        dpath = len({walk.splits[k]["split_feature"] for k, _ in path})
        if dpath + walk.size[m] <= unit_bits and make_unit(ref, path, m, walk.size[m]):
            return
        visit(left, path + [(m, True)])
        visit(right, path + [(m, False)])

    visit(walk.root, [])


def _path_arrays(paths: list[list[tuple[int, bool]]], uidx: list[list[int]]) -> dict[str, np.ndarray]:
    """The padded path arrays every kind of unit and leaf carries: length, nodes, sides, unique slots."""
    return {"path_len": np.array([len(p) for p in paths], dtype=np.int64),
            "path_node": _pad([[m for m, _ in p] for p in paths], np.int64),
            "path_left": _pad([[int(g) for _, g in p] for p in paths], np.int64),
            "path_u": _pad(uidx, np.int64)}


def _pad(rows: list[list], dtype: type, fill: float = 0) -> np.ndarray:
    """Ragged lists as a 2-D array padded with ``fill`` (at least one column)."""
    width = max([len(r) for r in rows], default=0)
    out = np.full((len(rows), max(width, 1)), fill, dtype=dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _split_record(nd: dict, cat_words: list[np.ndarray], n_words: int) -> tuple:
    """feature, threshold, is_cat, missing, nan_left, cat_off, cat_len of one split."""
    missing = _MISSING[nd.get("missing_type", "None")]
    default_left = bool(nd.get("default_left", False))
    if nd["decision_type"] == "==":
        bits = _cat_bitset(nd["threshold"])
        cat_words.append(bits)
        return nd["split_feature"], 0.0, 1, missing, 0, n_words, len(bits)
    thr = float(nd["threshold"])
    nan_left = default_left if missing != K.MISSING_NONE else 0.0 <= thr
    return nd["split_feature"], thr, 0, missing, int(nan_left), 0, 0


@dataclass(frozen=True)
class Nodes:
    """Every split of every tree, in order (``FlatModel.tree_node_start`` slices them per tree)."""

    feature: np.ndarray
    threshold: np.ndarray  # +inf where LightGBM's dump says 1e300 (``split_thresholds``)
    is_cat: np.ndarray
    missing: np.ndarray  # LightGBM's missing type: 0 none, 1 zero, 2 NaN
    nan_left: np.ndarray
    cat_off: np.ndarray  # categorical splits: where their bitset starts in ``cat_bits``
    cat_len: np.ndarray
    cat_bits: np.ndarray


@dataclass(frozen=True)
class TableLeaves:
    """Leaves whose contributions are precomputed into their unit's table (for building them)."""

    unit: np.ndarray
    path_len: np.ndarray
    path_node: np.ndarray
    path_left: np.ndarray
    path_u: np.ndarray
    d: np.ndarray  # distinct features on the path
    slot: np.ndarray
    z: np.ndarray  # the cover fractions of the path's features
    value: np.ndarray


@dataclass(frozen=True)
class Units:
    """Subtrees with one table each: a row per pattern of decisions, a column per feature."""

    path_len: np.ndarray
    path_node: np.ndarray
    path_left: np.ndarray
    path_u: np.ndarray
    dpath: np.ndarray
    sub_start: np.ndarray
    sub_len: np.ndarray
    nfeat: np.ndarray
    feat: np.ndarray
    table_off: np.ndarray


@dataclass(frozen=True)
class FlyLeaves:
    """Leaves too deep for a table, computed per row by Gauss-Legendre quadrature."""

    path_len: np.ndarray
    path_node: np.ndarray
    path_left: np.ndarray
    path_u: np.ndarray
    d: np.ndarray
    feat: np.ndarray
    nq: np.ndarray
    f0: np.ndarray
    f1: np.ndarray
    g0: np.ndarray
    g1: np.ndarray


@dataclass(frozen=True)
class FlatModel:
    """A booster as the arrays the kernels read (``_kernels`` documents each one's role)."""

    expected_value: float
    max_nodes: int
    maxd: int
    n_table: int
    tree_node_start: np.ndarray
    tree_unit_start: np.ndarray
    tree_fly_start: np.ndarray
    nodes: Nodes
    leaves: TableLeaves
    units: Units
    fly: FlyLeaves


def _flatten(dump: dict, unit_bits: int, leaf_bits: int, max_values: int) -> FlatModel:
    """``booster.dump_model()`` as the flat arrays the kernels read (see the kernel docs)."""
    if dump.get("num_tree_per_iteration", 1) != 1:
        raise NotImplementedError("FastTreeShap supports single-output (binary/regression) models")
    if dump.get("average_output", False):
        raise NotImplementedError("FastTreeShap does not support averaged (random forest) models")
    splits: list[tuple] = []
    cat_words: list[np.ndarray] = []
    leaves: list[_Leaf] = []
    units: list[_Unit] = []
    budget = [max_values]
    tree_node_start, tree_unit_start, tree_fly_start = [0], [0], [0]
    fly: list[_Leaf] = []
    expected = 0.0
    max_nodes = 0
    for t, info in enumerate(dump["tree_info"]):
        root = info["tree_structure"]
        expected += _tree_expected(root)
        walk = _TreeWalk(root)
        for nd in walk.splits:
            splits.append(_split_record(nd, cat_words, sum(len(w) for w in cat_words)))
        _assign_units(walk, t, units, budget, unit_bits, leaf_bits)
        leaves += [lf for lf in walk.leaves if lf.unit >= 0]
        fly += [lf for lf in walk.leaves if lf.unit < 0]
        max_nodes = max(max_nodes, len(walk.splits))
        tree_node_start.append(len(splits))
        tree_unit_start.append(len(units))
        tree_fly_start.append(len(fly))
    offset = 0
    for u in units:
        u.offset = offset
        offset += (1 << (u.dpath + u.sub_len)) * len(u.feats)
    node = np.array(splits, dtype=np.float64).reshape(-1, 7)
    maxd = max([len(lf.feats) for lf in leaves + fly], default=0)
    return FlatModel(
        expected_value=float(expected),
        max_nodes=int(max_nodes),
        maxd=int(maxd),
        n_table=int(offset),
        tree_node_start=np.array(tree_node_start, dtype=np.int64),
        tree_unit_start=np.array(tree_unit_start, dtype=np.int64),
        tree_fly_start=np.array(tree_fly_start, dtype=np.int64),
        nodes=Nodes(
            feature=node[:, 0].astype(np.int64),
            threshold=np.array([s[1] for s in splits], dtype=np.float64),
            is_cat=node[:, 2].astype(np.uint8),
            missing=node[:, 3].astype(np.uint8),
            nan_left=node[:, 4].astype(np.uint8),
            cat_off=node[:, 5].astype(np.int64),
            cat_len=node[:, 6].astype(np.int64),
            cat_bits=np.concatenate(cat_words) if cat_words else np.zeros(1, dtype=np.uint32),
        ),
        leaves=TableLeaves(
            unit=np.array([lf.unit for lf in leaves], dtype=np.int64),
            **_path_arrays([lf.path for lf in leaves], [lf.uidx for lf in leaves]),
            d=np.array([len(lf.feats) for lf in leaves], dtype=np.int64),
            slot=_pad([lf.slot for lf in leaves], np.int64),
            z=_pad([lf.z for lf in leaves], np.float64, 1.0),
            value=np.array([lf.value for lf in leaves], dtype=np.float64),
        ),
        units=Units(
            **_path_arrays([u.path for u in units], [u.path_u for u in units]),
            dpath=np.array([u.dpath for u in units], dtype=np.int64),
            sub_start=np.array([u.sub_start for u in units], dtype=np.int64),
            sub_len=np.array([u.sub_len for u in units], dtype=np.int64),
            nfeat=np.array([len(u.feats) for u in units], dtype=np.int64),
            feat=_pad([u.feats for u in units], np.int64),
            table_off=np.array([u.offset for u in units], dtype=np.int64),
        ),
        fly=FlyLeaves(
            **_path_arrays([lf.path for lf in fly], [lf.uidx for lf in fly]),
            d=np.array([len(lf.feats) for lf in fly], dtype=np.int64),
            feat=_pad([lf.feats for lf in fly], np.int64),
            **_quadrature_tables(fly),
        ),
    )


def _quadrature_tables(fly: list[_Leaf]) -> dict[str, np.ndarray]:
    """Per fly leaf, feature and Gauss-Legendre node: ``f_j(t)`` and ``g_j(t)`` for o = 0, 1.

    ``phi_i = v (o_i - z_i) * integral_0^1 prod_{j != i} (z_j (1 - t) + o_j t) dt``; the
    integrand has degree ``d - 1``, so ``ceil(d / 2)`` nodes integrate it exactly.
    """
    maxd = max([len(lf.feats) for lf in fly], default=1)
    maxq = (maxd + 1) // 2
    shape = (len(fly), maxd, maxq)
    f0, f1, g0, g1 = (np.zeros(shape) for _ in range(4))
    nq = np.zeros(len(fly), dtype=np.int64)
    for k, lf in enumerate(fly):
        q = (len(lf.feats) + 1) // 2
        x, w = np.polynomial.legendre.leggauss(q)
        t, w = (x + 1.0) / 2.0, w / 2.0
        z = np.array(lf.z)[:, None]
        nq[k] = q
        f0[k, : len(z), :q] = z * (1.0 - t)
        f1[k, : len(z), :q] = z * (1.0 - t) + t
        g1[k, : len(z), :q] = w * lf.value * (1.0 - z) / f1[k, : len(z), :q]
        with np.errstate(divide="ignore", invalid="ignore"):  # z == 0: o_i - z_i = 0 anyway
            g0[k, : len(z), :q] = np.where(z > 0, w * lf.value * (-z) / f0[k, : len(z), :q], 0.0)
    return {"nq": nq, "f0": f0, "f1": f1, "g0": g0, "g1": g1}


class FastTreeShap:
    """Exact path-dependent TreeSHAP values of a LightGBM booster, computed with numba.

    ``shap_values(X)`` equals ``booster.predict(X, pred_contrib=True)`` for a binary or
    regression booster (raw margin space, last column the expected value) to ~1e-15.
    ``X`` is a numeric array as LightGBM sees it (categorical columns hold their integer
    codes, missing values are NaN) or a DataFrame, read as LightGBM's ``predict`` reads it.
    Models outside ``stalkrisk.model.supported``'s supported space are refused at construction.
    """

    def __init__(
        self,
        booster: lightgbm.Booster,
        *,
        max_unit_bits: int = MAX_UNIT_BITS,
        max_leaf_bits: int = MAX_LEAF_BITS,
        max_table_values: int = MAX_TABLE_VALUES,
    ) -> None:
        """Parse ``booster.dump_model()`` once and build the tables (the keywords tune memory).

        Raises ``UnsupportedModelError`` for a model outside ``stalkrisk.model.supported``'s space.
        """
        text = booster.model_to_string()
        check_booster(text)
        dump = booster.dump_model()
        self.n_features_ = int(dump["max_feature_idx"]) + 1
        self.pandas_categorical_ = booster.pandas_categorical
        flat = _flatten(dump, max_unit_bits, max_leaf_bits, max_table_values)
        flat = replace(flat, nodes=replace(flat.nodes, threshold=split_thresholds(dump, text)))  # +inf for 1e300
        self.weights_ = shapley_weights(flat.maxd)
        lv, un = flat.leaves, flat.units
        self.tables_ = K.build_tables(
            lv.unit, lv.path_len, lv.path_node, lv.path_left, lv.path_u, lv.d, lv.slot, lv.z, lv.value,
            un.path_len, un.dpath, un.sub_start, un.sub_len, un.nfeat, un.table_off, self.weights_, flat.n_table,
        )  # fmt: skip
        self.flat_ = flat
        self._summed: tuple[np.ndarray, ...] | None = None

    @property
    def expected_value(self) -> float:
        """The model's mean raw margin over its training rows (LightGBM's last column)."""
        return self.flat_.expected_value

    def _run(self, X: np.ndarray, colmap: np.ndarray, ncols: int, summed: bool = False) -> np.ndarray:
        if isinstance(X, pd.DataFrame):  # as LightGBM reads it: categoricals as training codes
            X = frame_matrix(X, self.pandas_categorical_)
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise ValueError(f"X must have shape (n, {self.n_features_}), got {X.shape}")
        m, nd, un, fl = self.flat_, self.flat_.nodes, self.flat_.units, self.flat_.fly
        if summed:  # one column per unit: each table row's contributions added up
            unit_nfeat, unit_col, unit_table_off, tables = self._summed_tables()
        else:
            unit_nfeat, unit_col, unit_table_off, tables = un.nfeat, colmap[un.feat], un.table_off, self.tables_
        return K.explain_rows(
            X, ncols, m.tree_node_start, m.tree_unit_start, m.tree_fly_start,
            nd.feature, nd.threshold, nd.is_cat, nd.missing, nd.nan_left, nd.cat_off, nd.cat_len, nd.cat_bits,
            un.path_len, un.path_node, un.path_left, un.path_u, un.dpath, un.sub_start, un.sub_len, unit_nfeat,
            unit_col, unit_table_off, tables,
            fl.path_len, fl.path_node, fl.path_left, fl.path_u, fl.d, colmap[fl.feat], fl.nq,
            fl.f0, fl.f1, fl.g0, fl.g1, m.max_nodes,
        )  # fmt: skip

    def _summed_tables(self) -> tuple[np.ndarray, ...]:
        """The kernel's unit arrays for tables whose rows are added up: each unit one column
        wide (``unit_nfeat``, ``unit_col``), its offset and the values; made on first use."""
        if self._summed is None:
            un = self.flat_.units
            rows = np.left_shift(1, un.dpath + un.sub_len)
            offsets = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64)
            values = np.empty(int(rows.sum()))
            for u, (start, n, nf) in enumerate(zip(un.table_off, rows, un.nfeat)):
                values[offsets[u]:offsets[u] + n] = self.tables_[start:start + n * nf].reshape(n, nf).sum(axis=1)
            self._summed = (np.ones(len(rows), dtype=np.int64), np.zeros((len(rows), 1), dtype=np.int64),
                            offsets, values)
        return self._summed

    def margins(self, X: np.ndarray) -> np.ndarray:
        """Raw margins of the rows of ``X``: their contributions added up (``shap_values(X).sum(1)``
        to ~1e-14), from one table read per unit instead of one per feature in it, which is
        quicker than both ``shap_values`` and LightGBM's ``predict``."""
        return self._run(X, np.zeros(self.n_features_, dtype=np.int64), 1, summed=True)[:, 0] + self.expected_value

    def shap_values(self, X: np.ndarray) -> np.ndarray:
        """``(n, p + 1)`` contributions in raw margin space; the last column is the expected value."""
        p = self.n_features_
        out = self._run(X, np.arange(p, dtype=np.int64), p + 1)
        out[:, p] = self.expected_value
        return out

    def grouped(self, X: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Contributions summed per group: ``groups[j]`` in ``0..g-1`` is feature j's group.

        Returns ``(n, g + 1)``, the last column the expected value. The tables' columns are
        mapped to groups before the run, so the ``(n, p)`` array is never built.
        """
        groups = np.asarray(groups)
        if groups.shape != (self.n_features_,) or not np.issubdtype(groups.dtype, np.integer):
            raise ValueError(f"groups must be {self.n_features_} integer group ids")
        if groups.size and groups.min() < 0:
            raise ValueError("group ids must be >= 0")
        g = int(groups.max()) + 1 if groups.size else 0
        out = self._run(X, groups.astype(np.int64), g + 1)
        out[:, g] = self.expected_value
        return out
