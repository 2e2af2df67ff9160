"""MLflow at the edge: training runs, the pyfunc model, registry versions and aliases.

Tracking defaults to MLflow's local SQLite store in the working directory
(``sqlite:///mlflow.db``); ``MLFLOW_TRACKING_URI`` overrides it. The model is
logged from code (``mlflow_model.py``) with the plain model files as an
artifact, so nothing is pickled. Each training run registers a new version
with alias ``candidate``; ``promote`` moves ``champion``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from stalkrisk.model.risk_model import RiskModel
from stalkrisk.tracking.model_files import read_model_folder
from stalkrisk.tracking.store_uri import tracking_uri
from stalkrisk.text import clip
from stalkrisk.errors import RegistryError

log = logging.getLogger(__name__)

MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
PACKAGES = (
    "stalkrisk", "lightgbm", "scikit-learn", "shap", "numpy", "pandas", "pyarrow", "polars",
    "mlflow", "great-expectations", "fairlearn", "numba",
)


def configure() -> str:
    """Point MLflow at the tracking store; telemetry stays off (see ``stalkrisk/__init__``)."""
    import mlflow
    from mlflow.telemetry import get_telemetry_client, set_telemetry_client
    from mlflow.telemetry.utils import is_telemetry_disabled

    if get_telemetry_client() is not None and is_telemetry_disabled():  # mlflow was imported first
        set_telemetry_client()  # drops the client
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)  # the registry follows it unless MLFLOW_REGISTRY_URI says otherwise
    return uri


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def flatten(prefix: str, value: Any) -> dict[str, str]:
    """Nested config → flat ``a.b.c`` params."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: json.dumps(value) if isinstance(value, (list, tuple)) else str(value)}


@dataclass
class LoadedModel:
    model: RiskModel
    name: str
    version: str
    run_id: str
    uri: str
    digest: str
    #: How name, version and run id were established (an exported folder declares its own).
    provenance: str = ""


def log_pyfunc(model: RiskModel, input_example: pd.DataFrame, registered_name: str | None):
    """Log the pyfunc from code inside the active run; returns MLflow's ModelInfo."""
    import mlflow

    example = input_example.reset_index(drop=True)
    signature = _signature(model, example)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = model.save(Path(tmp) / "risk_model")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={"risk_model": str(model_dir)},
            signature=signature,
            input_example=example,
            registered_model_name=registered_name,
            pip_requirements=[f"stalkrisk=={metadata.version('stalkrisk')}"],
        )


def _signature(model: RiskModel, example: pd.DataFrame):
    """The pyfunc's signature: the features in (``case_id`` optional, as documented),
    ``score_features``' columns out, and the ``explain_method`` parameter (MLflow drops a
    parameter its signature does not declare)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    from stalkrisk.scoring import score_features

    inferred = infer_signature(example, score_features(model, example), params={"explain_method": model.meta.explain_method})
    inputs = Schema([ColSpec(c.type, c.name, required=c.name != "case_id") for c in inferred.inputs.inputs])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs, params=inferred.params)


def _neutral_example(model: RiskModel) -> pd.DataFrame:
    """One made-up feature row (every feature 0) for a model logged without data at hand."""
    return pd.DataFrame({"case_id": ["example"], **{name: [0.0] for name in model.feature_names}})


def set_alias(name: str, alias: str, version: str | int) -> None:
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(name, alias, str(version))


def load_model(uri: str) -> LoadedModel:
    """A RiskModel from a registry URI (``models:/name@alias``, ``models:/name/3``) or an exported folder.

    Read as data (``model_files``): no code from the model store runs, nothing is unpickled.
    """
    import mlflow

    name, version, run_id, provenance = "local", "local", "", ""
    path = Path(uri)
    if path.exists():
        if not path.is_dir():
            raise RegistryError(f"{uri}: a model is a folder (an exported bundle) or a models:/ URI")
        uri = str(path.resolve())  # recorded absolute: `audit verify` finds it from any folder
        model, digest = read_model_folder(path)
        name, version, run_id, provenance = bundle_identity(path)
    elif uri.startswith("models:/"):
        configure()
        name, version, run_id = _resolve_registry(uri)
        with tempfile.TemporaryDirectory(prefix="stalkrisk-model-") as tmp:
            try:
                folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
            except Exception as exc:  # MLflow raises many types; the user needs one line
                raise RegistryError(f"cannot load model {uri}: {exc}") from None
            model, digest = read_model_folder(folder)
    else:
        raise RegistryError(f"{uri}: not a folder and not a models:/ URI")
    return LoadedModel(model=model, name=name, version=version, run_id=run_id, uri=uri, digest=digest,
                       provenance=provenance)


def bundle_identity(folder: Path) -> tuple[str, str, str, str]:
    """(name, version, run id, provenance) of an exported folder, checked against its own files.

    ``stalkrisk_model.json`` declares them. The run id is checked against MLflow's ``MLmodel``
    (written when the model was logged): a bundle declaring another run is refused. The name
    and version cannot be checked without the registry, so the record says so.
    """
    info = folder / "stalkrisk_model.json"
    if not info.is_file():
        return "local", "local", "", "exported folder without stalkrisk_model.json: name and version unknown"
    try:
        spec = json.loads(info.read_text(encoding="utf-8"))
        if not isinstance(spec, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{info}: cannot read the bundle's declaration ({clip(exc, 200)})") from None
    name, version, run_id = str(spec.get("name", "local")), str(spec.get("version", "local")), str(spec.get("run_id", ""))
    logged = _mlmodel_run_id(folder / "MLmodel")
    if run_id and logged and run_id != logged:
        raise RegistryError(f"{folder}: stalkrisk_model.json declares run {clip(run_id, 40)} but MLmodel was "
                            f"logged by run {clip(logged, 40)}; the bundle was edited or assembled from two models")
    checked = "run id checked against MLmodel" if run_id and logged else "run id unchecked (MLmodel names none)"
    return name, version, run_id, f"exported folder: name and version as it declares them (unchecked); {checked}"


def _mlmodel_run_id(path: Path) -> str:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    return str(data.get("run_id") or "") if isinstance(data, dict) else ""


def _check_store(uri: str) -> None:
    """A models:/ URI against a SQLite store that does not exist: say where it looked, create nothing.

    MLflow would create an empty ``mlflow.db`` in the working folder and report "no such model".
    """
    store = tracking_uri()
    if store.startswith("sqlite:///"):
        db = Path(store[len("sqlite:///"):])
        if not db.is_file():
            raise RegistryError(
                f"{uri}: no model registry at {store} (no file {db.resolve()}); run from the folder holding "
                "mlflow.db, set MLFLOW_TRACKING_URI, or give an exported model folder as --model"
            )


def _resolve_registry(uri: str) -> tuple[str, str, str]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    _check_store(uri)
    rest = uri[len("models:/"):]
    client = MlflowClient()
    try:
        if "@" in rest:
            name, alias = rest.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        else:
            name, version = rest.rsplit("/", 1)
            mv = client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"{uri}: no such registered model version in {tracking_uri()} "
                            f"({clip(exc.message, 300)})") from None
    return mv.name, str(mv.version), mv.run_id or ""


@dataclass
class PromotionResult:
    name: str
    version: str
    promoted: bool
    failed_checks: list[str]
    forced: bool


def promotion_checks(name: str, version: str) -> list[str]:
    """The checks a version must pass to become ``champion``; returns those that fail."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise RegistryError(f"{name} version {version}: not found ({exc.message})") from None
    failed = []
    run = client.get_run(mv.run_id) if mv.run_id else None
    metrics = run.data.metrics if run else {}
    for key in ("roc_auc", "pr_auc", "brier", "ece", "recall"):
        if key not in metrics:
            failed.append(f"metric {key} was not logged")
    failed += baseline_checks(metrics)
    if mv.tags.get("fairness_warnings", "1") != "0":
        failed.append(
            f"{mv.tags.get('fairness_warnings', 'unknown')} fairness gap(s) clearly beyond the tolerances in configs/fairness.yaml"
        )
    return failed


def baseline_checks(metrics: dict[str, float]) -> list[str]:
    """A failed check per gated baseline whose gate the run misses: the lower end of the paired
    bootstrap 95% interval of its ROC-AUC difference (``auc_diff_<slug>_ci_low``) must lie above
    minus the baseline's margin (``evaluate.compare.GATED_BASELINES``: 0 for S-DASH, so it must be
    beaten; 0.01 for the logistic regression, a non-inferiority gate). A run that logged no interval (trained before they were) fails: retrain it."""
    from stalkrisk.evaluate.compare import GATED_BASELINES, baseline_slug  # only when promoting (numba)

    failed = []
    for name, margin in GATED_BASELINES.items():
        slug = baseline_slug(name)
        low, high = metrics.get(f"auc_diff_{slug}_ci_low"), metrics.get(f"auc_diff_{slug}_ci_high")
        if low is None or high is None or low != low:
            failed.append(f"no bootstrap interval of the ROC-AUC difference against the {name} baseline was "
                          "logged: retrain with this stalkrisk")
        elif not low > -margin:
            what = (f"does not clearly beat the {name} baseline" if margin == 0
                    else f"may be worse than the {name} baseline by more than {margin:.2f}")
            bound = "includes zero" if margin == 0 else f"reaches below -{margin:.2f}"
            failed.append(f"the model {what} on ROC-AUC: difference "
                          f"{metrics.get(f'auc_diff_{slug}', float('nan')):+.3f}, 95% interval "
                          f"[{low:+.3f}, {high:+.3f}] {bound}")
    return failed


def promote(name: str, version: str, *, force: bool = False, reason: str | None = None) -> PromotionResult:
    """Move alias ``champion`` to ``version`` when its checks hold, or when forced with a reason."""
    from mlflow import MlflowClient

    configure()
    failed = promotion_checks(name, version)
    if failed and not force:
        return PromotionResult(name, str(version), False, failed, False)
    if force and not reason:
        raise RegistryError("--force needs --reason: the reason is recorded with the version")
    client = MlflowClient()
    set_alias(name, "champion", version)
    client.set_model_version_tag(name, str(version), "promoted_at", pd.Timestamp.now(tz="UTC").isoformat())
    if force:
        client.set_model_version_tag(name, str(version), "forced_promotion_reason", reason)
        client.set_model_version_tag(name, str(version), "forced_past_checks", "; ".join(failed) or "none")
    return PromotionResult(name, str(version), True, failed, force)


def export_model(uri: str, out: str | Path) -> Path:
    """Write the MLflow model folder with its model card, for forces without a tracking server."""
    import shutil

    import mlflow
    from mlflow import MlflowClient

    configure()
    name, version, run_id = _resolve_registry(uri) if uri.startswith("models:/") else ("local", "local", "")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise RegistryError(f"{out}: the export folder must be new or empty")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp))
    if run_id:
        client = MlflowClient()
        for artifact in ("model_card/model_card.md", "model_card/model_card.html", "features.md"):
            try:
                client.download_artifacts(run_id, artifact, str(tmp))
            except Exception:  # an older run without a card: export the model anyway
                log.warning("run %s has no artifact %s", run_id, artifact)
    spec = {"name": name, "version": version, "run_id": run_id, "source": uri}
    (tmp / "stalkrisk_model.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out


def save_bundle(model: RiskModel, out: str | Path, *, name: str = "local", version: str = "local") -> Path:
    """Write ``model`` as an MLflow model folder (pyfunc from code), like ``export_model`` does
    for a registered version: for benchmarks, tests and forces that train without a server."""
    import mlflow

    out = Path(out)
    example = _neutral_example(model)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = model.save(Path(tmp) / "risk_model")
        mlflow.pyfunc.save_model(
            str(out), python_model=str(MODEL_CODE), artifacts={"risk_model": str(model_dir)},
            signature=_signature(model, example), input_example=example,
            pip_requirements=[f"stalkrisk=={metadata.version('stalkrisk')}"],
        )
    spec = {"name": name, "version": version, "run_id": "", "source": "save_bundle"}
    (out / "stalkrisk_model.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return out
