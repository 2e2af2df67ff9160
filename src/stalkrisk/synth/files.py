"""Writing a generated caseload: Arrow tables to CSV or Parquet, times as ISO text in UTC."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from stalkrisk.synth.caseload import Caseload


# -------------------------------------------------------------------- write
def _iso_utc(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamps as ``YYYY-MM-DDTHH:MM:SS+00:00`` (whole seconds, floored).

    Arrow's cast to string is much faster than its strftime.
    """
    whole = pc.floor_temporal(pc.cast(col, pa.timestamp("ns", "UTC")), unit="second")
    naive = pc.cast(pc.cast(whole, pa.timestamp("s", "UTC")), pa.timestamp("s"))
    text = pc.replace_substring(pc.cast(naive, pa.string()), " ", "T")
    return pc.binary_join_element_wise(text, "+00:00", "")


def _arrow(frame: pd.DataFrame, for_csv: bool) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if not for_csv:
        return table
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            col = table.column(i)
            if f.type.tz is None:  # a date: midnight of the calendar day
                col = pc.cast(pc.cast(col, pa.timestamp("s"), safe=False), pa.date32())
            else:
                col = _iso_utc(col)
            table = table.set_column(i, f.name, col)
    return table


_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[[ord(ch) for ch in ',"\n\r']] = True


def _needs_quotes(table: pa.Table) -> bool:
    """Whether any string holds a comma, quote or line break (scans the raw bytes)."""
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            for chunk in col.chunks:
                data = chunk.buffers()[2]
                if data is not None and _SPECIAL[np.frombuffer(data, dtype=np.uint8)].any():
                    return True
    return False


def _write_table(table: pa.Table, path: Path, fmt: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            quoting = "needed" if _needs_quotes(table) else "none"
            with open(tmp, "wb") as fh:
                fh.write((",".join(table.column_names) + "\n").encode())
                pcsv.write_csv(table, fh, pcsv.WriteOptions(include_header=False,
                                                            quoting_style=quoting))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_caseload(caseload: Caseload, out_dir: str | os.PathLike[str],
                   fmt: Literal["csv", "parquet"] = "csv") -> dict[str, Path]:
    """Write ``cases.<fmt>``, ``events.<fmt>``, ``orders.<fmt>`` (when the caseload has orders)
    and ``truth.csv``; return their paths.

    CSV: timestamps ISO 8601 with ``+00:00``, dates ``YYYY-MM-DD``, booleans
    ``true``/``false``, missing values empty. Each file is written under a
    temporary name in ``out_dir`` and renamed into place.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"cases": out / f"cases.{fmt}", "events": out / f"events.{fmt}",
             "truth": out / "truth.csv"}
    tables = [("cases", caseload.cases, fmt), ("events", caseload.events, fmt), ("truth", caseload.truth, "csv")]
    if caseload.orders is not None:
        paths["orders"] = out / f"orders.{fmt}"
        tables.insert(2, ("orders", caseload.orders, fmt))
    for name, frame, kind in tables:
        _write_table(_arrow(frame, kind == "csv"), paths[name], kind)
    return paths
