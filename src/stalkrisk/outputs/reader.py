"""Reading a scoring output folder back: its record and its tables, as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from stalkrisk.errors import AuditError
from stalkrisk.outputs.schema import AUDIT_FILE


def read_audit_record(out_dir: str | Path) -> dict[str, Any]:
    """``DIR/audit.json`` as a dict; a clear error when the run never finished."""
    path = Path(out_dir) / AUDIT_FILE
    if not Path(out_dir).is_dir():
        raise AuditError(f"{out_dir}: not a folder (give the --out folder of `stalkrisk score`)")
    if not path.is_file():
        raise AuditError(
            f"{path}: no audit.json — the scoring run did not finish (interrupted?) or this is not a "
            "scoring output folder; re-run `stalkrisk score`"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuditError(f"{path}: cannot read the audit record ({exc})") from None
    for key in ("model", "inputs", "config", "outputs"):
        if key not in record:
            raise AuditError(f"{path}: the audit record lacks its '{key}' section")
    return record


def read_output(path: Path) -> pd.DataFrame:
    """An output table as written: Parquet as typed, CSV as exact text."""
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_parquet(path)


def read_complete_run(out_dir: str | Path) -> dict[str, Any]:
    """The audit record of a finished scoring run whose output files are all there.

    A run is complete when ``audit.json`` (written last) exists and every table it names exists:
    a folder whose tables were moved or deleted since is no ground to compare a new run with.
    """
    record = read_audit_record(out_dir)
    if record.get("command", "score") != "score":
        raise AuditError(f"{Path(out_dir) / AUDIT_FILE}: records a '{record.get('command')}' run, not a scoring run")
    missing = [name for name in record["outputs"] if not (Path(out_dir) / name).is_file()]
    if missing or "scores.parquet" not in record["outputs"]:
        gone = ", ".join(missing) or "scores.parquet"
        raise AuditError(f"{out_dir}: not a complete scoring run ({gone} named by audit.json is missing)")
    return record


def read_scored(out_dir: str | Path) -> pd.DataFrame:
    """The scored cases of a run: ``case_id``, ``score``, ``risk_band``, ``queue`` (input order).

    A run written before the queue existed has no ``queue`` column: its flag was its queue.
    """
    path = Path(out_dir) / "scores.parquet"
    names = set(pq.read_schema(path).names)
    columns = ["case_id", "status", "score", "risk_band", "consider_spo"] + (["queue"] if "queue" in names else [])
    frame = pq.read_table(path, columns=columns).to_pandas()
    frame = frame.loc[frame["status"].eq("scored").to_numpy()]
    if "queue" not in frame:
        frame["queue"] = frame["consider_spo"].fillna(False).astype(bool).map({True: "consider_spo", False: ""})
    return frame.drop(columns=["status", "consider_spo"]).reset_index(drop=True).assign(
        queue=lambda f: f["queue"].fillna("").astype(str))


def read_contributions(out_dir: str | Path, outcome: str = "risk") -> pd.DataFrame:
    """One row per explained case: ``base_value``, then one column per feature of the run's model, in
    calibrated log-odds, indexed by ``case_id`` in the file's order; per row they add up to the logit
    of the case's score.

    The one reader of ``explanations.parquet``'s layout for comparisons (``--previous``): the long
    table (one row per case and feature) is read here into the wide shape, so that when the file
    itself becomes wide only this function changes. Each value is placed by its (case, feature)
    codes, so the row order of the file does not matter.
    """
    if outcome != "risk":
        raise AuditError(f"{out_dir}: explanations of outcome '{outcome}' are not in this run (only 'risk')")
    path = Path(out_dir) / "explanations.parquet"
    table = pq.read_table(path, columns=["case_id", "feature", "contribution", "base_value"],
                          read_dictionary=["case_id", "feature"]).unify_dictionaries()
    if table.num_rows == 0:
        return pd.DataFrame({"base_value": pd.Series(dtype="float64")}, index=pd.Index([], name="case_id", dtype=object))
    case, feature = (table.column(name).combine_chunks() for name in ("case_id", "feature"))
    case_code = case.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    feature_code = feature.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    # Cases in order of first appearance: the rows of one case are contiguous in files stalkrisk
    # writes, so the starts of runs of equal codes find them without sorting 10^7 rows.
    starts = np.flatnonzero(np.r_[True, case_code[1:] != case_code[:-1]])
    order = pd.unique(case_code[starts])
    row_of = np.full(len(case.dictionary), -1, dtype=np.int64)
    row_of[order] = np.arange(len(order))
    rows = row_of[case_code]
    values = np.zeros((len(order), len(feature.dictionary)))
    values[rows, feature_code] = table.column("contribution").to_numpy()
    base = np.empty(len(order))
    base[rows[starts]] = table.column("base_value").to_numpy()[starts]
    names = feature.dictionary.to_pylist()
    out = pd.DataFrame(values, columns=names, index=pd.Index(case.dictionary.take(order).to_pylist(), name="case_id"))
    out.insert(0, "base_value", base)
    return out
