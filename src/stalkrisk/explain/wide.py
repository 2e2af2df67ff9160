"""The wide explanations table: one row per case and outcome, one column per feature.

``base_value`` plus the feature columns of a row add up to the logit of that outcome's score:
the matrix shap users know (``shap.Explanation(values=..., base_values=...)``), one per risk
domain. A million cases and three outcomes make three million rows of ~90 float columns;
the long form it replaces made ninety million rows, and its text columns dominated writing.

Rows are case-major (each case's ``risk``, then its domains, in the model's outcome order),
so one case's rows sit together and the order does not depend on how cases were chunked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from stalkrisk.explain.reasons import Explanation

#: The columns before the features.
KEY_COLUMNS = ("case_id", "outcome", "base_value")


def wide_table(explanations: Mapping[str, Explanation], case_ids: Sequence | pd.Series) -> pa.Table:
    """The wide table of ``explanations`` (outcome -> the same cases' contributions), as Arrow.

    ``case_id`` and ``outcome`` are dictionary-encoded (each id held once); each feature column
    is one contiguous float64 buffer, filled by outcome with strided writes (no per-row work).
    """
    names = list(explanations)
    first = explanations[names[0]]
    n, p, k = first.contributions.shape[0], len(first.feature_names), len(names)
    block = np.empty((p, n * k), dtype=np.float64)  # a row per feature: each column is contiguous
    base = np.empty(n * k, dtype=np.float64)
    for o, name in enumerate(names):
        e = explanations[name]
        if list(e.feature_names) != list(first.feature_names) or e.contributions.shape != (n, p):
            raise ValueError(f"the {name} explanation is not of the same cases and features")
        block[:, o::k] = e.contributions.T
        base[o::k] = e.base_value
    ids = pa.array([str(c) for c in case_ids], pa.string())
    columns = {
        "case_id": pa.DictionaryArray.from_arrays(pa.array(np.repeat(np.arange(n, dtype=np.int32), k)), ids),
        "outcome": pa.DictionaryArray.from_arrays(pa.array(np.tile(np.arange(k, dtype=np.int32), n)),
                                                  pa.array(names, pa.string())),
        "base_value": pa.array(base),
    }
    for j, feature in enumerate(first.feature_names):
        columns[feature] = pa.array(block[j])
    return pa.table(columns)
