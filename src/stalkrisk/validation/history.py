"""The optional history table (contract v2): its rules, and what it does to the cases.

Mirrors the orders table (``validation.orders``). A history row that breaks a rule is reported
(file, line, column, value, rule) and left out; the cases of the suspect it names are quarantined
with that reason: a screening must not say "no earlier stalking" on the strength of a record it
could not read. A bad row that names no suspect quarantines nothing.

The valid rows rebuild each case's prior counts as of its assessment day
(``features.history_asof.with_history``); the exported count columns stay only where a case names
no suspect.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from stalkrisk.data import contract, readers
from stalkrisk.data.readers import LINE, ReadResult
from stalkrisk.features.history_asof import with_history
from stalkrisk.validation.runner import _FAILURE_DTYPES, _empty_failures, _messages, SuiteRunner


@dataclass
class HistoryCheck:
    """The history read and judged: the usable rows, every failure, and whom the bad rows name."""

    history: pd.DataFrame  # the rows that break no rule
    failures: pd.DataFrame  # FAILURE_COLUMNS, table "history"
    reasons: dict  # suspect_id -> "history line N: message; ..."
    path: Path | None = None
    sha256: str | None = None
    rows: int = 0


def check_history(read: ReadResult, runner: SuiteRunner) -> HistoryCheck:
    """Every rule of the history table over ``read`` (normalised), with the suites of ``runner``."""
    frame = read.frame
    gx = runner.run({"history": frame})
    reader = read.problems
    if len(reader) and len(gx):  # a cell the reader reported (an unparseable date) is not reported twice
        seen = set(zip(reader["line"], reader["column"]))
        gx = gx.loc[[(ln, c) not in seen for ln, c in zip(gx["line"], gx["column"])]]
    parts = [p for p in (reader, gx) if len(p)]
    failures = pd.concat(parts, ignore_index=True) if parts else _empty_failures()
    failures = failures.drop(columns="message", errors="ignore")
    failures["message"] = _messages(failures)
    failures = failures.astype(_FAILURE_DTYPES).sort_values(["line", "column"], kind="stable").reset_index(drop=True)
    bad = frame[LINE].isin(failures["line"]).to_numpy(dtype=bool)
    suspect_of_line = pd.Series(frame["suspect_id"].astype(object).to_numpy(), index=frame[LINE].to_numpy())
    reasons: dict = {}
    for line, message in zip(failures["line"], failures["message"]):
        suspect = suspect_of_line.get(line)
        if suspect is None or pd.isna(suspect):
            continue
        text = f"history line {line}: {message}"
        reasons[suspect] = text if suspect not in reasons else f"{reasons[suspect]}; {text}"
    return HistoryCheck(history=frame.loc[~bad].reset_index(drop=True), failures=failures, reasons=reasons,
                        path=read.path, sha256=read.sha256, rows=len(frame))


def read_and_check(path: str | Path, runner: SuiteRunner) -> HistoryCheck:
    return check_history(readers.read_table(path, contract.HISTORY), runner)


def apply_history(result, check: HistoryCheck | None):
    """``result`` (a ``ValidationResult``) with the history applied: the cases of a suspect named by a
    bad history row quarantined, and the prior counts of the others rebuilt as of each assessment day."""
    if check is None:
        return result
    cases = result.cases
    suspects = cases["suspect_id"].astype(object) if "suspect_id" in cases else pd.Series(None, index=cases.index,
                                                                                         dtype=object)
    named = suspects.isin(list(check.reasons)).to_numpy(dtype=bool)
    quarantine, counts = result.quarantine, dict(result.counts)
    if named.any():
        hit = cases.loc[named]
        extra = pd.DataFrame({"case_id": hit["case_id"].to_numpy(), "reasons": [check.reasons[s] for s in suspects[named]],
                              "line": hit[LINE].to_numpy()})
        quarantine = pd.concat([quarantine, extra.astype(quarantine.dtypes.to_dict())], ignore_index=True)
        gone = set(hit["case_id"])
        cases = cases.loc[~named].reset_index(drop=True)
        result = replace(result, events=result.events.loc[~result.events["case_id"].isin(gone)].reset_index(drop=True))
        counts["cases_quarantined"] = counts.get("cases_quarantined", 0) + int(named.sum())
    counts["cases_valid"] = len(cases)
    return replace(result, cases=with_history(cases, check.history), quarantine=quarantine, counts=counts)
