"""The workbench web application (Flask): sign in, the queue, a case, its decision, its pack.

Security, in one place: passwords are argon2id hashes (``accounts``); the session is a signed
cookie, HttpOnly and SameSite=Strict, whose key is generated once and kept in the database;
every POST carries a ``csrf_token`` (Flask-WTF); failed sign-ins are limited per user name and
address, in the database; every page is autoescaped and served with a Content-Security-Policy
that allows nothing but the workbench's own stylesheet and forms. A case of another force
answers 404, the same as a case that does not exist. Case contents are never logged.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import jinja2
import sqlalchemy as sa
from flask import Flask, abort, flash, g, make_response, redirect, render_template, request, send_file, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from stalkrisk.workbench import WorkbenchError
from stalkrisk.workbench import accounts
from stalkrisk.workbench.db import Database, Setting, open_database
from stalkrisk.workbench.decisions import DECISIONS, OUTCOMES, Shown, case_history, latest_decisions
from stalkrisk.workbench.decisions import record_decision, record_outcome
from stalkrisk.workbench.pack import BEHAVIOURS, CHANNELS, html_to_pdf, chromium, pack_file_stem, render_pack, uk_time
from stalkrisk.workbench.results import QUEUE_TITLES, QUEUES, Results, load_results, shared_reasons

HERE = Path(__file__).parent
PAGE_SIZE = 100
SESSION_HOURS = 10  # a shift, with its overlap
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
#: The pack and the static review pages carry their own inline styles, and nothing else.
DOCUMENT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
                "frame-ancestors 'none'; base-uri 'none'")
PUBLIC = {"login", "static", "favicon"}


def secret_key(db: Database) -> str:
    """The session-signing key: made once per database, kept in it, never in the code.

    Two servers starting at once on one new database (PostgreSQL behind two workers) may both try
    to make it: the second insert fails on the key, and that server reads the first one's.
    """
    try:
        with db.session.begin() as s:
            row = s.get(Setting, "secret_key")
            if row is None:
                row = Setting(key="secret_key", value=secrets.token_hex(32))
                s.add(row)
            return row.value
    except sa.exc.IntegrityError:
        with db.session() as s:
            return s.get(Setting, "secret_key").value


def when(value) -> str:
    return "" if value is None else uk_time(value).strftime("%d %b %Y %H:%M")


def day(text: str | None) -> str:
    """``2021-08-22`` as a UK reader writes it: ``22 Aug 2021``."""
    from datetime import date

    return date.fromisoformat(text).strftime("%d %b %Y") if text else "not available"


def pct(p) -> str:
    """A score as the review pages show it: ``>99%`` rather than a certain-looking ``100%``."""
    from stalkrisk.report.svg import pct as report_pct

    return "–" if p is None or p != p else report_pct(float(p))


def create_app(results: str | Path | Results, db: str | Database | None = None, *,
               secure_cookies: bool = False) -> Flask:
    """The WSGI application over one scoring folder and one database (migrated on open)."""
    database = db if isinstance(db, Database) else open_database(db)
    runs = results if isinstance(results, Results) else load_results(results)
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.config.update(
        SECRET_KEY=secret_key(database),
        SESSION_COOKIE_NAME="stalkrisk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,
        WTF_CSRF_SSL_STRICT=secure_cookies,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.jinja_env.undefined = jinja2.StrictUndefined
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    app.jinja_env.globals.update(DECISIONS=DECISIONS, OUTCOMES=OUTCOMES, QUEUE_TITLES=QUEUE_TITLES, when=when,
                                pct=pct)
    app.extensions["stalkrisk"] = {"db": database, "results": runs}
    CSRFProtect(app)

    @app.before_request
    def signed_in():
        g.account = None
        user_id = session.get("user_id")
        if user_id is not None:
            account = accounts.get_account(database, user_id)
            if account is None or account.disabled:
                session.clear()
            else:
                g.account = account
        if g.account is None and request.endpoint not in PUBLIC:
            return redirect(url_for("login"))

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(CSRFError)
    def bad_csrf(error):
        return render_template("error.html", title="Form expired or not valid",
                               message="The form was missing its security token or the token did not match. "
                                       "Go back, reload the page and try again."), 400

    @app.errorhandler(404)
    def not_found(error):
        return render_template("error.html", title="Not found",
                               message="There is no such page, or it is not one you may see."), 404

    @app.errorhandler(403)
    def forbidden(error):
        return render_template("error.html", title="Not allowed",
                               message="Your role may read cases but not record decisions."), 403

    @app.route("/login", methods=["GET", "POST"])
    def login():
        error, status = None, 200
        if request.method == "POST":
            username = request.form.get("username", "")
            try:
                account = accounts.authenticate(database, username, request.form.get("password", ""),
                                                request.remote_addr or "unknown")
            except accounts.TooManyAttempts:
                account, status = None, 429
                error = (f"Too many failed sign-ins for this name from this computer. Try again in "
                         f"{int(accounts.FAILURE_WINDOW.total_seconds() // 60)} minutes.")
            if account is not None:
                session.clear()
                session.permanent = True
                session["user_id"] = account.id
                return redirect(url_for("queue"))
            if error is None:
                error, status = "The user name or password is not right, or the account is disabled.", 401
        return render_template("login.html", error=error), status

    @app.post("/logout")
    def logout():
        session.clear()
        return redirect(url_for("login"))

    @app.get("/favicon.ico")
    def favicon():
        return "", 204

    @app.get("/")
    def home():
        return redirect(url_for("queue"))

    def scope() -> tuple[str, ...] | None:
        return None if g.account.sees_all_forces else g.account.forces

    def visible(case_id: str):
        row = runs.row(case_id)
        if row is None or not g.account.may_see(str(row["force_code"])):
            abort(404)  # the same answer for another force's case as for no case: nothing leaks
        return row

    @app.get("/queue")
    def queue():
        page = max(request.args.get("page", 1, type=int), 1)
        decided = latest_decisions(database)
        sections = []
        for name in QUEUES:
            rows = runs.queue(name, scope())
            window = slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE)
            shown = rows.iloc[window]
            common, own = shared_reasons(rows["queue_reason"])
            sections.append({
                "name": name, "title": QUEUE_TITLES[name], "total": len(rows),
                "undecided": int((~rows.index.isin(list(decided))).sum()),
                "common": common, "any_own": any(own[window]),
                "first": (page - 1) * PAGE_SIZE + 1, "rows": [
                    {"case_id": r.case_id, "score": pct(r.score), "band": r.risk_band,
                     "force": r.force_code, "own": parts, "reason": r.reason_1 or "",
                     "decision": DECISIONS.get(decided.get(r.case_id, ""), "")}
                    for r, parts in zip(shown.itertuples(index=False), own[window])],
            })
        more = any(s["total"] > page * PAGE_SIZE for s in sections)
        return render_template("queue.html", sections=sections, page=page, more=more, notes=runs.notes,
                               forces=scope())

    def case_page(case_id: str, error: str | None = None, status: int = 200, form=None):
        row = visible(case_id)
        decisions, outcomes = case_history(database, case_id)
        contributions = runs.contributions(case_id) if row["status"] == "scored" else None
        acts = runs.acts(case_id)
        review = runs.folder / "review" / "cases" / (pack_file_stem(case_id).removeprefix("spo-pack-") + ".html")
        return render_template(
            "case.html", row=row, case_id=case_id, error=error, form=form or {},
            assessment_date=day(runs.assessment_date(case_id)), facts=runs.facts(case_id),
            groups=[] if contributions is None else list(contributions.itertuples(index=False)),
            acts=None if acts is None else [
                {"when": when(a.when), "behaviour": BEHAVIOURS.get(a.behaviour, a.behaviour),
                 "channel": CHANNELS.get(a.channel or "", "not recorded")} for a in acts],
            decisions=decisions, outcomes=outcomes, review_page=review.is_file(), domains=runs.domains(case_id),
            may_decide=g.account.may_decide, has_pdf=chromium() is not None,
        ), status

    @app.get("/cases/<case_id>")
    def case(case_id: str):
        return case_page(case_id)

    def shown(row) -> Shown:
        score = row.get("score")
        return Shown(model_name=str(row.get("model_name") or ""), model_version=str(row.get("model_version") or ""),
                     score=None if score != score else float(score), risk_band=str(row.get("risk_band") or ""),
                     queue=str(row["queue"]), queue_reason=str(row["queue_reason"]), threshold=runs.threshold,
                     force_code=str(row["force_code"]), flagged_at=runs.flagged_at,
                     results_sha256=runs.results_sha256)

    @app.post("/cases/<case_id>/decision")
    def decide(case_id: str):
        row = visible(case_id)
        if not g.account.may_decide:
            abort(403)
        form = request.form
        try:
            record_decision(database, case_id, g.account.username, form.get("decision", ""),
                            form.get("reason", ""), form.get("conditions", ""), shown(row))
        except WorkbenchError as exc:
            return case_page(case_id, error=str(exc), status=400, form=form)
        flash("Decision recorded.")
        return redirect(url_for("case", case_id=case_id) + "#history", code=303)

    @app.post("/cases/<case_id>/outcome")
    def outcome(case_id: str):
        row = visible(case_id)
        if not g.account.may_decide:
            abort(403)
        form = request.form
        try:
            record_outcome(database, case_id, g.account.username, form.get("outcome", ""),
                           form.get("outcome_date", ""), form.get("note", ""), str(row["force_code"]))
        except WorkbenchError as exc:
            return case_page(case_id, error=str(exc), status=400, form=form)
        flash("Outcome recorded.")
        return redirect(url_for("case", case_id=case_id) + "#history", code=303)

    def pack_html(case_id: str) -> str:
        decisions, _ = case_history(database, case_id)
        return render_pack(runs, case_id, [
            {"when": when(d.decided_at), "reviewer": d.reviewer, "label": DECISIONS.get(d.decision, d.decision),
             "reason": d.reason} for d in decisions])

    @app.get("/cases/<case_id>/pack")
    def pack(case_id: str):
        visible(case_id)
        response = make_response(pack_html(case_id))
        response.headers["Content-Security-Policy"] = DOCUMENT_CSP
        if request.args.get("download"):
            response.headers["Content-Disposition"] = f'attachment; filename="{pack_file_stem(case_id)}.html"'
        return response

    @app.get("/cases/<case_id>/pack.pdf")
    def pack_pdf(case_id: str):
        visible(case_id)
        executable = chromium()
        if executable is None:
            abort(404)
        import tempfile

        with tempfile.TemporaryDirectory(prefix="stalkrisk-pack-") as tmp:
            html = Path(tmp) / "pack.html"
            html.write_text(pack_html(case_id), encoding="utf-8")
            pdf = html_to_pdf(html, Path(tmp) / "pack.pdf", executable)
            data = pdf.read_bytes()
        response = make_response(data)
        response.headers["Content-Type"] = "application/pdf"
        response.headers["Content-Disposition"] = f'attachment; filename="{pack_file_stem(case_id)}.pdf"'
        return response

    @app.get("/cases/<case_id>/review")
    def review(case_id: str):
        visible(case_id)
        page = runs.folder / "review" / "cases" / (pack_file_stem(case_id).removeprefix("spo-pack-") + ".html")
        if not page.is_file():
            abort(404)
        response = send_file(page, mimetype="text/html")
        response.headers["Content-Security-Policy"] = DOCUMENT_CSP
        return response

    return app


def count_users(db: Database) -> int:
    from stalkrisk.workbench.db import User

    with db.session() as s:
        return int(s.scalar(sa.select(sa.func.count(User.id))) or 0)
