"""The MLflow pyfunc, logged from code (models-from-code: no pickled classes).

MLflow executes this file when the model is loaded; ``set_model`` names the
object that serves predictions. The model itself is plain files (``booster.txt``,
one ``booster_<domain>.txt`` per risk domain, ``model.json``) passed as the ``risk_model`` artifact.

``predict`` takes the feature table (a ``case_id`` column is optional) and
returns ``score`` (risk), ``score_persistence``, ``score_harm``, ``risk_band``, ``course_of_conduct``, ``consider_spo``, ``queue``, ``queue_reason`` and
``reason_1`` ... ``reason_3``.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class StalkriskPyfunc(PythonModel):
    def load_context(self, context) -> None:
        from stalkrisk.model.risk_model import RiskModel

        self.model = RiskModel.load(context.artifacts["risk_model"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from stalkrisk.scoring import score_features

        method = (params or {}).get("explain_method") or self.model.meta.explain_method
        return score_features(self.model, pd.DataFrame(model_input), method=method)


mlflow.models.set_model(StalkriskPyfunc())
