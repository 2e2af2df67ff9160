"""What `stalkrisk score --previous DIR` adds to a scoring run (issue 19).

    python benchmarks/bench_previous.py --cases 200000 [--repeat 2]

Generates N cases (Parquet), scores them once (the previous screening), moves every assessment
date 30 days on, then scores the later caseload without and with ``--previous``, interleaved
``--repeat`` times, each in a child process; prints wall and CPU seconds of each and the
difference, and the two stages the comparison adds, timed in this process on the same folders:
reading the previous run (scores, contributions, its cases file) and writing changes.parquet.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import python_module, run_child  # noqa: E402
from bench_score import prepare  # noqa: E402


def train_bundle(workdir: Path, n: int) -> Path:
    from stalkrisk.config import load_fairness_config, load_train_config
    from stalkrisk.synth import generate
    from stalkrisk.tracking.registry import save_bundle
    from stalkrisk.training.fit import train_model

    data = generate(n, seed=1)
    result = train_model(data.cases, data.events, load_train_config(), fairness_config=load_fairness_config())
    return save_bundle(result.model, workdir / "model", name="bench", version="1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--train-cases", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bundle = train_bundle(workdir, args.train_cases)
        cases, events = prepare(workdir, args.cases)
        later = workdir / "later_cases.parquet"
        frame = pd.read_parquet(cases)
        frame["assessment_date"] = pd.to_datetime(frame["assessment_date"]) + pd.Timedelta(days=30)
        frame.to_parquet(later, index=False)

        def score(out: str, case_file: Path, *extra: str):
            return run_child(python_module("stalkrisk", "score", "--cases", str(case_file), "--events", str(events),
                                           "--out", str(workdir / out), "--model", str(bundle), "--quiet",
                                           "--overwrite", *extra))

        score("first", cases)
        rows = []
        for k in range(args.repeat):
            plain = score(f"plain{k}", later)
            compared = score(f"compared{k}", later, "--previous", str(workdir / "first"))
            rows.append((plain, compared))
            print(f"pair {k + 1}: without {plain.seconds:.1f} s ({plain.cpu_seconds:.1f} CPU-s), with --previous "
                  f"{compared.seconds:.1f} s ({compared.cpu_seconds:.1f} CPU-s) "
                  f"(+{compared.seconds - plain.seconds:.1f} s); peak {plain.peak_rss_gib:.2f} / "
                  f"{compared.peak_rss_gib:.2f} GiB", flush=True)
        from stalkrisk.pipelines import changes as changes_mod

        t = time.process_time()
        previous = changes_mod.load_previous(workdir / "first")
        t_load = time.process_time() - t
        t = time.process_time()
        changes = changes_mod.write_changes(workdir / "plain0", previous)
        t_write = time.process_time() - t
        print(f"in process (CPU s): read the previous run {t_load:.2f}, compare and write changes.parquet "
              f"{t_write:.2f}; {len(changes):,} cases compared, largest gap {changes_mod.exact_gap(changes):.2e}")


if __name__ == "__main__":
    main()
