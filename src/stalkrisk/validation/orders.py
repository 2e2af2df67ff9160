"""The optional orders table (contract v2): its rules, and what it does to the cases.

An orders row that breaks a rule is reported (line, column, value, rule) and left out; the
cases it names (by ``case_id``, or by ``suspect_id``) are quarantined with that reason, as a
bad event quarantines its case: a screening must not say "no SPO in force" on the strength of
an order it could not read. A row naming no case and no suspect quarantines nothing.

The orders in force as of each assessment day (``features.orders_asof``) fill a case's
``protective_order_in_force`` where the case row leaves it empty. Where the case row says
otherwise than the orders, the row is kept as it is and the disagreement is reported as a
warning (rule ``protective_order_agrees_with_orders``): never silently overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from stalkrisk.data import contract, readers
from stalkrisk.data.readers import LINE, ReadResult
from stalkrisk.features.orders_asof import orders_as_of
from stalkrisk.validation.runner import _FAILURE_DTYPES, _empty_failures, _messages, SuiteRunner

RULE_AGREES = "protective_order_agrees_with_orders"
MESSAGES = {
    contract.RULE_ORDER_NAMES_SOMEONE: "the order names no case_id and no suspect_id",
    contract.RULE_EXPIRES_AFTER_MADE: "expires_on '{value}' is before made_on",
    RULE_AGREES: "protective_order_in_force '{value}' disagrees with the orders table ({detail})",
}


@dataclass
class OrdersCheck:
    """The orders read and judged: the usable rows, every failure, and whom the bad rows name."""

    orders: pd.DataFrame  # the rows that break no rule
    failures: pd.DataFrame  # FAILURE_COLUMNS, table "orders"
    bad_case_ids: frozenset
    bad_suspect_ids: frozenset
    reasons: dict  # case_id or ("suspect", id) -> "orders line N: message; ..."
    path: Path | None = None
    sha256: str | None = None
    rows: int = 0


def _rows_failing(frame: pd.DataFrame, mask: np.ndarray, column: str, rule: str) -> pd.DataFrame:
    rows = frame.loc[mask]
    value = rows[column].astype(object).where(rows[column].notna(), None)
    value = value.map(lambda v: None if v is None else (str(v.date()) if hasattr(v, "date") else str(v)))
    return pd.DataFrame({"table": "orders", "line": rows[LINE].to_numpy(), "case_id": rows["case_id"].to_numpy(),
                         "column": column, "value": value.to_numpy(dtype=object), "rule": rule})


def check_orders(read: ReadResult, runner: SuiteRunner) -> OrdersCheck:
    """Every rule of the orders table over ``read`` (normalised), with the suites of ``runner``."""
    frame = read.frame
    no_one = (frame["case_id"].isna() & frame["suspect_id"].isna()).to_numpy(dtype=bool)
    backwards = (frame["expires_on"].notna() & frame["made_on"].notna()
                 & (frame["expires_on"] < frame["made_on"])).to_numpy(dtype=bool)
    own = pd.concat([_rows_failing(frame, no_one, "case_id", contract.RULE_ORDER_NAMES_SOMEONE),
                     _rows_failing(frame, backwards, "expires_on", contract.RULE_EXPIRES_AFTER_MADE)],
                    ignore_index=True)
    gx = runner.run({"orders": frame})
    reader = read.problems
    if len(reader) and len(gx):
        seen = set(zip(reader["line"], reader["column"]))
        gx = gx.loc[[(ln, c) not in seen for ln, c in zip(gx["line"], gx["column"])]]
    parts = [p for p in (reader, gx, own) if len(p)]
    failures = pd.concat(parts, ignore_index=True) if parts else _empty_failures()
    failures = failures.drop(columns="message", errors="ignore")
    failures["message"] = [MESSAGES[r].format(value=v) if r in MESSAGES else m for r, v, m in
                           zip(failures["rule"], failures["value"], _messages(failures))]
    failures = failures.astype(_FAILURE_DTYPES).sort_values(["line", "column"], kind="stable")
    failures = failures.reset_index(drop=True)
    bad = frame[LINE].isin(failures["line"]).to_numpy(dtype=bool)
    reasons: dict = {}
    for line, message in zip(failures["line"], failures["message"]):
        row = frame.loc[frame[LINE] == line].iloc[0]
        for key in ([row["case_id"]] if pd.notna(row["case_id"]) else []) + \
                   ([("suspect", row["suspect_id"])] if pd.notna(row["suspect_id"]) else []):
            text = f"orders line {line}: {message}"
            reasons[key] = text if key not in reasons else f"{reasons[key]}; {text}"
    return OrdersCheck(
        orders=frame.loc[~bad].reset_index(drop=True), failures=failures,
        bad_case_ids=frozenset(frame.loc[bad, "case_id"].dropna()),
        bad_suspect_ids=frozenset(frame.loc[bad, "suspect_id"].dropna()),
        reasons=reasons, path=read.path, sha256=read.sha256, rows=len(frame))


def read_and_check(path: str | Path, runner: SuiteRunner) -> OrdersCheck:
    return check_orders(readers.read_table(path, contract.ORDERS), runner)


def disagreements(cases: pd.DataFrame, state: pd.DataFrame) -> pd.DataFrame:
    """Warning rows where a case's ``protective_order_in_force`` says otherwise than its orders."""
    given = cases["protective_order_in_force"].astype("boolean").reset_index(drop=True)
    derived = state["order_in_force"].astype("boolean").reset_index(drop=True)
    differ = (given.notna() & derived.notna() & (given != derived)).fillna(False).to_numpy(dtype=bool)
    rows = cases.loc[differ]
    derived = derived.to_numpy(dtype=bool, na_value=False)
    detail = np.where(derived[differ],
                      "orders in force: " + state["orders_in_force"].to_numpy(dtype=object)[differ].astype(str),
                      "no order in force on the assessment date")
    out = pd.DataFrame({"table": "cases", "line": rows[LINE].to_numpy(), "case_id": rows["case_id"].to_numpy(),
                        "column": "protective_order_in_force",
                        "value": np.where(given[differ].to_numpy(dtype=bool, na_value=False), "true", "false"),
                        "rule": RULE_AGREES})
    out["message"] = [MESSAGES[RULE_AGREES].format(value=v, detail=d) for v, d in zip(out["value"], detail)]
    return out.astype(_FAILURE_DTYPES) if len(out) else _empty_failures()


def apply_orders(result, check: OrdersCheck | None):
    """``result`` (a ``ValidationResult``) with the orders applied: cases named by a bad orders
    row quarantined, ``protective_order_in_force`` filled from the orders where empty, and the
    disagreements among the valid cases added to ``warnings``."""
    if check is None:
        return result
    cases = result.cases
    suspects = cases["suspect_id"] if "suspect_id" in cases else pd.Series(None, index=cases.index, dtype=object)
    named = (cases["case_id"].isin(check.bad_case_ids) | suspects.isin(check.bad_suspect_ids)).to_numpy(dtype=bool)
    quarantine = result.quarantine
    if named.any():
        hit = cases.loc[named]
        # An orders row naming a case and its suspect reaches the case both ways: say it once.
        why = ["; ".join(dict.fromkeys(part for r in (check.reasons.get(c), check.reasons.get(("suspect", s))) if r
                                       for part in r.split("; ")))
               for c, s in zip(hit["case_id"], suspects[named])]
        extra = pd.DataFrame({"case_id": hit["case_id"].to_numpy(), "reasons": why, "line": hit[LINE].to_numpy()})
        quarantine = pd.concat([quarantine, extra.astype(quarantine.dtypes.to_dict())], ignore_index=True)
        gone = set(hit["case_id"])
        cases = cases.loc[~named].reset_index(drop=True)
        result = replace(result, events=result.events.loc[~result.events["case_id"].isin(gone)].reset_index(drop=True))
    state = orders_as_of(cases, check.orders)
    warnings = disagreements(cases, state)
    filled = cases["protective_order_in_force"].astype("boolean").fillna(state["order_in_force"])
    cases = cases.assign(protective_order_in_force=filled.to_numpy())
    cases["protective_order_in_force"] = cases["protective_order_in_force"].astype("boolean")
    counts = {**result.counts, "cases_valid": len(cases),
              "cases_quarantined": result.counts.get("cases_quarantined", 0) + int(named.sum())}
    both = [w for w in (result.warnings, warnings) if len(w)]
    return replace(result, cases=cases, quarantine=quarantine, counts=counts,
                   warnings=pd.concat(both, ignore_index=True) if both else _empty_failures())
