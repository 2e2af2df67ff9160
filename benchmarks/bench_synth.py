"""Benchmark the synthetic caseload generator (and optionally the writer).

Why: the pipeline's scale target is ~1M cases / ~20M events on one machine; this
measures how long the generator takes to make such a caseload and how much memory
it needs, so a regression shows up as a number.

    python benchmarks/bench_synth.py --cases 1000000 [--write DIR --fmt parquet]
"""

from __future__ import annotations

import argparse
import resource
import time

from sklearn.metrics import roc_auc_score

from stalkrisk.synth import caseload as synth
from stalkrisk.synth import write_caseload


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="number of cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", metavar="DIR", help="also write the caseload to DIR")
    parser.add_argument("--fmt", choices=("csv", "parquet"), default="parquet")
    args = parser.parse_args(argv)

    before = _peak_rss_mib()
    start, cpu = time.perf_counter(), _cpu_seconds()
    caseload = synth.generate(args.cases, seed=args.seed)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    n_events = len(caseload.events)
    print(f"generate: {args.cases:,} cases, {n_events:,} events in {seconds:.1f} s wall, "
          f"{cpu:.1f} s CPU (the wall time grows when other processes share the cores)")
    print(f"  {args.cases / seconds:,.0f} cases/s, {n_events / seconds:,.0f} events/s")
    print(f"  peak RSS {_peak_rss_mib():,.0f} MiB (at start {before:,.0f} MiB)")
    truth = caseload.truth
    print(f"  events/case {n_events / max(args.cases, 1):.1f}, base rate {truth['label'].mean():.3f}, "
          f"ceiling ROC-AUC of p {roc_auc_score(truth['label'], truth['p']):.3f}")
    if args.write:
        start = time.perf_counter()
        paths = write_caseload(caseload, args.write, args.fmt)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in paths.values()) / 2**20
        print(f"write ({args.fmt}): {seconds:.1f} s, {size:,.0f} MiB, peak RSS {_peak_rss_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
