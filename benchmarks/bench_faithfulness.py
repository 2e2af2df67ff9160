"""Benchmark explanation faithfulness: do the reasons rank evidence as the truth does?

Why: on generated data the generator's mechanism is known. ``synth.MECHANISM_GROUP_WEIGHTS``
holds the spread (standard deviation) of each reason group's term in the true logit; an
explainer faithful to a model that learned the mechanism ranks the groups the same way by
mean |SHAP|. This generates a caseload, trains the default model in memory (one LightGBM
thread: faster on a busy machine), explains the test slice's cases, and prints the Spearman
rank correlation (the target is at least 0.8) and the per-group table.

    python benchmarks/bench_faithfulness.py --cases 50000
    python benchmarks/bench_faithfulness.py --cases 20000 --explain 5000 --seed 3

The last line reads ``spearman=X cases=N explained=M``.
"""

from __future__ import annotations

import argparse
import time

from stalkrisk.audit.rescore import faithfulness, format_faithfulness
from stalkrisk.config import load_train_config
from stalkrisk.explain.reasons import explain
from stalkrisk.synth import generate
from stalkrisk.training.fit import train_model
from stalkrisk.synth.caseload import MECHANISM_GROUP_WEIGHTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=50_000, help="cases to generate and train on")
    parser.add_argument("--explain", type=int, default=10_000, help="test-slice cases to explain (at most)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    caseload = generate(args.cases, seed=args.seed)
    t1 = time.perf_counter()
    config = load_train_config(overrides={"model": {"params": {"num_threads": 1}}})
    result = train_model(caseload.cases, caseload.events, config)
    t2 = time.perf_counter()
    features = result.test_features.head(args.explain)
    faith = faithfulness(explain(result.model, features), MECHANISM_GROUP_WEIGHTS)
    t3 = time.perf_counter()
    print(f"generate {t1 - t0:.1f} s, train {t2 - t1:.1f} s ({result.model.booster.num_trees()} trees, "
          f"test ROC-AUC {result.metrics['roc_auc']:.3f}), explain {t3 - t2:.1f} s")
    print(format_faithfulness(faith))
    print(f"spearman={faith.rho:.3f} cases={args.cases} explained={faith.n_cases}")
    return 0 if faith.rho >= 0.8 else 1


if __name__ == "__main__":
    raise SystemExit(main())
