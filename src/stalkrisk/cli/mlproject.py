"""Entry for ``pipelines/MLproject``: the stalkrisk CLI, with MLflow's empty defaults dropped.

MLproject parameters cannot be optional, so empty strings stand for "not given".
Inside ``mlflow run`` the tracking URI and the run id come from the environment
MLflow sets (``MLFLOW_TRACKING_URI``, ``MLFLOW_RUN_ID``), so a training run logs into
the run that ``mlflow run`` created.
"""

from __future__ import annotations

import sys

from stalkrisk.cli.commands import main


def drop_empty_options(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i].startswith("--") and i + 1 < len(argv) and argv[i + 1] == "":
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def with_card_folder(argv: list[str]) -> list[str]:
    """``mlflow run`` works inside the project folder: keep the local model card out of it."""
    if argv[:1] == ["train"] and "--out" not in argv:
        import tempfile

        return [*argv, "--out", tempfile.mkdtemp(prefix="stalkrisk-model-card-")]
    return argv


if __name__ == "__main__":
    sys.exit(main(with_card_folder(drop_empty_options(sys.argv[1:]))))
