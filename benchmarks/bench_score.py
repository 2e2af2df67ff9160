"""Benchmark the whole `stalkrisk score` run against its floors, measured in the same run.

    python benchmarks/bench_score.py --cases 200000 [--cases 1000000]

For each N: generate N cases (Parquet), then in separate child processes
  1. the whole `stalkrisk score` (read, validate, features, explain, reasons, write; --review none),
  2. the floors on the same model and matrix: features alone, LightGBM predict, and
     LightGBM pred_contrib (timed on a sample and scaled: it runs ~1,000 rows/s),
and print cases/s, peak memory and the ratios. Targets: the whole run within 1.5x of
features + pred_contrib (issue 4) and of features + predict (issue 6); peak memory under
4 GiB and flat (the peak at the largest N within 10% of the smallest).
The model: trained once on 50,000 generated cases with the default config.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import python_module, run_child  # noqa: E402

FLOOR_CHILD = r'''
import json, sys, time, resource
import numpy as np, pandas as pd
from stalkrisk.features import build_features
from stalkrisk.tracking import load_model
cases_path, events_path, bundle, sample = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cases, events = pd.read_parquet(cases_path), pd.read_parquet(events_path)
model = load_model(bundle).model
t = time.perf_counter(); feats = build_features(cases, events); t_features = time.perf_counter() - t
X = np.ascontiguousarray(feats[model.feature_names].to_numpy(dtype=np.float64))
t = time.perf_counter(); model.booster.predict(X, raw_score=True); t_predict = time.perf_counter() - t
rows = X[:sample]
t = time.perf_counter(); model.booster.predict(rows, pred_contrib=True); t_contrib = time.perf_counter() - t
print(json.dumps({"features": t_features, "predict": t_predict, "contrib_rows_per_s": len(rows) / t_contrib,
                  "n": len(X), "sample": len(rows)}))
'''


def prepare(workdir: Path, n: int) -> tuple[Path, Path]:
    from stalkrisk.synth import generate, write_caseload

    paths = write_caseload(generate(n, seed=n % 9973), workdir / f"n{n}", fmt="parquet")
    return paths["cases"], paths["events"]


def train_bundle(workdir: Path) -> Path:
    from stalkrisk.config import load_fairness_config, load_train_config
    from stalkrisk.synth import generate
    from stalkrisk.tracking import save_bundle
    from stalkrisk.training import train_model

    data = generate(50_000, seed=1)
    result = train_model(data.cases, data.events, load_train_config(), fairness_config=load_fairness_config())
    return save_bundle(result.model, workdir / "model", name="bench", version="1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, action="append", help="caseload size (repeatable)")
    parser.add_argument("--sample", type=int, default=20_000, help="rows for the pred_contrib floor")
    parser.add_argument("--method", choices=("fast", "pred_contrib"), default="fast")
    args = parser.parse_args()
    sizes = sorted(args.cases or [200_000])
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bundle = train_bundle(workdir)
        peaks = {}
        print(f"{'cases':>9} {'whole s':>8} {'cases/s':>9} {'peak GiB':>9} {'features s':>10} "
              f"{'predict s':>9} {'contrib s*':>10} {'vs contrib':>10} {'vs predict':>10}")
        for n in sizes:
            cases, events = prepare(workdir, n)
            whole = run_child(python_module("stalkrisk", "score", "--cases", str(cases), "--events", str(events),
                                            "--out", str(workdir / f"out{n}"), "--model", str(bundle),
                                            "--review", "none", "--quiet", "--explain-method", args.method))
            floor = json.loads(run_child([sys.executable, "-c", FLOOR_CHILD, str(cases), str(events), str(bundle),
                                          str(args.sample)]).stdout.strip().splitlines()[-1])
            contrib = n / floor["contrib_rows_per_s"]
            peaks[n] = whole.peak_rss_gib
            print(f"{n:>9} {whole.seconds:>8.1f} {n / whole.seconds:>9.0f} {whole.peak_rss_gib:>9.2f} "
                  f"{floor['features']:>10.1f} {floor['predict']:>9.1f} {contrib:>10.0f} "
                  f"{whole.seconds / (floor['features'] + contrib):>10.3f} "
                  f"{whole.seconds / (floor['features'] + floor['predict']):>10.2f}", flush=True)
        print(f"* pred_contrib timed on {args.sample:,} rows and scaled to N; explanations by: {args.method}")
        if len(sizes) > 1:
            print(f"peak memory at {sizes[-1]:,} / at {sizes[0]:,}: {peaks[sizes[-1]] / peaks[sizes[0]]:.2f}")


if __name__ == "__main__":
    main()
