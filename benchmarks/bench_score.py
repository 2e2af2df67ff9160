"""Benchmark the whole `stalkrisk score` run against its floors, measured in the same run.

    python benchmarks/bench_score.py --cases 200000 [--cases 1000000]

For each N: generate N cases (Parquet), then in separate child processes
  1. the whole `stalkrisk score` (read, validate, features, explain, reasons, write; --review none),
     and the DEFAULT command (no --review option: the flagged cases' pages up to the cap, and the
     index), whose target is within 1.2x of --review none (issue 21),
  2. the floors on the same model and matrix: features alone, LightGBM predict, and
     LightGBM pred_contrib (timed on a sample and scaled: it runs ~1,000 rows/s),
and print cases/s, peak memory and the ratios. Targets: the whole run within 1.5x of
features + pred_contrib (issue 4) and of features + predict (issue 6); peak memory under
4 GiB and flat (the peak at the largest N within 10% of the smallest).
The floor child also measures, in CPU seconds, the work the data contract makes every
scoring run do besides features: read and validate the inputs (the GX suites), explain
exactly, and write explanations.parquet (wide: one row per case and outcome). Their sum is set
against the CPU the 1.5x target leaves on this machine: cores x 1.5 x (features + predict).
The model: trained once on 50,000 generated cases with the default config: one booster per
outcome (risk, persistence, harm), so predict, pred_contrib and explain are of every outcome.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import python_module, run_child  # noqa: E402

FLOOR_CHILD = r'''
import json, os, sys, tempfile, time, resource
import numpy as np, pandas as pd
from stalkrisk.defaults import DEFAULT_CHUNK_SIZE
from stalkrisk.explain.reasons import explain_outcomes
from stalkrisk.explain.wide import wide_table
from stalkrisk.features import build_features
from stalkrisk.outputs.writer import explanations_writer, write_explanations
from stalkrisk.tracking.registry import load_model
from stalkrisk.validation.suite import load_and_validate
cases_path, events_path, bundle, sample = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def timed(work):
    c, t = cpu(), time.perf_counter()
    out = work()
    return out, time.perf_counter() - t, cpu() - c
model = load_model(bundle).model
(cases, events), t_read, c_read = timed(lambda: (pd.read_parquet(cases_path), pd.read_parquet(events_path)))
feats, t_features, c_features = timed(lambda: build_features(cases, events))
X = np.ascontiguousarray(feats[model.feature_names].to_numpy(dtype=np.float64))
boosters = [model.for_outcome(o).booster for o in model.outcomes]
_, t_predict, c_predict = timed(lambda: [b.predict(X, raw_score=True) for b in boosters])
rows = X[:sample]
t = time.perf_counter(); [b.predict(rows, pred_contrib=True) for b in boosters]; t_contrib = time.perf_counter() - t
exp, t_explain, c_explain = timed(lambda: explain_outcomes(model, feats))
def write_wide():
    # explanations.parquet as the scoring run writes it, part by part
    with tempfile.TemporaryDirectory() as tmp:
        writer = explanations_writer(os.path.join(tmp, "explanations.parquet"), model.feature_names)
        for start in range(0, len(feats), DEFAULT_CHUNK_SIZE):
            part = slice(start, start + DEFAULT_CHUNK_SIZE)
            sub = {o: type(e)(e.feature_names, e.contributions[part], e.base_value) for o, e in exp.items()}
            write_explanations(writer, wide_table(sub, feats["case_id"].iloc[part]))
        writer.close()
_, t_write, c_write = timed(write_wide)
del exp
_, t_validate, c_validate = timed(lambda: load_and_validate(cases_path, events_path))  # read, normalise, GX
print(json.dumps({"features": t_features, "predict": t_predict, "contrib_rows_per_s": len(rows) / t_contrib,
                  "n": len(X), "sample": len(rows), "outcomes": len(boosters),
                  "cpu": {"read": c_read, "read_validate": c_validate, "features": c_features,
                          "predict": c_predict, "explain": c_explain, "write_explanations": c_write},
                  "wall": {"read": t_read, "read_validate": t_validate, "explain": t_explain,
                           "write_explanations": t_write}}))
'''


def prepare(workdir: Path, n: int) -> tuple[Path, Path]:
    from stalkrisk.synth import generate, write_caseload

    paths = write_caseload(generate(n, seed=n % 9973), workdir / f"n{n}", fmt="parquet")
    return paths["cases"], paths["events"]


def train_bundle(workdir: Path) -> Path:
    from stalkrisk.config import load_fairness_config, load_train_config
    from stalkrisk.synth import generate
    from stalkrisk.tracking.registry import save_bundle
    from stalkrisk.training.fit import train_model

    data = generate(50_000, seed=1)
    result = train_model(data.cases, data.events, load_train_config(), fairness_config=load_fairness_config())
    return save_bundle(result.model, workdir / "model", name="bench", version="1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, action="append", help="caseload size (repeatable)")
    parser.add_argument("--sample", type=int, default=20_000, help="rows for the pred_contrib floor")
    parser.add_argument("--method", choices=("fast", "pred_contrib"), default="fast")
    parser.add_argument("--no-floors", action="store_true", help="only the whole runs (default and --review none)")
    args = parser.parse_args()
    sizes = sorted(args.cases or [200_000])
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bundle = train_bundle(workdir)
        peaks, floors = {}, {}
        defaults = {}
        print(f"{'cases':>9} {'whole s':>8} {'cases/s':>9} {'peak GiB':>9} {'features s':>10} "
              f"{'predict s':>9} {'contrib s*':>10} {'vs contrib':>10} {'vs predict':>10}")
        for n in sizes:
            cases, events = prepare(workdir, n)
            whole = run_child(python_module("stalkrisk", "score", "--cases", str(cases), "--events", str(events),
                                            "--out", str(workdir / f"out{n}"), "--model", str(bundle),
                                            "--review", "none", "--quiet", "--explain-method", args.method))
            default = run_child(python_module("stalkrisk", "score", "--cases", str(cases), "--events", str(events),
                                              "--out", str(workdir / f"default{n}"), "--model", str(bundle),
                                              "--quiet", "--explain-method", args.method))
            pages = json.loads((workdir / f"default{n}" / "audit.json").read_text())["counts"]
            defaults[n] = (whole.seconds, default.seconds, default.peak_rss_gib, pages["flagged"], pages["review_pages"])
            if args.no_floors:
                print(f"{n:>9} {whole.seconds:>8.1f} {n / whole.seconds:>9.0f} {whole.peak_rss_gib:>9.2f}", flush=True)
                continue
            floor = json.loads(run_child([sys.executable, "-c", FLOOR_CHILD, str(cases), str(events), str(bundle),
                                          str(args.sample)]).stdout.strip().splitlines()[-1])
            floors[n] = floor
            contrib = n / floor["contrib_rows_per_s"]
            peaks[n] = whole.peak_rss_gib
            print(f"{n:>9} {whole.seconds:>8.1f} {n / whole.seconds:>9.0f} {whole.peak_rss_gib:>9.2f} "
                  f"{floor['features']:>10.1f} {floor['predict']:>9.1f} {contrib:>10.0f} "
                  f"{whole.seconds / (floor['features'] + contrib):>10.3f} "
                  f"{whole.seconds / (floor['features'] + floor['predict']):>10.2f}", flush=True)
        print("\nThe default command (review pages for the flagged cases, up to the cap) against --review none:")
        print(f"{'cases':>9} {'none s':>7} {'default s':>9} {'ratio':>6} {'peak GiB':>9} {'flagged':>8} {'pages':>6}")
        for n, (none_s, default_s, peak, flagged, pages) in defaults.items():
            print(f"{n:>9} {none_s:>7.1f} {default_s:>9.1f} {default_s / none_s:>6.2f} {peak:>9.2f} {flagged:>8} {pages:>6}")
        if args.no_floors:
            return
        print(f"* pred_contrib timed on {args.sample:,} rows and scaled to N; explanations by: {args.method}")
        print(f"\nCPU seconds the contract requires (floor child), against the CPU the 1.5x target allows "
              f"on {os.cpu_count()} cores:")
        print(f"{'cases':>9} {'read+validate':>13} {'features':>8} {'explain':>7} {'write expl':>10} "
              f"{'required':>8} {'allowed':>7}")
        for n, floor in floors.items():
            c = floor["cpu"]
            required = c["read_validate"] + c["features"] + c["explain"] + c["write_explanations"]
            allowed = (os.cpu_count() or 1) * 1.5 * (floor["features"] + floor["predict"])
            print(f"{n:>9} {c['read_validate']:>13.1f} {c['features']:>8.1f} {c['explain']:>7.1f} "
                  f"{c['write_explanations']:>10.1f} {required:>8.1f} {allowed:>7.1f}")
        if len(sizes) > 1:
            print(f"peak memory at {sizes[-1]:,} / at {sizes[0]:,}: {peaks[sizes[-1]] / peaks[sizes[0]]:.2f}")


if __name__ == "__main__":
    main()
