"""Benchmark exact TreeSHAP: stalkrisk's FastTreeShap against LightGBM ``pred_contrib`` and peers.

Why: explanations for every scored case were the slowest stage (~170x a prediction).
This trains the project's default model shape (binary, monotone, ~70 count-like features
with NaN) on generated data and times, on the same model and rows: LightGBM ``predict``
(the floor), ``pred_contrib`` (the reference), ``shap.TreeExplainer``, the peers
``fasttreeshap-fixed`` (algorithms v1 and v2) and ``treeshap`` (Rust) when importable, and
``FastTreeShap``. The peers are not in requirements.lock: ``make bench-peers`` installs them,
hash-pinned from requirements-bench.lock, into .venv-bench and runs this script there.

    python benchmarks/bench_explain.py --rows 100000 --trees 300 --depth 4
    python benchmarks/bench_explain.py --rows 20000 --depth -1      # num_leaves 31, unbounded

The last line reads ``speedup_vs_pred_contrib=X max_abs_diff=Y`` for FastTreeShap: with
``--outcomes K`` (default 3: risk, persistence, harm, each its own booster on its own label), X is
the smallest speed-up over the outcomes and Y the largest difference; one line per outcome before it.
``--contrib-rows`` caps the rows given to the slow explainers (their rows/s is measured on
that subset and the difference is checked on it); by default they get every row.
Rows/s is the explaining alone: each explainer's one-off set-up (parsing the model) is
timed apart and printed as its ``build``, and the explainers' own additivity checks are
off, as every one is checked against ``pred_contrib`` here. A peer that is not installed, or
that cannot explain this model, gets a ``skip`` line with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
import tempfile
import time
import warnings
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


def outcome_labels(X: np.ndarray, k: int, seed: int = 1) -> np.ndarray:
    """Labels of outcome ``k`` > 0 (another domain): driven by other features than outcome 0's."""
    rng = np.random.default_rng(seed + k)
    cols = slice(8 * k, 8 * k + 8)
    logit = 0.6 * np.nan_to_num(X[:, cols]).sum(1) ** 0.7 - 0.3 * np.nan_to_num(X[:, 8]) - 2.0
    return (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(int)


def per_outcome(X: np.ndarray, Xte: np.ndarray, nc: int, k: int, args) -> tuple[float, float]:
    """Train outcome ``k``'s booster; its FastTreeShap speed-up over ``pred_contrib`` and max |diff|."""
    from stalkrisk.explain.treeshap import FastTreeShap

    booster = train(X[: args.train_rows], outcome_labels(X[: args.train_rows], k), args.trees, args.depth)
    ref, t_ref = timed(lambda: booster.predict(Xte[:nc], pred_contrib=True))
    fast = FastTreeShap(booster)
    fast.shap_values(Xte[:8])
    got, t = timed(lambda: fast.shap_values(Xte))
    return (args.rows / t) / (nc / t_ref), float(np.abs(got[:nc] - ref).max())


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


def install_error(dist: str) -> str:
    """Why ``make bench-peers`` could not install ``dist``, from the log it keeps in .venv-bench."""
    log = os.path.join(sys.prefix, "install-errors", f"{dist}.log")
    if not os.path.exists(log):
        return ""
    lines = [ln.strip() for ln in open(log, encoding="utf-8", errors="replace") if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]  # uv's, then the build tool's
    causes = [lines[i + 1] for i, ln in enumerate(lines[:-1]) if ln == "Caused by:"]
    return (" / ".join(errors + causes[-1:]) or lines[-1]) if lines else ""


def peer(dist: str, *modules: str) -> tuple[object | None, str]:
    """The first of ``modules`` (of the distribution ``dist``) that imports, else None and why not."""
    reason = ""
    for module in modules:
        try:
            # fasttreeshap prints and warns on import (IPython, old syntax): keep the report clean
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                return importlib.import_module(module), ""
        except Exception as exc:  # noqa: BLE001 - any import failure means "skip this peer"
            reason = reason or f"{type(exc).__name__}: {exc}"
    if reason.startswith("ModuleNotFoundError"):
        failed = install_error(dist)
        reason += (f"; `make bench-peers` could not install {dist}: {failed}" if failed else
                   " (not installed: `make bench-peers` installs the peers into .venv-bench)")  # fmt: skip
    return None, reason


def why(exc: BaseException) -> str:
    """An exception as one line: its type and its message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


#: Above this |difference| from ``pred_contrib`` an explainer is not exact (rounding is ~1e-14).
EXACT = 1e-9


def diff_line(name: str, sv: object, ref: np.ndarray, X: np.ndarray) -> float:
    """Print and return the largest |difference| of ``sv`` from ``pred_contrib`` (bias column left out);
    when it is not exact, also on the rows without a missing value, to tell whether NaN is the cause."""
    n = ref.shape[0]
    d_rows = np.abs(np.asarray(sv).reshape(n, -1) - ref[:, :-1]).max(axis=1)
    d = float(d_rows.max())
    print(f"  {name} max |diff| = {d:.3g}")
    if d > EXACT:
        full = ~np.isnan(X).any(axis=1)
        d_full = float(d_rows[full].max()) if full.any() else float("nan")
        print(f"    NOT EXACT: {int((d_rows > EXACT).sum())} of {n} rows off; on the {int(full.sum())} rows "
              f"with no missing value max |diff| = {d_full:.3g}")  # fmt: skip
    return d


def treeshap_ensemble(rts: object, booster: lgb.Booster) -> object:
    """treeshap 0.1.2's only LightGBM entry point: ``TreeEnsemble.from_file(path, "lgbm")``
    on the text model (``booster.save_model``); it has no from-booster or from-string loader."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.txt")
        booster.save_model(path)
        return rts.TreeEnsemble.from_file(path, "lgbm")  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="rows to explain")
    ap.add_argument("--trees", type=int, default=300)
    ap.add_argument("--depth", type=int, default=4, help="max_depth; -1 = unbounded, num_leaves 31")
    ap.add_argument("--train-rows", type=int, default=50_000)
    ap.add_argument("--contrib-rows", type=int, default=None, help="rows for slow explainers (default: all)")
    ap.add_argument("--outcomes", type=int, default=3, help="boosters, one per outcome (the peers: the first only)")
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

    builds: list[str] = []
    diffs: dict[str, float] = {}
    shap, skip = peer("shap", "shap")
    if shap is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ex, t_build = timed(lambda: shap.TreeExplainer(booster))
                sv, t = timed(lambda: ex.shap_values(Xc, check_additivity=False))
            rate["shap TreeExplainer"] = nc / t
            builds.append(f"shap {t_build:.2f} s")
            diffs["shap TreeExplainer"] = diff_line("shap", sv, ref, Xc)
        except Exception as exc:  # noqa: BLE001 - a peer that cannot explain this model is skipped
            print(f"  skip shap: {why(exc)}")
    else:
        print(f"  skip shap: {skip}")

    # fasttreeshap-fixed installs as `fasttreeshap_fixed`; the original FastTreeSHAP is `fasttreeshap`
    fts, skip = peer("fasttreeshap-fixed", "fasttreeshap_fixed", "fasttreeshap")
    if fts is not None:
        for algo in ("v1", "v2"):
            name = f"{fts.__name__.replace('_', '-')} {algo}"
            try:
                ex, t_build = timed(lambda: fts.TreeExplainer(booster, algorithm=algo, n_jobs=2))
                if getattr(ex.model, "trees", True) is None:  # it swallows its parser's error
                    raise ValueError("its parser could not read this model's trees (categorical splits?)")
                sv, t = timed(lambda: ex.shap_values(Xc, check_additivity=False))
                rate[name] = nc / t
                builds.append(f"{name} {t_build:.2f} s")
                diffs[name] = diff_line(name, sv, ref, Xc)
            except Exception as exc:  # noqa: BLE001
                print(f"  skip {name}: {why(exc)}")
    else:
        print(f"  skip fasttreeshap-fixed: {skip}")

    rts, skip = peer("treeshap", "treeshap")
    if rts is not None:
        try:
            ens, t_build = timed(lambda: treeshap_ensemble(rts, booster))
            ex = rts.ShapExplainer(ens, mode="tree_path")
            Xf = np.ascontiguousarray(Xc, dtype=np.float64)
            sv, t = timed(lambda: ex.explain(Xf).shap_values)
            rate["treeshap (Rust)"] = nc / t
            builds.append(f"treeshap {t_build:.2f} s")
            diffs["treeshap (Rust)"] = diff_line("treeshap (Rust)", sv, ref, Xc)
        except Exception as exc:  # noqa: BLE001
            print(f"  skip treeshap (Rust): {why(exc)}")
    else:
        print(f"  skip treeshap (Rust): {skip}")

    from stalkrisk.explain.treeshap import FastTreeShap

    fast, t_build = timed(lambda: FastTreeShap(booster))
    fast.shap_values(Xte[:8])  # numba: load cached machine code (or compile once)
    got, t = timed(lambda: fast.shap_values(Xte))
    rate["stalkrisk FastTreeShap"] = args.rows / t
    diff = float(np.abs(got[:nc] - ref).max())
    print(f"  FastTreeShap build (parse dump + tables) {t_build:.2f} s")
    if builds:
        print(f"  other builds (parse model, not in rows/s): {', '.join(builds)}")

    for name, r in rate.items():
        wrong = f"   NOT EXACT (max |diff| {diffs[name]:.3g})" if diffs.get(name, 0.0) > EXACT else ""
        print(f"{name:<26} {r:>12,.0f} rows/s   x{r / rate['lightgbm pred_contrib']:>7.1f} vs pred_contrib{wrong}")
    speedups, diffs_all = [rate["stalkrisk FastTreeShap"] / rate["lightgbm pred_contrib"]], [diff]
    for k in range(1, args.outcomes):
        speedup_k, diff_k = per_outcome(X, Xte, nc, k, args)
        speedups.append(speedup_k)
        diffs_all.append(diff_k)
    for k, (sp, d) in enumerate(zip(speedups, diffs_all)):
        print(f"outcome {k}: FastTreeShap x{sp:.1f} vs pred_contrib, max |diff| {d:.3g}")
    print(f"speedup_vs_pred_contrib={min(speedups):.1f} max_abs_diff={max(diffs_all):.3g}")


if __name__ == "__main__":
    main()
