"""``stalkrisk features``: validated files in, the as-of feature table out (Parquet)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from stalkrisk.errors import ConfigError

from stalkrisk.features import build_features
from stalkrisk.features.linking import LinkTable
from stalkrisk.io_utils import atomic_path
from stalkrisk.validation.suite import load_and_validate


def run(cases: str | Path, events: str | Path, out: str | Path, *, orders: str | Path | None = None,
        history: str | Path | None = None) -> str:
    """One row per input case in input order; quarantined cases have empty features. With
    ``orders``, ``protective_order_in_force`` is filled from the orders in force as of each
    assessment day where the case row leaves it empty. With ``history``, the prior counts are built
    from it as of each assessment day (``features.history_asof``).

    ``out`` ending ``.parquet`` gets Parquet, ``.csv`` CSV; any other name is refused before work.
    """
    out = Path(out)
    suffix = out.name.lower().rsplit(".", 1)[-1] if "." in out.name else ""
    if suffix not in ("parquet", "csv"):
        raise ConfigError(f"{out}: --out must end .parquet or .csv (the format is taken from the name)")
    validation = load_and_validate(cases, events, orders_path=orders, history_path=history)
    # linking reads every readable case row, as scoring does (a quarantined case is still a known case)
    feats = build_features(validation.cases, validation.events, links=LinkTable.from_cases(validation.cases_all))
    order = pd.DataFrame({"case_id": validation.cases_all["case_id"].astype(object).to_numpy()})
    table = order.merge(feats, on="case_id", how="left", sort=False)
    with atomic_path(out) as tmp:
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        if suffix == "csv":
            pacsv.write_csv(arrow, tmp)
        else:
            pq.write_table(arrow, tmp, compression="zstd")
    missing = len(validation.cases_all) - len(validation.cases)
    note = f"; {missing} quarantined case(s) have empty features (see stalkrisk validate)" if missing else ""
    return f"features: {out} ({len(table)} cases, {len(feats.columns) - 1} features{note})"
