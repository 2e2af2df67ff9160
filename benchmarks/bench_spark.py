"""The same scoring run on one machine and on Spark ``local[1]`` / ``local[2]``.

For each caseload size: wall time and cases/s of ``stalkrisk score`` (single-machine
path), and of ``stalkrisk score --engine spark --spark-master local[N]``, each in a child
process from a cold start (the Spark runs include starting the JVM and the Python
workers); the Spark/single ratio; how Spark scales from 1 to 2 cores; the driver's peak
RSS (the stalkrisk process, not the JVM) and the whole tree's peak PSS (JVM and workers
too). A tiny caseload gives the fixed overhead floor.

Usage: python benchmarks/bench_spark.py --cases 20000 --cases 100000 [--tiny 200]

``--rolling N`` measures the rolling validation's fan-out instead (``stalkrisk train --engine
spark``): on N generated cases with three origins (two earlier fits), the serial mapper against
``SparkOrigins`` on ``local[2]``, interleaved ``--repeat`` times in one process; the Spark time
with the session's start and stop, and without (a warm session), and whether the figures agree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import python_module, run_child


def prepare(workdir: Path, n: int) -> tuple[Path, Path]:
    from stalkrisk.synth import generate, write_caseload

    paths = write_caseload(generate(n, seed=n % 9973), workdir / f"n{n}", fmt="csv")
    return paths["cases"], paths["events"]


def train_bundle(workdir: Path, n: int) -> Path:
    from stalkrisk.config import load_fairness_config, load_train_config
    from stalkrisk.synth import generate
    from stalkrisk.tracking.registry import save_bundle
    from stalkrisk.training.fit import train_model

    data = generate(n, seed=1)
    result = train_model(data.cases, data.events, load_train_config(), fairness_config=load_fairness_config())
    return save_bundle(result.model, workdir / "model", name="bench", version="1")


ENGINES = (("single", []), ("spark local[1]", ["--spark-master", "local[1]"]),
           ("spark local[2]", ["--spark-master", "local[2]"]))


def bench_rolling(n: int, repeat: int) -> None:
    """Serial against local[2] for the rolling validation's earlier origins (see the docstring)."""
    import numpy as np

    from stalkrisk.config import load_train_config
    from stalkrisk.pipelines.spark_session import session
    from stalkrisk.pipelines.spark_train import SparkOrigins
    from stalkrisk.synth import generate, write_caseload
    from stalkrisk.training.fit import prepare
    from stalkrisk.training.rolling import rolling_validation, serial
    from stalkrisk.validation.suite import load_and_validate

    config = load_train_config()
    config["evaluation"]["rolling"]["origins"] = 3
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_caseload(generate(n, seed=5), Path(tmp), fmt="parquet")
        checked = load_and_validate(paths["cases"], paths["events"])
    p = prepare(checked.cases, checked.events, config)
    X, te = p.X_all.to_numpy(dtype=np.float64), p.slices == "test"
    conduct = p.X_all["course_of_conduct"].to_numpy() >= 1.0

    def report(mapper):
        return rolling_validation(p.days, X, p.y_all, conduct, p.feature_names, config, gap_days=p.gap_days,
                                  test_from=int(p.days[te].min()), registered={}, map_origins=mapper)

    times: dict[str, list[float]] = {"serial": [], "local[2] with start": [], "local[2] warm": []}
    figures = {}
    for _ in range(repeat):
        t = time.perf_counter()
        figures["serial"] = report(serial).origins
        times["serial"].append(time.perf_counter() - t)
        t = time.perf_counter()
        spark = session("local[2]")
        mapper = SparkOrigins(spark=spark)
        figures["spark"] = report(mapper).origins
        times["local[2] with start"].append(time.perf_counter() - t)
        t = time.perf_counter()
        report(mapper)
        times["local[2] warm"].append(time.perf_counter() - t)
        spark.stop()
    fits = sum(1 for o in figures["serial"] if not o.get("registered"))
    print(f"rolling validation, {n:,} cases, {len(X):,} uncensored rows, {fits} earlier origin fit(s); "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, values in times.items():
        print(f"{name:>20}: median {statistics.median(values):6.1f} s  (runs: "
              f"{', '.join(f'{v:.1f}' for v in values)})")
    same = all(abs(a[k] - b[k]) <= 1e-12 for a, b in zip(figures["serial"], figures["spark"])
               for k in a if isinstance(a[k], float) and a[k] == a[k])
    print(f"figures equal within 1e-12: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, action="append", help="caseload size (repeatable)")
    parser.add_argument("--tiny", type=int, default=200, help="the tiny caseload giving the overhead floor")
    parser.add_argument("--train-cases", type=int, default=20_000, help="cases the model is trained on")
    parser.add_argument("--rolling", type=int, metavar="N", help="measure the rolling fan-out on N cases instead")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats of the rolling measurement")
    args = parser.parse_args()
    if args.rolling:
        bench_rolling(args.rolling, args.repeat)
        return
    sizes = [args.tiny, *sorted(args.cases or [20_000, 100_000])]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bundle = train_bundle(workdir, args.train_cases)
        print(f"{'cases':>8} {'engine':>15} {'wall s':>7} {'cases/s':>8} {'vs single':>9} "
              f"{'driver GiB':>10} {'tree GiB':>8}", flush=True)
        for n in sizes:
            cases, events = prepare(workdir, n)
            seconds = {}
            for name, extra in ENGINES:
                run = run_child(python_module("stalkrisk", "score", "--cases", str(cases), "--events", str(events),
                                              "--out", str(workdir / f"out{n}-{len(seconds)}"), "--model",
                                              str(bundle), "--review", "none", "--quiet", *extra), tree_memory=True)
                seconds[name] = run.seconds
                print(f"{n:>8} {name:>15} {run.seconds:>7.1f} {n / run.seconds:>8.0f} "
                      f"{run.seconds / seconds['single']:>9.2f} {run.peak_rss_gib:>10.2f} "
                      f"{run.peak_tree_gib:>8.2f}", flush=True)
            same = all((workdir / f"out{n}-0" / f).read_bytes() == (workdir / f"out{n}-{i}" / f).read_bytes()
                       for i in (1, 2) for f in ("scores.parquet", "scores.csv", "explanations.parquet"))
            print(f"{n:>8} {'':>15} scaling local[1] -> local[2]: "
                  f"{seconds['spark local[1]'] / seconds['spark local[2]']:.2f}x; outputs byte-identical: {same}",
                  flush=True)


if __name__ == "__main__":
    main()
