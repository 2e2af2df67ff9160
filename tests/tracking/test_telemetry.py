"""MLflow's usage telemetry stays off: forces run closed networks and the data is sensitive.

Each check runs in a fresh interpreter with an environment cleaned of everything that
already turns telemetry off (CI markers, pytest's own variable), so only stalkrisk's
default can make the difference.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Variables MLflow reads as "do not send" (mlflow.telemetry.utils): CI markers included.
_QUIETING = {
    "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK", "PYTEST_CURRENT_TEST", "GITHUB_ACTIONS", "CI",
    "CIRCLECI", "GITLAB_CI", "JENKINS_URL", "TRAVIS", "TF_BUILD", "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ARN", "BUILDKITE", "TEAMCITY_VERSION", "CLOUD_RUN_EXECUTION",
    "RUNBOT_HOST_URL", "RUNBOT_BUILD_NAME", "RUNBOT_WORKER_ID",
}


def _child(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in _QUIETING}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


CLIENT = "from mlflow.telemetry import get_telemetry_client; print(get_telemetry_client() is None)"


def test_importing_stalkrisk_keeps_mlflow_telemetry_off():
    assert _child("import stalkrisk, mlflow; " + CLIENT) == "True"


def test_mlflow_imported_first_is_quietened_when_stalkrisk_configures_it(tmp_path):
    code = ("import mlflow; import stalkrisk.tracking.registry as t; t.configure(); " + CLIENT)
    assert _child(code, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'm.db'}") == "True"


@pytest.mark.parametrize("value", ["false", "0"])
def test_a_user_who_opts_in_is_respected(value):
    code = ("import stalkrisk, os; from mlflow.telemetry.utils import is_telemetry_disabled; "
            "print(os.environ['MLFLOW_DISABLE_TELEMETRY'], is_telemetry_disabled())")
    assert _child(code, MLFLOW_DISABLE_TELEMETRY=value) == f"{value} False"
