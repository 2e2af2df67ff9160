"""The registered pyfunc: ``case_id`` optional (as the docs say) and ``explain_method`` honoured."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def pyfunc(trained):
    import mlflow

    return mlflow.pyfunc.load_model(f"models:/{trained.name}/{trained.version}")


def test_case_id_is_optional(pyfunc, features_sample, loaded_model):
    rows = features_sample.head(20)[["case_id", *loaded_model.model.feature_names]]
    with_id = pyfunc.predict(rows)
    without = pyfunc.predict(rows.drop(columns=["case_id"]))
    assert "case_id" not in without.columns
    np.testing.assert_array_equal(with_id["score"].to_numpy(), without["score"].to_numpy())


def test_explain_method_is_honoured(pyfunc, features_sample, loaded_model):
    rows = features_sample.head(20)[loaded_model.model.feature_names]
    fast = pyfunc.predict(rows, params={"explain_method": "fast"})
    reference = pyfunc.predict(rows, params={"explain_method": "pred_contrib"})
    np.testing.assert_allclose(fast["score"], reference["score"], atol=1e-9)
    with pytest.raises(Exception, match="explanation method must be one of"):
        pyfunc.predict(rows, params={"explain_method": "no-such-method"})
