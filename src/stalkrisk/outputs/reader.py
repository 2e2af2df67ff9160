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


#: Rows of the long explanations table read at a time: bounds the memory the reading takes.
BATCH_ROWS = 1 << 18


#: Where the explanations are, in a scoring output folder.
EXPLANATIONS_FILE = "explanations.parquet"


def read_contributions(out_dir: str | Path, outcome: str = "risk",
                       case_ids: list[str] | None = None) -> pd.DataFrame:
    """Contributions of ``outcome`` per scored case, indexed by ``case_id``: ``base_value``, then one
    column per feature (calibrated log-odds; the row adds up to the logit of the outcome's score).

    The one way other code reads ``explanations.parquet``. A folder written before the wide table
    (one row per case and feature, ``risk`` only) is read into the same shape.
    """
    path = Path(out_dir) / EXPLANATIONS_FILE
    names = pq.read_schema(path).names
    filters = [("case_id", "in", list(case_ids))] if case_ids is not None else []
    if "outcome" not in names:  # the long form
        if outcome != "risk":
            return pd.DataFrame(columns=["base_value"], index=pd.Index([], name="case_id"), dtype=float)
        if case_ids is None:
            return _read_long(path)
        return _pivot_long(pq.read_table(path, filters=filters).to_pandas())
    table = pq.read_table(path, filters=[("outcome", "=", outcome), *filters])
    frame = table.drop_columns(["outcome"]).to_pandas()
    return frame.set_index("case_id")


def read_outcomes(out_dir: str | Path) -> tuple[str, ...]:
    """The outcomes ``explanations.parquet`` holds, in their row order (``risk`` for the long form)."""
    path = Path(out_dir) / EXPLANATIONS_FILE
    if "outcome" not in pq.read_schema(path).names:
        return ("risk",)
    file = pq.ParquetFile(path)
    if file.metadata.num_rows == 0:
        return ()
    first = file.read_row_group(0, columns=["case_id", "outcome"]).to_pandas()
    return tuple(first.loc[first["case_id"] == first["case_id"].iloc[0], "outcome"].astype(str))


def _pivot_long(long: pd.DataFrame) -> pd.DataFrame:
    if long.empty:
        return pd.DataFrame(columns=["base_value"], index=pd.Index([], name="case_id"), dtype=float)
    long = long.assign(case_id=long["case_id"].astype(str), feature=long["feature"].astype(str))
    features = list(dict.fromkeys(long["feature"]))
    wide = long.pivot(index="case_id", columns="feature", values="contribution")[features]
    base = long.groupby("case_id", sort=False)["base_value"].first()
    order = list(dict.fromkeys(long["case_id"]))
    out = pd.concat([base.rename("base_value"), wide], axis=1).loc[order]
    out.columns.name = None
    return out


def read_case_contributions(out_dir: str | Path, case_id: str) -> pd.DataFrame:
    """One case's contributions, indexed by ``outcome`` (``risk`` first): ``base_value`` and the
    feature columns, as ``read_contributions`` gives them; no rows when the case was not scored."""
    path = Path(out_dir) / EXPLANATIONS_FILE
    if "outcome" not in pq.read_schema(path).names:
        return read_contributions(out_dir, "risk", [case_id]).rename_axis("outcome").rename(index=lambda _: "risk")
    frame = pq.read_table(path, filters=[("case_id", "=", case_id)]).to_pandas()
    return frame.drop(columns=["case_id"]).assign(outcome=lambda f: f["outcome"].astype(str)).set_index("outcome")


def _read_long(path: Path) -> pd.DataFrame:
    """The long table (one row per case and feature) read batch by batch into the wide shape: memory
    holds one batch besides the result; each value placed by its (case, feature) codes, so the
    row order of the file does not matter, and a case whose rows straddle two batches is joined."""
    file = pq.ParquetFile(path, read_dictionary=["case_id", "feature"])
    names: list[str] = []
    ids: list[str] = []
    values = np.zeros((0, 1))
    for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=["case_id", "feature", "contribution", "base_value"]):
        if batch.num_rows == 0:
            continue
        block_ids, block_names, block = _wide_block(batch)
        if not names:  # one row per case and feature: the file's rows over the features is the cases
            values = np.zeros((-(-file.metadata.num_rows // len(block_names)), 1 + len(block_names)))
        names += [f for f in block_names if f not in names]
        if block_names != names[: len(block_names)] or block.shape[1] != values.shape[1]:
            common = np.zeros((len(block), 1 + len(names)))  # another feature order: into the common one
            common[:, 0] = block[:, 0]
            common[:, [1 + names.index(f) for f in block_names]] = block[:, 1:]
            block = common
        if ids and ids[-1] == block_ids[0]:  # a case whose rows straddle two batches
            values[len(ids) - 1, 1:] += block[0, 1:]
            block_ids, block = block_ids[1:], block[1:]
        if values.shape[1] < block.shape[1] or len(ids) + len(block) > len(values):  # not as stalkrisk writes
            grown = np.zeros((max(len(values) * 3 // 2, len(ids) + len(block)), block.shape[1]))
            grown[: len(ids), : values.shape[1]] = values[: len(ids)]
            values = grown
        values[len(ids): len(ids) + len(block)] = block
        ids += block_ids
    values = values[: len(ids)]
    out = pd.DataFrame(values, columns=["base_value", *names],
                       index=pd.Index(ids, dtype=object, name="case_id"))
    if out.index.has_duplicates:  # rows of a case apart in the file: each of its values is in one part
        base = out["base_value"].groupby(level=0, sort=False).first()
        out = out.drop(columns="base_value").groupby(level=0, sort=False).sum()
        out.insert(0, "base_value", base)
        out.index = pd.Index(out.index.to_numpy(dtype=object), dtype=object, name="case_id")
    return out




def _wide_block(batch) -> tuple[list[str], list[str], np.ndarray]:
    """One batch of the long table, wide: (case ids, feature names, [base_value | features]). Each
    value is placed by its (case, feature) codes, so the row order of the file does not matter;
    cases in order of first appearance. Read batch by batch, memory holds one batch of the 10^7-row
    table at a time besides the wide result."""
    case, feature = batch.column("case_id"), batch.column("feature")
    case_code = case.indices.to_numpy(zero_copy_only=False)
    feature_code = feature.indices.to_numpy(zero_copy_only=False)
    # The rows of one case are contiguous in files stalkrisk writes: the starts of runs of equal
    # codes find the cases without sorting.
    starts = np.flatnonzero(np.r_[True, case_code[1:] != case_code[:-1]])
    order = pd.unique(case_code[starts])
    row_of = np.full(len(case.dictionary), -1, dtype=np.int64)
    row_of[order] = np.arange(len(order))
    rows = row_of[case_code]
    values = np.zeros((len(order), 1 + len(feature.dictionary)))
    values[rows, 1 + feature_code.astype(np.int64)] = batch.column("contribution").to_numpy()
    values[rows[starts], 0] = batch.column("base_value").to_numpy()[starts]
    return case.dictionary.take(order).to_pylist(), feature.dictionary.to_pylist(), values
