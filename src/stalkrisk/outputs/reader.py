"""Reading a scoring output folder back: its record and its tables, as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
        return _pivot_long(pq.read_table(path, filters=filters or None).to_pandas())
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
