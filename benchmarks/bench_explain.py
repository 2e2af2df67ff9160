"""Benchmark exact TreeSHAP: stalkrisk's FastTreeShap against LightGBM ``pred_contrib`` and peers.

Why: explanations for every scored case were the slowest stage (~170x a prediction).
This trains the project's default model shape (binary, monotone, ~70 count-like features
with NaN) on generated data and times, on the same model and rows: LightGBM ``predict``
(the floor), ``pred_contrib`` (the reference), ``shap.TreeExplainer``, the peers
``fasttreeshap`` and ``treeshap`` when importable, and ``FastTreeShap``.

    python benchmarks/bench_explain.py --rows 100000 --trees 300 --depth 4
    python benchmarks/bench_explain.py --rows 20000 --depth -1      # num_leaves 31, unbounded

The last line reads ``speedup_vs_pred_contrib=X max_abs_diff=Y`` for FastTreeShap.
``--contrib-rows`` caps the rows given to the slow explainers (their rows/s is measured on
that subset and the difference is checked on it); by default they get every row.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable

import lightgbm as lgb
import numpy as np


def caseload_like(n: int, p: int = 70, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Count-like features that repeat a lot (windows of event counts), NaN where unknown."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.6, 1.5, n)  # a case's overall activity, shared by its counts
    rates = rng.uniform(0.05, 1.5, p)
    X = rng.poisson(base[:, None] * rates[None, :]).astype(float)
    X[:, -6:] = rng.integers(0, 2, (n, 6))  # flags
    X[:, -10:-6] = np.minimum(rng.exponential(60, (n, 4)).round(), 365)  # days since
    X[rng.random((n, p)) < 0.05] = np.nan
    logit = 0.5 * np.nan_to_num(X[:, :8]).sum(1) ** 0.7 - 0.4 * np.nan_to_num(X[:, 8]) - 2.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def train(X: np.ndarray, y: np.ndarray, trees: int, depth: int) -> lgb.Booster:
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15 if depth > 0 else 31,
        "max_depth": depth,
        "min_data_in_leaf": 20,
        "monotone_constraints": [1] * 8 + [-1] + [0] * (X.shape[1] - 9),
        "verbose": -1,
        "seed": 1,
    }
    return lgb.train(params, lgb.Dataset(X, y), trees)


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def peer(module: str) -> tuple[object | None, str]:
    try:
        return importlib.import_module(module), ""
    except Exception as exc:  # noqa: BLE001 - any import failure means "skip this peer"
        return None, f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="rows to explain")
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--depth", type=int, default=4, help="max_depth; -1 = unbounded, num_leaves 31")
    ap.add_argument("--train-rows", type=int, default=50_000)
    ap.add_argument("--contrib-rows", type=int, default=None, help="rows for slow explainers (default: all)")
    args = ap.parse_args(argv)

    X, y = caseload_like(args.train_rows + args.rows)
    Xtr, ytr, Xte = X[: args.train_rows], y[: args.train_rows], X[args.train_rows :]
    booster = train(Xtr, ytr, args.trees, args.depth)
    nc = min(args.contrib_rows or args.rows, args.rows)
    Xc = Xte[:nc]
    print(f"model: {booster.num_trees()} trees, depth {args.depth}, {X.shape[1]} features; "
          f"rows {args.rows} (slow explainers: {nc})")  # fmt: skip

    rate: dict[str, float] = {}
    _, t = timed(lambda: booster.predict(Xte, raw_score=True))
    rate["lightgbm predict"] = args.rows / t
    ref, t = timed(lambda: booster.predict(Xc, pred_contrib=True))
    rate["lightgbm pred_contrib"] = nc / t

    shap, why = peer("shap")
    if shap is not None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sv, t = timed(lambda: shap.TreeExplainer(booster).shap_values(Xc))
        rate["shap TreeExplainer"] = nc / t
        print(f"  shap max |diff| = {np.abs(np.asarray(sv).reshape(nc, -1) - ref[:, :-1]).max():.3g}")
    else:
        print(f"  skip shap: {why}")
    fts, why = peer("fasttreeshap")
    if fts is not None:
        sv, t = timed(lambda: fts.TreeExplainer(booster, algorithm="v2", n_jobs=2).shap_values(Xc))
        rate["fasttreeshap v2"] = nc / t
        print(f"  fasttreeshap max |diff| = {np.abs(np.asarray(sv).reshape(nc, -1) - ref[:, :-1]).max():.3g}")
    else:
        print(f"  skip fasttreeshap (fasttreeshap-fixed): {why}")
    rts, why = peer("treeshap")
    print(f"  skip treeshap (Rust): {why or 'no known Python entry point for a LightGBM booster'}")
    del rts

    from stalkrisk.treeshap import FastTreeShap

    fast, t_build = timed(lambda: FastTreeShap(booster))
    fast.shap_values(Xte[:8])  # numba: load cached machine code (or compile once)
    got, t = timed(lambda: fast.shap_values(Xte))
    rate["stalkrisk FastTreeShap"] = args.rows / t
    diff = float(np.abs(got[:nc] - ref).max())
    print(f"  FastTreeShap build (parse dump + tables) {t_build:.2f} s")

    for name, r in rate.items():
        print(f"{name:<26} {r:>12,.0f} rows/s   x{r / rate['lightgbm pred_contrib']:>7.1f} vs pred_contrib")
    speedup = rate["stalkrisk FastTreeShap"] / rate["lightgbm pred_contrib"]
    print(f"speedup_vs_pred_contrib={speedup:.1f} max_abs_diff={diff:.3g}")


if __name__ == "__main__":
    main()
