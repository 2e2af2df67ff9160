"""The workbench's commands: ``serve``, ``users add|list|disable``, ``pack``, ``decisions export``,
and ``audit decisions``. Each parses, calls one library function and prints; a mistake a user
can make (bad name, role, database, case, folder) is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import logging
import sys
from pathlib import Path

EXIT_OK, EXIT_UNUSABLE = 0, 2
DB_HELP = "database URL (default $STALKRISK_DB or sqlite:///workbench.db; a plain path means a SQLite file)"


def _one_line_errors(name: str):
    """Turn the workbench's user errors into ``stalkrisk NAME: message`` and exit status 2."""
    def wrap(func):
        @functools.wraps(func)
        def run(args) -> int:
            from stalkrisk.workbench import WorkbenchError

            try:
                return func(args)
            except WorkbenchError as exc:
                print(f"stalkrisk {name}: {exc}", file=sys.stderr)
                return EXIT_UNUSABLE
        return run
    return wrap


@_one_line_errors("serve")
def cmd_serve(args) -> int:
    from werkzeug.serving import make_server

    from stalkrisk.workbench.app import count_users, create_app
    from stalkrisk.workbench.db import open_database

    if not args.verbose:  # Werkzeug's access log names cases: only with -v
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    db = open_database(args.db)
    app = create_app(args.results, db, secure_cookies=args.secure_cookies)
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        print(f"stalkrisk serve: {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(f"review workbench on http://{args.host}:{server.server_port}/  (database {db.url}; Ctrl-C stops it)")
    if count_users(db) == 0:
        print("no accounts yet: add one with `stalkrisk users add NAME --role reviewer --force CODE "
              f"--db {db.url} --password-stdin`")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        from stalkrisk.workbench import WorkbenchError

        raise WorkbenchError("the two passwords differ")
    return first


@_one_line_errors("users add")
def cmd_users_add(args) -> int:
    from stalkrisk.workbench.accounts import add_user, check_new_user
    from stalkrisk.workbench.db import open_database

    password = _password(args)
    check_new_user(args.name, args.role, args.force or [], password)  # before touching the database
    account = add_user(open_database(args.db), args.name, args.role, args.force or [], password)
    forces = ", ".join(account.forces) or "all forces (read only)"
    print(f"added {account.username}: {account.role}, {forces}")
    return EXIT_OK


@_one_line_errors("users list")
def cmd_users_list(args) -> int:
    from stalkrisk.workbench.accounts import list_users
    from stalkrisk.workbench.db import open_database

    users = list_users(open_database(args.db))
    print(f"{'user':<24}{'role':<12}{'state':<10}forces")
    for u in users:
        print(f"{u.username:<24}{u.role:<12}{'disabled' if u.disabled else 'active':<10}{', '.join(u.forces) or 'all'}")
    return EXIT_OK


@_one_line_errors("users disable")
def cmd_users_disable(args) -> int:
    from stalkrisk.workbench.accounts import disable_user
    from stalkrisk.workbench.db import open_database

    print(f"disabled {disable_user(open_database(args.db), args.name).username}: signed out at their next request")
    return EXIT_OK


@_one_line_errors("pack")
def cmd_pack(args) -> int:
    from stalkrisk.workbench.pack import write_pack
    from stalkrisk.workbench.results import load_results

    decisions = None
    if args.db:
        from stalkrisk.workbench.db import open_database
        from stalkrisk.workbench.decisions import DECISIONS, case_history
        from stalkrisk.workbench.app import when

        history, _ = case_history(open_database(args.db), args.case_id)
        decisions = [{"when": when(d.decided_at), "reviewer": d.reviewer, "label": DECISIONS[d.decision],
                      "reason": d.reason} for d in history]
    for kind, path in write_pack(load_results(args.results), args.case_id, args.out, decisions=decisions,
                                 pdf=not args.no_pdf).items():
        print(f"{kind}: {path}")
    return EXIT_OK


@_one_line_errors("decisions export")
def cmd_decisions_export(args) -> int:
    from stalkrisk.workbench.db import open_database
    from stalkrisk.workbench.decisions import export_csv

    rows = export_csv(open_database(args.db), args.out)
    print(f"{rows} decisions: {args.out}")
    return EXIT_OK


@_one_line_errors("audit decisions")
def cmd_audit_decisions(args) -> int:
    from stalkrisk.workbench.audit_decisions import audit_decisions, format_audit
    from stalkrisk.workbench.db import open_database
    from stalkrisk.workbench.decisions import decisions_frame

    print(format_audit(audit_decisions(decisions_frame(open_database(args.db)))))
    return EXIT_OK


def add_workbench_commands(sub) -> None:
    """Add ``serve``, ``users``, ``pack`` and ``decisions`` to the top-level sub-parsers."""
    def add(parent, name: str, func, help: str) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add(sub, "serve", cmd_serve, "run the review workbench: sign in, decide on flagged cases, get the application pack")
    p.add_argument("results", type=Path, help="a scoring output folder (with audit.json)")
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--secure-cookies", action="store_true", help="send the session cookie over HTTPS only "
                   "(set this behind a TLS proxy)")

    text = "workbench accounts: add, list, disable"
    users = sub.add_parser("users", help=text, description=text)
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    p = add(users_sub, "add", cmd_users_add, "add an account (password from a prompt, or from stdin)")
    p.add_argument("name", help="user name (letters, digits, . _ @ -)")
    p.add_argument("--role", required=True, choices=("reviewer", "supervisor", "auditor"),
                   help="reviewer: one force; supervisor: one or more forces; auditor: reads all, decides nothing")
    p.add_argument("--force", action="append", metavar="CODE", help="force code (repeat for a supervisor's forces)")
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p = add(users_sub, "list", cmd_users_list, "list accounts, their roles, forces and state")
    p.add_argument("--db", help=DB_HELP)
    p = add(users_sub, "disable", cmd_users_disable, "disable an account (it is kept: decisions name it)")
    p.add_argument("name")
    p.add_argument("--db", help=DB_HELP)

    p = add(sub, "pack", cmd_pack, "write a case's SPO application pack (HTML, and PDF where Chromium is installed)")
    p.add_argument("results", type=Path, help="a scoring output folder (with audit.json)")
    p.add_argument("--case-id", required=True)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--db", help="also list the decisions recorded in this workbench database")
    p.add_argument("--no-pdf", action="store_true", help="HTML only")

    text = "the workbench's decisions: export"
    decisions = sub.add_parser("decisions", help=text, description=text)
    dsub = decisions.add_subparsers(dest="decisions_command", required=True, metavar="ACTION")
    p = add(dsub, "export", cmd_decisions_export, "export every decision and outcome as CSV (formulas neutralised)")
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--out", type=Path, required=True, help="output .csv file")


def add_audit_decisions(checks) -> None:
    """Add ``audit decisions`` to the ``audit`` sub-parsers."""
    text = ("reviewers' decisions by queue, force and band; override rates and reasons; time to decision; "
            "signs of automation bias")
    p = checks.add_parser("decisions", help=text, description=text)
    p.set_defaults(func=cmd_audit_decisions)
    p.add_argument("--db", help=DB_HELP)
