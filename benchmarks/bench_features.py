"""Benchmark the feature builder against a straightforward pandas groupby version.

    python benchmarks/bench_features.py --cases 1000000

Generates N cases (~20 events each) once and saves them as Parquet, then runs each
implementation in its own child process, so neither the generator's memory nor the
other implementation's pollutes the measurement. Each child reads the Parquet files,
resets the kernel's peak-RSS mark (/proc/self/clear_refs) and times the build alone;
"peak RSS" is the child's high-water mark during the build (inputs included).
Finally both implementations are run on a sample and must agree.

Targets (issue): >= 4x the pandas reference, >= 150,000 cases/s, peak < 4 GiB at 1M.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

try:
    import stalkrisk  # noqa: F401
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stalkrisk.data.contract import (  # noqa: E402
    BEHAVIOURS,
    CHANNELS,
    FEARS,
    LOCAL_TZ,
    ONLINE_CHANNELS,
    OUTCOME_BEHAVIOURS,
    RELATIONSHIPS,
    SEXES,
    STATUTORY_BEHAVIOURS,
    TARGETS,
)
from stalkrisk.features.asof import cutoff_utc, known_by_cutoff  # noqa: E402
from stalkrisk.features.build import build_features  # noqa: E402
from stalkrisk.features.registry import (  # noqa: E402
    ALL_TIME_COUNTS,
    WINDOWS,
    count_name,
    feature_names,
)

DAY = pd.Timedelta(days=1)

# --- data --------------------------------------------------------------------------------


def generate(n: int, seed: int, events_per_case: float = 20.0) -> tuple[pa.Table, pa.Table]:
    """A caseload as Arrow tables, strings built from codes (no Python objects per event).

    Events come grouped by case, as a case-history export lists them."""
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2021-01-01") + rng.integers(0, 1800, n)
    ids = pa.array(np.char.add("C", np.arange(n).astype("U8")), type=pa.large_string())

    def category(values: tuple[str, ...], size: int, missing: float = 0.0) -> pa.Array:
        codes = pa.array(rng.integers(0, len(values), size).astype(np.int32),
                         mask=rng.random(size) < missing if missing else None)
        return pa.DictionaryArray.from_arrays(codes, pa.array(values)).cast(pa.large_string())

    def maybe(values: np.ndarray, missing: float) -> pa.Array:
        return pa.array(values, mask=rng.random(len(values)) < missing)

    cases = pa.table({
        "case_id": ids,
        "assessment_date": pa.array(dates.astype("datetime64[ns]")),
        "relationship": category(RELATIONSHIPS, n),
        "victim_sex": category(SEXES, n),
        "victim_age": maybe(rng.integers(10, 111, n), 0.1),
        "suspect_sex": category(SEXES, n),
        "suspect_prior_stalking": maybe(rng.poisson(0.7, n), 0.1),
        "suspect_prior_violence": maybe(rng.poisson(0.5, n), 0.1),
        "suspect_prior_domestic_abuse": maybe(rng.random(n) < 0.4, 0.1),
        "suspect_substance_misuse": maybe(rng.random(n) < 0.3, 0.1),
        "protective_order_in_force": maybe(rng.random(n) < 0.2, 0.1),
        "victim_fear": category(FEARS, n, 0.05),
    })
    owner = np.repeat(np.arange(n, dtype=np.int64), rng.poisson(events_per_case, n))
    m = len(owner)
    end = (dates + 1).astype("datetime64[s]").astype(np.int64)[owner]
    t = end - rng.integers(-30 * 86400, 500 * 86400, m)
    rec = t + rng.exponential(3 * 86400, m).astype(np.int64)
    utc = pa.timestamp("ns", tz="UTC")
    events = pa.table({
        "case_id": ids.take(pa.array(owner)),
        "event_time": pa.array(t * 10**9, type=pa.int64()).cast(utc),
        "behaviour": category(BEHAVIOURS, m),
        "channel": category(CHANNELS, m, 0.05),
        "recorded_at": pa.array(rec * 10**9, mask=rng.random(m) < 0.3).cast(utc),
        "target": category(TARGETS, m, 0.05),
    })
    return cases, events


def read(folder: Path, sample: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Parquet files in the contract's normalised dtypes (the first ``sample`` cases)."""
    cases = pd.read_parquet(folder / "cases.parquet")
    filters = None
    if sample is not None:
        cases = cases.iloc[:sample].reset_index(drop=True)
        filters = [("case_id", "in", cases["case_id"].tolist())]
    events = pd.read_parquet(folder / "events.parquet", filters=filters)
    cases["assessment_date"] = cases["assessment_date"].astype("datetime64[ns]")
    for c in ("victim_age", "suspect_prior_stalking", "suspect_prior_violence"):
        cases[c] = cases[c].astype("Int64")
    for c in ("suspect_prior_domestic_abuse", "suspect_substance_misuse",
              "protective_order_in_force"):
        cases[c] = cases[c].astype("boolean")
    for c in ("event_time", "recorded_at"):
        events[c] = events[c].astype("datetime64[ns, UTC]")
    return cases, events


# --- the pandas reference --------------------------------------------------------------


def pandas_features(cases: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The same features with plain pandas merge / boolean columns / groupby."""
    n = len(cases)
    rows = pd.RangeIndex(n)
    keys = pd.DataFrame({"case_id": cases["case_id"].to_numpy(), "_row": np.arange(n),
                         "cutoff": cutoff_utc(cases["assessment_date"]).to_numpy()})
    columns = [c for c in ("case_id", "event_time", "behaviour", "channel", "recorded_at", "target")
               if c in events]
    ev = events[columns].merge(keys, on="case_id", how="inner")
    ev = ev[known_by_cutoff(ev["event_time"], ev.get("recorded_at"), ev["cutoff"])].copy()
    ev["age"] = (ev["cutoff"] - ev["event_time"]) / DAY
    ev["behaviour"] = ev["behaviour"].where(ev["behaviour"].isin(BEHAVIOURS), "other")
    ev["channel"] = ev["channel"].where(ev["channel"].isin(CHANNELS))
    g = ev.groupby("_row")
    out = pd.DataFrame(index=rows)

    rel = cases["relationship"].reset_index(drop=True)
    for c in RELATIONSHIPS:
        out[f"rel_{c}"] = (rel == c).astype(float).where(rel.notna())
    for c in ("suspect_prior_stalking", "suspect_prior_violence", "suspect_prior_domestic_abuse",
              "suspect_substance_misuse", "protective_order_in_force"):
        out[c] = cases[c].astype("Float64").astype("float64").to_numpy()
    out["victim_fear"] = cases["victim_fear"].map(
        {"not_afraid": 0.0, "afraid": 1.0, "very_afraid": 2.0}).astype(float).to_numpy()

    bucket = np.searchsorted(np.array(WINDOWS, dtype=float), ev["age"].to_numpy(), side="left")
    sizes = ev.groupby(["_row", "behaviour", bucket]).size().unstack([1, 2], fill_value=0)
    counts = {}
    for b in STATUTORY_BEHAVIOURS + OUTCOME_BEHAVIOURS + ("events",):
        cols = [c for c in sizes.columns if b in (c[0], "events")]
        for k, d in enumerate(WINDOWS):
            counts[count_name(b, d)] = sizes[[c for c in cols if c[1] <= k]].sum(axis=1)
        if b in ALL_TIME_COUNTS:
            counts[count_name(b, None)] = sizes[cols].sum(axis=1)
    out = out.join(pd.DataFrame(counts).reindex(rows, fill_value=0).astype(float))

    day = ev["event_time"].dt.tz_convert(LOCAL_TZ).dt.normalize()
    for d in (30, 90, 365):
        out[f"distinct_days_{d}d"] = day[ev["age"] <= d].groupby(ev["_row"]).nunique()
    known_ch = ev["channel"].notna() & (ev["channel"] != "unknown") & (ev["age"] <= 90)
    out["distinct_channels_90d"] = ev["channel"][known_ch].groupby(ev["_row"]).nunique()
    online = ev["channel"].isin(ONLINE_CHANNELS) | ev["behaviour"].isin(
        ["monitoring_online", "publishing"])
    out["online_share_90d"] = online[ev["age"] <= 90].groupby(ev["_row"]).mean()
    out = out.fillna({c: 0.0 for c in ("distinct_days_30d", "distinct_days_90d",
                                       "distinct_days_365d", "distinct_channels_90d",
                                       "online_share_90d")})

    recent = ev[ev["age"] <= 84]
    week = np.ceil(recent["age"] / 7).astype(int) - 1
    weekly = recent.groupby(["_row", week]).size().unstack(fill_value=0)
    weekly = weekly.reindex(index=rows, columns=range(12), fill_value=0)
    x = 11 - np.arange(12)
    out["weekly_trend_12w"] = weekly.to_numpy() @ (x - x.mean()) / ((x - x.mean()) ** 2).sum()
    out["change_30d_vs_prior_60d"] = out["n_events_30d"] - (out["n_events_90d"] - out["n_events_30d"]) / 2
    out["days_since_last_event"] = g["age"].min()
    out["history_length_days"] = g["age"].max()
    for o in OUTCOME_BEHAVIOURS:
        out[f"days_since_first_{o}"] = ev["age"][ev["behaviour"] == o].groupby(ev["_row"]).max()
    tv = ev["behaviour"].isin(["threat", "violence"])
    new = ev["age"] <= 30
    share_new = tv[new].groupby(ev["_row"]).mean().reindex(rows, fill_value=0.0)
    share_old = tv[~new].groupby(ev["_row"]).mean().reindex(rows, fill_value=0.0)
    out["threat_shift_30d"] = share_new - share_old

    out["sdash_property_interference"] = (
        ev["behaviour"] == "property_interference").groupby(ev["_row"]).any()
    out["sdash_loitering"] = (ev["behaviour"] == "loitering").groupby(ev["_row"]).any()
    visits = ev[(ev["channel"] == "in_person") & (ev["age"] <= 90)].sort_values(["_row", "age"])
    span = visits.groupby("_row")["age"].shift(-3) - visits["age"]
    out["sdash_visits_over_3_a_week"] = (span < 7).groupby(visits["_row"]).any()
    out["sdash_threats"] = out["n_threat_all"] > 0
    out["sdash_violence"] = out["n_violence_all"] > 0
    prior = out["suspect_prior_stalking"]
    out["sdash_prior_harassment"] = (prior > 0).astype(float).where(prior.notna())
    out["sdash_substance_misuse"] = out["suspect_substance_misuse"]
    proxy = ev["channel"] == "third_party"
    if "target" in ev:
        proxy |= ev["target"] == "third_party"
    out["sdash_third_party_contact"] = proxy.groupby(ev["_row"]).any()
    fear = out["victim_fear"]
    out["sdash_fear"] = (fear >= 1).astype(float).where(fear.notna())
    act = ev["behaviour"].isin(STATUTORY_BEHAVIOURS + OUTCOME_BEHAVIOURS) | proxy
    occasions = day[act].groupby(ev["_row"][act]).nunique()
    out["course_of_conduct"] = occasions.reindex(rows, fill_value=0) >= 2
    for c in ("sdash_loitering", "sdash_visits_over_3_a_week", "sdash_third_party_contact",
              "sdash_property_interference"):
        out[c] = out[c].astype("boolean").fillna(False)
    out = out[feature_names()].astype("float64").reset_index(drop=True)
    out.insert(0, "case_id", pd.Series(cases["case_id"].to_numpy(), dtype="str"))
    return out


IMPLEMENTATIONS = {"stalkrisk": build_features, "pandas": pandas_features}

# --- measurement ---------------------------------------------------------------------------


def _status(key: str) -> int:
    """A /proc/self/status memory figure (kB) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)
        return True
    except OSError:
        return False


def worker(name: str, folder: Path) -> dict:
    cases, events = read(folder)
    rss_inputs = _status("VmRSS")
    reset = _reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    features = IMPLEMENTATIONS[name](cases, events)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"implementation": name, "cases": len(cases), "events": len(events),
            "columns": features.shape[1] - 1, "seconds": seconds,
            "cases_per_s": len(cases) / seconds, "cpu_seconds": cpu,
            "load_average": os.getloadavg()[0], "rss_inputs": rss_inputs, "peak_rss": peak,
            "peak_is_build_only": reset}


def run_child(name: str, folder: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", name, "--data", str(folder)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_agreement(folder: Path, sample: int) -> None:
    cases, events = read(folder, sample)
    pd.testing.assert_frame_equal(build_features(cases, events), pandas_features(cases, events),
                                  check_exact=False, rtol=1e-12, atol=1e-12)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, help="folder for the generated Parquet files")
    parser.add_argument("--only", choices=sorted(IMPLEMENTATIONS), action="append")
    parser.add_argument("--sample", type=int, default=5_000, help="cases in the agreement check")
    parser.add_argument("--worker", choices=sorted(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.data)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "cases.parquet").exists() or len(
                pd.read_parquet(folder / "cases.parquet", columns=["case_id"])) != args.cases:
            start = time.perf_counter()
            cases, events = generate(args.cases, args.seed)
            pq.write_table(cases, folder / "cases.parquet")
            pq.write_table(events, folder / "events.parquet")
            print(f"generated {cases.num_rows:,} cases, {events.num_rows:,} events "
                  f"in {time.perf_counter() - start:.1f} s", flush=True)
            del cases, events
        check_agreement(folder, args.sample)
        print(f"agreement: stalkrisk == pandas reference on {args.sample:,} cases", flush=True)
        results = {}
        for name in args.only or ["stalkrisk", "pandas"]:
            r = results[name] = run_child(name, folder)
            print(f"{name:>9}: {r['cases']:,} cases ({r['events']:,} events, {r['columns']} "
                  f"features) in {r['seconds']:.2f} s = {r['cases_per_s']:,.0f} cases/s "
                  f"(CPU {r['cpu_seconds']:.2f} s, load average {r['load_average']:.1f}); "
                  f"peak RSS {r['peak_rss'] / 2**30:.2f} GiB "
                  f"(inputs {r['rss_inputs'] / 2**30:.2f} GiB)", flush=True)
        if len(results) == 2:
            ratio = results["stalkrisk"]["cases_per_s"] / results["pandas"]["cases_per_s"]
            print(f"    ratio: {ratio:.1f}x the pandas reference")
            fast = results["stalkrisk"]
            print("  targets: "
                  f"ratio >= 4x {'met' if ratio >= 4 else 'MISSED'}; "
                  f">= 150,000 cases/s {'met' if fast['cases_per_s'] >= 150_000 else 'MISSED'}; "
                  f"peak < 4 GiB {'met' if fast['peak_rss'] < 4 * 2**30 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
