"""The ``stalkrisk`` command: parse, call one library function, print, exit.

Exit status: 0 done; 1 the checks ran and something failed (rows failed
validation, a promotion was refused, an audit did not match); 2 the input,
config or model could not be used (one clear line, no traceback).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from stalkrisk.defaults import DEFAULT_CHUNK_SIZE

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def _user_errors() -> tuple[type[BaseException], ...]:
    from stalkrisk.errors import StalkriskError

    return (StalkriskError, OSError)


def _one_line(exc: BaseException) -> str:
    """The error as one clipped, printable line (an OSError: its file and the system's reason)."""
    from stalkrisk.text import clip, printable

    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        text = f"{where}: {exc.strerror}" if where else exc.strerror
        if exc.errno == 28:
            text += " (the disk is full: free space, or give another --out)"
    else:
        text = str(exc)
    return printable(" ".join(clip(text, 2000).split("\n")))


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (``stalkrisk score: ...``) and exit 2, like ours."""

    def error(self, message: str):
        self.exit(EXIT_UNUSABLE, f"{self.prog}: {message}\n")


# -- commands -------------------------------------------------------------------


def cmd_validate(args) -> int:
    from stalkrisk.validation.suite import summarise, write_report
    from stalkrisk.validation.parts import validate_files

    result = validate_files(args.cases, args.events, orders=args.orders, history=args.history)
    print(summarise(result))
    if args.report:
        write_report(result, args.report)
        print(f"report: {args.report}")
    return EXIT_FAILED if len(result.failures) else EXIT_OK


def cmd_synth(args) -> int:
    from stalkrisk.synth import generate, write_caseload

    from stalkrisk.synth.history import make_history, write_history

    caseload = generate(args.cases, seed=args.seed)
    paths = write_caseload(caseload, args.out, fmt=args.format)
    paths["history"] = write_history(make_history(caseload.cases, args.seed), args.out, args.format)  # --history
    for name, path in paths.items():
        print(f"{name}: {path}")
    return EXIT_OK


def cmd_features(args) -> int:
    from stalkrisk.pipelines.features import run

    summary = run(args.cases, args.events, args.out, orders=args.orders, history=args.history)
    print(summary)
    return EXIT_OK


def cmd_train(args) -> int:
    from stalkrisk.pipelines.train import run

    s = run(
        args.cases, args.events, config=args.config, fairness_config=args.fairness_config,
        experiment=args.experiment, register=args.register, truth=args.truth, out=args.out,
        quiet=args.quiet, orders=args.orders, history=args.history, engine=args.engine,
        spark_master=args.spark_master,
    )
    print(f"run id: {s.run_id}")
    print(f"registered: models:/{s.name}/{s.version} (alias candidate)")
    print(f"cases quarantined by validation: {s.quarantined}; censored (horizon not yet over): {s.censored}")
    print(s.table())
    for w in s.warnings:
        print(f"WARNING: {w}")
    for w in s.fairness_warnings:
        print(f"fairness (clear breach): {w}")
    for w in s.fairness_uncertain:
        print(f"fairness (within sampling noise): {w}")
    print(f"model card: {s.model_card}")
    print(f"MLflow UI: MLFLOW_DISABLE_TELEMETRY=true mlflow ui --backend-store-uri {s.tracking_uri}")
    return EXIT_OK


def cmd_promote(args) -> int:
    from stalkrisk.tracking.registry import promote

    r = promote(args.name, args.version, force=args.force, reason=args.reason)
    if not r.promoted:
        print(f"not promoted: {r.name} version {r.version} fails these checks:")
        for f in r.failed_checks:
            print(f"  - {f}")
        print('use --force --reason "..." to promote anyway; the reason is recorded')
        return EXIT_FAILED
    forced = " (forced; reason recorded)" if r.forced else ""
    print(f"champion: models:/{r.name}/{r.version}{forced}")
    return EXIT_OK


def cmd_score(args) -> int:
    from stalkrisk.pipelines.score import run

    if args.engine == "spark" or args.spark_master:  # the same run, fanned out over Spark
        from functools import partial

        from stalkrisk.errors import ConfigError

        if args.previous:
            raise ConfigError("--previous is not read by --engine spark yet: compare on one machine (--engine local)")
        if args.history:
            raise ConfigError("--history is not read by --engine spark yet: score with the history on one "
                              "machine (--engine local)")

        from stalkrisk.pipelines.spark_score import run as spark_run

        run = partial(spark_run, master=args.spark_master)
    s = run(
        args.cases, args.events, args.out, model=args.model, review=args.review,
        quiet=args.quiet, method=args.explain_method, overwrite=args.overwrite, review_cap=args.review_cap,
        **({"orders": args.orders} if args.orders else {}),
        **({"previous": args.previous} if args.previous else {}),
        **({"history": args.history} if args.history else {}),
        **({} if args.chunk_size is None else {"chunk_size": args.chunk_size}),
    )
    c = s.counts
    print(
        f"scored {c['scored']} of {c['input_cases']} cases ({c['not_scored']} not scored); "
        f"{c['flagged']} flagged to consider an SPO; model {s.model_name} version {s.model_version}"
    )
    if "input_events" in c:
        unused = c["input_events"] - c["events_used"]
        print(f"events: {c['input_events']} read, {c['events_used']} used, {unused} not used "
              f"({c['orphan_events']} naming no case; the rest break a rule: see `stalkrisk validate`)")
    for w in s.warnings:
        if "orphan events" not in w:
            print(f"WARNING: {w}")
    if "changes_unchanged" in c:
        kinds = ("newly_queued", "left_queue", "raised", "lowered", "unchanged")
        print(f"changes since {args.previous}: " + ", ".join(f"{c[f'changes_{k}']} {k.replace('_', ' ')}" for k in kinds)
              + " (changes.parquet)")
    print(f"output: {s.out}")
    if s.review_index:
        unpaged = c["flagged"] - c["review_pages"] if args.review == "flagged" else 0
        more = (f" ({c['review_pages']} case pages; the other {unpaged} flagged: "
                f"stalkrisk explain {s.out} --case-id ID)") if unpaged > 0 else ""
        print(f"review: {s.review_index}{more}")
    return EXIT_OK


def cmd_export(args) -> int:
    from stalkrisk.tracking.registry import export_model

    print(f"exported: {export_model(args.model, args.out)}")
    return EXIT_OK


def cmd_explain(args) -> int:
    from stalkrisk.outputs.case_record import format_case, load_case

    from stalkrisk.text import printable

    print(printable(format_case(load_case(args.dir, args.case_id))))
    return EXIT_OK


# -- parser ---------------------------------------------------------------------

DEFAULT_REVIEW_CAP = 500  # pipelines.score.DEFAULT_REVIEW_CAP (a test keeps the two in step; no import at parse time)


def _version() -> str:
    from stalkrisk import __version__

    return __version__


def whole_number(minimum: int, *, unbounded: tuple[str, ...] = ()) -> Callable[[str], int | None]:
    """An argparse type: a whole number at least ``minimum``, or None for any of ``unbounded``."""
    def parse(text: str) -> int | None:
        if unbounded and text.strip().lower() in unbounded:
            return None
        try:
            value = int(text)
        except ValueError:
            also = f", or {' / '.join(repr(u) for u in unbounded)}" if unbounded else ""
            raise argparse.ArgumentTypeError(f"not a whole number{also}: {text[:40]!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum} (got {value})")
        return value
    return parse


_positive = whole_number(1)
_cap = whole_number(0, unbounded=("none", "all"))


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cases", required=True, type=Path, help="cases table (.csv, .csv.gz or .parquet)")
    p.add_argument("--events", required=True, type=Path, help="events table (.csv, .csv.gz or .parquet)")
    p.add_argument("--orders", type=Path, help="optional protective orders table (contract v2); orders in "
                   "force are derived as of each assessment day")
    p.add_argument("--history", type=Path, help="optional suspects' offence history (contract v2); prior "
                   "counts are built from the offences recorded by the end of each assessment day")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stalkrisk",
        description="Screen stalking caseloads for cases where a Stalking Protection Order should be "
        "considered. It never decides; it explains.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    parser.add_argument("--version", action="version", version=f"stalkrisk {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("validate", cmd_validate, "check two case-history files against the data contract")
    _inputs(p)
    p.add_argument("--report", type=Path, help="write every failure to this JSON file")

    p = add("synth", cmd_synth, "generate a synthetic caseload (cases, events, orders, history, truth.csv)")
    p.add_argument("--cases", type=int, required=True, help="number of cases")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")

    p = add("features", cmd_features, "build the as-of feature table (Parquet)")
    _inputs(p)
    p.add_argument("--out", type=Path, required=True, help="output .parquet file")

    p = add("train", cmd_train, "train, evaluate and register a calibrated model in MLflow")
    _inputs(p)
    p.add_argument("--config", type=Path, help="training config YAML (default: built-in defaults = configs/train.yaml)")
    p.add_argument("--fairness-config", type=Path, help="fairness groups and tolerances (default: configs/fairness.yaml)")
    p.add_argument("--experiment", default="stalkrisk", help="MLflow experiment name")
    p.add_argument("--register", default="stalkrisk", help="registered model name")
    p.add_argument("--truth", type=Path, help="truth.csv of a generated caseload (adds the ceiling AUC)")
    p.add_argument("--out", type=Path, help="folder for the model card (default train-output/NAME-vN)")
    p.add_argument("--quiet", action="store_true", help="no progress (stages and LightGBM rounds)")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="spark: fit the rolling validation's earlier origins on Spark (needs pyspark and Java)")
    p.add_argument("--spark-master", help="Spark master URL (implies --engine spark; default local[*])")

    p = add("promote", cmd_promote, "move the champion alias to a registered version once its checks hold")
    p.add_argument("--version", required=True, help="registered model version")
    p.add_argument("--name", default="stalkrisk", help="registered model name")
    p.add_argument("--force", action="store_true", help="promote even when checks fail (needs --reason)")
    p.add_argument("--reason", help="why a forced promotion is justified (recorded as a tag)")

    p = add("score", cmd_score, "score a caseload: scores, explanations, review pages, audit.json")
    _inputs(p)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--model", default="models:/stalkrisk@champion",
                   help="models:/NAME@ALIAS, models:/NAME/VERSION or an exported model folder")
    p.add_argument("--review", choices=("flagged", "all", "none"), default="flagged", help="which cases get a review page")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--chunk-size", type=_positive, default=None, help=f"cases per part (default {DEFAULT_CHUNK_SIZE:,}; bounds memory)")
    p.add_argument("--review-cap", type=_cap, default=DEFAULT_REVIEW_CAP, metavar="N",
                   help=f"write at most N case pages, highest scores first (default {DEFAULT_REVIEW_CAP}; 'none': "
                   "no cap); the rest are listed in the index, one `stalkrisk explain` away")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a folder that holds an earlier scoring run (the whole folder)")
    p.add_argument("--explain-method", choices=("fast", "pred_contrib"),
                   help="fast: stalkrisk's exact TreeSHAP (default); pred_contrib: LightGBM's reference")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local: this process (default); spark: the same run on Spark (needs stalkrisk[spark] and Java)")
    p.add_argument("--spark-master", help="Spark master URL (implies --engine spark; default local[*])")
    p.add_argument("--previous", type=Path, metavar="DIR",
                   help="an earlier scoring run's --out folder to compare with: writes changes.parquet and the "
                   "review pages' 'changed since the last screening' (the folder is only read)")

    p = add("export", cmd_export, "write a registered model as a folder, for forces without a tracking server")
    p.add_argument("--model", required=True, help="models:/NAME@ALIAS or models:/NAME/VERSION")
    p.add_argument("--out", type=Path, required=True, help="new output folder")

    p = add("explain", cmd_explain, "print one case's scores, flag and full contribution table of each outcome")
    p.add_argument("dir", type=Path, help="a scoring output folder")
    p.add_argument("--case-id", required=True)

    from stalkrisk.cli.audit import add_audit_commands

    add_audit_commands(sub)
    from stalkrisk.cli.workbench import add_workbench_commands

    add_workbench_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Great Expectations logs its own registries at INFO (a hundred lines a run, none about the
    # data): quiet even with -v, which is for stalkrisk's own steps.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    if not args.verbose:  # libraries that log their own chatter at INFO
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow resets its loggers on import
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except _user_errors() as exc:
        command = " ".join(filter(None, (args.command, getattr(args, "audit_command", None))))
        print(f"stalkrisk {command}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("interrupted: outputs left incomplete are not marked finished", file=sys.stderr)
        return 130


def run_and_exit() -> None:
    """The ``stalkrisk`` command: ``main``, then exit without the interpreter's last sweeps.

    At shutdown the interpreter garbage-collects, several times over, everything the
    libraries leave loaded: hundreds of thousands of objects, seconds after a training run. Frozen
    objects are not collected again; what is skipped is only freeing memory that the
    exiting process hands back whole (files are closed by then: outputs are written and
    renamed inside ``main``). Not part of ``main``, which tests and notebooks call in-process.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run_and_exit()
