"""Benchmark: read + normalise, then Great Expectations validation, on N events.

Why: design.md sets the budget (20M events normalise in well under a minute; GX
only for the rules it runs fast). Input is generated here with plain numpy so the
benchmark depends on nothing but the readers and validation.

    python benchmarks/bench_validate.py --events 2000000 [--keep DIR]

Peak memory is the process's maximum resident set size after each phase
(``resource.getrusage``), so it is cumulative: the read figure covers reading,
the validation figure covers both.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from stalkrisk.data import contract

from stalkrisk.data import readers

from stalkrisk.validation import suite as validation


def generate(folder: Path, n_events: int, seed: int = 0) -> tuple[Path, Path]:
    """Write cases.csv (n/10 rows) and events.csv (n rows), with a few bad values."""
    rng = np.random.default_rng(seed)
    n_cases = max(1, n_events // 10)
    ids = np.char.add("C", np.arange(n_cases).astype("U9"))
    days = rng.integers(0, 3650, n_cases)
    assess = (np.datetime64("2014-01-01") + days).astype("datetime64[D]").astype(str)
    cases = {
        "case_id": ids,
        "assessment_date": assess,
        "relationship": rng.choice(contract.RELATIONSHIPS, n_cases),
        "victim_sex": rng.choice(["Female", "male", " MALE "], n_cases),
        "victim_age": rng.integers(10, 90, n_cases).astype(str),
        "suspect_sex": rng.choice(contract.SEXES, n_cases),
        "suspect_age": rng.integers(10, 90, n_cases).astype("U3") + ".0",
        "suspect_prior_stalking": rng.integers(0, 5, n_cases).astype(str),
        "suspect_prior_domestic_abuse": rng.choice(["yes", "No", "", "1"], n_cases),
        "victim_fear": rng.choice(contract.FEARS, n_cases),
    }
    case_of = rng.integers(0, n_cases, n_events)
    seconds = rng.integers(0, 3650 * 86400, n_events).astype("timedelta64[s]")
    moments = (np.datetime64("2014-01-01T00:00:00") + seconds).astype(str)
    with_offset = rng.random(n_events) < 0.2
    times = np.where(with_offset, np.char.add(moments, "+01:00"), np.char.replace(moments, "T", " "))
    behaviours = rng.choice(contract.BEHAVIOURS, n_events).astype("U32")
    behaviours[rng.random(n_events) < 1e-4] = "shouting"  # a few bad rows
    events = {
        "case_id": ids[case_of],
        "event_time": times,
        "behaviour": behaviours,
        "channel": rng.choice(contract.CHANNELS + ("",), n_events),
        "event_id": np.char.add("E", np.arange(n_events).astype("U10")),
    }
    paths = folder / "cases.csv", folder / "events.csv"
    for path, data in zip(paths, (cases, events)):
        pacsv.write_csv(pa.table({k: pa.array(v.tolist()) for k, v in data.items()}), path)
    return paths


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--keep", type=Path, help="write the input here and keep it")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        cases_path, events_path = generate(folder, args.events)
        print(f"generated {args.events:,} events in {time.perf_counter() - t:.1f} s", flush=True)

        t = time.perf_counter()
        cases = readers.read_cases(cases_path)
        events = readers.read_events(events_path)
        read_s = time.perf_counter() - t
        rows = len(cases.frame) + len(events.frame)
        print(f"read+normalise: {rows:,} rows in {read_s:.1f} s = {rows / read_s:,.0f} rows/s; "
              f"peak RSS {peak_mib():,.0f} MiB", flush=True)

        import great_expectations  # noqa: F401  (import time is not validation time)

        t = time.perf_counter()
        suites = validation.load_suites()
        gx_failures = validation.run_suites({"cases": cases.frame, "events": events.frame}, suites)
        gx_s = time.perf_counter() - t
        print(f"GX suites only: {rows:,} rows in {gx_s:.1f} s = {rows / gx_s:,.0f} rows/s "
              f"({len(gx_failures):,} failing cells); peak RSS {peak_mib():,.0f} MiB", flush=True)

        t = time.perf_counter()
        result = validation.validate(cases, events)
        all_s = time.perf_counter() - t
        print(f"validate (GX + Python checks + quarantine): {all_s:.1f} s = {rows / all_s:,.0f} rows/s; "
              f"peak RSS {peak_mib():,.0f} MiB", flush=True)
        print(validation.summarise(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
