"""Reading a scoring output folder back: its record and its tables, as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

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
