"""``make demo``: the whole job end to end on a generated caseload.

Runs the same commands a person would type — synth, validate, train, promote,
score, audit verify — against MLflow's local SQLite store (``mlflow.db`` in the
working directory unless ``MLFLOW_TRACKING_URI`` says otherwise).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from stalkrisk.cli.commands import main as stalkrisk
from stalkrisk.tracking.store_uri import tracking_uri


def command() -> str:
    """How to run ``stalkrisk`` as printed: this environment's script, relative when it is below here
    (``.venv/bin/stalkrisk`` after ``make demo``), so every printed command works when pasted."""
    script = Path(sys.executable).parent / "stalkrisk"
    if not script.is_file():
        return "stalkrisk"
    try:
        return shlex.quote(str(script.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(script))


def step(title: str, argv: list[str], ok: tuple[int, ...] = (0,)) -> int:
    print(f"\n== {title}\n$ {command()} {shlex.join(argv)}", flush=True)
    started = time.perf_counter()
    code = stalkrisk(argv)
    print(f"({time.perf_counter() - started:.1f} s, exit {code})", flush=True)
    if code not in ok:
        raise SystemExit(f"demo stopped: `stalkrisk {argv[0]}` exited {code}")
    return code


def latest_version(name: str) -> str:
    from mlflow import MlflowClient

    from stalkrisk.tracking.registry import configure

    configure()
    return str(MlflowClient().get_model_version_by_alias(name, "candidate").version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    data, score_dir, card_dir = args.out / "data", args.out / "score", args.out / "model-card"

    step("generate a synthetic caseload", ["synth", "--cases", str(args.cases), "--seed", str(args.seed), "--out", str(data)])
    cases, events = str(data / "cases.csv"), str(data / "events.csv")
    step("validate it against the data contract", ["validate", "--cases", cases, "--events", events,
                                                     "--report", str(args.out / "validation.json")], ok=(0, 1))
    # The demo asks for three rolling origins (off by default: each is one more fit) so its model
    # card shows how the model does over time, not on one test period only.
    demo_config = args.out / "train-config.yaml"
    demo_config.write_text("evaluation:\n  rolling:\n    origins: 3\n", encoding="utf-8")
    step("train, evaluate and register a candidate", ["train", "--cases", cases, "--events", events,
                                                        "--truth", str(data / "truth.csv"), "--out", str(card_dir),
                                                        "--config", str(demo_config)])
    version = latest_version("stalkrisk")
    code = step("promote the candidate to champion once its checks hold", ["promote", "--version", version], ok=(0, 1))
    if code:
        step("checks failed on generated data: promote for the demo only, with the reason recorded",
             ["promote", "--version", version, "--force", "--reason", "make demo on generated data"])
    step("score the caseload with the champion", ["score", "--cases", cases, "--events", events, "--out", str(score_dir),
                                                  "--model", "models:/stalkrisk@champion", "--overwrite"])
    step("audit: reproduce the scoring run byte for byte", ["audit", "verify", str(score_dir)], ok=(0,))
    print("\nDone.")
    print(f"model card:   {card_dir / 'model_card.html'}")
    print(f"review pages: {(score_dir / 'review' / 'index.html').resolve()}")
    mlflow_cmd = shlex.quote(str(Path(command()).with_name("mlflow"))) if "/" in command() else "mlflow"
    print(f"MLflow UI:    MLFLOW_DISABLE_TELEMETRY=true {mlflow_cmd} ui --backend-store-uri {tracking_uri()}")
    print(f"explain:      {command()} explain {shlex.quote(str(score_dir))} --case-id ID   (any case id in scores.csv)")
    print("              (or `source .venv/bin/activate` once, then plain `stalkrisk` and `mlflow`)")
    print_workbench(args.out, score_dir)
    return 0


def print_workbench(out: Path, score_dir: Path) -> None:
    """Create a demo reviewer for the force with the most flagged cases, and say how to sign in."""
    from stalkrisk.workbench.accounts import add_user, list_users
    from stalkrisk.workbench.db import open_database
    from stalkrisk.workbench.results import load_results

    db_url = f"sqlite:///{(out / 'workbench.db').resolve()}"
    workbench = open_database(db_url)
    flagged = load_results(score_dir).scores.query("queue == 'consider_spo'")
    demo_force = str(flagged["force_code"].value_counts().index[0]) if len(flagged) else "unknown"
    if "demo.reviewer" not in {u.username for u in list_users(workbench)}:
        add_user(workbench, "demo.reviewer", "reviewer", [demo_force], "demo-password-not-for-real-use")
    print(f"workbench:    {command()} serve {shlex.quote(str(score_dir))} --db {db_url} --port 8765")
    print(f"              then http://127.0.0.1:8765/ as demo.reviewer (force {demo_force}), "
          "password demo-password-not-for-real-use")


if __name__ == "__main__":
    sys.exit(main())
