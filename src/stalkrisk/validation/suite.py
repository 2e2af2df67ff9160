"""Validate the normalised tables: every failing row named, bad cases quarantined.

Why: a screening tool must never drop a case silently nor score one built on bad
data. The rules a force can read and extend live as Great Expectations suites in
``expectations/*.json`` (plus any ``expectations/local/*.json``); the rules GX
cannot run, or runs slowly, are checked in Python and declared in
``PYTHON_CHECKS`` so a test can account for every rule of the contract.

A case is quarantined when its own row breaks a rule or any of its events does;
every row of a duplicated ``case_id`` is quarantined. An event whose ``case_id``
names no case is reported (rule ``case_id_names_a_case``) and quarantines nothing.
A GX failure on a cell the reader already reported (an unparseable date that
became missing, say) is not reported twice.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stalkrisk.data import contract

from stalkrisk.data import ids

from stalkrisk.data import readers
from stalkrisk.paths import EXPECTATIONS_DIR
from stalkrisk.data.readers import LINE, InputError, ReadResult
from stalkrisk.validation.runner import (  # noqa: F401  (suite's callers name these here too)
    FAILURE_COLUMNS,
    MEMO_LIMIT,
    RULE_NAMES_A_CASE,
    SuiteFile,
    SuiteRunner,
    _FAILURE_DTYPES,
    _empty_failures,
    _messages,
    run_suites,
)

log = logging.getLogger(__name__)

DEFAULT_EXPECTATIONS_DIR = EXPECTATIONS_DIR
MAX_REASONS_PER_CASE = 10


@dataclass(frozen=True)
class PythonCheck:
    """A contract rule checked in Python rather than by a GX suite."""

    rule: str
    table: str
    columns: tuple[str, ...]
    where: str
    why: str


#: Every contract rule not in the suites. Declared by hand, not derived from the
#: contract, so tests/test_expectations_in_step.py can check the two agree.
PYTHON_CHECKS: tuple[PythonCheck, ...] = (
    PythonCheck(readers.RULE_DATE, "cases", ("assessment_date",), "readers",
                "parsing happens while normalising"),
    PythonCheck(readers.RULE_DATE_RANGE, "cases", ("assessment_date",), "readers",
                "GX datetime ranges are very slow"),
    PythonCheck(readers.RULE_DATE, "cases", ("separation_date",), "readers",
                "parsing happens while normalising"),
    PythonCheck(readers.RULE_DATE_RANGE, "cases", ("separation_date",), "readers",
                "GX datetime ranges are very slow"),
    PythonCheck(readers.RULE_INTEGER, "cases",
                ("victim_age", "suspect_age", "suspect_prior_stalking", "suspect_prior_violence"),
                "readers", "parsing happens while normalising"),
    PythonCheck(readers.RULE_BOOLEAN, "cases",
                ("suspect_prior_domestic_abuse", "suspect_substance_misuse",
                 "protective_order_in_force", "label", "suspect_mental_health_concern",
                 "suspect_weapon_access"),
                "readers", "parsing happens while normalising"),
    PythonCheck(readers.RULE_TIMESTAMP, "events", ("event_time", "recorded_at"), "readers",
                "parsing (UK local time, offsets) happens while normalising"),
    PythonCheck(readers.RULE_DATE_RANGE, "events", ("event_time", "recorded_at"), "readers",
                "GX datetime ranges are very slow"),
    PythonCheck(RULE_NAMES_A_CASE, "events", ("case_id",), "validation",
                "a cross-table rule: vectorised isin"),
    PythonCheck(readers.RULE_DATE, "orders", ("made_on", "expires_on"), "readers",
                "parsing happens while normalising"),
    PythonCheck(readers.RULE_DATE_RANGE, "orders", ("made_on", "expires_on", "recorded_at"), "readers",
                "GX datetime ranges are very slow"),
    PythonCheck(readers.RULE_TIMESTAMP, "orders", ("recorded_at",), "readers",
                "parsing (UK local time, offsets) happens while normalising"),
    PythonCheck(contract.RULE_ORDER_NAMES_SOMEONE, "orders", ("case_id",), "validation.orders",
                "a rule across two columns (case_id or suspect_id)"),
    PythonCheck(contract.RULE_EXPIRES_AFTER_MADE, "orders", ("expires_on",), "validation.orders",
                "a rule across two columns (expires_on, made_on)"),
    PythonCheck(readers.RULE_DATE, "history", ("offence_date",), "readers",
                "parsing happens while normalising"),
    PythonCheck(readers.RULE_DATE_RANGE, "history", ("offence_date", "recorded_at"), "readers",
                "GX datetime ranges are very slow"),
    PythonCheck(readers.RULE_TIMESTAMP, "history", ("recorded_at",), "readers",
                "parsing (UK local time, offsets) happens while normalising"),
)


@dataclass
class ValidationResult:
    """Validated tables, every failure, and the quarantined cases.

    ``cases_all`` holds every input case row in input order; ``cases`` the valid
    ones; ``events`` the events of valid cases that break no rule.
    """

    cases_all: pd.DataFrame
    cases: pd.DataFrame
    events: pd.DataFrame
    failures: pd.DataFrame
    quarantine: pd.DataFrame
    orphan_events: int
    counts: dict[str, int]
    inputs: dict[str, dict] = field(default_factory=dict)
    #: Rows that are reported but quarantine nothing (a case's protective_order_in_force that
    #: disagrees with the orders table), in the failures' columns.
    warnings: pd.DataFrame = field(default_factory=lambda: _empty_failures())
    #: The orders rows that break no rule, when an orders table was applied (the queue reads them).
    orders: pd.DataFrame | None = None


#: A folder of a force's own suites, run after the packaged ones (an installed package is no place
#: to keep them).
LOCAL_SUITES_ENV = "STALKRISK_LOCAL_EXPECTATIONS"


def load_suites(expectations_dir: str | Path | None = None) -> list[SuiteFile]:
    """The suites in ``expectations_dir`` (``cases.json``, ``events.json``) and ``local/``, and for
    the packaged suites also those in the folder ``$STALKRISK_LOCAL_EXPECTATIONS`` names.

    A suite names its table by ``meta.table``; failing that, by its file name
    starting with ``cases`` or ``events``.
    """
    root = Path(expectations_dir) if expectations_dir is not None else DEFAULT_EXPECTATIONS_DIR
    if not root.is_dir():
        raise InputError(root, "expectations folder not found")
    for name in contract.MAIN_TABLES:
        if not (root / f"{name}.json").is_file():
            raise InputError(root / f"{name}.json", "expectation suite not found")
    local = [root / "local"]
    if expectations_dir is None and os.environ.get(LOCAL_SUITES_ENV):
        local.append(Path(os.environ[LOCAL_SUITES_ENV]))
    for folder in local[1:]:
        if not folder.is_dir():
            raise InputError(folder, f"the folder {LOCAL_SUITES_ENV} names does not exist")
    files = sorted(root.glob("*.json")) + [p for folder in local for p in sorted(folder.glob("*.json"))]
    return [_load_suite(p) for p in files]


def validate(
    cases: ReadResult | pd.DataFrame,
    events: ReadResult | pd.DataFrame,
    *,
    expectations_dir: str | Path | None = None,
    runner: SuiteRunner | None = None,
    context: dict[str, pd.DataFrame] | None = None,
) -> ValidationResult:
    """Run every rule over both tables; quarantine the cases that break one.

    ``runner`` reuses suites already built (a chunked run builds them once).
    ``context`` holds normalised rows from elsewhere in the same files (other
    chunks) that rules across rows, such as uniqueness, must see; they are
    validated alongside, but only this chunk's own rows are reported.
    """
    cases_r = _as_read(cases, contract.CASES)
    events_r = _as_read(events, contract.EVENTS)
    found = judge(cases_r, events_r, expectations_dir=expectations_dir, runner=runner, context=context)
    return found.apply(cases_r, events_r)


@dataclass
class Verdict:
    """What validation found, without the tables: small when the data are sound, so a
    child process can send it back (``stalkrisk._runtime.forked``). ``apply`` gives the result."""

    failures: pd.DataFrame
    quarantine: pd.DataFrame
    bad_case: np.ndarray  # per case row
    event_ok: np.ndarray  # per event row: it breaks no rule and names a usable case
    orphan_events: int
    counts: dict[str, int]

    @property
    def clean(self) -> bool:
        """Every case and every event is usable: the validated tables are the tables read."""
        return not self.bad_case.any() and bool(self.event_ok.all())

    def apply(self, cases: ReadResult, events: ReadResult) -> ValidationResult:
        """The validated tables of ``cases`` and ``events``, the tables this verdict judged."""
        cases_all, ev = cases.frame, events.frame
        return ValidationResult(
            cases_all=cases_all,
            cases=cases_all.loc[~self.bad_case].reset_index(drop=True),
            events=ev.loc[self.event_ok].reset_index(drop=True),
            failures=self.failures,
            quarantine=self.quarantine,
            orphan_events=self.orphan_events,
            counts=self.counts,
            inputs={r.table: {"path": None if r.path is None else str(r.path), "sha256": r.sha256,
                              "rows": len(r.frame)} for r in (cases, events)},
        )


def judge(
    cases_r: ReadResult,
    events_r: ReadResult,
    *,
    expectations_dir: str | Path | None = None,
    runner: SuiteRunner | None = None,
    context: dict[str, pd.DataFrame] | None = None,
) -> Verdict:
    """Every rule over both normalised tables (see ``validate``), as a ``Verdict``."""
    runner = runner or SuiteRunner(load_suites(expectations_dir))
    cases_all, ev = cases_r.frame, events_r.frame

    frames = {"cases": cases_all, "events": ev}
    ghost_lines: dict[str, np.ndarray] = {}
    for table, extra in (context or {}).items():
        extra = extra.loc[~extra[LINE].isin(frames[table][LINE])]
        if len(extra):
            ghost_lines[table] = extra[LINE].to_numpy()
            frames[table] = pd.concat([frames[table], extra], ignore_index=True)
    case_row = ids.row_of(ev["case_id"], cases_all["case_id"])
    # Rows naming a case hold one of the cases' ids, all of which GX will have judged.
    same = {} if ghost_lines else {("events", "case_id"): (("cases", "case_id"), case_row >= 0)}
    gx_failures = runner.run(frames, same_values=same)
    for table, lines in ghost_lines.items():
        gx_failures = gx_failures.loc[~(gx_failures["table"].eq(table) & gx_failures["line"].isin(lines))]
    reader_failures = pd.concat([cases_r.problems, events_r.problems], ignore_index=True)
    reader_failures["message"] = _messages(reader_failures)
    gx_failures = _drop_reported(gx_failures, reader_failures)

    orphan = ev["case_id"].notna().to_numpy() & (case_row < 0)
    orphan_rows = ev[[LINE, "case_id"]].iloc[np.flatnonzero(orphan)]  # (a mask's .loc copies all 20M rows' columns)
    orphans = _frame_failures("events", orphan_rows, "case_id", RULE_NAMES_A_CASE, orphan_rows["case_id"])
    orphans["message"] = _messages(orphans)

    failures = pd.concat(
        [f for f in (reader_failures, gx_failures, orphans) if len(f)] or [_empty_failures()],
        ignore_index=True,
    ).astype(_FAILURE_DTYPES)
    failures = sort_failures(failures)

    quarantine, bad_case = _quarantine(cases_all, failures)
    bad_event_lines = failures.loc[failures["table"] == "events", "line"].dropna().unique()
    named_case_ok = case_row >= 0
    if bad_case.any():
        # An id is usable when any case row holding it is (``row_of`` names each id's first row).
        first_row = ids.row_of(cases_all["case_id"], cases_all["case_id"])
        id_usable = np.zeros(len(cases_all), dtype=bool)
        id_usable[first_row[~bad_case & (first_row >= 0)]] = True
        named_case_ok[named_case_ok] = id_usable[case_row[named_case_ok]]
    event_ok = named_case_ok
    if len(bad_event_lines):
        event_ok = named_case_ok & ~ev[LINE].isin(bad_event_lines).to_numpy(dtype=bool)

    counts = {
        "cases": len(cases_all),
        "cases_valid": int((~bad_case).sum()),
        "cases_quarantined": int(bad_case.sum()),
        "events": len(ev),
        "events_valid": int(event_ok.sum()),
        "events_failing": int(len(bad_event_lines)),
        "orphan_events": int(orphan.sum()),
        "failures": len(failures),
    }
    log.info("validated: %s", counts)
    return Verdict(failures=failures, quarantine=quarantine, bad_case=bad_case, event_ok=event_ok,
                   orphan_events=int(orphan.sum()), counts=counts)


def sort_failures(failures: pd.DataFrame) -> pd.DataFrame:
    """Failures by table, line in the file, then the contract's column order."""
    position = {(t, c): i for t, table in contract.TABLES.items() for i, c in enumerate(table.names)}
    failures = failures.assign(
        _col=[position.get((t, c), len(position)) for t, c in zip(failures["table"], failures["column"])])
    failures = failures.sort_values(["table", "line", "_col"], kind="stable", na_position="last")
    return failures.drop(columns="_col").reset_index(drop=True)


def load_and_validate(
    cases_path: str | Path, events_path: str | Path, *, expectations_dir: str | Path | None = None,
    orders_path: str | Path | None = None, history_path: str | Path | None = None,
) -> ValidationResult:
    """Read both files (and the orders and the history, when given), then validate; the result keeps
    their paths and SHA-256."""
    runner = SuiteRunner(load_suites(expectations_dir))
    result = validate(readers.read_cases(cases_path), readers.read_events(events_path), runner=runner)
    return apply_tables(result, runner, orders=orders_path, history=history_path)


def apply_tables(result: ValidationResult, runner: SuiteRunner, *, orders: str | Path | None = None,
                 history: str | Path | None = None) -> ValidationResult:
    """``result`` with the optional tables read, judged and applied (orders, then history)."""
    from stalkrisk.validation import history as history_mod, orders as orders_mod

    for name, path, module, apply in (("orders", orders, orders_mod, orders_mod.apply_orders),
                                      ("history", history, history_mod, history_mod.apply_history)):
        if path is None:
            continue
        check = module.read_and_check(path, runner)
        result = apply(result, check)
        result.failures = sort_failures(pd.concat([result.failures, check.failures], ignore_index=True))
        result.inputs[name] = {"path": str(check.path), "sha256": check.sha256, "rows": check.rows}
        if name == "orders":
            result.orders = check.orders
    return result


def write_report(result: ValidationResult, path: str | Path) -> Path:
    """Write the JSON report (inputs, counts, every failure, quarantine) atomically."""
    path = Path(path)
    report = {
        "inputs": result.inputs,
        "counts": result.counts,
        "failures": _records(result.failures),
        "warnings": _records(result.warnings),
        "quarantine": _records(result.quarantine),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def summarise(result: ValidationResult, examples: int = 3) -> str:
    """A short plain-text summary for the CLI: per rule, failing rows and examples."""
    c = result.counts
    lines = [
        f"cases: {c['cases']} rows, {c['cases_valid']} valid, {c['cases_quarantined']} quarantined",
        f"events: {c['events']} rows, {c['events_valid']} used, {c['events_failing']} failing, "
        f"{c['orphan_events']} naming no case",
    ]
    if "orders" in result.inputs:
        lines.append(f"orders: {result.inputs['orders']['rows']} rows, "
                     f"{int((result.failures['table'] == 'orders').sum())} failing")
    if "history" in result.inputs:
        lines.append(f"history: {result.inputs['history']['rows']} rows, "
                     f"{int((result.failures['table'] == 'history').sum())} failing")
    if len(result.warnings):
        lines.append(f"warnings: {len(result.warnings)} case row(s) whose protective_order_in_force "
                     f"disagrees with the orders table, e.g. {result.warnings['message'].iloc[0]}")
    if result.failures.empty:
        lines.append("no rule failed")
        return "\n".join(lines)
    lines.append("failing rows by rule:")
    grouped = result.failures.groupby(["table", "column", "rule"], sort=False, dropna=False)
    for (table, column, rule), g in grouped:
        rows = g["line"].nunique(dropna=False)
        shown = [v for v in g["value"].dropna().unique()[:examples]]
        eg = f", e.g. {', '.join(repr(str(v)) for v in shown)}" if shown else ""
        lines.append(f"  {table}.{column} {rule}: {rows} row{'s' if rows != 1 else ''}{eg}")
    return "\n".join(lines)


# --- internals ----------------------------------------------------------------


def _as_read(x: ReadResult | pd.DataFrame, table: contract.Table) -> ReadResult:
    if isinstance(x, ReadResult):
        return x
    return readers.normalise(x, table)


def _load_suite(path: Path) -> SuiteFile:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, f"cannot be read as a JSON suite ({type(e).__name__})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("expectations"), list):
        raise InputError(path, "not an expectation suite (no 'expectations' list)")
    table = (spec.get("meta") or {}).get("table")
    if table is None:
        table = next((t for t in contract.TABLES if path.stem.lower().startswith(t)), None)
    if table not in contract.TABLES:
        raise InputError(path, "suite names no table: set meta.table to 'cases', 'events', 'orders' or 'history'")
    return SuiteFile(table=table, path=path, spec=spec)


def _frame_failures(table: str, rows: pd.DataFrame, column: str, rule: str,
                    values: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({
        "table": table, "line": rows[LINE].to_numpy(), "case_id": rows["case_id"].to_numpy(),
        "column": column, "value": values.to_numpy(), "rule": rule,
    }).astype({k: v for k, v in _FAILURE_DTYPES.items() if k != "message"})


def _drop_reported(gx_failures: pd.DataFrame, reader_failures: pd.DataFrame) -> pd.DataFrame:
    if gx_failures.empty or reader_failures.empty:
        return gx_failures
    key = ["table", "line", "column"]
    seen = reader_failures[key].drop_duplicates().assign(_seen=True)
    merged = gx_failures.merge(seen, on=key, how="left")
    return merged.loc[merged["_seen"].isna(), list(FAILURE_COLUMNS)].reset_index(drop=True)


def _quarantine(cases_all: pd.DataFrame, failures: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per quarantined case row: ``case_id``, ``reasons``, ``line``."""
    reason = failures["table"] + " line " + failures["line"].astype("str") + ": " + failures["message"]
    own = failures["table"].eq("cases") & failures["line"].notna()
    by_line = _join_reasons(reason[own], failures.loc[own, "line"])
    of_event = (failures["table"].eq("events") & failures["rule"].ne(RULE_NAMES_A_CASE)
                & failures["case_id"].notna())
    by_id = _join_reasons(reason[of_event], failures.loc[of_event, "case_id"])

    line_reasons, id_reasons = _reasons_of(cases_all[LINE], by_line), _reasons_of(cases_all["case_id"], by_id)
    bad = (line_reasons.notna() | id_reasons.notna()).to_numpy(dtype=bool)
    own_r, event_r = line_reasons[bad].astype("str"), id_reasons[bad].astype("str")
    reasons = (own_r + "; " + event_r).fillna(own_r).fillna(event_r)
    quarantine = pd.DataFrame({
        "case_id": cases_all.loc[bad, "case_id"].to_numpy(),
        "reasons": np.asarray(reasons, dtype=object),
        "line": cases_all.loc[bad, LINE].to_numpy(),
    }).astype({"case_id": "str", "reasons": "str", "line": "Int64"})
    return quarantine, bad


def _reasons_of(keys: pd.Series, reasons: pd.Series) -> pd.Series:
    """``keys.map(reasons)``; all missing at once when there are none (clean input need not pay
    for a lookup per id)."""
    if reasons.empty:
        return pd.Series(np.nan, index=keys.index, dtype=object)
    return keys.map(reasons)


def _join_reasons(reasons: pd.Series, keys: pd.Series) -> pd.Series:
    if reasons.empty:
        return pd.Series(dtype="str")

    def join(xs: pd.Series) -> str:
        head = list(xs[:MAX_REASONS_PER_CASE])
        more = len(xs) - len(head)
        return "; ".join(head) + (f"; and {more} more" if more else "")

    return reasons.groupby(keys.to_numpy(), sort=False).agg(join)


def _records(frame: pd.DataFrame) -> list[dict]:
    clean = frame.astype(object).where(frame.notna(), None)
    return [{k: (int(v) if isinstance(v, (np.integer,)) else v) for k, v in row.items()}
            for row in clean.to_dict("records")]


