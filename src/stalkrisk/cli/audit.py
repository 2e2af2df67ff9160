"""``stalkrisk audit ...``: the auditor's commands, each a thin shell over one library call.

Each command parses, calls one function of ``stalkrisk.audit.rescore*``, prints, and returns the
exit status: 0 done (or MATCH), 1 a check failed (verify found a difference), 2 the
audit could not start (one clear line, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stalkrisk.text import clip, printable

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def _unusable(args, exc: Exception) -> int:
    """Bad arguments the parser cannot check; library errors reach ``cli.main`` instead."""
    print(f"stalkrisk audit {args.audit_command}: {printable(clip(str(exc), 2000))}", file=sys.stderr)
    return EXIT_UNUSABLE


def cmd_verify(args) -> int:
    from stalkrisk.audit.verify import format_verify, verify

    result = verify(args.dir)
    print(printable(format_verify(result)))
    return EXIT_OK if result.match else EXIT_FAILED


def cmd_case(args) -> int:
    from stalkrisk.audit.case import case_audit, format_case_audit

    audit = case_audit(args.dir, args.case_id)
    print(printable(format_case_audit(audit)))
    if args.html:
        from stalkrisk.audit.pages import render_case_audit, write_page

        print(f"html: {write_page(render_case_audit(audit, args.dir), args.html)}")
    return EXIT_OK


def cmd_fairness(args) -> int:
    from stalkrisk.audit.fairness import fairness_audit, format_fairness

    if args.n_boot is not None and args.n_boot < 0:
        return _unusable(args, ValueError("--n-boot must be 0 or more"))
    audit = fairness_audit(args.model, args.cases, args.events, fairness_config=args.fairness_config,
                           n_boot=args.n_boot, orders=args.orders, history=args.history)
    print(format_fairness(audit))
    if args.out:
        from stalkrisk.audit.pages import render_fairness, write_page

        print(f"report: {write_page(render_fairness(audit), args.out)}")
    return EXIT_OK


def cmd_drift(args) -> int:
    from stalkrisk.audit.drift import drift_audit, format_drift

    audit = drift_audit(args.model, args.cases, args.events, orders=args.orders, history=args.history)
    print(format_drift(audit))
    if args.out:
        from stalkrisk.audit.pages import render_drift, write_page

        print(f"report: {write_page(render_drift(audit), args.out)}")
    return EXIT_OK


def cmd_record(args) -> int:
    from stalkrisk.audit.record import PLACEHOLDER, transparency_record, write_record

    record = transparency_record(args.model, db_url=args.db)
    paths = write_record(record, args.out)
    print(f"transparency record of {record['tier_1']['name']}")
    print(f"fields marked '{PLACEHOLDER}' must be filled in before publication")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return EXIT_OK


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="models:/NAME@ALIAS, models:/NAME/VERSION or an exported model folder")
    p.add_argument("--cases", required=True, type=Path, help="cases table (.csv, .csv.gz or .parquet)")
    p.add_argument("--events", required=True, type=Path, help="events table (.csv, .csv.gz or .parquet)")
    p.add_argument("--orders", type=Path, help="the protective orders table the scoring run was given (the "
                   "queue reads an SPO in force from it)")
    p.add_argument("--history", type=Path, help="the suspects' offence history the scoring run was given "
                   "(prior counts are rebuilt from it as of each assessment day)")


def add_audit_commands(sub) -> None:
    """Add ``audit`` and its sub-commands to the top-level parser's sub-parsers."""
    text = "audit: reproduce a scoring run, explain one case, check fairness and drift, write a transparency record"
    audit = sub.add_parser("audit", help=text, description=text)
    checks = audit.add_subparsers(dest="audit_command", required=True, metavar="CHECK")

    def add(name: str, func, help: str) -> argparse.ArgumentParser:
        p = checks.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("verify", cmd_verify, "re-run a scoring folder from its audit.json and compare every output byte for byte")
    p.add_argument("dir", type=Path, help="a scoring output folder (with audit.json)")

    p = add("case", cmd_case, "one case: every contribution, shap's waterfall, and the smallest set of "
            "reason groups its flag rests on")
    p.add_argument("dir", type=Path, help="a scoring output folder (with audit.json)")
    p.add_argument("--case-id", required=True, help="the case to audit")
    p.add_argument("--html", type=Path, help="also write a self-contained HTML page here")

    p = add("fairness", cmd_fairness, "score a caseload and measure the flag by group, with intervals and a proxy check")
    _inputs(p)
    p.add_argument("--out", type=Path, help="write a self-contained HTML report here")
    p.add_argument("--fairness-config", type=Path, help="groups and tolerances (default: configs/fairness.yaml values)")
    p.add_argument("--n-boot", type=int,
                   help="bootstrap resamples for the 95%% intervals (0: none; default: the config's n_boot, 200)")

    p = add("drift", cmd_drift, "PSI and missing-rate change per feature against the model's training profile")
    _inputs(p)
    p.add_argument("--out", type=Path, help="write a self-contained HTML report here")

    p = add("record", cmd_record, "write an Algorithmic Transparency Recording Standard record (Markdown and JSON)")
    p.add_argument("--model", required=True,
                   help="models:/NAME@ALIAS, models:/NAME/VERSION or an exported model folder")
    p.add_argument("--out", type=Path, default=Path("."), help="output folder (default: the current folder)")
    p.add_argument("--db", help="the workbench's database URL: cite its decision figures under appeals and review")

    from stalkrisk.cli.workbench import add_audit_decisions

    add_audit_decisions(checks)
