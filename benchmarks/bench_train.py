"""Benchmark the whole `stalkrisk train` against LightGBM's own training, in the same run.

    python benchmarks/bench_train.py --cases 1000000

Generates N cases (Parquet), then in separate child processes
  1. the whole `stalkrisk train` (read, validate, features, labels, split, LightGBM,
     calibration, baselines, fairness with bootstrap, plots, MLflow logging and registration
     into a temporary SQLite store),
  2. LightGBM's own training on the same feature matrix: one booster per outcome the model
     holds (risk, persistence, harm), the same training rows, validation rows, parameters,
     monotone constraints and early stopping (features built beforehand, not timed),
  3. the whole `stalkrisk train` again with the rolling-origin validation off
     (``evaluation.rolling.origins: 1``): the difference is the rolling validation's cost,
and prints the times, the ratios and the peak memory of the whole run: of its main process,
and of the main process with the children it forks (validation, charts), summed. Times on a
shared machine vary by 10-30% from run to run: ``--repeat N`` runs N pairs back to back and
prints the median ratio of the pairs and their range. CPU time (user + system, the whole
run's children included) shows how much of the two cores each side used.
Targets (issue): the whole run at most 2x LightGBM's own time; peak memory under 8 GiB. The rolling
validation (issue 19) is an explicit extra cost on top, reported apart: the run without it keeps
the 2x target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import python_module, run_child  # noqa: E402

LIGHTGBM_CHILD = r'''
import json, sys, time
import numpy as np, pandas as pd
from stalkrisk.config import load_train_config
from stalkrisk.features import build_features
from stalkrisk.features.registry import monotone_constraints
from stalkrisk.model.labels import make_labels
from stalkrisk.model.risk_model import fit_booster
from stalkrisk.training.fit import gap_days, split_by_date
cases, events = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
cfg = load_train_config()
feats = build_features(cases, events)
names = [c for c in feats.columns if c != "case_id"]
labels = make_labels(cases, events, cfg["label"])
keep = ~labels["censored"].to_numpy()
X = feats.loc[keep, names].to_numpy(dtype=np.float64)
y = labels.loc[keep, "label"].to_numpy()
slices = split_by_date(cases["assessment_date"][keep].reset_index(drop=True), cfg["split"], gap_days(cfg))
tr, va = slices == "train", slices == "valid"
# One booster per outcome the model holds (risk, then each risk domain), as a LightGBM user would fit them.
outcomes = ["label"] + [c for c in labels.columns if c.startswith("label_")]
t, c = time.perf_counter(), time.process_time()
trees = []
for column in outcomes:
    yo = labels.loc[keep, column].to_numpy()
    booster = fit_booster(X[tr], yo[tr], X[va], yo[va], feature_names=names, monotone=monotone_constraints(names),
                          params=cfg["model"]["params"], num_boost_round=cfg["model"]["num_boost_round"],
                          early_stopping_rounds=cfg["model"]["early_stopping_rounds"])
    trees.append(booster.num_trees())
print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c,
                  "trees": "+".join(map(str, trees)), "train_rows": int(tr.sum())}))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1,
                        help="pairs of runs (whole, then LightGBM alone); prints the median ratio")
    args = parser.parse_args()
    from stalkrisk.synth import generate, write_caseload

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = write_caseload(generate(args.cases, seed=7), work / "data", fmt="parquet")
        pairs, plain = [], []
        no_rolling = work / "no_rolling.yaml"
        no_rolling.write_text("evaluation:\n  rolling:\n    origins: 1\n", encoding="utf-8")
        for i in range(args.repeat):  # each pair back to back: the ratio of a pair shares its machine's mood
            env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / f'bench{i}.db'}"}  # a new store each run
            whole = run_child(python_module("stalkrisk", "train", "--cases", str(paths["cases"]),
                                            "--events", str(paths["events"]), "--truth", str(paths["truth"]),
                                            "--out", str(work / f"card{i}"), "--experiment", "bench",
                                            "--register", "bench"),
                              env=env, cwd=work, tree_memory=True)
            own = json.loads(run_child([sys.executable, "-c", LIGHTGBM_CHILD, str(paths["cases"]),
                                        str(paths["events"])], cwd=work).stdout.strip().splitlines()[-1])
            env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{work / f'plain{i}.db'}"}
            without = run_child(python_module("stalkrisk", "train", "--cases", str(paths["cases"]),
                                              "--events", str(paths["events"]), "--truth", str(paths["truth"]),
                                              "--out", str(work / f"plain{i}"), "--experiment", "bench",
                                              "--register", "bench", "--config", str(no_rolling)),
                                env=env, cwd=work)
            pairs.append((whole, own))
            plain.append(without)
            if args.repeat > 1:
                print(f"run {i + 1}: whole {whole.seconds:.1f} s, LightGBM {own['seconds']:.1f} s, "
                      f"ratio {whole.seconds / own['seconds']:.2f}; without rolling {without.seconds:.1f} s, "
                      f"ratio {without.seconds / own['seconds']:.2f}", flush=True)
    whole_s = statistics.median(w.seconds for w, _ in pairs)
    own_s = statistics.median(o["seconds"] for _, o in pairs)
    ratios = [w.seconds / o["seconds"] for w, o in pairs]
    own = pairs[0][1]
    of = f" (median of {args.repeat})" if args.repeat > 1 else ""
    print(f"cases                      {args.cases:,}")
    print(f"stalkrisk train (whole)    {whole_s:8.1f} s   {args.cases / whole_s:,.0f} cases/s{of}")
    print(f"peak memory                {max(w.peak_rss_gib for w, _ in pairs):8.2f} GiB main process (VmHWM); "
          f"{max(w.peak_tree_gib for w, _ in pairs):.2f} GiB with its forked children (summed PSS, sampled)"
          + (" (highest of the runs)" if args.repeat > 1 else ""))
    print(f"LightGBM training alone    {own_s:8.1f} s   ({own['trees']} trees, {own['train_rows']:,} training rows){of}")
    whole_cpu = statistics.median(w.cpu_seconds for w, _ in pairs)
    own_cpu = statistics.median(o["cpu_seconds"] for _, o in pairs)
    print(f"CPU time                   {whole_cpu:8.1f} CPU-s whole run ({whole_cpu / whole_s:.2f} cores on average); "
          f"LightGBM alone {own_cpu:.1f} CPU-s ({own_cpu / own_s:.2f} cores){of}")
    spread = f"; runs {min(ratios):.2f}-{max(ratios):.2f}" if args.repeat > 1 else ""
    print(f"ratio whole / LightGBM     {statistics.median(ratios):8.2f}   (with the rolling validation{spread})")
    plain_s = statistics.median(w.seconds for w in plain)
    plain_ratios = [w.seconds / o["seconds"] for w, (_, o) in zip(plain, pairs)]
    plain_spread = f"; runs {min(plain_ratios):.2f}-{max(plain_ratios):.2f}" if args.repeat > 1 else ""
    print(f"without rolling validation {plain_s:8.1f} s   ratio {statistics.median(plain_ratios):.2f} "
          f"(target <= 2{plain_spread}){of}")
    plain_cpu = statistics.median(w.cpu_seconds for w in plain)
    print(f"without rolling, CPU time  {plain_cpu:8.1f} CPU-s ({plain_cpu / plain_s:.2f} cores){of}")
    print(f"rolling validation costs   {whole_s - plain_s:8.1f} s   "
          f"({(whole_s - plain_s) / plain_s:.0%} of the run without it); {whole_cpu - plain_cpu:.1f} CPU-s{of}")

if __name__ == "__main__":
    main()
