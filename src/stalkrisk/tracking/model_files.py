"""A registered or exported model read as data: stalkrisk never runs code from the model store.

MLflow's own loader executes the store's copy of ``mlflow_model.py`` (and may unpickle), so a
model store that someone could write to could run code in every scoring run. stalkrisk instead
reads the two plain files the pyfunc points at (``booster.txt``, ``model.json``) with the
installed library, and fingerprints every file of the model folder, so an edited file anywhere
in it, code included, changes the fingerprint that ``audit verify`` compares.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from stalkrisk.errors import RegistryError
from stalkrisk.model.risk_model import RiskModel

#: The only loader a stalkrisk model is logged with (models-from-code).
CODE_MODEL_LOADER = "mlflow.pyfunc.loaders.code_model"
#: Files that hold serialised Python objects: never read, and a model folder holding one is refused.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle")


def folder_sha256(folder: Path) -> str:
    """SHA-256 over every file below ``folder``: relative path and content, in sorted order."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        with open(path, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def risk_model_dir(folder: Path) -> Path:
    """Where the plain model files are, by the folder's ``MLmodel``; refuses anything else."""
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise RegistryError(f"{folder}: no MLmodel file (not an MLflow model folder)")
    try:
        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RegistryError(f"{mlmodel}: not readable ({exc.__class__.__name__})") from None
    flavors = spec.get("flavors") if isinstance(spec, dict) else None
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    if not isinstance(pyfunc, dict) or pyfunc.get("loader_module") != CODE_MODEL_LOADER:
        raise RegistryError(f"{folder}: not a stalkrisk model (its MLmodel does not name stalkrisk's loader)")
    pickles = sorted(p.name for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise RegistryError(f"{folder}: holds serialised Python objects ({pickles[0]}); refused")
    try:
        relative = Path(pyfunc["artifacts"]["risk_model"]["path"])
    except (KeyError, TypeError):
        raise RegistryError(f"{folder}: its MLmodel names no risk_model artifact") from None
    model_dir = (folder / relative).resolve()
    if not model_dir.is_relative_to(folder.resolve()) or not model_dir.is_dir():
        raise RegistryError(f"{folder}: the risk_model artifact is not a folder inside the model")
    return model_dir


def read_model_folder(folder: Path) -> tuple[RiskModel, str]:
    """The model and the fingerprint of its whole folder."""
    model_dir = risk_model_dir(folder)
    try:
        model = RiskModel.load(model_dir)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"{folder}: the model files cannot be read ({exc.__class__.__name__}: {exc})") from None
    return model, folder_sha256(folder)
